/*
 * Unit tests of core/listcache: a document is found only under its URI and
 * generation, another generation drops it, the least recently used go first
 * when the budget is full, a document larger than an eighth of the budget
 * is not kept, a reply's reference outlives eviction, a budget of 0
 * keeps nothing, and a URI is kept from its second build on (or at once
 * when others wait for it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/hash.h"
#include "core/listcache.h"

static struct lc_doc *doc_of(const char *text, size_t len)
{
	char *b = malloc(len + 1);
	assert_non_null(b);
	memset(b, 'x', len);
	memcpy(b, text, strlen(text) < len ? strlen(text) : len);
	b[len] = '\0';
	struct lc_doc *d = lc_doc_new(b, len);
	assert_non_null(d);
	return d;
}

static int setup(void **state)
{
	(void)state;
	cfg.list_cache_bytes = 64 * 1024;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	listcache_clear();
	return 0;
}

static void test_found_under_its_uri_and_generation(void **state)
{
	(void)state;
	struct lc_doc *d = doc_of("{\"data\":[]}", 11);
	char want[32];
	snprintf(want, sizeof(want), "W/\"%016llx\"", hash64(d->body, d->len));
	assert_string_equal(d->etag, want);
	listcache_put("/v1/events/1/sessions", 7, d, 1);
	lc_doc_unref(d); /* the cache holds its own reference */

	assert_null(listcache_get("/v1/events/2/sessions", 7));
	struct lc_doc *got = listcache_get("/v1/events/1/sessions", 7);
	assert_non_null(got);
	assert_memory_equal(got->body, "{\"data\":[]}", 11);
	lc_doc_unref(got);

	/* another generation: not found, and the stale entry is gone */
	assert_null(listcache_get("/v1/events/1/sessions", 8));
	assert_null(listcache_get("/v1/events/1/sessions", 7));
	struct listcache_stats st;
	listcache_stats(&st);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.bytes, 0);
}

static void test_replacing_an_entry(void **state)
{
	(void)state;
	struct lc_doc *a = doc_of("a", 100), *b = doc_of("b", 200);
	listcache_put("/k", 1, a, 1);
	listcache_put("/k", 2, b, 1);
	lc_doc_unref(a);
	lc_doc_unref(b);
	struct listcache_stats st;
	listcache_stats(&st);
	assert_int_equal(st.entries, 1);
	struct lc_doc *got = listcache_get("/k", 2);
	assert_non_null(got);
	assert_int_equal(got->len, 200);
	assert_int_equal(got->body[0], 'b');
	lc_doc_unref(got);
}

static void test_least_recently_used_go_first(void **state)
{
	(void)state;
	/* 64 KiB budget, 8,000-byte documents: 8 fit with their keys, the 9th evicts */
	char key[32];
	for (int i = 0; i < 9; i++) {
		snprintf(key, sizeof(key), "/k%d", i);
		struct lc_doc *d = doc_of(key, 8000);
		listcache_put(key, 1, d, 1);
		lc_doc_unref(d);
		if (i == 2) { /* /k0 is used again: /k1 becomes the oldest */
			struct lc_doc *g = listcache_get("/k0", 1);
			assert_non_null(g);
			lc_doc_unref(g);
		}
	}
	struct listcache_stats st;
	listcache_stats(&st);
	assert_true(st.bytes <= (size_t)cfg.list_cache_bytes);
	assert_int_equal(st.evictions, 1);
	assert_int_equal(st.entries, 8);
	struct lc_doc *g = listcache_get("/k1", 1);
	assert_null(g);
	g = listcache_get("/k0", 1);
	assert_non_null(g);
	lc_doc_unref(g);
	g = listcache_get("/k8", 1);
	assert_non_null(g);
	lc_doc_unref(g);
}

static void test_too_large_or_off(void **state)
{
	(void)state;
	struct lc_doc *big = doc_of("big", 64 * 1024 / 8);
	listcache_put("/big", 1, big, 1);
	assert_null(listcache_get("/big", 1));
	assert_int_equal(big->refs, 1); /* not taken */
	lc_doc_unref(big);

	cfg.list_cache_bytes = 0;
	struct lc_doc *d = doc_of("small", 10);
	listcache_put("/small", 1, d, 1);
	assert_null(listcache_get("/small", 1));
	lc_doc_unref(d);
	cfg.list_cache_bytes = 64 * 1024;
}

static void test_a_reference_outlives_eviction(void **state)
{
	(void)state;
	struct lc_doc *d = doc_of("kept", 5000);
	listcache_put("/a", 1, d, 1);
	lc_doc_unref(d);
	struct lc_doc *sending = listcache_get("/a", 1); /* a reply still writing it */
	assert_non_null(sending);
	listcache_clear();
	assert_int_equal(sending->refs, 1);
	assert_memory_equal(sending->body, "kept", 4);
	lc_doc_unref(sending); /* freed here; ASan/valgrind see a leak or a double free otherwise */
}

static void test_kept_from_the_second_build(void **state)
{
	(void)state;
	struct listcache_stats s0, s1;
	listcache_stats(&s0);
	struct lc_doc *popular = doc_of("popular", 100);
	listcache_put("/popular", 1, popular, 0);
	assert_int_equal(popular->refs, 1); /* the first build is not kept */
	assert_null(listcache_get("/popular", 1));
	listcache_put("/popular", 1, popular, 0);
	assert_int_equal(popular->refs, 2); /* the second is */
	lc_doc_unref(popular);

	/* URIs built once each, far more than the budget holds: none is kept,
	 * none pushes the popular one out */
	for (int i = 0; i < 2000; i++) {
		char key[32];
		snprintf(key, sizeof(key), "/once/%d", i);
		struct lc_doc *d = doc_of(key, 1000);
		listcache_put(key, 1, d, 0);
		assert_int_equal(d->refs, 1);
		lc_doc_unref(d);
	}
	struct lc_doc *got = listcache_get("/popular", 1);
	assert_non_null(got);
	lc_doc_unref(got);
	listcache_stats(&s1);
	assert_int_equal(s1.first_builds - s0.first_builds, 2001);
	assert_int_equal(s1.evictions - s0.evictions, 0);
	assert_int_equal(s1.entries, 1);

	/* dropped for another generation: its rebuild is kept at once */
	assert_null(listcache_get("/popular", 2));
	struct lc_doc *next = doc_of("popular, later", 100);
	listcache_put("/popular", 2, next, 0);
	assert_int_equal(next->refs, 2);
	lc_doc_unref(next);

	/* wanted: kept on its first build */
	struct lc_doc *w = doc_of("awaited", 100);
	listcache_put("/awaited", 1, w, 1);
	assert_int_equal(w->refs, 2);
	lc_doc_unref(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_found_under_its_uri_and_generation, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_replacing_an_entry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_least_recently_used_go_first, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_too_large_or_off, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_reference_outlives_eviction, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kept_from_the_second_build, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
