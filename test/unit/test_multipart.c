/*
 * Unit tests of core/multipart: parts, parameters, boundaries split at
 * every offset, truncated and malformed bodies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/multipart.h"

#define MAXP 8

struct got_part {
	struct multipart_part h;
	char data[4096];
	size_t len;
	int ended;
};

struct got {
	struct got_part p[MAXP];
	int n;
	int stop_at_begin; /* stop when this part begins (1-based), 0: never */
	int data_calls;
};

static int on_begin(void *arg, const struct multipart_part *p)
{
	struct got *g = arg;
	assert_true(g->n < MAXP);
	g->p[g->n].h = *p;
	g->n++;
	return g->stop_at_begin == g->n;
}

static int on_data(void *arg, const char *data, size_t len)
{
	struct got *g = arg;
	struct got_part *p = &g->p[g->n - 1];
	assert_true(g->n > 0);
	assert_false(p->ended);
	assert_true(len > 0);
	assert_true(p->len + len <= sizeof(p->data));
	memcpy(p->data + p->len, data, len);
	p->len += len;
	g->data_calls++;
	return 0;
}

static int on_end(void *arg)
{
	struct got *g = arg;
	assert_true(g->n > 0);
	g->p[g->n - 1].ended = 1;
	return 0;
}

static const struct multipart_callbacks cbs = {on_begin, on_data, on_end};

/* Parses body split at the given offsets (sorted, may be empty); returns
 * feed/finish result (0 ok, -1 error) and fills g. */
static int parse_split(const char *boundary, const char *body, size_t len, const size_t *cuts,
		       int ncuts, struct got *g, const char **err)
{
	memset(g, 0, sizeof(*g));
	struct multipart *m = multipart_new(boundary, &cbs, g);
	assert_non_null(m);
	size_t at = 0;
	int rc = 0;
	for (int i = 0; i <= ncuts && rc == 0; i++) {
		size_t end = i < ncuts ? cuts[i] : len;
		/* feed from a heap copy of exactly the piece: ASan sees over-reads */
		char *piece = malloc(end - at + 1);
		memcpy(piece, body + at, end - at);
		rc = multipart_feed(m, piece, end - at);
		free(piece);
		at = end;
	}
	if (rc == 0)
		rc = multipart_finish(m);
	if (err)
		*err = multipart_error(m);
	multipart_free(m);
	return rc;
}

static int parse(const char *boundary, const char *body, size_t len, struct got *g,
		 const char **err)
{
	return parse_split(boundary, body, len, NULL, 0, g, err);
}

static const char BODY[] = "preamble to ignore\r\n"
			   "--XyZ\r\n"
			   "Content-Disposition: form-data; name=\"title\"\r\n"
			   "\r\n"
			   "Hello\r\n"
			   "--XyZ\r\n"
			   "Content-Disposition: form-data; name=\"file\"; filename=\"a b.png\"\r\n"
			   "Content-Type: image/png\r\n"
			   "\r\n"
			   "\x89PNG\r\n\x1a\n\r\n--XyNOT\r\r\n-\r\n--X\0binary\r\n"
			   "--XyZ--\r\n"
			   "epilogue \r\n--XyZ\r\n ignored";

static const char FILE_DATA[] = "\x89PNG\r\n\x1a\n\r\n--XyNOT\r\r\n-\r\n--X\0binary";

static void check_body(const struct got *g)
{
	assert_int_equal(g->n, 2);
	assert_true(g->p[0].h.has_disposition);
	assert_true(g->p[0].h.has_name);
	assert_string_equal(g->p[0].h.name, "title");
	assert_false(g->p[0].h.has_filename);
	assert_int_equal(g->p[0].len, 5);
	assert_memory_equal(g->p[0].data, "Hello", 5);
	assert_true(g->p[0].ended);
	assert_string_equal(g->p[1].h.name, "file");
	assert_true(g->p[1].h.has_filename);
	assert_string_equal(g->p[1].h.filename, "a b.png");
	assert_string_equal(g->p[1].h.content_type, "image/png");
	assert_int_equal(g->p[1].len, sizeof(FILE_DATA) - 1);
	assert_memory_equal(g->p[1].data, FILE_DATA, sizeof(FILE_DATA) - 1);
	assert_true(g->p[1].ended);
}

static void test_two_parts(void **state)
{
	(void)state;
	struct got g;
	const char *err = NULL;
	assert_int_equal(parse("XyZ", BODY, sizeof(BODY) - 1, &g, &err), 0);
	assert_null(err);
	check_body(&g);
}

