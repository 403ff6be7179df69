/*
 * test_query: unit tests of src/core/query.c: query-string decoding and its
 * errors, the paging parameters with every refusal, percent-escaping, and
 * pagination links that keep the other parameters in order.
 * Links only the query module.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/query.h"

/* ---- query_parse ---- */

static void test_parse_empty(void **state)
{
	struct query q;
	const char *bad = "unset";

	(void)state;
	assert_int_equal(query_parse(&q, NULL, &bad), 0);
	assert_int_equal(q.n, 0);
	assert_null(bad);
	query_free(&q);
	assert_int_equal(query_parse(&q, "", &bad), 0);
	assert_int_equal(q.n, 0);
	assert_null(query_get(&q, ""));
	query_free(&q);
	assert_int_equal(query_parse(&q, "&&&", NULL), 0);
	assert_int_equal(q.n, 0);
	query_free(&q);
	query_free(&q); /* twice is fine */
}

static void test_parse_pairs_in_order(void **state)
{
	struct query q;

	(void)state;
	assert_int_equal(query_parse(&q, "a=1&&b=2&c&d=&a=3&=v", NULL), 0);
	assert_int_equal(q.n, 6);
	assert_string_equal(q.items[0].key, "a");
	assert_string_equal(q.items[0].value, "1");
	assert_string_equal(q.items[1].key, "b");
	assert_string_equal(q.items[1].value, "2");
	assert_string_equal(q.items[2].key, "c");
	assert_string_equal(q.items[2].value, "");
	assert_string_equal(q.items[3].key, "d");
	assert_string_equal(q.items[3].value, "");
	assert_string_equal(q.items[4].key, "a");
	assert_string_equal(q.items[4].value, "3");
	assert_string_equal(q.items[5].key, "");
	assert_string_equal(q.items[5].value, "v");
	/* the first value wins */
	assert_string_equal(query_get(&q, "a"), "1");
	assert_string_equal(query_get(&q, "c"), "");
	assert_null(query_get(&q, "e"));
	assert_null(query_get(&q, "A"));
	query_free(&q);
	assert_null(q.items);
	assert_int_equal(q.n, 0);
}

static void test_parse_decoding(void **state)
{
	struct query q;

	(void)state;
	assert_int_equal(query_parse(&q,
				     "x=%20a+b%2B&page%5Bsize%5D=5&k%3Dy=v%3D1%262&u=%c3%A9&e=a=b&"
				     "f=%7e%2f",
				     NULL),
			 0);
	assert_int_equal(q.n, 6);
	assert_string_equal(query_get(&q, "x"), " a b+");
	assert_string_equal(query_get(&q, "page[size]"), "5");
	assert_string_equal(query_get(&q, "k=y"), "v=1&2");
	assert_string_equal(query_get(&q, "u"), "\xc3\xa9");
	/* only the first '=' splits */
	assert_string_equal(query_get(&q, "e"), "a=b");
	assert_string_equal(query_get(&q, "f"), "~/");
	query_free(&q);

	/* brackets may also come unescaped */
	assert_int_equal(query_parse(&q, "filter=[{\"name\":\"x\"}]&fields[events]=name", NULL), 0);
	assert_string_equal(query_get(&q, "filter"), "[{\"name\":\"x\"}]");
	assert_string_equal(query_get(&q, "fields[events]"), "name");
	query_free(&q);
}

static void expect_bad(const char *qs, const char *want_key)
{
	struct query q;
	const char *bad = NULL;

	if (query_parse(&q, qs, &bad) != -1)
		fail_msg("\"%s\" was accepted", qs);
	assert_null(q.items);
	assert_int_equal(q.n, 0);
	assert_non_null(bad);
	if (strcmp(bad, want_key) != 0)
		fail_msg("\"%s\": bad key \"%s\", want \"%s\"", qs, bad, want_key);
	assert_ptr_equal(bad, q.bad);
	query_free(&q);
	assert_null(q.bad);
}

static void test_parse_errors(void **state)
{
	struct query q;

	(void)state;
	expect_bad("a=%zz", "a");
	expect_bad("a=1&b=%2", "b");
	expect_bad("a=1&b=%", "b");
	expect_bad("a=1&b=%&c=3", "b");
	expect_bad("b=%g0", "b");
	expect_bad("b=%0g", "b");
	expect_bad("x=1&filter=ab%00cd", "filter");
	expect_bad("%00=1", "%00");
	expect_bad("a%zz=1", "a%zz");
	expect_bad("sort%5=1", "sort%5");
	expect_bad("page%5Bsize%5D=%", "page[size]");
	expect_bad("a%2", "a%2");
	/* a NULL bad_key pointer is allowed */
	assert_int_equal(query_parse(&q, "a=%zz", NULL), -1);
	assert_non_null(q.bad);
	query_free(&q);
	/* %0 followed by the end is truncated, %000 is a NUL then '0' */
	expect_bad("a=%0", "a");
	expect_bad("a=%000", "a");
}

