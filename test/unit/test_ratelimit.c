/*
 * Unit tests of core/ratelimit: counter names, the local table's window,
 * atomic multi-key checks, forgiving and resetting, a table flooded with
 * keys, the asynchronous interface on a real loop, and the fallback to
 * local counters when Redis cannot be reached.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <event2/event.h>

#include "core/ratelimit.h"

#define SECRET "0123456789abcdef0123456789abcdef-unit-test-key"

static struct ratelimit_key key(const char *scope, const char *value)
{
	struct ratelimit_key k;
	ratelimit_key(&k, scope, value, strlen(value));
	return k;
}

static int setup(void **state)
{
	(void)state;
	ratelimit_configure(3, 10, SECRET);
	return 0;
}

static void test_key_names(void **state)
{
	(void)state;
	struct ratelimit_key a = key("login-email", "someone@example.com");
	struct ratelimit_key b = key("login-email", "someone@example.com");
	struct ratelimit_key c = key("login-addr", "someone@example.com");
	struct ratelimit_key d = key("login-email", "someone@example.org");
	assert_string_equal(a.k, b.k);
	assert_string_not_equal(a.k, c.k); /* the scope is part of the name */
	assert_string_not_equal(a.k, d.k);
	assert_int_equal(strlen(a.k), 7 + 32);
	assert_memory_equal(a.k, "oes:rl:", 7);
	for (size_t i = 7; i < strlen(a.k); i++)
		assert_non_null(strchr("0123456789abcdef", a.k[i]));
	assert_null(strstr(a.k, "someone"));
	/* another secret, other names (instances with one SECRET_KEY agree) */
	ratelimit_configure(3, 10, "another secret of at least thirty-two bytes!!");
	struct ratelimit_key e = key("login-email", "someone@example.com");
	assert_string_not_equal(a.k, e.k);
	ratelimit_configure(3, 10, SECRET);
	struct ratelimit_key f = key("login-email", "someone@example.com");
	assert_string_equal(a.k, f.k);
}

static void test_window(void **state)
{
	(void)state;
	struct ratelimit_key k = key("t", "window");
	long long t0 = 1000000;
	int retry = -1;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(ratelimit_local_acquire(&k, 1, t0 + i * 1000, &retry), 1);
		assert_int_equal(retry, 0);
	}
	/* the 4th within the window: refused until the window (started by the
	 * first) ends, 10 s after t0 */
	assert_int_equal(ratelimit_local_acquire(&k, 1, t0 + 2500, &retry), 0);
	assert_int_equal(retry, 8); /* 7.5 s left, rounded up */
	assert_int_equal(ratelimit_local_acquire(&k, 1, t0 + 9999, &retry), 0);
	assert_int_equal(retry, 1);
	/* refusals are not counted: the window still ends at t0 + 10 s */
	assert_int_equal(ratelimit_local_acquire(&k, 1, t0 + 10000, &retry), 1);
	assert_int_equal(ratelimit_local_acquire(&k, 1, t0 + 10001, &retry), 1);
	assert_int_equal(ratelimit_local_acquire(&k, 1, t0 + 10002, &retry), 1);
	assert_int_equal(ratelimit_local_acquire(&k, 1, t0 + 10003, &retry), 0);
	assert_int_equal(retry, 10);
}

