/*
 * fuzz_router: libFuzzer target for src/core/router.c (the route matcher).
 *
 * Input: byte 0 picks the method (one enum router_method bit, or 0 for an
 * unknown method), byte 1 the size of the Allow-header buffer, the rest is
 * the request path (cut at the first NUL, as a C string would be).
 *
 * The table mirrors the server's: for every resource type the list, detail,
 * restore, related and relationship routes that crud_register generates
 * ({event_id} for events, {id} elsewhere), the operational routes, and a few
 * shapes that exercise the limits (8 segments, 4 captures, a literal that
 * must beat a capture added before it).
 *
 * Oracle: a second, naive matcher written here from the contract in
 * router.h (split on '/', compare segment by segment, parse ids with
 * strtoull-free digit rules, pick the route with most literals, first added
 * on a tie). Any difference in result, chosen route, captures or Allow
 * mask aborts. router_allow_header must NUL-terminate within the buffer
 * and cut only at whole names. ASan/UBSan catch out-of-bounds reads of the
 * path and overflow in id parsing.
 *
 * fuzz-sources: src/core/router.c
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/router.h"

#define MAX_ROUTES 512

static void h_dummy(struct req_ctx *ctx)
{
	(void)ctx;
}

struct type_desc {
	const char *path;     /* plural path segment */
	const char *rels;     /* space-separated relationship names */
	int soft_delete;      /* has a restore route */
	int editable;	      /* PATCH/DELETE on the detail */
	const char *patchrel; /* space-separated to-one rels with a PATCH route */
};

static const struct type_desc types[] = {
    {"events",
     "sessions speakers tracks microlocations sponsors session-types social-links tickets "
     "event-topic owner users-events-roles",
     1, 1, "event-topic"},
    {"sessions", "event track session-type microlocation speakers creator", 1, 1,
     "track session-type microlocation"},
    {"speakers", "event user sessions", 1, 1, "user"},
    {"tracks", "event sessions", 1, 1, ""},
    {"microlocations", "event sessions", 1, 1, ""},
    {"sponsors", "event", 1, 1, ""},
    {"session-types", "event sessions", 1, 1, ""},
    {"social-links", "event", 1, 1, ""},
    {"tickets", "event", 1, 1, ""},
    {"event-topics", "events", 0, 1, ""},
    {"users", "events sessions speakers", 1, 1, ""},
    {"roles", "", 0, 0, ""},
    {"users-events-roles", "user event role", 0, 1, "role"},
};

static const char *const extra[] = {
    "/health-check",
    "/metrics",
    "/docs",
    "/v1/auth/login",
    "/auth/session",
    "/",
    "/v1/users/me",
    "/v1/a/{id}/b/{user_id}/c/{event_id}/{x}",
    "/v1/b/c/d/e/f/g/h",
    "/v1/events/{event_id}/sessions/{id}",
};

struct ref_seg {
	const char *s; /* start */
	size_t len;    /* length */
	int cap;       /* 0 literal, 1 id, 2 event_id */
};

struct ref_route {
	struct route r;		/* as given to router_add */
	char pat[128];		/* copy of the pattern */
	struct ref_seg segs[8]; /* split */
	int nsegs;		/* segments */
	int nliterals;		/* literal segments */
	char capname[4][32];	/* capture names in order */
};

static struct router *router;
static struct ref_route refs[MAX_ROUTES];
static int nrefs;
static char *owned[MAX_ROUTES]; /* pattern strings (must outlive the router) */
static int nowned;

static void add(int methods, const char *fmt, const char *a, const char *b)
{
	char buf[128];
	snprintf(buf, sizeof(buf), fmt, a, b);
	char *pat = strdup(buf);
	if (!pat || nrefs == MAX_ROUTES)
		abort();
	owned[nowned++] = pat;
	struct ref_route *rr = &refs[nrefs];
	memset(rr, 0, sizeof(*rr));
	rr->r.methods = methods;
	rr->r.pattern = pat;
	rr->r.handler = h_dummy;
	rr->r.udata = rr;
	snprintf(rr->pat, sizeof(rr->pat), "%s", pat);
	if (router_add(router, &rr->r) != 0) {
		fprintf(stderr, "router_add refused %s\n", pat);
		abort();
	}
	/* split the reference copy */
	if (strcmp(rr->pat, "/") != 0) {
		char *p = rr->pat + 1;
		int ncap = 0;
		for (;;) {
			char *end = strchr(p, '/');
			size_t len = end ? (size_t)(end - p) : strlen(p);
			struct ref_seg *s = &rr->segs[rr->nsegs++];
			s->s = p;
			s->len = len;
			if (p[0] == '{') {
				snprintf(rr->capname[ncap], sizeof(rr->capname[0]), "%.*s",
					 (int)len - 2, p + 1);
				s->cap = strcmp(rr->capname[ncap], "event_id") == 0 ? 2 : 1;
				ncap++;
			} else {
				rr->nliterals++;
			}
			if (!end)
				break;
			p = end + 1;
		}
	}
	nrefs++;
}