/* ---- query_page ---- */

static int page(const char *qs, int max, long *size, long *number, const char **bad)
{
	struct query q;
	int rc;

	assert_int_equal(query_parse(&q, qs, NULL), 0);
	rc = query_page(&q, max, size, number, bad);
	query_free(&q);
	return rc;
}

static void test_page_defaults(void **state)
{
	long size = -5, number = -5;
	const char *bad = "unset";

	(void)state;
	assert_int_equal(page("", 1000, &size, &number, &bad), 0);
	assert_int_equal(size, 20);
	assert_int_equal(number, 1);
	assert_null(bad);
	assert_int_equal(page("sort=name&page[other]=x", 1000, &size, &number, &bad), 0);
	assert_int_equal(size, 20);
	assert_int_equal(number, 1);
}

static void test_page_values(void **state)
{
	long size, number;
	const char *bad;

	(void)state;
	assert_int_equal(page("page[size]=5&page[number]=3", 1000, &size, &number, &bad), 0);
	assert_int_equal(size, 5);
	assert_int_equal(number, 3);
	assert_int_equal(page("page%5Bnumber%5D=2&page%5Bsize%5D=7", 1000, &size, &number, &bad),
			 0);
	assert_int_equal(size, 7);
	assert_int_equal(number, 2);
	/* 0 means all rows */
	assert_int_equal(page("page[size]=0", 1000, &size, &number, &bad), 0);
	assert_int_equal(size, 0);
	assert_int_equal(number, 1);
	/* the maximum itself is allowed */
	assert_int_equal(page("page[size]=1000", 1000, &size, &number, &bad), 0);
	assert_int_equal(size, 1000);
	assert_int_equal(page("page[number]=2147483647", 1000, &size, &number, &bad), 0);
	assert_int_equal(number, 2147483647L);
	/* leading zeros are still a number */
	assert_int_equal(page("page[size]=010&page[number]=02", 1000, &size, &number, &bad), 0);
	assert_int_equal(size, 10);
	assert_int_equal(number, 2);
	/* the first occurrence wins */
	assert_int_equal(page("page[size]=3&page[size]=x", 1000, &size, &number, &bad), 0);
	assert_int_equal(size, 3);
}

static void expect_page_bad(const char *qs, int max, const char *want)
{
	long size = 77, number = 77;
	const char *bad = NULL;

	if (page(qs, max, &size, &number, &bad) != -1)
		fail_msg("\"%s\" was accepted", qs);
	assert_non_null(bad);
	if (strcmp(bad, want) != 0)
		fail_msg("\"%s\": bad \"%s\", want \"%s\"", qs, bad, want);
	/* outputs untouched on failure */
	assert_int_equal(size, 77);
	assert_int_equal(number, 77);
}

static void test_page_errors(void **state)
{
	(void)state;
	expect_page_bad("page[size]=1001", 1000, "page[size]");
	expect_page_bad("page[size]=abc", 1000, "page[size]");
	expect_page_bad("page[size]=-1", 1000, "page[size]");
	expect_page_bad("page[size]=+1", 1000, "page[size]");
	expect_page_bad("page[size]=", 1000, "page[size]");
	expect_page_bad("page[size]", 1000, "page[size]");
	expect_page_bad("page[size]=10x", 1000, "page[size]");
	expect_page_bad("page[size]=1.5", 1000, "page[size]");
	expect_page_bad("page[size]=+", 1000, "page[size]"); /* a space */
	expect_page_bad("page[size]=%2010", 1000, "page[size]");
	expect_page_bad("page[size]=99999999999999999999999999", 1000, "page[size]");
	expect_page_bad("page[size]=6", 5, "page[size]");
	expect_page_bad("page[number]=0", 1000, "page[number]");
	expect_page_bad("page[number]=00", 1000, "page[number]");
	expect_page_bad("page[number]=-2", 1000, "page[number]");
	expect_page_bad("page[number]=", 1000, "page[number]");
	expect_page_bad("page[number]=two", 1000, "page[number]");
	expect_page_bad("page[number]=3abc", 1000, "page[number]");
	expect_page_bad("page[number]=2147483648", 1000, "page[number]");
	expect_page_bad("page[number]=99999999999999999999999999", 1000, "page[number]");
	/* page[size] is checked first */
	expect_page_bad("page[number]=0&page[size]=x", 1000, "page[size]");
	expect_page_bad("page[size]=4&page[number]=0", 1000, "page[number]");
}

