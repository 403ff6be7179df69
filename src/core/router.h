/*
 * router: the route table (method + path pattern -> handler) and matching.
 *
 * Patterns are absolute paths whose segments are literals or captures:
 *   {id}        a positive integer that fits in int64 (leading zeros refused)
 *   {event_id}  an {id}, or an event identifier: 8 lower- or upper-case hex
 *               characters that are not all digits
 *   {uuid}      a UUID in its canonical 8-4-4-4-12 hex form (any case)
 *   {*}         last segment only: one or more segments of any text (the
 *               handler reads them from the path); captures nothing
 * A segment that fails its capture's rule does not match (so bad ids are 404).
 * Pure: no I/O, no allocation during matching.
 */
#ifndef OES_ROUTER_H
#define OES_ROUTER_H

#include <stddef.h>

enum router_method {
	ROUTER_GET = 1 << 0,
	ROUTER_HEAD = 1 << 1,
	ROUTER_POST = 1 << 2,
	ROUTER_PUT = 1 << 3,
	ROUTER_PATCH = 1 << 4,
	ROUTER_DELETE = 1 << 5,
	ROUTER_OPTIONS = 1 << 6,
};

enum router_result { ROUTER_FOUND, ROUTER_NOT_FOUND, ROUTER_METHOD_NOT_ALLOWED };

#define ROUTER_MAX_PARAMS   4
#define ROUTER_MAX_SEGMENTS 8

struct req_ctx;
typedef void (*route_handler)(struct req_ctx *ctx);

struct route {
	int methods;	       /* mask of enum router_method */
	const char *pattern;   /* e.g. "/v1/events/{event_id}" */
	route_handler handler; /* called with the request context */
	const void *udata;     /* handler data, e.g. a resource descriptor */
	int flags;	       /* enum route_flags */
};

enum route_flags {
	ROUTE_JSONAPI = 1 << 0, /* JSON:API media-type rules apply */
	ROUTE_UPLOAD = 1 << 1,	/* body limit UPLOAD_MAX_BYTES instead of BODY_MAX_BYTES */
};

struct route_param {
	const char *name; /* capture name without braces, NUL-terminated; points into the
			   * router's copy of the pattern (valid while the router lives) */
	long long id;	  /* the integer, when !is_ident */
	char ident[9];	  /* the identifier (lower-cased), when is_ident */
	int is_ident;	  /* 1 when an {event_id} matched an identifier */
	char uuid[37];	  /* the UUID (lower-cased), for a {uuid} capture */
};

struct route_match {
	const struct route *route; /* matched route (FOUND) */
	int allowed;		   /* methods of every route matching the path */
	int nparams;		   /* captures filled */
	struct route_param params[ROUTER_MAX_PARAMS];
};

struct router;

/* Caller frees with router_free. */
struct router *router_new(void);
void router_free(struct router *r);
/* Adds a route; the route struct is copied, its strings are not (static). 0/-1. */
int router_add(struct router *r, const struct route *route);
/* Matches `path` (without query string) for `method` (one enum bit). HEAD
 * matches GET routes. Fills m; returns enum router_result. When several
 * routes match and allow the method, the one with the most literal segments
 * wins, then the one added first. m->allowed (FOUND and METHOD_NOT_ALLOWED)
 * is the union of the matching routes' methods plus HEAD (when GET is in it)
 * and OPTIONS, ready for an Allow header; an OPTIONS request on a path whose
 * routes do not list OPTIONS gives METHOD_NOT_ALLOWED, which the caller may
 * answer as a preflight. Never allocates. */
int router_match(const struct router *r, int method, const char *path, struct route_match *m);
/* Writes "GET, POST" for a mask into buf (always NUL-terminated). */
void router_allow_header(int mask, char *buf, size_t len);
/* Parses a positive int64 with no sign, no leading zero; 0 ok / -1. */
int router_parse_id(const char *s, size_t len, long long *out);
/* Whether s[0..len) is a canonical UUID (8-4-4-4-12 hex digits). */
int router_is_uuid(const char *s, size_t len);
/* Whether s[0..len) is an event identifier (8 hex, not all digits). */
int router_is_identifier(const char *s, size_t len);
/* The capture called `name`, or NULL. */
const struct route_param *route_param_get(const struct route_match *m, const char *name);

#endif