static void test_every_split_point(void **state)
{
	(void)state;
	size_t len = sizeof(BODY) - 1;
	for (size_t i = 0; i <= len; i++) {
		struct got g;
		size_t cut[1] = {i};
		assert_int_equal(parse_split("XyZ", BODY, len, cut, 1, &g, NULL), 0);
		check_body(&g);
	}
	/* every pair of split points too */
	for (size_t i = 0; i <= len; i += 3) {
		for (size_t j = i; j <= len; j += 2) {
			struct got g;
			size_t cuts[2] = {i, j};
			assert_int_equal(parse_split("XyZ", BODY, len, cuts, 2, &g, NULL), 0);
			check_body(&g);
		}
	}
}

static void test_byte_by_byte(void **state)
{
	(void)state;
	size_t len = sizeof(BODY) - 1;
	size_t *cuts = malloc(len * sizeof(*cuts));
	for (size_t i = 0; i < len; i++)
		cuts[i] = i + 1;
	struct got g;
	assert_int_equal(parse_split("XyZ", BODY, len, cuts, (int)len - 1, &g, NULL), 0);
	check_body(&g);
	free(cuts);
}

/* Random binary payloads full of near-delimiters, split at random points:
 * the data comes back byte for byte. */
static void test_random_payloads(void **state)
{
	(void)state;
	uint32_t seed = 12345;
	static const char alphabet[] = "\r\n-AB";
	for (int round = 0; round < 300; round++) {
		char payload[600];
		size_t plen = 0;
		seed = seed * 1103515245u + 12345u;
		size_t want = (seed >> 8) % sizeof(payload);
		for (size_t i = 0; i < want; i++) {
			seed = seed * 1103515245u + 12345u;
			payload[plen++] =
			    (seed >> 16) % 3 ? alphabet[(seed >> 20) % 5] : (char)(seed >> 24);
		}
		/* the boundary "AB-" can be approached but never completed: the
		 * payload must not hold CRLF "--AB-" (like a real client's choice) */
		char body[1024];
		size_t blen = 0;
		blen += (size_t)sprintf(body + blen, "--AB-\r\nContent-Disposition: form-data; "
						     "name=\"f\"; filename=\"x\"\r\n\r\n");
		int bad = 0;
		for (size_t i = 0; i + 6 < plen + 1; i++)
			if (i + 7 <= plen && memcmp(payload + i, "\r\n--AB-", 7) == 0)
				bad = 1;
		if (bad)
			continue;
		memcpy(body + blen, payload, plen);
		blen += plen;
		blen += (size_t)sprintf(body + blen, "\r\n--AB---\r\n");
		size_t cuts[4];
		for (int k = 0; k < 4; k++) {
			seed = seed * 1103515245u + 12345u;
			cuts[k] = (seed >> 8) % (blen + 1);
		}
		for (int a = 0; a < 4; a++) /* sort */
			for (int b = a + 1; b < 4; b++)
				if (cuts[b] < cuts[a]) {
					size_t t = cuts[a];
					cuts[a] = cuts[b];
					cuts[b] = t;
				}
		struct got g;
		const char *err = NULL;
		assert_int_equal(parse_split("AB-", body, blen, cuts, 4, &g, &err), 0);
		assert_int_equal(g.n, 1);
		assert_int_equal(g.p[0].len, plen);
		assert_memory_equal(g.p[0].data, payload, plen);
	}
}

static void test_quoted_parameters(void **state)
{
	(void)state;
	static const char body[] =
	    "--b\r\n"
	    "Content-Disposition: form-data; name=\"files[]\"; filename=\"x \\\"q\\\"; y.txt\"\r\n"
	    "\r\n"
	    "1\r\n"
	    "--b\r\n"
	    "content-disposition: FORM-DATA;NAME=files[];  filename = \"C:\\dir\\f.txt\" \r\n"
	    "\r\n"
	    "2\r\n"
	    "--b\r\n"
	    "Content-Disposition: form-data; name=\"file\"; filename=\"plain.txt\"; "
	    "filename*=UTF-8''%E2%82%AC%20rates.txt\r\n"
	    "\r\n"
	    "3\r\n"
	    "--b\r\n"
	    "Content-Disposition: form-data; name=\"l\"; filename*=iso-8859-1'en'caf%E9.txt\r\n"
	    "\r\n"
	    "4\r\n"
	    "--b--";
	struct got g;
	const char *err = NULL;
	assert_int_equal(parse("b", body, sizeof(body) - 1, &g, &err), 0);
	assert_int_equal(g.n, 4);
	assert_string_equal(g.p[0].h.name, "files[]");
	assert_string_equal(g.p[0].h.filename, "x \"q\"; y.txt");
	assert_string_equal(g.p[1].h.name, "files[]");
	assert_string_equal(g.p[1].h.filename, "C:\\dir\\f.txt"); /* lone backslashes kept */
	assert_string_equal(g.p[2].h.filename, "\xe2\x82\xac rates.txt");
	assert_string_equal(g.p[3].h.filename, "caf\xc3\xa9.txt");
	assert_memory_equal(g.p[3].data, "4", 1);
}

