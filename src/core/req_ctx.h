/*
 * req_ctx: the lifetime of one HTTP request on the loop.
 *
 * A context holds one reference for the HTTP side and one per operation in
 * flight (database query, ...). It watches the client's socket with an
 * EV_CLOSED event and has its own deadline timer; when the client leaves,
 * every operation is cancelled or detached and its late result discarded.
 * The only way to answer is req_ctx_reply*(); after the answer (or the
 * client's departure) `req` is never touched again.
 */
#ifndef OES_REQ_CTX_H
#define OES_REQ_CTX_H

#include <sys/time.h>

#include <json-c/json.h>
#include <libpq-fe.h>

#include "core/auth.h"
#include "core/query.h"
#include "core/router.h"

struct evhttp_request;
struct evhttp_connection;
struct event;
struct req_op;

struct req_ctx {
	struct evhttp_request *req;	 /* NULL once answered or the client left */
	struct evhttp_connection *evcon; /* its connection, same lifetime as req */
	char id[40];			 /* request id (X-Request-Id) */
	int refs;			 /* HTTP side + operations in flight */
	int client_gone;		 /* the client left or the deadline passed */
	int replied;			 /* an answer was sent (or the client left) */
	int method;			 /* enum router_method bit */
	const char *method_name;	 /* "GET", ... */
	char *path;			 /* decoded path, owned */
	struct query query;		 /* parsed query string */
	struct route_match match;	 /* the route and its captures */
	char client[64];		 /* client address (TRUSTED_PROXIES applied) */
	struct event *closed_ev;	 /* EV_CLOSED watcher on the client's socket */
	struct event *deadline;		 /* REQUEST_TIMEOUT_MS timer */
	struct timeval start;		 /* arrival time */
	struct req_op *ops;		 /* operations in flight (doubly linked) */
	int nqueries;			 /* database operations answered */
	double db_ms, db_max_ms;	 /* their time from asking to answer: sum, longest */
	double pool_ms;			 /* of which waiting in the pool to be sent: sum */
	int status;			 /* status sent, for logs and metrics */
	struct principal principal;	 /* the caller, once auth_resolve ran */
	int trash_ok;			 /* the caller may read the trash this request asks for */
	void *hdata;			 /* handler state, freed by hfree */
	void (*hfree)(void *hdata);	 /* frees hdata with the context (may be NULL) */
};

/* Called by the HTTP layer for each request; the context owns itself from
 * then on (freed when its last reference goes). */
struct req_ctx *req_ctx_new(struct evhttp_request *req);
void req_ctx_ref(struct req_ctx *ctx);
/* May free ctx. */
void req_ctx_unref(struct req_ctx *ctx);
/* Whether an answer can still be sent. */
int req_ctx_alive(const struct req_ctx *ctx);

/* A request header, or NULL. */
const char *req_ctx_header(const struct req_ctx *ctx, const char *name);
/* Adds a response header (before the reply). */
void req_ctx_add_header(struct req_ctx *ctx, const char *name, const char *value);

/* Answers with body (copied). etag: add a weak ETag and answer 304 when the
 * client's If-None-Match matches. Drops the HTTP reference: may free ctx. */
void req_ctx_reply(struct req_ctx *ctx, int status, const char *content_type, const char *body,
		   size_t len, int etag);
/* As req_ctx_reply, but takes body (malloc'd) instead of copying it: the
 * output buffer refers to it and frees it once written (large documents are
 * not held twice). body is freed at once when nothing is sent. */
void req_ctx_reply_owned(struct req_ctx *ctx, int status, const char *content_type, char *body,
			 size_t len, int etag);
/* As req_ctx_reply, but the output buffer refers to body until it is
 * written, then calls release(body, len, arg) (at once when nothing is
 * sent): a document shared with a cache. tag is body's weak ETag (W/"...",
 * as weak_etag makes it), or NULL for none. */
void req_ctx_reply_ref(struct req_ctx *ctx, int status, const char *content_type, const char *body,
		       size_t len, const char *tag,
		       void (*release)(const void *body, size_t len, void *arg), void *arg);
/* A release for req_ctx_reply_ref that frees body (handed over, malloc'd). */
void req_ctx_release_free(const void *body, size_t len, void *arg);
/* Serialises doc (takes ownership) as JSON:API (or plain JSON). May free ctx. */
void req_ctx_reply_json(struct req_ctx *ctx, int status, struct json_object *doc, int jsonapi);
/* A JSON:API error document. May free ctx. */
void req_ctx_reply_error(struct req_ctx *ctx, int status, const char *detail, const char *pointer,
			 const char *parameter);

/* Database callback: runs only while the request can still be answered. */
typedef void (*req_db_cb)(struct req_ctx *ctx, PGresult *res, int err, void *arg);
/* Sends a query on behalf of the request (stmt: prepared name, or sql). On
 * refusal (database down, queue full) answers 503 and returns -1. */
int req_ctx_query(struct req_ctx *ctx, int flags, const char *stmt, const char *sql, int nparams,
		  const char *const *params, req_db_cb cb, void *arg);

/* Counters for /metrics and shutdown. */
long req_ctx_live(void);     /* contexts allocated */
long req_ctx_inflight(void); /* contexts not yet answered */
/* Called after each answer (set by the server, for draining on shutdown). */
extern void (*req_ctx_on_done)(void);

#endif
