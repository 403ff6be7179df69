/*
 * router: the route table and the path matcher.
 *
 * Owns: a growable array of routes, each with its pattern split once (in
 * router_add) into segments that point into a private copy of the pattern.
 * Matching walks the request path in place, compares it segment by segment
 * with every route and never allocates.
 *
 * Captures: "{event_id}" takes a positive id or an event identifier;
 * "{uuid}" takes a canonical UUID (lower-cased into the param); every
 * other capture name ("{id}", "{user_id}", ...) takes a positive id only.
 * A last segment "{*}" matches one or more remaining segments of any text
 * (the handler reads them from the path); it captures nothing.
 *
 * Precedence: when several routes match the path and allow the method, the
 * one with the most literal segments wins ("/v1/users/me" beats
 * "/v1/users/{id}" whatever the order of registration); on a tie the route
 * added first wins.
 *
 * Routes are registered at start-up: router_add may move the table, so a
 * route_match (its route and param names) is valid until the next router_add
 * or router_free.
 *
 * Never: allocates or does I/O while matching; refers to the caller's route
 * struct after router_add (it is copied; its strings must be static).
 */
#include "core/router.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

enum seg_kind {
	SEG_LITERAL,  /* must equal the text */
	SEG_ID,	      /* a capture taking router_parse_id */
	SEG_EVENT_ID, /* a capture taking an id or an event identifier */
	SEG_UUID,     /* a capture taking a canonical UUID */
	SEG_REST,     /* "{*}", last: one or more segments of any text */
};

struct seg {
	enum seg_kind kind; /* literal or capture rule */
	const char *text;   /* literal text, or capture name; NUL-terminated in pat */
	size_t len;	    /* strlen(text) */
};

struct route_entry {
	struct route route;		      /* the caller's route, copied */
	char *pat;			      /* owned copy of the pattern, split by NULs */
	struct seg segs[ROUTER_MAX_SEGMENTS]; /* the pattern's segments */
	int nsegs;			      /* segments used; 0 for "/" */
	int nliterals;			      /* literal segments, for precedence */
};

struct router {
	struct route_entry *items; /* owned array */
	size_t n;		   /* routes in use */
	size_t cap;		   /* allocated entries */
};

/* A piece of the request path: not NUL-terminated. */
struct path_seg {
	const char *s; /* start, inside the caller's path */
	size_t len;    /* length, > 0 */
};

struct router *router_new(void)
{
	return calloc(1, sizeof(struct router));
}

void router_free(struct router *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n; i++)
		free(r->items[i].pat);
	free(r->items);
	free(r);
}

int router_add(struct router *r, const struct route *route)
{
	struct route_entry e;
	const char *src;
	size_t plen;
	int nsegs = 0;

	if (r == NULL || route == NULL || route->pattern == NULL || route->methods == 0)
		return -1;
	src = route->pattern;
	plen = strlen(src);
	if (plen == 0 || src[0] != '/')
		return -1;
	if (plen > 1 && src[plen - 1] == '/')
		return -1;

	memset(&e, 0, sizeof(e));
	e.route = *route;
	e.pat = malloc(plen + 1);
	if (e.pat == NULL)
		return -1;
	memcpy(e.pat, src, plen + 1);

	/* Split in place: every '/' but the first becomes a NUL. */
	if (plen > 1) {
		char *p = e.pat + 1;
		int ncaps = 0;

		for (;;) {
			char *end = strchr(p, '/');
			size_t len = end ? (size_t)(end - p) : strlen(p);
			struct seg *s;

			if (len == 0 || nsegs == ROUTER_MAX_SEGMENTS)
				goto fail;
			if (end != NULL)
				*end = '\0';
			s = &e.segs[nsegs++];
			if (len == 3 && memcmp(p, "{*}", 3) == 0) {
				if (end != NULL)
					goto fail; /* only as the last segment */
				s->kind = SEG_REST;
				s->text = "*";
				s->len = 1;
				break;
			}
			if (p[0] == '{') {
				if (len < 3 || p[len - 1] != '}' || ncaps == ROUTER_MAX_PARAMS)
					goto fail;
				p[len - 1] = '\0';
				if (strpbrk(p + 1, "{}") != NULL)
					goto fail;
				ncaps++;
				s->text = p + 1;
				s->len = len - 2;
				s->kind = strcmp(s->text, "event_id") == 0 ? SEG_EVENT_ID
					  : strcmp(s->text, "uuid") == 0   ? SEG_UUID
									   : SEG_ID;
			} else {
				if (memchr(p, '{', len) != NULL || memchr(p, '}', len) != NULL)
					goto fail;
				s->kind = SEG_LITERAL;
				s->text = p;
				s->len = len;
				e.nliterals++;
			}
			if (end == NULL)
				break;
			p = end + 1;
		}
	}
	e.nsegs = nsegs;

	if (r->n == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 16;
		struct route_entry *items = realloc(r->items, ncap * sizeof(*items));

		if (items == NULL)
			goto fail;
		r->items = items;
		r->cap = ncap;
	}
	r->items[r->n++] = e;
	return 0;
fail:
	free(e.pat);
	return -1;
}

