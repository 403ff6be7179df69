/*
 * ops: /health-check asks the database for `SELECT 1` with a short deadline
 * of its own (so a stuck database gives 503, not a hang); /metrics renders
 * the Prometheus text. Neither needs authentication.
 */
#include "handlers/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <zlib.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "core/app.h"
#include "core/hash.h"
#include "core/metrics.h"
#include "core/pg_pool.h"
#include "core/req_ctx.h"
#include "tasks/tasks.h"

#define HEALTH_TIMEOUT_MS 2000

static void health_reply(struct req_ctx *ctx, const char *db)
{
	const char *redis = tasks_redis_health(); /* "off", "ok" or "unavailable" */
	int ok = db[0] == 'o' && db[1] == 'k' && strcmp(redis, "unavailable") != 0;
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "status", json_object_new_string(ok ? "ok" : "error"));
	json_object_object_add(o, "database", json_object_new_string(db));
	json_object_object_add(o, "redis", json_object_new_string(redis));
	req_ctx_reply_json(ctx, ok ? 200 : 503, o, 0);
}

static void health_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	health_reply(arg, "timeout");
}

static void health_done(struct req_ctx *ctx, PGresult *res, int err, void *arg)
{
	(void)res, (void)arg;
	health_reply(ctx, err == PG_OK ? "ok" : "error");
}

static void timer_free(void *ev)
{
	event_free(ev);
}

void ops_health(struct req_ctx *ctx)
{
	struct event *t = evtimer_new(app.base, health_timeout, ctx);
	if (t) {
		struct timeval tv = {HEALTH_TIMEOUT_MS / 1000, (HEALTH_TIMEOUT_MS % 1000) * 1000};
		evtimer_add(t, &tv);
		ctx->hdata = t;
		ctx->hfree = timer_free;
	}
	struct pg_pool_stats s;
	pg_pool_stats(app.pg, &s);
	if (s.ready == 0 && s.failures > 0) {
		health_reply(ctx, "unavailable");
		return;
	}
	req_ctx_query(ctx, PG_READ, NULL, "SELECT 1", 0, NULL, health_done, NULL);
}

/*
 * The rendered documentation (some 3 MB of HTML) is read once at start-up
 * (bounded), so that no request reads a file on the loop, and kept only
 * gzip-compressed (about 5% of that): browsers and `curl --compressed` get it
 * as it is kept; a client that does not accept gzip gets it inflated for its
 * reply. Kept whole when zlib cannot compress it.
 */
static char *docs_body;	  /* gzip member, or the page itself when !docs_gzip */
static size_t docs_size;  /* bytes of docs_body */
static size_t docs_plain; /* bytes of the page */
static int docs_gzip;
static char docs_etag[32]; /* of the page: the same for either encoding */

#define DOCS_MAX_BYTES (16 * 1024 * 1024)

static int gzip_buffer(const char *in, size_t len, char **out, size_t *outlen)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	/* 15 + 16: a gzip header and trailer around the deflate stream */
	if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	uLong cap = deflateBound(&z, (uLong)len);
	char *buf = malloc(cap);
	int rc = Z_STREAM_ERROR;
	if (buf) {
		z.next_in = (Bytef *)in;
		z.avail_in = (uInt)len;
		z.next_out = (Bytef *)buf;
		z.avail_out = (uInt)cap;
		rc = deflate(&z, Z_FINISH);
	}
	size_t n = z.total_out;
	deflateEnd(&z);
	if (rc != Z_STREAM_END) {
		free(buf);
		return -1;
	}
	char *fit = realloc(buf, n);
	*out = fit ? fit : buf;
	*outlen = n;
	return 0;
}

void ops_docs_load(const char *dir)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/index.html", dir ? dir : "");
	FILE *f = fopen(path, "rb");
	if (!f)
		return;
	struct stat st;
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    st.st_size >= DOCS_MAX_BYTES) {
		fclose(f);
		return;
	}
	size_t len = (size_t)st.st_size;
	char *buf = malloc(len + 1); /* one more: a file that grew is refused */
	size_t n = buf ? fread(buf, 1, len + 1, f) : 0;
	fclose(f);
	if (n != len) {
		free(buf);
		return;
	}
	ops_docs_free();
	weak_etag(docs_etag, buf, len);
	docs_plain = len;
	if (gzip_buffer(buf, len, &docs_body, &docs_size) == 0) {
		docs_gzip = 1;
		free(buf);
	} else {
		docs_body = buf;
		docs_size = len;
	}
}

