/*
 * req_ctx: one request's lifetime: identity, client address, deadline,
 * client-departure watcher, operations in flight and the single reply path.
 *
 * Owns: the context and its operation wrappers. Never: touches `req` after
 * the answer was sent or the connection closed, or frees the connection from
 * inside an evhttp callback.
 */
#include "core/req_ctx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "core/app.h"
#include "core/config.h"
#include "core/hash.h"
#include "core/jsonapi.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/pg_pool.h"

struct req_op {
	struct req_op *next, *prev; /* in ctx->ops */
	struct req_ctx *ctx;	    /* holder of one reference */
	struct pg_query *q;	    /* the query in flight */
	req_db_cb cb;		    /* handler callback */
	void *arg;		    /* its argument */
};

static long live_count, inflight_count;
static long sending_count; /* answers handed to evhttp, not yet fully written */
static unsigned long long id_counter;
void (*req_ctx_on_done)(void);

long req_ctx_live(void)
{
	return live_count;
}

long req_ctx_inflight(void)
{
	return inflight_count + sending_count;
}

/* An answer is no longer being written: done, or its connection died. */
static void sending_over(void)
{
	sending_count--;
	if (req_ctx_on_done)
		req_ctx_on_done();
}

/* The connection closed while an answer was being written. */
static void sending_closed_cb(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon, (void)arg;
	sending_over();
}

/* evhttp wrote the whole answer. */
static void sent_cb(struct evhttp_request *req, void *arg)
{
	(void)arg;
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	if (evcon)
		evhttp_connection_set_closecb(evcon, NULL, NULL);
	sending_over();
}

int req_ctx_alive(const struct req_ctx *ctx)
{
	return !ctx->replied && !ctx->client_gone && ctx->req;
}

void req_ctx_ref(struct req_ctx *ctx)
{
	ctx->refs++;
}

static void ctx_free(struct req_ctx *ctx)
{
	if (ctx->closed_ev)
		event_free(ctx->closed_ev);
	if (ctx->deadline)
		event_free(ctx->deadline);
	if (ctx->hfree)
		ctx->hfree(ctx->hdata);
	query_free(&ctx->query);
	free(ctx->path);
	free(ctx);
	live_count--;
}

void req_ctx_unref(struct req_ctx *ctx)
{
	if (--ctx->refs == 0)
		ctx_free(ctx);
}

/* Detaches every operation in flight: their late results are discarded. */
static void cancel_ops(struct req_ctx *ctx)
{
	struct req_op *op;
	while ((op = ctx->ops)) {
		ctx->ops = op->next;
		if (op->q)
			pg_query_cancel(op->q);
		free(op);
		ctx->refs--; /* never the last: the HTTP side holds one */
	}
}

/* At most SLOW_LOG_PER_S lines a second: an overloaded server makes every
 * request slow, and its log must not become the next load. The next line
 * logged counts the ones left out. */
#define SLOW_LOG_PER_S 10
static void log_slow(struct req_ctx *ctx, int status, double ms, time_t now)
{
	static time_t second;
	static int lines;
	static long left_out;
	if (now != second) {
		second = now;
		lines = 0;
	}
	if (lines >= SLOW_LOG_PER_S) {
		left_out++;
		return;
	}
	lines++;
	/* the route's pattern, not the path: the client chose the path */
	log_warn(ctx->id,
		 "slow request: %s %s %d in %.1f ms; %d database operation(s), %.1f ms from "
		 "asking to answer (longest %.1f ms), of which %.1f ms waiting in the pool to be "
		 "sent",
		 ctx->method_name, ctx->match.route ? ctx->match.route->pattern : "(unmatched)",
		 status, ms, ctx->nqueries, ctx->db_ms, ctx->db_max_ms, ctx->pool_ms);
	if (left_out)
		log_warn(NULL, "slow requests not logged (more than %d a second): %ld",
			 SLOW_LOG_PER_S, left_out);
	left_out = 0;
}

