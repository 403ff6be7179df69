/*
 * metrics: a small table of (route, status) counters and one latency
 * histogram, rendered on demand with the database pool's and request
 * contexts' gauges. Owns its table; never allocates on the hot path once a
 * (route, status) pair has been seen.
 */
#include "core/metrics.h"

#include "core/listcache.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "core/app.h"
#include "core/pg_pool.h"
#include "core/req_ctx.h"

struct counter {
	const char *route; /* static pattern or "unmatched" */
	int status;	   /* HTTP status */
	long n;		   /* requests */
};

void (*metrics_render_extra)(struct evbuffer *buf);

static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
				 0.1,	 0.25,	0.5,	1,     2.5,  5,	    10};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

static struct counter *counters;
static size_t ncounters, capcounters;
static long bucket_counts[NBUCKETS + 1];
static double latency_sum;
static long latency_count;

void metrics_observe(const char *route, int status, double seconds)
{
	if (!route)
		route = "unmatched";
	size_t i;
	for (i = 0; i < ncounters; i++)
		if (counters[i].status == status && counters[i].route == route)
			break;
	if (i == ncounters) {
		if (ncounters == capcounters) {
			size_t cap = capcounters ? capcounters * 2 : 32;
			struct counter *c = realloc(counters, cap * sizeof(*c));
			if (!c)
				return;
			counters = c;
			capcounters = cap;
		}
		counters[ncounters++] = (struct counter){route, status, 0};
	}
	counters[i].n++;
	size_t b = 0;
	while (b < NBUCKETS && seconds > buckets[b])
		b++;
	bucket_counts[b]++;
	latency_sum += seconds;
	latency_count++;
}

void metrics_render(struct evbuffer *buf)
{
	evbuffer_add_printf(buf, "# HELP oes_http_requests_total HTTP requests answered.\n"
				 "# TYPE oes_http_requests_total counter\n");
	for (size_t i = 0; i < ncounters; i++)
		evbuffer_add_printf(buf,
				    "oes_http_requests_total{route=\"%s\",status=\"%d\"} %ld\n",
				    counters[i].route, counters[i].status, counters[i].n);
	evbuffer_add_printf(buf, "# HELP oes_http_request_duration_seconds Request latency.\n"
				 "# TYPE oes_http_request_duration_seconds histogram\n");
	long cum = 0;
	for (size_t b = 0; b < NBUCKETS; b++) {
		cum += bucket_counts[b];
		evbuffer_add_printf(buf,
				    "oes_http_request_duration_seconds_bucket{le=\"%g\"} %ld\n",
				    buckets[b], cum);
	}
	cum += bucket_counts[NBUCKETS];
	evbuffer_add_printf(buf,
			    "oes_http_request_duration_seconds_bucket{le=\"+Inf\"} %ld\n"
			    "oes_http_request_duration_seconds_sum %.6f\n"
			    "oes_http_request_duration_seconds_count %ld\n",
			    cum, latency_sum, latency_count);
	struct pg_pool_stats s = {0};
	if (app.pg)
		pg_pool_stats(app.pg, &s);
	evbuffer_add_printf(
	    buf,
	    "# TYPE oes_pg_pool_size gauge\noes_pg_pool_size %d\n"
	    "# TYPE oes_pg_pool_ready gauge\noes_pg_pool_ready %d\n"
	    "# TYPE oes_pg_pool_busy gauge\noes_pg_pool_busy %d\n"
	    "# TYPE oes_pg_pool_queued gauge\noes_pg_pool_queued %d\n"
	    "# TYPE oes_pg_pool_inflight gauge\noes_pg_pool_inflight %d\n"
	    "# TYPE oes_pg_pool_failures_total counter\noes_pg_pool_failures_total %ld\n"
	    "# TYPE oes_pg_query_errors_total counter\noes_pg_query_errors_total %ld\n"
	    "# TYPE oes_pg_unavailable_total counter\noes_pg_unavailable_total %ld\n"
	    "# TYPE oes_req_ctx_live gauge\noes_req_ctx_live %ld\n"
	    "# TYPE oes_requests_in_flight gauge\noes_requests_in_flight %ld\n",
	    s.size, s.ready, s.busy, s.queued, s.inflight, s.failures, s.errors, s.unavailable,
	    req_ctx_live(), req_ctx_inflight());
	struct listcache_stats lc;
	listcache_stats(&lc);
	evbuffer_add_printf(
	    buf,
	    "# TYPE oes_list_cache_hits_total counter\noes_list_cache_hits_total %ld\n"
	    "# TYPE oes_list_cache_misses_total counter\noes_list_cache_misses_total %ld\n"
	    "# TYPE oes_list_cache_stores_total counter\noes_list_cache_stores_total %ld\n"
	    "# TYPE oes_list_cache_evictions_total counter\noes_list_cache_evictions_total %ld\n"
	    "# TYPE oes_list_cache_first_builds_total counter\noes_list_cache_first_builds_total "
	    "%ld\n"
	    "# TYPE oes_list_cache_entries gauge\noes_list_cache_entries %ld\n"
	    "# TYPE oes_list_cache_bytes gauge\noes_list_cache_bytes %zu\n",
	    lc.hits, lc.misses, lc.stores, lc.evictions, lc.first_builds, lc.entries, lc.bytes);
	if (metrics_render_extra)
		metrics_render_extra(buf);
}

void metrics_free(void)
{
	free(counters);
	counters = NULL;
	ncounters = capcounters = 0;
}