static void test_header_param(void **state)
{
	(void)state;
	char out[64];
	assert_int_equal(
	    multipart_header_param("form-data; name=\"a;b\"; x=1", "name", out, sizeof(out)), 1);
	assert_string_equal(out, "a;b");
	assert_int_equal(
	    multipart_header_param("form-data; name=\"a;b\"; x=1", "x", out, sizeof(out)), 1);
	assert_string_equal(out, "1");
	assert_int_equal(
	    multipart_header_param("form-data; filename=\"f\"", "name", out, sizeof(out)), 0);
	assert_int_equal(
	    multipart_header_param("form-data; name=\"unterminated", "name", out, sizeof(out)), -1);
	assert_int_equal(
	    multipart_header_param("form-data; name*=\"quoted\"", "name*", out, sizeof(out)), -1);
	assert_int_equal(
	    multipart_header_param("form-data; name*=UTF-8''%zz", "name*", out, sizeof(out)), -1);
	assert_int_equal(
	    multipart_header_param("form-data; name*=KOI8-R''x", "name*", out, sizeof(out)), -1);
	/* truncated to the buffer, NUL-terminated */
	char small[4];
	assert_int_equal(multipart_header_param("x; n=abcdefgh", "n", small, sizeof(small)), 1);
	assert_string_equal(small, "abc");
}

static void test_boundary(void **state)
{
	(void)state;
	char b[MULTIPART_BOUNDARY_MAX + 2];
	assert_int_equal(multipart_boundary("multipart/form-data; boundary=abc", b, sizeof(b)), 0);
	assert_string_equal(b, "abc");
	assert_int_equal(
	    multipart_boundary("Multipart/Form-Data ;charset=utf-8; BOUNDARY=\"a b:c\"", b,
			       sizeof(b)),
	    0);
	assert_string_equal(b, "a b:c");
	assert_int_equal(multipart_boundary("multipart/form-data", b, sizeof(b)), -2);
	assert_int_equal(multipart_boundary("multipart/form-data; boundary=", b, sizeof(b)), -2);
	assert_int_equal(multipart_boundary("multipart/mixed; boundary=x", b, sizeof(b)), -1);
	assert_int_equal(multipart_boundary("application/json", b, sizeof(b)), -1);
	assert_int_equal(multipart_boundary(NULL, b, sizeof(b)), -1);
	char longb[400];
	memset(longb, 'x', sizeof(longb));
	snprintf(longb, sizeof(longb), "multipart/form-data; boundary=%0250d", 7);
	assert_int_equal(multipart_boundary(longb, b, sizeof(b)), -2);
	assert_null(multipart_new("", &cbs, NULL));
	assert_null(multipart_new("a\rb", &cbs, NULL));
}

static void test_truncated(void **state)
{
	(void)state;
	static const char whole[] = "--q\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n"
				    "data\r\n--q--\r\n";
	size_t len = sizeof(whole) - 1;
	/* every prefix short of the closing "--" is a truncated body */
	size_t close_end = (size_t)(strstr(whole, "--q--") - whole) + 5;
	for (size_t n = 0; n < close_end; n++) {
		struct got g;
		const char *err = NULL;
		assert_int_equal(parse("q", whole, n, &g, &err), -1);
		assert_non_null(err);
	}
	struct got g;
	const char *err = NULL;
	assert_int_equal(parse("q", whole, 30, &g, &err), -1);
	assert_string_equal(err, "truncated body");
	assert_int_equal(parse("q", "no boundary at all", 18, &g, &err), -1);
	assert_string_equal(err, "no boundary in the body");
	for (size_t n = close_end; n <= len; n++)
		assert_int_equal(parse("q", whole, n, &g, NULL), 0);
}