/* ---- query_escape ---- */

static void test_escape(void **state)
{
	char buf[128];
	char small[5];

	(void)state;
	assert_int_equal(query_escape(buf, sizeof(buf), "AZaz09-_.~"), 10);
	assert_string_equal(buf, "AZaz09-_.~");
	assert_int_equal(query_escape(buf, sizeof(buf), "a b+c&d=e/f?"), 24);
	assert_string_equal(buf, "a%20b%2Bc%26d%3De%2Ff%3F");
	assert_int_equal(query_escape(buf, sizeof(buf), "page[size]"), 14);
	assert_string_equal(buf, "page%5Bsize%5D");
	assert_int_equal(query_escape(buf, sizeof(buf), "\xc3\xa9%\"{},"), 21);
	assert_string_equal(buf, "%C3%A9%25%22%7B%7D%2C");
	assert_int_equal(query_escape(buf, sizeof(buf), ""), 0);
	assert_string_equal(buf, "");
	/* truncated like snprintf: the needed length, a NUL-terminated prefix */
	memset(small, 'x', sizeof(small));
	assert_int_equal(query_escape(small, sizeof(small), "abcdefgh"), 8);
	assert_string_equal(small, "abcd");
	assert_int_equal(query_escape(small, sizeof(small), "a b"), 5);
	assert_string_equal(small, "a%20");
	assert_int_equal(query_escape(NULL, 0, "a b"), 5);
}

/* ---- query_link ---- */

static void link_of(const char *qs, const char *path, long number, long size, const char *want)
{
	struct query q;
	char buf[512];
	size_t n;

	assert_int_equal(query_parse(&q, qs, NULL), 0);
	n = query_link(buf, sizeof(buf), path, &q, number, size);
	if (strcmp(buf, want) != 0)
		fail_msg("link for \"%s\": got \"%s\", want \"%s\"", qs, buf, want);
	assert_int_equal(n, strlen(want));
	query_free(&q);
}

static void test_link(void **state)
{
	(void)state;
	link_of("", "/v1/events", 2, 10, "/v1/events?page%5Bnumber%5D=2&page%5Bsize%5D=10");
	link_of("page[size]=10&page[number]=5", "/v1/events", 1, 10,
		"/v1/events?page%5Bnumber%5D=1&page%5Bsize%5D=10");
	/* other parameters kept in order, page ones dropped wherever they were */
	link_of("sort=-name&page[size]=10&filter=[{\"name\":\"x y\"}]&page[number]=5&include=event",
		"/v1/sessions", 3, 10,
		"/v1/sessions?sort=-name&filter=%5B%7B%22name%22%3A%22x%20y%22%7D%5D&include=event&"
		"page%5Bnumber%5D=3&page%5Bsize%5D=10");
	/* decoded then re-escaped; repeated keys and empty values kept */
	link_of("fields%5Bevents%5D=name,starts-at&a=1&a=2&flag", "/v1/events", 1, 20,
		"/v1/events?fields%5Bevents%5D=name%2Cstarts-at&a=1&a=2&flag=&"
		"page%5Bnumber%5D=1&page%5Bsize%5D=20");
	/* size 0: no page parameters */
	link_of("page[size]=0&sort=name", "/v1/events", 1, 0, "/v1/events?sort=name");
	link_of("page[size]=0", "/v1/events", 1, 0, "/v1/events");
	link_of("q=a+b", "/v1/events", 12345678901L, 1000,
		"/v1/events?q=a%20b&page%5Bnumber%5D=12345678901&page%5Bsize%5D=1000");
}

static void test_link_truncation(void **state)
{
	struct query q;
	char buf[16];
	const char *want = "/v1/events?sort=name&page%5Bnumber%5D=2&page%5Bsize%5D=10";

	(void)state;
	assert_int_equal(query_parse(&q, "sort=name", NULL), 0);
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(query_link(buf, sizeof(buf), "/v1/events", &q, 2, 10), strlen(want));
	assert_string_equal(buf, "/v1/events?sort");
	assert_int_equal(query_link(NULL, 0, "/v1/events", &q, 2, 10), strlen(want));
	/* a NULL query is an empty one */
	assert_int_equal(query_link(buf, sizeof(buf), "/x", NULL, 1, 0), 2);
	assert_string_equal(buf, "/x");
	query_free(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_empty),	   cmocka_unit_test(test_parse_pairs_in_order),
	    cmocka_unit_test(test_parse_decoding), cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_page_defaults),  cmocka_unit_test(test_page_values),
	    cmocka_unit_test(test_page_errors),	   cmocka_unit_test(test_escape),
	    cmocka_unit_test(test_link),	   cmocka_unit_test(test_link_truncation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
