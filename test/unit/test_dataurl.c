/*
 * Unit tests of core/dataurl: base64 variants, padding, whitespace, the
 * size limit checked before decoding, percent-encoded payloads, bad input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/dataurl.h"

static int decode(const char *s, size_t max, struct dataurl *d)
{
	return dataurl_decode(s, strlen(s), max, d);
}

static void test_png_base64(void **state)
{
	(void)state;
	struct dataurl d;
	/* "\x89PNG\r\n\x1a\n" */
	assert_int_equal(decode("data:image/png;base64,iVBORw0KGgo=", 100, &d), DATAURL_OK);
	assert_string_equal(d.type, "image/png");
	assert_true(d.base64);
	assert_int_equal(d.len, 8);
	assert_memory_equal(d.data, "\x89PNG\r\n\x1a\n", 8);
	dataurl_free(&d);
	assert_null(d.data);
	dataurl_free(&d); /* twice is harmless */
}

static void test_variants(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		const char *out;
		size_t len;
	} cases[] = {
	    {"data:text/plain;base64,aGVsbG8=", "hello", 5},
	    {"data:text/plain;base64,aGVsbG8", "hello", 5},	    /* no padding */
	    {"data:;base64,aGk=", "hi", 2},			    /* no type */
	    {"DATA:Image/PNG;BASE64,aGk=", "hi", 2},		    /* case */
	    {"  data:a/b;base64, aG\r\nVs\tbG8= \n", "hello", 5},   /* whitespace */
	    {"data:a/b;base64,-_8=", "\xfb\xff", 2},		    /* URL-safe */
	    {"data:a/b;base64,+/8=", "\xfb\xff", 2},		    /* standard */
	    {"data:a/b;charset=utf-8;x=y;base64,YQ==", "a", 1},	    /* params */
	    {"data:a/b;base64,", "", 0},			    /* empty */
	    {"data:text/plain,a%20b%2Cc", "a b,c", 5},		    /* percent */
	    {"data:,", "", 0},					    /* minimal */
	    {"data:text/plain;charset=US-ASCII,plain", "plain", 5}, /* params, no b64 */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dataurl d;
		int rc = decode(cases[i].in, 100, &d);
		if (rc != DATAURL_OK)
			fail_msg("case %zu (%s): rc %d", i, cases[i].in, rc);
		assert_non_null(d.data);
		assert_int_equal(d.len, cases[i].len);
		assert_memory_equal(d.data, cases[i].out, cases[i].len);
		dataurl_free(&d);
	}
	struct dataurl d;
	assert_int_equal(decode("data:a/b;base64,YQ==", 100, &d), DATAURL_OK);
	assert_string_equal(d.type, "a/b");
	dataurl_free(&d);
	assert_int_equal(decode("data:text/plain,x", 100, &d), DATAURL_OK);
	assert_false(d.base64);
	dataurl_free(&d);
}

static void test_bad(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "",
	    "data",
	    "data:image/png;base64",	     /* no comma */
	    "image/png;base64,aGk=",	     /* no scheme */
	    "http://x/data:a/b;base64,aGk=", /* not a data URL */
	    "data:a/b;base64,a",	     /* 1 char: never valid */
	    "data:a/b;base64,aGk",	     /* fine without padding... */
	    "data:a/b;base64,aG=k",	     /* data after padding */
	    "data:a/b;base64,aGk===",	     /* too much padding */
	    "data:a/b;base64,a-b+",	     /* mixed alphabets */
	    "data:a/b;base64,aGk*",	     /* bad character */
	    "data:a/b;base64,aGVsbG8=x",     /* trailing data after padding */
	    "data:a/b;base64;x=y,aGk=",	     /* base64 not last */
	    "data:noslash;base64,aGk=",	     /* type without a slash */
	    "data:a/b;;base64,aGk=",	     /* empty parameter */
	    "data:a/b;flag;base64,aGk=",     /* parameter without = */
	    "data:a b/c;base64,aGk=",	     /* space in the type */
	    "data:text/plain,50%",	     /* truncated escape */
	    "data:text/plain,%zz",	     /* bad escape */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct dataurl d;
		int rc = decode(bad[i], 100, &d);
		if (i == 6) { /* "aGk" decodes fine unpadded: the control case */
			assert_int_equal(rc, DATAURL_OK);
			assert_int_equal(d.len, 2);
			dataurl_free(&d);
			continue;
		}
		if (rc != DATAURL_ERR_SYNTAX)
			fail_msg("case %zu (%s): rc %d, wanted a syntax error", i, bad[i], rc);
		assert_null(d.data);
		assert_int_equal(d.len, 0);
	}
	struct dataurl d;
	assert_int_equal(dataurl_decode(NULL, 0, 10, &d), DATAURL_ERR_SYNTAX);
	char longtype[300] = "data:";
	memset(longtype + 5, 'a', 200);
	strcpy(longtype + 205, "/b;base64,aGk=");
	assert_int_equal(decode(longtype, 100, &d), DATAURL_ERR_SYNTAX);
}

static void test_limit(void **state)
{
	(void)state;
	struct dataurl d;
	/* 5 bytes: allowed at 5, refused at 4, padded or not */
	assert_int_equal(decode("data:a/b;base64,aGVsbG8=", 5, &d), DATAURL_OK);
	dataurl_free(&d);
	assert_int_equal(decode("data:a/b;base64,aGVsbG8=", 4, &d), DATAURL_ERR_TOO_BIG);
	assert_null(d.data);
	assert_int_equal(decode("data:a/b;base64,aGVsbG8", 4, &d), DATAURL_ERR_TOO_BIG);
	assert_int_equal(decode("data:a/b;base64,aGVsbA==", 4, &d), DATAURL_OK); /* "hell" */
	dataurl_free(&d);
	assert_int_equal(decode("data:a/b,hello", 4, &d), DATAURL_ERR_TOO_BIG);
	assert_int_equal(decode("data:a/b,he%6Clo", 5, &d), DATAURL_OK);
	dataurl_free(&d);
	/* a big payload over the limit is refused without decoding it (a
	 * payload of invalid characters would otherwise be a syntax error) */
	size_t n = 4 * 1024 * 1024;
	char *big = malloc(n + 32);
	strcpy(big, "data:a/b;base64,");
	memset(big + 16, 'A', n);
	big[16 + n] = '\0';
	assert_int_equal(dataurl_decode(big, 16 + n, 3 * 1024 * 1024 - 1, &d), DATAURL_ERR_TOO_BIG);
	assert_int_equal(dataurl_decode(big, 16 + n, 3 * 1024 * 1024, &d), DATAURL_OK);
	assert_int_equal(d.len, 3 * 1024 * 1024);
	dataurl_free(&d);
	free(big);
}

static void test_not_nul_terminated(void **state)
{
	(void)state;
	/* the length is what counts: bytes after it are never read */
	const char text[] = "data:a/b;base64,aGk=GARBAGE";
	char *copy = malloc(20);
	memcpy(copy, text, 20); /* exactly "data:a/b;base64,aGk=" */
	struct dataurl d;
	assert_int_equal(dataurl_decode(copy, 20, 10, &d), DATAURL_OK);
	assert_int_equal(d.len, 2);
	assert_memory_equal(d.data, "hi", 2);
	dataurl_free(&d);
	free(copy);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_png_base64),
	    cmocka_unit_test(test_variants),
	    cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_limit),
	    cmocka_unit_test(test_not_nul_terminated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