void ops_docs_free(void)
{
	free(docs_body);
	docs_body = NULL;
	docs_size = docs_plain = 0;
	docs_gzip = 0;
}

/* Whether Accept-Encoding allows gzip (a listed "gzip" or "*" without q=0). */
static int accepts_gzip(const char *ae)
{
	for (const char *p = ae; p && *p;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		const char *tok = p;
		while (*p && *p != ',' && *p != ';' && *p != ' ' && *p != '\t')
			p++;
		size_t n = (size_t)(p - tok);
		int named = (n == 4 && strncasecmp(tok, "gzip", 4) == 0) || (n == 1 && *tok == '*');
		int zero = 0;
		while (*p && *p != ',') { /* parameters: only q matters */
			if ((*p == 'q' || *p == 'Q') && p[1] == '=')
				zero = strtod(p + 2, NULL) <= 0.0;
			p++;
		}
		if (named && !zero)
			return 1;
	}
	return 0;
}

static void nothing_to_free(const void *body, size_t len, void *arg)
{
	(void)body, (void)len, (void)arg;
}

void ops_docs(struct req_ctx *ctx)
{
	if (!docs_body) {
		req_ctx_reply_error(ctx, 404, "The documentation is not built (make docs).", NULL,
				    NULL);
		return;
	}
	req_ctx_add_header(ctx, "Content-Security-Policy",
			   "default-src 'none'; style-src 'unsafe-inline'; script-src "
			   "'unsafe-inline'; img-src data:; font-src data:; base-uri 'none'; "
			   "form-action 'none'; frame-ancestors 'none'");
	static const char type[] = "text/html; charset=utf-8";
	if (!docs_gzip) {
		req_ctx_reply_ref(ctx, 200, type, docs_body, docs_size, docs_etag, nothing_to_free,
				  NULL);
		return;
	}
	req_ctx_add_header(ctx, "Vary", "Accept-Encoding");
	if (accepts_gzip(req_ctx_header(ctx, "Accept-Encoding"))) {
		req_ctx_add_header(ctx, "Content-Encoding", "gzip");
		req_ctx_reply_ref(ctx, 200, type, docs_body, docs_size, docs_etag, nothing_to_free,
				  NULL);
		return;
	}
	/* A client without gzip: inflate for this reply (a few ms, and rare). */
	char *page = malloc(docs_plain);
	z_stream z;
	memset(&z, 0, sizeof(z));
	int ok = page && inflateInit2(&z, 15 + 16) == Z_OK;
	if (ok) {
		z.next_in = (Bytef *)docs_body;
		z.avail_in = (uInt)docs_size;
		z.next_out = (Bytef *)page;
		z.avail_out = (uInt)docs_plain;
		ok = inflate(&z, Z_FINISH) == Z_STREAM_END && z.total_out == docs_plain;
		inflateEnd(&z);
	}
	if (!ok) {
		free(page);
		req_ctx_reply_error(ctx, 503, "Cannot serve the documentation now.", NULL, NULL);
		return;
	}
	req_ctx_reply_ref(ctx, 200, type, page, docs_plain, docs_etag, req_ctx_release_free, NULL);
}

void ops_metrics(struct req_ctx *ctx)
{
	struct evbuffer *b = evbuffer_new();
	if (!b) {
		req_ctx_reply_error(ctx, 503, "Out of memory.", NULL, NULL);
		return;
	}
	metrics_render(b);
	size_t len = evbuffer_get_length(b);
	const char *text = (const char *)evbuffer_pullup(b, -1);
	req_ctx_reply(ctx, 200, "text/plain; version=0.0.4", text, len, 0);
	evbuffer_free(b);
}
