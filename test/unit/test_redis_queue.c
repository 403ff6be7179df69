/*
 * test_redis_queue: unit tests of the pure part of src/tasks/redis_queue.c,
 * the REDIS_URL parser (host names, IPv4 and IPv6 addresses, ports,
 * passwords with percent escapes, database numbers, and every refusal). The
 * queue itself is tested against a real redis-server by the integration
 * suite (test_tasks.py). Links redis_queue.c and log.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tasks/redis_queue.h"

static void test_good_urls(void **state)
{
	struct redis_url u;
	char err[160];

	(void)state;
	assert_int_equal(redis_queue_parse_url("redis://localhost", &u, err, sizeof(err)), 0);
	assert_string_equal(u.host, "localhost");
	assert_int_equal(u.port, 6379);
	assert_string_equal(u.password, "");
	assert_int_equal(u.db, 0);

	assert_int_equal(redis_queue_parse_url("redis://127.0.0.1:6380/3", &u, err, sizeof(err)),
			 0);
	assert_string_equal(u.host, "127.0.0.1");
	assert_int_equal(u.port, 6380);
	assert_int_equal(u.db, 3);

	assert_int_equal(
	    redis_queue_parse_url("redis://:s%40cr%3At@[::1]:7000/", &u, err, sizeof(err)), 0);
	assert_string_equal(u.host, "::1");
	assert_int_equal(u.port, 7000);
	assert_string_equal(u.password, "s@cr:t");
	assert_int_equal(u.db, 0);

	assert_int_equal(
	    redis_queue_parse_url("redis://user:pw@redis.internal/15", &u, err, sizeof(err)), 0);
	assert_string_equal(u.host, "redis.internal");
	assert_string_equal(u.password, "pw");
	assert_int_equal(u.db, 15);

	assert_int_equal(redis_queue_parse_url("redis://pw-only@h", &u, err, sizeof(err)), 0);
	assert_string_equal(u.password, "pw-only");
}

static void test_bad_urls(void **state)
{
	struct redis_url u;
	char err[160];
	static const char *const bad[] = {
	    NULL,
	    "",
	    "http://localhost",
	    "redis://",
	    "redis://:6379",
	    "redis://host:",
	    "redis://host:0",
	    "redis://host:65536",
	    "redis://host:12a",
	    "redis://host/x",
	    "redis://host/1/2",
	    "redis://host/100000",
	    "redis://host?timeout=1",
	    "redis://[::1",
	    "redis://[]:1",
	    "redis://[::1]x",
	    "redis://:bad%zz@host",
	    "redis://:trunc%4@host",
	    "redis://:nul%00@host",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(redis_queue_parse_url(bad[i], &u, err, sizeof(err)), -1);
		assert_true(strncmp(err, "REDIS_URL", 9) == 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_urls),
	    cmocka_unit_test(test_bad_urls),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
