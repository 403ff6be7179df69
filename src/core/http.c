/*
 * http: evhttp set-up and the path of a request before its handler:
 * route (404, 405 + Allow) -> query string (400) -> media type (415, 406)
 * -> handler. Body size (413) is enforced by evhttp itself, which answers
 * before we see the request. OPTIONS on a known path is a CORS preflight.
 *
 * Owns: the evhttp object and its listener. Never: answers except through
 * req_ctx_reply*.
 */
#include "core/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "core/config.h"
#include "core/jsonapi.h"
#include "core/log.h"
#include "core/req_ctx.h"
#include "core/router.h"

#define HEADERS_MAX_BYTES (16 * 1024)

struct http_server {
	struct evhttp *http;		   /* the evhttp server */
	struct evconnlistener *listener;   /* our listener (big backlog) */
	struct evhttp_bound_socket *bound; /* the listener as evhttp knows it */
	struct router *router;		   /* route table */
};

static int method_bit(enum evhttp_cmd_type t, const char **name)
{
	switch (t) {
	case EVHTTP_REQ_GET:
		*name = "GET";
		return ROUTER_GET;
	case EVHTTP_REQ_HEAD:
		*name = "HEAD";
		return ROUTER_HEAD;
	case EVHTTP_REQ_POST:
		*name = "POST";
		return ROUTER_POST;
	case EVHTTP_REQ_PUT:
		*name = "PUT";
		return ROUTER_PUT;
	case EVHTTP_REQ_PATCH:
		*name = "PATCH";
		return ROUTER_PATCH;
	case EVHTTP_REQ_DELETE:
		*name = "DELETE";
		return ROUTER_DELETE;
	case EVHTTP_REQ_OPTIONS:
		*name = "OPTIONS";
		return ROUTER_OPTIONS;
	default:
		*name = "OTHER";
		return 0;
	}
}

static void preflight(struct req_ctx *ctx, int allowed)
{
	char allow[128];
	router_allow_header(allowed, allow, sizeof(allow));
	req_ctx_add_header(ctx, "Allow", allow);
	req_ctx_add_header(ctx, "Access-Control-Allow-Methods", allow);
	req_ctx_add_header(ctx, "Access-Control-Allow-Headers",
			   "Authorization, Content-Type, Accept, If-None-Match, X-Request-Id");
	req_ctx_add_header(ctx, "Access-Control-Max-Age", "86400");
	req_ctx_reply(ctx, 204, NULL, NULL, 0, 0);
}

/* Two Content-Length headers that disagree: the body evhttp read may not be
 * the one a proxy in front saw (request smuggling). */
static int conflicting_length(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	const char *cl = NULL;
	for (struct evkeyval *kv = h->tqh_first; kv; kv = kv->next.tqe_next) {
		if (strcasecmp(kv->key, "Content-Length") != 0)
			continue;
		if (cl && strcmp(cl, kv->value) != 0)
			return 1;
		cl = kv->value;
	}
	return 0;
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct http_server *s = arg;
	struct req_ctx *ctx = req_ctx_new(req);
	if (!ctx) {
		evhttp_send_error(req, 503, "Out of memory");
		return;
	}
	ctx->method = method_bit(evhttp_request_get_command(req), &ctx->method_name);
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	ctx->path = strdup(path && *path ? path : "/");
	if (!ctx->path) {
		req_ctx_reply_error(ctx, 503, "Out of memory.", NULL, NULL);
		return;
	}
	if (conflicting_length(req)) {
		req_ctx_add_header(ctx, "Connection", "close");
		req_ctx_reply_error(ctx, 400, "Conflicting Content-Length headers.", NULL, NULL);
		return;
	}
	int r = router_match(s->router, ctx->method, ctx->path, &ctx->match);
	if (r == ROUTER_NOT_FOUND) {
		req_ctx_reply_error(ctx, 404, "The requested URL was not found on this server.",
				    NULL, NULL);
		return;
	}
	if (r == ROUTER_METHOD_NOT_ALLOWED) {
		if (ctx->method == ROUTER_OPTIONS) {
			preflight(ctx, ctx->match.allowed);
			return;
		}
		char allow[128], detail[192];
		router_allow_header(ctx->match.allowed, allow, sizeof(allow));
		req_ctx_add_header(ctx, "Allow", allow);
		snprintf(detail, sizeof(detail), "%s is not allowed here; allowed: %s.",
			 ctx->method_name, allow);
		ctx->match.route = NULL;
		req_ctx_reply_error(ctx, 405, detail, NULL, NULL);
		return;
	}
	const char *bad = NULL;
	if (query_parse(&ctx->query, uri ? evhttp_uri_get_query(uri) : NULL, &bad) < 0) {
		req_ctx_reply_error(ctx, 400, "The query string is malformed.", NULL,
				    bad ? bad : "query");
		return;
	}
	size_t body_len = evbuffer_get_length(evhttp_request_get_input_buffer(req));
	long limit = (ctx->match.route->flags & ROUTE_UPLOAD) ? cfg.upload_max_bytes * 4 / 3 + 4096
							      : cfg.body_max_bytes;
	if ((long)body_len > limit) {
		req_ctx_add_header(ctx, "Connection", "close");
		req_ctx_reply_error(ctx, 413, "The request body is too large.", NULL, NULL);
		return;
	}
	int media = jsonapi_check_media(req_ctx_header(ctx, "Content-Type"), body_len > 0,
					req_ctx_header(ctx, "Accept"));
	if (media == 415 && (ctx->match.route->flags & ROUTE_JSONAPI)) {
		req_ctx_reply_error(ctx, 415,
				    "Content-Type must be application/vnd.api+json without "
				    "media type parameters.",
				    NULL, NULL);
		return;
	}
	if (media == 406 && (ctx->match.route->flags & ROUTE_JSONAPI)) {
		req_ctx_reply_error(ctx, 406,
				    "Accept names the JSON:API media type only with parameters.",
				    NULL, NULL);
		return;
	}
	/* the handler may answer at once: keep ctx alive until it returns */
	req_ctx_ref(ctx);
	ctx->match.route->handler(ctx);
	req_ctx_unref(ctx);
}