static void build(void)
{
	router = router_new();
	if (!router)
		abort();
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		const struct type_desc *t = &types[i];
		const char *cap = strcmp(t->path, "events") == 0 ? "{event_id}" : "{id}";
		add(ROUTER_GET, "/v1/%s", t->path, "");
		if (t->editable)
			add(ROUTER_POST, "/v1/%s", t->path, "");
		add(ROUTER_GET, "/v1/%s/%s", t->path, cap);
		if (t->editable)
			add(ROUTER_PATCH, "/v1/%s/%s", t->path, cap);
		if (t->editable)
			add(ROUTER_DELETE, "/v1/%s/%s", t->path, cap);
		if (t->soft_delete) {
			char p[96];
			snprintf(p, sizeof(p), "/v1/%s/%s/restore", t->path, cap);
			add(ROUTER_POST, "%s%s", p, "");
		}
		char rels[512];
		snprintf(rels, sizeof(rels), "%s", t->rels);
		for (char *save = NULL, *rel = strtok_r(rels, " ", &save); rel;
		     rel = strtok_r(NULL, " ", &save)) {
			char p[128];
			snprintf(p, sizeof(p), "/v1/%s/%s/", t->path, cap);
			add(ROUTER_GET, "%s%s", p, rel);
			snprintf(p, sizeof(p), "/v1/%s/%s/relationships/", t->path, cap);
			add(ROUTER_GET, "%s%s", p, rel);
			char want[64];
			snprintf(want, sizeof(want), " %s ", rel);
			char have[256];
			snprintf(have, sizeof(have), " %s ", t->patchrel);
			if (strstr(have, want))
				add(ROUTER_PATCH, "%s%s", p, rel);
		}
	}
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
		add(i < 4 ? (i == 3 ? ROUTER_POST : ROUTER_GET)
			  : ROUTER_GET | ROUTER_PUT | ROUTER_OPTIONS,
		    "%s%s", extra[i], "");
}

/* ---- the reference matcher ---- */

static int ref_id(const char *s, size_t len, long long *out)
{
	static const char max[] = "9223372036854775807";
	if (len == 0 || len > 19 || s[0] == '0')
		return -1;
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return -1;
	if (len == 19 && memcmp(s, max, 19) > 0)
		return -1;
	long long v = 0;
	for (size_t i = 0; i < len; i++)
		v = v * 10 + (s[i] - '0');
	*out = v;
	return 0;
}

static int ref_ident(const char *s, size_t len, char out[9])
{
	int letters = 0;
	if (len != 8)
		return 0;
	for (size_t i = 0; i < 8; i++) {
		char c = s[i];
		if (c >= '0' && c <= '9') {
			out[i] = c;
		} else if (c >= 'a' && c <= 'f') {
			out[i] = c;
			letters = 1;
		} else if (c >= 'A' && c <= 'F') {
			out[i] = (char)(c - 'A' + 'a');
			letters = 1;
		} else {
			return 0;
		}
	}
	out[8] = '\0';
	return letters;
}

struct ref_result {
	int result;
	int best;    /* index in refs, -1 */
	int allowed; /* mask */
	int nparams; /* of best */
	struct route_param params[4];
};