static void test_keys_are_checked_together(void **state)
{
	(void)state;
	struct ratelimit_key ks[2] = {key("email", "a@example.com"), key("addr", "192.0.2.1")};
	struct ratelimit_key other[2] = {key("email", "b@example.com"), key("addr", "192.0.2.1")};
	struct ratelimit_key b_alone = key("email", "b@example.com");
	long long t = 5000000;
	int retry;
	assert_int_equal(ratelimit_local_acquire(ks, 2, t, &retry), 1);
	assert_int_equal(ratelimit_local_acquire(ks, 2, t, &retry), 1);
	assert_int_equal(ratelimit_local_acquire(ks, 2, t, &retry), 1);
	/* the address is at its limit: another email from it is refused, and
	 * that refusal counts nothing against the other email */
	assert_int_equal(ratelimit_local_acquire(other, 2, t, &retry), 0);
	assert_true(retry >= 1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(ratelimit_local_acquire(&b_alone, 1, t, &retry), 1);
	assert_int_equal(ratelimit_local_acquire(&b_alone, 1, t, &retry), 0);
}

static void test_forgive_and_reset(void **state)
{
	(void)state;
	struct ratelimit_key k = key("t", "forgive");
	long long t = 9000000;
	int retry;
	for (int i = 0; i < 3; i++)
		assert_int_equal(ratelimit_local_acquire(&k, 1, t, &retry), 1);
	assert_int_equal(ratelimit_local_acquire(&k, 1, t, &retry), 0);
	ratelimit_local_forgive(&k, 1, t); /* one attempt did not fail */
	assert_int_equal(ratelimit_local_acquire(&k, 1, t, &retry), 1);
	assert_int_equal(ratelimit_local_acquire(&k, 1, t, &retry), 0);
	ratelimit_local_reset(&k); /* a good password */
	for (int i = 0; i < 3; i++)
		assert_int_equal(ratelimit_local_acquire(&k, 1, t, &retry), 1);
	/* forgiving an unknown or empty counter is harmless */
	struct ratelimit_key none = key("t", "never seen");
	ratelimit_local_forgive(&none, 1, t);
	ratelimit_local_forgive(&none, 1, t);
	assert_int_equal(ratelimit_local_acquire(&none, 1, t, &retry), 1);
}

static void test_flood_of_keys(void **state)
{
	(void)state;
	/* many more keys than slots: the table stays bounded and keeps
	 * working; a key that was just counted is still found */
	long long t = 20000000;
	int retry;
	char v[32];
	for (int i = 0; i < 3 * RATELIMIT_LOCAL_SLOTS; i++) {
		snprintf(v, sizeof(v), "flood-%d", i);
		struct ratelimit_key k = key("flood", v);
		assert_int_equal(ratelimit_local_acquire(&k, 1, t + i / 1000, &retry), 1);
	}
	assert_true(ratelimit_local_count(t + 3 * RATELIMIT_LOCAL_SLOTS / 1000) <=
		    RATELIMIT_LOCAL_SLOTS);
	struct ratelimit_key hot = key("flood", "hot");
	long long t2 = t + 3 * RATELIMIT_LOCAL_SLOTS / 1000;
	for (int i = 0; i < 3; i++)
		assert_int_equal(ratelimit_local_acquire(&hot, 1, t2, &retry), 1);
	assert_int_equal(ratelimit_local_acquire(&hot, 1, t2, &retry), 0);
	/* all expired later: nothing counted */
	assert_int_equal(ratelimit_local_count(t2 + 11000), 0);
}

/* ---- the asynchronous interface ---- */

static struct {
	int calls, allowed, retry;
} got;

static void cb(void *arg, int allowed, int retry_after_s)
{
	assert_ptr_equal(arg, &got);
	got.calls++;
	got.allowed = allowed;
	got.retry = retry_after_s;
}

static void run_until_called(struct event_base *base, int calls, int max_ms)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	while (got.calls < calls) {
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		clock_gettime(CLOCK_MONOTONIC, &b);
		long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
		assert_true(ms < max_ms);
		struct timespec nap = {0, 1000000};
		nanosleep(&nap, NULL);
	}
}

static void test_async_local(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	assert_non_null(base);
	assert_int_equal(ratelimit_start(base, NULL, NULL), 0);
	struct ratelimit_key k = key("async", "local");
	memset(&got, 0, sizeof(got));
	for (int i = 1; i <= 4; i++) {
		assert_int_equal(ratelimit_acquire(&k, 1, cb, &got), 0);
		assert_int_equal(got.calls, i - 1); /* never inside the call */
		run_until_called(base, i, 1000);
		assert_int_equal(got.allowed, i <= 3);
	}
	assert_true(got.retry >= 9 && got.retry <= 10);
	ratelimit_forgive(&k, 1);
	assert_int_equal(ratelimit_acquire(&k, 1, cb, &got), 0);
	run_until_called(base, 5, 1000);
	assert_int_equal(got.allowed, 1);
	ratelimit_reset(&k);
	assert_int_equal(ratelimit_acquire(&k, 1, cb, &got), 0);
	run_until_called(base, 6, 1000);
	assert_int_equal(got.allowed, 1);
	/* bad arguments: refused at once, no callback */
	assert_int_equal(ratelimit_acquire(&k, 0, cb, &got), -1);
	assert_int_equal(ratelimit_acquire(&k, 5, cb, &got), -1);
	/* a check still pending at stop is answered then */
	assert_int_equal(ratelimit_acquire(&k, 1, cb, &got), 0);
	ratelimit_stop();
	assert_int_equal(got.calls, 7);
	event_base_free(base);
	ratelimit_configure(3, 10, SECRET);
}

static void test_redis_unreachable_falls_back(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	assert_non_null(base);
	assert_int_equal(ratelimit_start(base, NULL, "http://127.0.0.1:6379"), -1);
	ratelimit_stop();
	/* nothing listens on port 1: the connection fails, checks are
	 * answered from the local table */
	assert_int_equal(ratelimit_start(base, NULL, "redis://127.0.0.1:1/0"), 0);
	struct ratelimit_key k = key("async", "no redis");
	memset(&got, 0, sizeof(got));
	for (int i = 1; i <= 4; i++) {
		assert_int_equal(ratelimit_acquire(&k, 1, cb, &got), 0);
		run_until_called(base, i, 3000);
		assert_int_equal(got.allowed, i <= 3);
	}
	ratelimit_stop();
	event_base_free(base);
	ratelimit_configure(3, 10, SECRET);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_key_names, setup),
	    cmocka_unit_test_setup(test_window, setup),
	    cmocka_unit_test_setup(test_keys_are_checked_together, setup),
	    cmocka_unit_test_setup(test_forgive_and_reset, setup),
	    cmocka_unit_test_setup(test_flood_of_keys, setup),
	    cmocka_unit_test_setup(test_async_local, setup),
	    cmocka_unit_test_setup(test_redis_unreachable_falls_back, setup),
	};
	return cmocka_run_group_tests_name("ratelimit", tests, NULL, NULL);
}