/* The end of the HTTP side: stop watching, count, drop its reference. */
static void finish(struct req_ctx *ctx, int status, long bytes)
{
	if (ctx->closed_ev)
		event_del(ctx->closed_ev);
	if (ctx->deadline)
		event_del(ctx->deadline);
	ctx->replied = 1;
	ctx->req = NULL;
	ctx->evcon = NULL;
	inflight_count--;
	struct timeval now, d;
	gettimeofday(&now, NULL);
	timersub(&now, &ctx->start, &d);
	double secs = (double)d.tv_sec + (double)d.tv_usec / 1e6;
	ctx->status = status;
	metrics_observe(ctx->match.route ? ctx->match.route->pattern : NULL, status, secs);
	log_access(ctx->id, ctx->client, ctx->method_name, ctx->path ? ctx->path : "-", status,
		   bytes, secs * 1000.0);
	if (cfg.slow_request_ms > 0 && secs * 1000.0 >= cfg.slow_request_ms)
		log_slow(ctx, status, secs * 1000.0, now.tv_sec);
	cancel_ops(ctx);
	req_ctx_unref(ctx);
	if (req_ctx_on_done)
		req_ctx_on_done();
}

/* The client is gone: called from evhttp's close callback (the connection
 * is being freed by evhttp) or from our EV_CLOSED watcher. */
static void client_gone(struct req_ctx *ctx)
{
	if (ctx->replied)
		return;
	ctx->client_gone = 1;
	log_info(ctx->id, "client left before the answer");
	finish(ctx, 499, 0);
}

static void conn_close_cb(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	client_gone(arg);
}

static void closed_cb(evutil_socket_t fd, short what, void *arg)
{
	struct req_ctx *ctx = arg;
	struct evhttp_connection *evcon = ctx->evcon;
	if (ctx->replied || !evcon)
		return;
	if (!(what & EV_CLOSED)) {
		/* epoll reports a reset as readable, not closed: look without
		 * taking. Data waiting is a pipelined request (the client is
		 * still there): from then on watch for a close only. */
		char c;
		ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n > 0 ||
		    (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))) {
			event_del(ctx->closed_ev);
			event_assign(ctx->closed_ev, app.base, fd, EV_CLOSED | EV_PERSIST,
				     closed_cb, ctx);
			event_add(ctx->closed_ev, NULL);
			return;
		}
	}
	evhttp_connection_set_closecb(evcon, NULL, NULL);
	req_ctx_ref(ctx);
	client_gone(ctx);
	/* not inside an evhttp callback: freeing the connection here is safe;
	 * it frees the request too */
	evhttp_connection_free(evcon);
	req_ctx_unref(ctx);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct req_ctx *ctx = arg;
	(void)fd, (void)what;
	if (!req_ctx_alive(ctx))
		return;
	log_warn(ctx->id, "request deadline of %d ms passed", cfg.request_timeout_ms);
	req_ctx_reply_error(ctx, 504, "The request took longer than its deadline.", NULL, NULL);
}

static void make_id(struct req_ctx *ctx)
{
	const char *given =
	    evhttp_find_header(evhttp_request_get_input_headers(ctx->req), "X-Request-Id");
	if (given) {
		size_t n = strlen(given);
		int ok = n > 0 && n < sizeof(ctx->id);
		for (size_t i = 0; ok && i < n; i++) {
			char c = given[i];
			ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
			     (c >= 'A' && c <= 'Z') || c == '-' || c == '_' || c == '.';
		}
		if (ok) {
			memcpy(ctx->id, given, n + 1);
			return;
		}
	}
	if (id_counter == 0)
		id_counter = ((unsigned long long)getpid() << 40) ^
			     ((unsigned long long)ctx->start.tv_sec << 20) ^
			     (unsigned long long)ctx->start.tv_usec;
	snprintf(ctx->id, sizeof(ctx->id), "%016llx", ++id_counter);
}

/* The peer, or the last X-Forwarded-For hop when the peer is a trusted proxy. */
static void client_address(struct req_ctx *ctx)
{
	char *addr = NULL;
	ev_uint16_t port = 0;
	evhttp_connection_get_peer(ctx->evcon, &addr, &port);
	snprintf(ctx->client, sizeof(ctx->client), "%s", addr ? addr : "-");
	if (cfg.trusted_proxies.n == 0 || !cidr_list_match(&cfg.trusted_proxies, ctx->client))
		return;
	const char *xff = req_ctx_header(ctx, "X-Forwarded-For");
	if (!xff)
		return;
	const char *last = strrchr(xff, ',');
	last = last ? last + 1 : xff;
	while (*last == ' ')
		last++;
	size_t n = strcspn(last, " ");
	if (n > 0 && n < sizeof(ctx->client)) {
		memcpy(ctx->client, last, n);
		ctx->client[n] = '\0';
	}
}