struct http_server *http_server_new(struct event_base *base, struct router *r, int reuseport)
{
	struct http_server *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->router = r;
	s->http = evhttp_new(base);
	if (!s->http)
		goto fail;
	evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
						EVHTTP_REQ_PUT | EVHTTP_REQ_PATCH |
						EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS);
	evhttp_set_flags(s->http, EVHTTP_SERVER_LINGERING_CLOSE);
	evhttp_set_max_headers_size(s->http, HEADERS_MAX_BYTES);
	long body_max = cfg.upload_max_bytes > cfg.body_max_bytes
			    ? cfg.upload_max_bytes * 4 / 3 + 4096
			    : cfg.body_max_bytes;
	evhttp_set_max_body_size(s->http, body_max);
	/* header and body reads and response writes have a deadline (slow clients) */
	evhttp_set_timeout(s->http, 60);
	evhttp_set_gencb(s->http, on_request, s);

	struct evutil_addrinfo hints = {0}, *ai = NULL;
	char port[16];
	snprintf(port, sizeof(port), "%d", cfg.port);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_NUMERICHOST;
	/* at start-up, before the loop runs: a blocking lookup is allowed here,
	 * but HOST must be an address anyway */
	int gai = evutil_getaddrinfo(cfg.host, port, &hints, &ai);
	if (gai != 0) {
		log_error(NULL, "HOST=%s is not a numeric address: %s", cfg.host,
			  evutil_gai_strerror(gai));
		goto fail;
	}
	unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC;
	if (reuseport)
		flags |= LEV_OPT_REUSEABLE_PORT;
	s->listener = evconnlistener_new_bind(base, NULL, NULL, flags, cfg.listen_backlog,
					      ai->ai_addr, (int)ai->ai_addrlen);
	evutil_freeaddrinfo(ai);
	if (!s->listener) {
		log_error(NULL, "cannot listen on %s:%d: %s", cfg.host, cfg.port,
			  evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		goto fail;
	}
	/* accepted sockets inherit it: a response bigger than one write must
	 * not wait for the client's delayed ACK (Nagle) */
	int one = 1;
	setsockopt(evconnlistener_get_fd(s->listener), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->bound = evhttp_bind_listener(s->http, s->listener);
	if (!s->bound)
		goto fail;
	s->listener = NULL; /* owned by evhttp now */
	return s;
fail:
	http_server_free(s);
	return NULL;
}

void http_server_stop_accepting(struct http_server *s)
{
	if (s && s->bound) {
		evhttp_del_accept_socket(s->http, s->bound);
		s->bound = NULL;
	}
}

void http_server_free(struct http_server *s)
{
	if (!s)
		return;
	if (s->listener)
		evconnlistener_free(s->listener);
	if (s->http)
		evhttp_free(s->http);
	free(s);
}