static void test_missing_parts(void **state)
{
	(void)state;
	struct got g;
	/* no parts at all: valid, zero parts */
	assert_int_equal(parse("z", "--z--\r\n", 7, &g, NULL), 0);
	assert_int_equal(g.n, 0);
	/* a part without headers, and one without a name */
	static const char body[] = "\r\n--z\r\n\r\nanon\r\n--z \t\r\nX-Other: 1\r\n\r\n\r\n--z--";
	assert_int_equal(parse("z", body, sizeof(body) - 1, &g, NULL), 0);
	assert_int_equal(g.n, 2);
	assert_false(g.p[0].h.has_disposition);
	assert_int_equal(g.p[0].len, 4);
	assert_false(g.p[1].h.has_name);
	assert_int_equal(g.p[1].len, 0);
	assert_true(g.p[1].ended);
}

static void test_malformed(void **state)
{
	(void)state;
	struct got g;
	const char *err;
	static const char garbage[] = "--z\r\n\r\nx\r\n--zjunk\r\n";
	assert_int_equal(parse("z", garbage, sizeof(garbage) - 1, &g, &err), -1);
	assert_string_equal(err, "garbage after a boundary");
	static const char nocolon[] = "--z\r\nNoColonHere\r\n\r\nx\r\n--z--";
	assert_int_equal(parse("z", nocolon, sizeof(nocolon) - 1, &g, &err), -1);
	assert_string_equal(err, "malformed part header");
	static const char badq[] =
	    "--z\r\nContent-Disposition: form-data; name=\"x\r\n\r\n\r\n--z--";
	assert_int_equal(parse("z", badq, sizeof(badq) - 1, &g, &err), -1);
	static const char crnolf[] = "--z\rX";
	assert_int_equal(parse("z", crnolf, sizeof(crnolf) - 1, &g, &err), -1);
	/* an over-long header block */
	size_t n = MULTIPART_HEADERS_MAX + 100;
	char *big = malloc(n + 64);
	size_t w = (size_t)sprintf(big, "--z\r\nX-Long: ");
	memset(big + w, 'a', n);
	w += n;
	w += (size_t)sprintf(big + w, "\r\n\r\nx\r\n--z--");
	assert_int_equal(parse("z", big, w, &g, &err), -1);
	assert_string_equal(err, "part headers too long");
	free(big);
	/* after an error, every call fails */
	struct multipart *m = multipart_new("z", &cbs, &g);
	memset(&g, 0, sizeof(g));
	assert_int_equal(multipart_feed(m, "--z\r\nbad\r\n\r\n", 12), -1);
	assert_int_equal(multipart_feed(m, "--z--", 5), -1);
	assert_int_equal(multipart_finish(m), -1);
	multipart_free(m);
}

static void test_folding_and_lf(void **state)
{
	(void)state;
	static const char body[] =
	    "--z\r\nContent-Disposition: form-data;\r\n name=\"folded\";\r\n\t"
	    "filename=\"f.txt\"\nContent-Type:  text/plain  \n\nabc\r\n--z--";
	struct got g;
	const char *err = NULL;
	assert_int_equal(parse("z", body, sizeof(body) - 1, &g, &err), 0);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.p[0].h.name, "folded");
	assert_string_equal(g.p[0].h.filename, "f.txt");
	assert_string_equal(g.p[0].h.content_type, "text/plain");
	assert_int_equal(g.p[0].len, 3);
}

static void test_callback_stop(void **state)
{
	(void)state;
	struct got g;
	memset(&g, 0, sizeof(g));
	g.stop_at_begin = 2;
	struct multipart *m = multipart_new("XyZ", &cbs, &g);
	assert_int_equal(multipart_feed(m, BODY, sizeof(BODY) - 1), -1);
	assert_string_equal(multipart_error(m), "stopped");
	assert_int_equal(multipart_nparts(m), 2);
	multipart_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_two_parts),	      cmocka_unit_test(test_every_split_point),
	    cmocka_unit_test(test_byte_by_byte),      cmocka_unit_test(test_random_payloads),
	    cmocka_unit_test(test_quoted_parameters), cmocka_unit_test(test_header_param),
	    cmocka_unit_test(test_boundary),	      cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_missing_parts),     cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_folding_and_lf),    cmocka_unit_test(test_callback_stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