struct req_ctx *req_ctx_new(struct evhttp_request *req)
{
	struct req_ctx *ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return NULL;
	live_count++;
	inflight_count++;
	ctx->refs = 1;
	ctx->req = req;
	ctx->evcon = evhttp_request_get_connection(req);
	gettimeofday(&ctx->start, NULL);
	make_id(ctx);
	client_address(ctx);
	evhttp_connection_set_closecb(ctx->evcon, conn_close_cb, ctx);
	struct bufferevent *bev = evhttp_connection_get_bufferevent(ctx->evcon);
	evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
	if (fd >= 0) {
		ctx->closed_ev =
		    event_new(app.base, fd, EV_CLOSED | EV_READ | EV_PERSIST, closed_cb, ctx);
		if (ctx->closed_ev)
			event_add(ctx->closed_ev, NULL);
	}
	ctx->deadline = evtimer_new(app.base, deadline_cb, ctx);
	if (ctx->deadline) {
		struct timeval tv = {cfg.request_timeout_ms / 1000,
				     (cfg.request_timeout_ms % 1000) * 1000};
		evtimer_add(ctx->deadline, &tv);
	}
	return ctx;
}

const char *req_ctx_header(const struct req_ctx *ctx, const char *name)
{
	if (!ctx->req)
		return NULL;
	return evhttp_find_header(evhttp_request_get_input_headers(ctx->req), name);
}

void req_ctx_add_header(struct req_ctx *ctx, const char *name, const char *value)
{
	if (ctx->req)
		evhttp_add_header(evhttp_request_get_output_headers(ctx->req), name, value);
}

/* Whether an If-None-Match header names tag (weak comparison). */
static int etag_matches(const char *inm, const char *tag)
{
	if (strcmp(inm, "*") == 0)
		return 1;
	const char *opaque = tag + 2; /* skip W/ */
	size_t n = strlen(opaque);
	for (const char *p = inm; (p = strstr(p, opaque)); p += n) {
		char after = p[n];
		if (after == '\0' || after == ',' || after == ' ')
			return 1;
	}
	return 0;
}

void req_ctx_release_free(const void *data, size_t len, void *arg)
{
	(void)len;
	(void)arg;
	free((void *)data);
}

/* How body goes out: copied (release NULL), or referenced by the output
 * buffer until written and then release(body, len, arg), which also runs at
 * once when nothing is sent (req_ctx_release_free: handed over). tag: body's weak ETag
 * when known, else computed here when etag is set. */
struct body_src {
	void (*release)(const void *body, size_t len, void *arg);
	void *arg;
	const char *tag;
};

static void reply(struct req_ctx *ctx, int status, const char *content_type, const char *body,
		  size_t len, int etag, const struct body_src *src)
{
	if (!req_ctx_alive(ctx)) {
		if (src->release)
			src->release(body, len, src->arg);
		return;
	}
	struct evhttp_request *req = ctx->req;
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "X-Request-Id", ctx->id);
	evhttp_add_header(h, "Access-Control-Allow-Origin", "*");
	evhttp_add_header(h, "Access-Control-Expose-Headers", "ETag, Location, X-Request-Id");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	if (app.shutting_down)
		evhttp_add_header(h, "Connection", "close");
	if (content_type)
		evhttp_add_header(h, "Content-Type", content_type);
	if (etag && status == 200) {
		char tag[32];
		if (src->tag)
			snprintf(tag, sizeof(tag), "%s", src->tag);
		else
			weak_etag(tag, body, len);
		evhttp_add_header(h, "ETag", tag);
		evhttp_add_header(h, "Vary", "Authorization");
		const char *inm = req_ctx_header(ctx, "If-None-Match");
		if (inm && etag_matches(inm, tag)) {
			status = 304;
			len = 0;
		}
	}
	/* from here the connection's closing only ends the writing */
	evhttp_connection_set_closecb(ctx->evcon, sending_closed_cb, NULL);
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	if (len > 0 && src->release) {
		if (evbuffer_add_reference(out, body, len, src->release, src->arg) < 0) {
			evbuffer_add(out, body, len);
			src->release(body, len, src->arg);
		}
	} else {
		if (len > 0)
			evbuffer_add(out, body, len);
		if (src->release)
			src->release(body, len, src->arg);
	}
	sending_count++;
	evhttp_request_set_on_complete_cb(req, sent_cb, NULL);
	evhttp_send_reply(req, status, NULL, NULL);
	finish(ctx, status, (long)len);
}