static void ref_match(int method, const char *path, struct ref_result *out)
{
	const char *segs[9];
	size_t lens[9];
	int n = 0;
	memset(out, 0, sizeof(*out));
	out->best = -1;
	out->result = ROUTER_NOT_FOUND;
	if (path[0] != '/')
		return;
	if (path[1] != '\0') {
		const char *p = path + 1;
		for (;;) {
			const char *end = strchr(p, '/');
			size_t len = end ? (size_t)(end - p) : strlen(p);
			if (len == 0 || n == 8)
				return;
			segs[n] = p;
			lens[n] = len;
			n++;
			if (!end)
				break;
			p = end + 1;
		}
	}
	int any = 0, uni = 0;
	for (int i = 0; i < nrefs; i++) {
		struct ref_route *rr = &refs[i];
		struct route_param tmp[4];
		int np = 0, ok = rr->nsegs == n;
		for (int k = 0; ok && k < n; k++) {
			struct ref_seg *s = &rr->segs[k];
			if (!s->cap) {
				ok = s->len == lens[k] && memcmp(s->s, segs[k], lens[k]) == 0;
				continue;
			}
			struct route_param *rp = &tmp[np];
			memset(rp, 0, sizeof(*rp));
			rp->name = rr->capname[np];
			if (ref_id(segs[k], lens[k], &rp->id) == 0) {
				np++;
			} else if (s->cap == 2 && ref_ident(segs[k], lens[k], rp->ident)) {
				rp->is_ident = 1;
				np++;
			} else {
				ok = 0;
			}
		}
		if (!ok)
			continue;
		any = 1;
		uni |= rr->r.methods;
		int allows =
		    method != 0 && ((rr->r.methods & method) ||
				    (method == ROUTER_HEAD && (rr->r.methods & ROUTER_GET)));
		if (!allows)
			continue;
		if (out->best >= 0 && rr->nliterals <= refs[out->best].nliterals)
			continue;
		out->best = i;
		out->nparams = np;
		memcpy(out->params, tmp, sizeof(tmp));
	}
	if (!any)
		return;
	if (uni & ROUTER_GET)
		uni |= ROUTER_HEAD;
	out->allowed = uni | ROUTER_OPTIONS;
	out->result = out->best >= 0 ? ROUTER_FOUND : ROUTER_METHOD_NOT_ALLOWED;
}

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_router: " __VA_ARGS__);                              \
			fprintf(stderr, "\n  path: \"%s\" method %d\n", path, method);             \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static void check_allow(int mask, size_t size)
{
	static const char full_order[][8] = {"GET",   "HEAD",	"POST",	  "PUT",
					     "PATCH", "DELETE", "OPTIONS"};
	char full[128], buf[128];
	router_allow_header(mask, full, sizeof(full));
	memset(buf, 'X', sizeof(buf));
	router_allow_header(mask, buf, size);
	if (size == 0) {
		if (buf[0] != 'X')
			abort(); /* wrote into a zero-sized buffer */
		return;
	}
	size_t len = strnlen(buf, size);
	if (len >= size) {
		fprintf(stderr, "fuzz_router: Allow not NUL-terminated in %zu bytes\n", size);
		abort();
	}
	if (strncmp(full, buf, len) != 0 || (len > 0 && full[len] != '\0' && full[len] != ',')) {
		fprintf(stderr,
			"fuzz_router: Allow \"%s\" in %zu bytes is not a whole-name "
			"prefix of \"%s\"\n",
			buf, size, full);
		abort();
	}
	for (size_t i = len + 1; i < sizeof(buf); i++)
		if (buf[i] != 'X')
			abort(); /* wrote past its NUL */
	/* the full text lists exactly the mask's names, in order */
	int bits[] = {ROUTER_GET,   ROUTER_HEAD,   ROUTER_POST,	  ROUTER_PUT,
		      ROUTER_PATCH, ROUTER_DELETE, ROUTER_OPTIONS};
	char want[128] = "";
	for (int i = 0; i < 7; i++)
		if (mask & bits[i]) {
			if (want[0])
				strcat(want, ", ");
			strcat(want, full_order[i]);
		}
	if (strcmp(want, full) != 0) {
		fprintf(stderr, "fuzz_router: Allow for %#x is \"%s\", want \"%s\"\n", mask, full,
			want);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!router)
		build();
	if (size < 2)
		return 0;
	static const int methods[8] = {ROUTER_GET,   ROUTER_HEAD,   ROUTER_POST,    ROUTER_PUT,
				       ROUTER_PATCH, ROUTER_DELETE, ROUTER_OPTIONS, 0};
	int method = methods[data[0] & 7];
	size_t allow_size = data[1] % 80;
	size_t n = size - 2;
	char *path = malloc(n + 1); /* exact size: ASan sees reads past the NUL */
	if (!path)
		return 0;
	memcpy(path, data + 2, n);
	path[n] = '\0';

	struct route_match m;
	memset(&m, 0xa5, sizeof(m));
	int r = router_match(router, method, path, &m);
	struct ref_result want;
	ref_match(method, path, &want);

	CHECK(r == want.result, "result %d, reference %d", r, want.result);
	if (r == ROUTER_FOUND) {
		const struct ref_route *got = m.route ? m.route->udata : NULL;
		CHECK(got == &refs[want.best], "route %s, reference %s", got ? got->pat : "(none)",
		      refs[want.best].pat);
		CHECK(m.nparams == want.nparams, "%d captures, reference %d", m.nparams,
		      want.nparams);
		for (int i = 0; i < m.nparams; i++) {
			const struct route_param *a = &m.params[i], *b = &want.params[i];
			CHECK(a->name && strcmp(a->name, b->name) == 0, "capture %d name", i);
			CHECK(a->is_ident == b->is_ident, "capture %s is_ident", b->name);
			if (a->is_ident)
				CHECK(strcmp(a->ident, b->ident) == 0, "ident %s vs %s", a->ident,
				      b->ident);
			else
				CHECK(a->id == b->id && a->id > 0, "id %lld vs %lld", a->id, b->id);
			CHECK(route_param_get(&m, b->name) == a, "route_param_get(%s)", b->name);
		}
		CHECK(m.allowed == want.allowed, "allowed %#x, reference %#x", m.allowed,
		      want.allowed);
	} else if (r == ROUTER_METHOD_NOT_ALLOWED) {
		CHECK(m.route == NULL, "405 with a route");
		CHECK(m.allowed == want.allowed, "allowed %#x, reference %#x", m.allowed,
		      want.allowed);
		CHECK(m.nparams == 0, "405 with captures");
	} else {
		CHECK(m.route == NULL && m.allowed == 0 && m.nparams == 0, "404 with state");
	}
	CHECK(route_param_get(&m, "no-such-capture") == NULL, "route_param_get(unknown)");
	check_allow(want.allowed ? want.allowed : (int)(data[1] & 0x7f), allow_size);
	free(path);
	return 0;
}
