/*
 * libFuzzer target of core/multipart. The input is "<boundary>\n<body>"
 * (no newline: boundary "B"). The body is parsed whole, then again in
 * pieces whose sizes come from the input itself; both runs must see the
 * same parts, the same bytes and the same result (a differential oracle
 * for the delimiter search across splits). multipart_boundary and
 * multipart_header_param get the first line as a header value too.
 *
 * fuzz-sources: src/core/multipart.c
 * fuzz-max-len: 16384
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/multipart.h"

struct trace {
	uint64_t h; /* FNV-1a over every event and byte */
	int begins; /* part_begin calls */
	int ends;   /* part_end calls */
	int open;   /* inside a part */
};

static void mix(struct trace *t, const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++) {
		t->h ^= s[i];
		t->h *= 1099511628211ULL;
	}
}

static int on_begin(void *arg, const struct multipart_part *p)
{
	struct trace *t = arg;
	if (t->open)
		__builtin_trap(); /* a part began inside another */
	t->open = 1;
	t->begins++;
	mix(t, "B", 1);
	mix(t, &p->has_disposition, sizeof(p->has_disposition));
	mix(t, p->name, strlen(p->name) + 1);
	mix(t, p->filename, strlen(p->filename) + 1);
	mix(t, p->content_type, strlen(p->content_type) + 1);
	if (strlen(p->name) >= sizeof(p->name) || strlen(p->filename) >= sizeof(p->filename))
		__builtin_trap();
	return 0;
}

static int on_data(void *arg, const char *data, size_t len)
{
	struct trace *t = arg;
	if (!t->open || len == 0)
		__builtin_trap(); /* data outside a part, or an empty run */
	mix(t, data, len);
	return 0;
}

static int on_end(void *arg)
{
	struct trace *t = arg;
	if (!t->open)
		__builtin_trap();
	t->open = 0;
	t->ends++;
	mix(t, "E", 1);
	return 0;
}

static const struct multipart_callbacks cbs = {on_begin, on_data, on_end};

/* Parses body in pieces of the given sizes (cycled; 0 = whole). */
static int run(const char *boundary, const char *body, size_t len, const uint8_t *sizes,
	       size_t nsizes, struct trace *t)
{
	memset(t, 0, sizeof(*t));
	t->h = 1469598103934665603ULL;
	struct multipart *m = multipart_new(boundary, &cbs, t);
	if (!m)
		return -2;
	int rc = 0;
	size_t at = 0, k = 0;
	while (at < len && rc == 0) {
		size_t n = nsizes ? (size_t)sizes[k++ % nsizes] % 97 + 1 : len;
		if (n > len - at)
			n = len - at;
		/* each piece in its own allocation: ASan catches reads past it */
		char *piece = malloc(n);
		memcpy(piece, body + at, n);
		rc = multipart_feed(m, piece, n);
		free(piece);
		at += n;
	}
	if (rc == 0)
		rc = multipart_finish(m);
	if (rc == 0 && t->open)
		__builtin_trap(); /* finished inside a part */
	if (multipart_nparts(m) != t->begins)
		__builtin_trap();
	multipart_free(m);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	const char *nl = memchr(in, '\n', size);
	char boundary[MULTIPART_BOUNDARY_MAX + 64] = "B";
	const char *body = in;
	size_t blen = size;
	if (nl && (size_t)(nl - in) < sizeof(boundary)) {
		memcpy(boundary, in, (size_t)(nl - in));
		boundary[nl - in] = '\0';
		body = nl + 1;
		blen = size - (size_t)(nl - in) - 1;
		/* the first line as a Content-Type value, too */
		char out[MULTIPART_BOUNDARY_MAX + 2];
		if (multipart_boundary(boundary, out, sizeof(out)) == 0 &&
		    strlen(out) > MULTIPART_BOUNDARY_MAX)
			__builtin_trap();
		char p[64];
		if (multipart_header_param(boundary, "filename*", p, sizeof(p)) == 1 &&
		    strlen(p) >= sizeof(p))
			__builtin_trap();
	}
	struct trace whole, split;
	int a = run(boundary, body, blen, NULL, 0, &whole);
	if (a == -2)
		return 0; /* invalid boundary */
	/* piece sizes from the tail of the input */
	size_t ns = size < 16 ? size : 16;
	int b = run(boundary, body, blen, data + size - ns, ns, &split);
	if (a != b || (a == 0 && (whole.h != split.h || whole.begins != split.begins ||
				  whole.ends != split.ends)))
		__builtin_trap(); /* the split changed the result */
	return 0;
}