void req_ctx_reply(struct req_ctx *ctx, int status, const char *content_type, const char *body,
		   size_t len, int etag)
{
	static const struct body_src copied = {NULL, NULL, NULL};
	reply(ctx, status, content_type, body, len, etag, &copied);
}

void req_ctx_reply_owned(struct req_ctx *ctx, int status, const char *content_type, char *body,
			 size_t len, int etag)
{
	static const struct body_src owned = {req_ctx_release_free, NULL, NULL};
	reply(ctx, status, content_type, body, len, etag, &owned);
}

void req_ctx_reply_ref(struct req_ctx *ctx, int status, const char *content_type, const char *body,
		       size_t len, const char *tag,
		       void (*release)(const void *body, size_t len, void *arg), void *arg)
{
	const struct body_src ref = {release, arg, tag};
	reply(ctx, status, content_type, body, len, tag != NULL, &ref);
}

void req_ctx_reply_json(struct req_ctx *ctx, int status, struct json_object *doc, int jsonapi)
{
	if (req_ctx_alive(ctx)) {
		size_t len = 0;
		const char *s = json_object_to_json_string_length(
		    doc, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
		req_ctx_reply(ctx, status, jsonapi ? JSONAPI_MEDIA_TYPE : "application/json", s,
			      len, ctx->method == ROUTER_GET || ctx->method == ROUTER_HEAD);
	}
	json_object_put(doc);
}

void req_ctx_reply_error(struct req_ctx *ctx, int status, const char *detail, const char *pointer,
			 const char *parameter)
{
	req_ctx_reply_json(ctx, status, jsonapi_error_doc(status, detail, pointer, parameter), 1);
}

/* ---- database operations ---- */

static void op_done(void *arg, PGresult *res, int err)
{
	struct req_op *op = arg;
	struct req_ctx *ctx = op->ctx;
	if (op->prev)
		op->prev->next = op->next;
	else
		ctx->ops = op->next;
	if (op->next)
		op->next->prev = op->prev;
	req_db_cb cb = op->cb;
	void *cb_arg = op->arg;
	double queued;
	double ms = pg_query_elapsed_ms(op->q, &queued);
	ctx->nqueries++;
	ctx->db_ms += ms;
	ctx->pool_ms += queued;
	if (ms > ctx->db_max_ms)
		ctx->db_max_ms = ms;
	free(op);
	if (req_ctx_alive(ctx)) {
		if (err == PG_ERR_UNAVAILABLE)
			req_ctx_reply_error(ctx, 503, "The database is unavailable.", NULL, NULL);
		else
			cb(ctx, res, err, cb_arg);
	}
	req_ctx_unref(ctx);
}

int req_ctx_query(struct req_ctx *ctx, int flags, const char *stmt, const char *sql, int nparams,
		  const char *const *params, req_db_cb cb, void *arg)
{
	struct req_op *op = calloc(1, sizeof(*op));
	if (op) {
		op->ctx = ctx;
		op->cb = cb;
		op->arg = arg;
		op->q = pg_pool_query(app.pg, flags, stmt, sql, nparams, params, op_done, op);
	}
	if (!op || !op->q) {
		free(op);
		req_ctx_reply_error(ctx, 503, "The database is unavailable or overloaded.", NULL,
				    NULL);
		return -1;
	}
	op->next = ctx->ops;
	if (ctx->ops)
		ctx->ops->prev = op;
	ctx->ops = op;
	req_ctx_ref(ctx);
	return 0;
}