int router_parse_id(const char *s, size_t len, long long *out)
{
	long long v = 0;
	size_t i;

	if (s == NULL || len == 0 || s[0] == '0')
		return -1;
	for (i = 0; i < len; i++) {
		int d;

		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = s[i] - '0';
		if (v > (LLONG_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (out != NULL)
		*out = v;
	return 0;
}

static int is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int router_is_identifier(const char *s, size_t len)
{
	int letters = 0;
	size_t i;

	if (s == NULL || len != 8)
		return 0;
	for (i = 0; i < len; i++) {
		if (!is_hex(s[i]))
			return 0;
		if (s[i] > '9')
			letters = 1;
	}
	return letters;
}

int router_is_uuid(const char *s, size_t len)
{
	size_t i;

	if (s == NULL || len != 36)
		return 0;
	for (i = 0; i < len; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!is_hex(s[i])) {
			return 0;
		}
	}
	return 1;
}

/* Splits path into segs; returns the count, or -1 when it cannot match any
 * route (not absolute, empty segment, trailing slash, too many segments). */
static int split_path(const char *path, struct path_seg *segs)
{
	const char *p;
	int n = 0;

	if (path == NULL || path[0] != '/')
		return -1;
	if (path[1] == '\0')
		return 0;
	p = path + 1;
	for (;;) {
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len == 0 || n == ROUTER_MAX_SEGMENTS)
			return -1;
		segs[n].s = p;
		segs[n].len = len;
		n++;
		if (end == NULL)
			return n;
		p = end + 1;
	}
}

/* Whether e matches the split path; fills the captures into params. */
static int entry_match(const struct route_entry *e, const struct path_seg *ps, int n,
		       struct route_param *params, int *nparams)
{
	int i, np = 0;
	int rest = e->nsegs > 0 && e->segs[e->nsegs - 1].kind == SEG_REST;

	if (rest ? n < e->nsegs : e->nsegs != n)
		return 0;
	for (i = 0; i < n; i++) {
		const struct seg *s = &e->segs[i];
		struct route_param *rp;

		if (s->kind == SEG_REST)
			break;
		if (s->kind == SEG_LITERAL) {
			if (s->len != ps[i].len || memcmp(s->text, ps[i].s, s->len) != 0)
				return 0;
			continue;
		}
		rp = &params[np];
		memset(rp, 0, sizeof(*rp));
		rp->name = s->text;
		if (s->kind == SEG_UUID) {
			size_t k;

			if (!router_is_uuid(ps[i].s, ps[i].len))
				return 0;
			for (k = 0; k < 36; k++) {
				char c = ps[i].s[k];

				rp->uuid[k] = (c >= 'A' && c <= 'F') ? (char)(c - 'A' + 'a') : c;
			}
			rp->uuid[36] = '\0';
			np++;
			continue;
		}
		if (router_parse_id(ps[i].s, ps[i].len, &rp->id) == 0) {
			np++;
			continue;
		}
		if (s->kind == SEG_EVENT_ID && router_is_identifier(ps[i].s, ps[i].len)) {
			size_t k;

			for (k = 0; k < 8; k++) {
				char c = ps[i].s[k];

				rp->ident[k] = (c >= 'A' && c <= 'F') ? (char)(c - 'A' + 'a') : c;
			}
			rp->ident[8] = '\0';
			rp->is_ident = 1;
			np++;
			continue;
		}
		return 0;
	}
	*nparams = np;
	return 1;
}

static int methods_allow(int methods, int method)
{
	if (method == 0)
		return 0;
	if (methods & method)
		return 1;
	return method == ROUTER_HEAD && (methods & ROUTER_GET);
}

int router_match(const struct router *r, int method, const char *path, struct route_match *m)
{
	struct path_seg ps[ROUTER_MAX_SEGMENTS];
	struct route_param tmp[ROUTER_MAX_PARAMS];
	const struct route_entry *best = NULL;
	int n, union_methods = 0, any = 0;
	size_t i;

	memset(m, 0, sizeof(*m));
	if (r == NULL)
		return ROUTER_NOT_FOUND;
	n = split_path(path, ps);
	if (n < 0)
		return ROUTER_NOT_FOUND;
	for (i = 0; i < r->n; i++) {
		const struct route_entry *e = &r->items[i];
		int np = 0;

		if (!entry_match(e, ps, n, tmp, &np))
			continue;
		any = 1;
		union_methods |= e->route.methods;
		if (!methods_allow(e->route.methods, method))
			continue;
		if (best != NULL && e->nliterals <= best->nliterals)
			continue;
		best = e;
		m->nparams = np;
		memcpy(m->params, tmp, (size_t)np * sizeof(tmp[0]));
	}
	if (!any)
		return ROUTER_NOT_FOUND;
	if (union_methods & ROUTER_GET)
		union_methods |= ROUTER_HEAD;
	m->allowed = union_methods | ROUTER_OPTIONS;
	if (best == NULL) {
		m->nparams = 0;
		return ROUTER_METHOD_NOT_ALLOWED;
	}
	m->route = &best->route;
	return ROUTER_FOUND;
}

void router_allow_header(int mask, char *buf, size_t len)
{
	static const struct {
		int bit;
		const char *name;
	} names[] = {
	    {ROUTER_GET, "GET"},	 {ROUTER_HEAD, "HEAD"},	  {ROUTER_POST, "POST"},
	    {ROUTER_PUT, "PUT"},	 {ROUTER_PATCH, "PATCH"}, {ROUTER_DELETE, "DELETE"},
	    {ROUTER_OPTIONS, "OPTIONS"},
	};
	size_t used = 0, i;

	if (buf == NULL || len == 0)
		return;
	buf[0] = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *sep = used ? ", " : "";
		size_t need;

		if (!(mask & names[i].bit))
			continue;
		need = strlen(sep) + strlen(names[i].name);
		if (used + need >= len)
			break; /* truncated at a whole name */
		memcpy(buf + used, sep, strlen(sep));
		used += strlen(sep);
		memcpy(buf + used, names[i].name, strlen(names[i].name));
		used += strlen(names[i].name);
		buf[used] = '\0';
	}
}

const struct route_param *route_param_get(const struct route_match *m, const char *name)
{
	int i;

	if (m == NULL || name == NULL)
		return NULL;
	for (i = 0; i < m->nparams && i < ROUTER_MAX_PARAMS; i++)
		if (m->params[i].name != NULL && strcmp(m->params[i].name, name) == 0)
			return &m->params[i];
	return NULL;
}
