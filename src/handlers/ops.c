/*
 * ops: /health-check asks the database for `SELECT 1` with a short deadline
 * of its own (so a stuck database gives 503, not a hang); /metrics renders
 * the Prometheus text. Neither needs authentication.
 */
#include "handlers/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "core/app.h"
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

/* The rendered documentation, read once at start-up (bounded), so that no
 * request reads a file on the loop. */
static char *docs_html;
static size_t docs_len;

#define DOCS_MAX_BYTES (16 * 1024 * 1024)

void ops_docs_load(const char *dir)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/index.html", dir ? dir : "");
	FILE *f = fopen(path, "rb");
	if (!f)
		return;
	char *buf = malloc(DOCS_MAX_BYTES);
	size_t n = buf ? fread(buf, 1, DOCS_MAX_BYTES, f) : 0;
	fclose(f);
	if (n == 0 || n == DOCS_MAX_BYTES) {
		free(buf);
		return;
	}
	docs_html = buf;
	docs_len = n;
}

void ops_docs_free(void)
{
	free(docs_html);
	docs_html = NULL;
	docs_len = 0;
}

void ops_docs(struct req_ctx *ctx)
{
	if (!docs_html) {
		req_ctx_reply_error(ctx, 404, "The documentation is not built (make docs).", NULL,
				    NULL);
		return;
	}
	req_ctx_add_header(ctx, "Content-Security-Policy",
			   "default-src 'none'; style-src 'unsafe-inline'; script-src "
			   "'unsafe-inline'; img-src data:; font-src data:; base-uri 'none'; "
			   "form-action 'none'; frame-ancestors 'none'");
	req_ctx_reply(ctx, 200, "text/html; charset=utf-8", docs_html, docs_len, 1);
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
