/*
 * test_config: unit tests of src/core/config.c: every default, values read
 * from a fake environment, each invalid value refused with a one-line error
 * naming the setting, the SECRET_KEY rules, PUBLIC_URL derivation, config_set
 * and --help. Links config.c, log.c (log_level_parse) and cidr.c.
 *
 * The fake environment is a file-level pointer because config_load's getenv
 * hook takes no context; each test sets it before loading.
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
#include "core/log.h"

/* NAME=value strings, NULL-terminated; the environment fake_getenv reads. */
static const char *const *fake_env;

static char *fake_getenv(const char *name)
{
	size_t n = strlen(name);
	const char *const *e;

	for (e = fake_env; e != NULL && *e != NULL; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return (char *)(*e + n + 1);
	return NULL;
}

#define SECRET32 "0123456789abcdef0123456789abcdef"

static int load(const char *const *env, int need_secret, char *err, size_t errlen)
{
	fake_env = env;
	err[0] = '\0';
	return config_load(fake_getenv, need_secret, err, errlen);
}

static int teardown(void **state)
{
	(void)state;
	config_free();
	fake_env = NULL;
	return 0;
}

static void test_defaults(void **state)
{
	static const char *const env[] = {NULL};
	char err[256];

	(void)state;
	assert_int_equal(load(env, 0, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_string_equal(cfg.host, "127.0.0.1");
	assert_int_equal(cfg.port, 8080);
	assert_string_equal(cfg.public_url, "http://127.0.0.1:8080");
	assert_null(cfg.database_url);
	assert_int_equal(cfg.workers, 1);
	assert_int_equal(cfg.pg_pool_size, 2);
	assert_int_equal(cfg.pg_pipeline, 1);
	assert_int_equal(cfg.pg_queue_max, 4096);
	assert_int_equal(cfg.pg_statement_timeout_ms, 10000);
	assert_int_equal(cfg.request_timeout_ms, 30000);
	assert_int_equal(cfg.body_max_bytes, 1048576L);
	assert_int_equal(cfg.upload_max_bytes, 20971520L);
	assert_int_equal(cfg.max_page_size, 1000);
	assert_null(cfg.secret_key);
	assert_int_equal(cfg.jwt_ttl_s, 86400);
	assert_int_equal(cfg.trusted_proxies.n, 0);
	assert_int_equal(cfg.log_level, LOG_INFO);
	assert_int_equal(cfg.log_format, LOG_FORMAT_TEXT);
	assert_int_equal(cfg.shutdown_grace_ms, 10000);
	assert_true(cfg.listen_backlog > 128);
	assert_int_equal(cfg.listen_backlog, 1024);
	assert_string_equal(cfg.docs_dir, "docs/api/build");
}

static void test_values(void **state)
{
	static const char *const env[] = {
	    "HOST=0.0.0.0",
	    "PORT=9090",
	    "PUBLIC_URL=https://events.example.org//",
	    "DATABASE_URL=postgresql://u@localhost/oes",
	    "WORKERS=4",
	    "PG_POOL_SIZE=8",
	    "PG_PIPELINE=off",
	    "PG_QUEUE_MAX=10",
	    "PG_STATEMENT_TIMEOUT_MS=0",
	    "REQUEST_TIMEOUT_MS=500",
	    "BODY_MAX_BYTES=2048",
	    "UPLOAD_MAX_BYTES=4096",
	    "MAX_PAGE_SIZE=50",
	    "SECRET_KEY=" SECRET32,
	    "JWT_TTL_S=3600",
	    "TRUSTED_PROXIES=10.0.0.0/8, ::1",
	    "LOG_LEVEL=debug",
	    "LOG_FORMAT=json",
	    "SHUTDOWN_GRACE_MS=250",
	    "LISTEN_BACKLOG=4096",
	    "DOCS_DIR=/srv/docs",
	    NULL,
	};
	char err[256];

	(void)state;
	assert_int_equal(load(env, 1, err, sizeof(err)), 0);
	assert_string_equal(cfg.host, "0.0.0.0");
	assert_int_equal(cfg.port, 9090);
	/* trailing slashes dropped */
	assert_string_equal(cfg.public_url, "https://events.example.org");
	assert_string_equal(cfg.database_url, "postgresql://u@localhost/oes");
	assert_int_equal(cfg.workers, 4);
	assert_int_equal(cfg.pg_pool_size, 8);
	assert_int_equal(cfg.pg_pipeline, 0);
	assert_int_equal(cfg.pg_queue_max, 10);
	assert_int_equal(cfg.pg_statement_timeout_ms, 0);
	assert_int_equal(cfg.request_timeout_ms, 500);
	assert_int_equal(cfg.body_max_bytes, 2048);
	assert_int_equal(cfg.upload_max_bytes, 4096);
	assert_int_equal(cfg.max_page_size, 50);
	assert_string_equal(cfg.secret_key, SECRET32);
	assert_int_equal(cfg.jwt_ttl_s, 3600);
	assert_int_equal(cfg.trusted_proxies.n, 2);
	assert_int_equal(cidr_list_match(&cfg.trusted_proxies, "10.2.3.4"), 1);
	assert_int_equal(cidr_list_match(&cfg.trusted_proxies, "::1"), 1);
	assert_int_equal(cidr_list_match(&cfg.trusted_proxies, "11.0.0.1"), 0);
	assert_int_equal(cfg.log_level, LOG_DEBUG);
	assert_int_equal(cfg.log_format, LOG_FORMAT_JSON);
	assert_int_equal(cfg.shutdown_grace_ms, 250);
	assert_int_equal(cfg.listen_backlog, 4096);
	assert_string_equal(cfg.docs_dir, "/srv/docs");
}

static void test_booleans_and_levels(void **state)
{
	static const char *const on[] = {"on", "true", "1", "yes", "ON", "True"};
	static const char *const off[] = {"off", "false", "0", "no", "OFF", "No"};
	static const char *const levels[] = {"debug", "info", "warn", "error"};
	static const int level_values[] = {LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR};
	char buf[64], err[256];
	const char *env[2] = {buf, NULL};
	size_t i;

	(void)state;
	for (i = 0; i < 6; i++) {
		snprintf(buf, sizeof(buf), "PG_PIPELINE=%s", on[i]);
		assert_int_equal(load(env, 0, err, sizeof(err)), 0);
		assert_int_equal(cfg.pg_pipeline, 1);
		snprintf(buf, sizeof(buf), "PG_PIPELINE=%s", off[i]);
		assert_int_equal(load(env, 0, err, sizeof(err)), 0);
		assert_int_equal(cfg.pg_pipeline, 0);
	}
	for (i = 0; i < 4; i++) {
		snprintf(buf, sizeof(buf), "LOG_LEVEL=%s", levels[i]);
		assert_int_equal(load(env, 0, err, sizeof(err)), 0);
		assert_int_equal(cfg.log_level, level_values[i]);
	}
}

static void test_limits_accepted(void **state)
{
	static const char *const env[] = {"PORT=65535", "WORKERS=256", "MAX_PAGE_SIZE=1", NULL};
	static const char *const env2[] = {"PORT=1", "BODY_MAX_BYTES=1024", NULL};
	char err[256];

	(void)state;
	assert_int_equal(load(env, 0, err, sizeof(err)), 0);
	assert_int_equal(cfg.port, 65535);
	assert_int_equal(cfg.workers, 256);
	assert_int_equal(cfg.max_page_size, 1);
	assert_int_equal(load(env2, 0, err, sizeof(err)), 0);
	assert_int_equal(cfg.port, 1);
	assert_string_equal(cfg.public_url, "http://127.0.0.1:1");
	assert_int_equal(cfg.body_max_bytes, 1024);
}

/* Loads a one-variable environment and expects a refusal naming `name`. */
static void expect_refused(const char *assignment, int need_secret, const char *name)
{
	const char *env[] = {assignment, "SECRET_KEY=" SECRET32, NULL};
	char err[256];

	if (strncmp(assignment, "SECRET_KEY=", 11) == 0)
		env[1] = NULL;
	if (load(env, need_secret, err, sizeof(err)) != -1)
		fail_msg("%s was accepted", assignment);
	if (strstr(err, name) == NULL)
		fail_msg("%s: error \"%s\" does not name %s", assignment, err, name);
	/* one line */
	assert_null(strchr(err, '\n'));
	config_free();
}

static void test_invalid_values(void **state)
{
	static const struct {
		const char *assignment;
		const char *name;
	} cases[] = {
	    {"PORT=0", "PORT"},
	    {"PORT=65536", "PORT"},
	    {"PORT=-1", "PORT"},
	    {"PORT=http", "PORT"},
	    {"PORT=80x", "PORT"},
	    {"PORT= 80", "PORT"},
	    {"PORT=8.5", "PORT"},
	    {"PORT=99999999999999999999999", "PORT"},
	    {"WORKERS=0", "WORKERS"},
	    {"WORKERS=257", "WORKERS"},
	    {"PG_POOL_SIZE=0", "PG_POOL_SIZE"},
	    {"PG_POOL_SIZE=two", "PG_POOL_SIZE"},
	    {"PG_PIPELINE=maybe", "PG_PIPELINE"},
	    {"PG_PIPELINE=2", "PG_PIPELINE"},
	    {"PG_QUEUE_MAX=0", "PG_QUEUE_MAX"},
	    {"PG_STATEMENT_TIMEOUT_MS=-5", "PG_STATEMENT_TIMEOUT_MS"},
	    {"REQUEST_TIMEOUT_MS=1", "REQUEST_TIMEOUT_MS"},
	    {"REQUEST_TIMEOUT_MS=30s", "REQUEST_TIMEOUT_MS"},
	    {"BODY_MAX_BYTES=1023", "BODY_MAX_BYTES"},
	    {"BODY_MAX_BYTES=1MiB", "BODY_MAX_BYTES"},
	    {"UPLOAD_MAX_BYTES=10", "UPLOAD_MAX_BYTES"},
	    {"MAX_PAGE_SIZE=0", "MAX_PAGE_SIZE"},
	    {"MAX_PAGE_SIZE=-1", "MAX_PAGE_SIZE"},
	    {"JWT_TTL_S=59", "JWT_TTL_S"},
	    {"TRUSTED_PROXIES=10.0.0.0/33", "TRUSTED_PROXIES"},
	    {"TRUSTED_PROXIES=proxy.local", "TRUSTED_PROXIES"},
	    {"TRUSTED_PROXIES=10.0.0.1,", "TRUSTED_PROXIES"},
	    {"LOG_LEVEL=verbose", "LOG_LEVEL"},
	    {"LOG_LEVEL=INFO ", "LOG_LEVEL"},
	    {"LOG_FORMAT=xml", "LOG_FORMAT"},
	    {"SHUTDOWN_GRACE_MS=600001", "SHUTDOWN_GRACE_MS"},
	    {"LISTEN_BACKLOG=8", "LISTEN_BACKLOG"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		expect_refused(cases[i].assignment, 0, cases[i].name);
		expect_refused(cases[i].assignment, 1, cases[i].name);
	}
}

static void test_empty_means_default(void **state)
{
	static const char *const env[] = {
	    "PORT=", "LOG_LEVEL=", "PG_PIPELINE=", "DATABASE_URL=", "TRUSTED_PROXIES=", NULL};
	char err[256];

	(void)state;
	assert_int_equal(load(env, 0, err, sizeof(err)), 0);
	assert_int_equal(cfg.port, 8080);
	assert_int_equal(cfg.log_level, LOG_INFO);
	assert_int_equal(cfg.pg_pipeline, 1);
	assert_null(cfg.database_url);
	assert_int_equal(cfg.trusted_proxies.n, 0);
}

static void test_secret_key(void **state)
{
	static const char *const none[] = {NULL};
	static const char *const empty[] = {"SECRET_KEY=", NULL};
	static const char *const short_key[] = {"SECRET_KEY=0123456789abcdef0123456789abcde", NULL};
	static const char *const ok[] = {"SECRET_KEY=" SECRET32, NULL};
	char err[256];

	(void)state;
	/* required */
	assert_int_equal(load(none, 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "SECRET_KEY"));
	config_free();
	assert_int_equal(load(empty, 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "SECRET_KEY"));
	config_free();
	/* 31 bytes */
	assert_int_equal(strlen(short_key[0]) - strlen("SECRET_KEY="), 31);
	assert_int_equal(load(short_key, 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "SECRET_KEY"));
	assert_null(strstr(err, "0123456789abcdef")); /* the secret is not echoed */
	config_free();
	/* 32 bytes */
	assert_int_equal(load(ok, 1, err, sizeof(err)), 0);
	assert_string_equal(cfg.secret_key, SECRET32);
	config_free();
	/* not required (migrate, healthcheck) */
	assert_int_equal(load(none, 0, err, sizeof(err)), 0);
	assert_null(cfg.secret_key);
	config_free();
	assert_int_equal(load(short_key, 0, err, sizeof(err)), 0);
	/* the first bad setting is reported before the missing key */
	expect_refused("PORT=0", 1, "PORT");
}

static void test_public_url_ipv6_host(void **state)
{
	static const char *const env[] = {"HOST=::1", "PORT=8443", NULL};
	char err[256];

	(void)state;
	assert_int_equal(load(env, 0, err, sizeof(err)), 0);
	assert_string_equal(cfg.host, "::1");
	assert_string_equal(cfg.public_url, "http://[::1]:8443");
}

static void test_reload_replaces(void **state)
{
	static const char *const a[] = {"DATABASE_URL=postgresql:///a", "TRUSTED_PROXIES=::1",
					NULL};
	static const char *const b[] = {NULL};
	char err[256];

	(void)state;
	assert_int_equal(load(a, 0, err, sizeof(err)), 0);
	assert_string_equal(cfg.database_url, "postgresql:///a");
	assert_int_equal(cfg.trusted_proxies.n, 1);
	/* a second load starts from the defaults again (and leaks nothing: ASan) */
	assert_int_equal(load(b, 0, err, sizeof(err)), 0);
	assert_null(cfg.database_url);
	assert_int_equal(cfg.trusted_proxies.n, 0);
}

static void test_config_set(void **state)
{
	static const char *const env[] = {NULL};
	char err[256];

	(void)state;
	assert_int_equal(load(env, 0, err, sizeof(err)), 0);
	assert_int_equal(config_set("WORKERS", "3", err, sizeof(err)), 0);
	assert_int_equal(cfg.workers, 3);
	assert_int_equal(config_set("DATABASE_URL", "dbname=x", err, sizeof(err)), 0);
	assert_string_equal(cfg.database_url, "dbname=x");
	assert_int_equal(config_set("WORKERS", "zero", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "WORKERS"));
	assert_int_equal(cfg.workers, 3);
	assert_int_equal(config_set("NO_SUCH_SETTING", "1", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "NO_SUCH_SETTING"));
	/* the error always fits the buffer */
	assert_int_equal(
	    config_set("PORT", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", err, 16),
	    -1);
	assert_true(strlen(err) < 16);
}

static void test_help(void **state)
{
	static const char *const names[] = {
	    "HOST",
	    "PORT",
	    "PUBLIC_URL",
	    "DATABASE_URL",
	    "WORKERS",
	    "PG_POOL_SIZE",
	    "PG_PIPELINE",
	    "PG_QUEUE_MAX",
	    "REQUEST_TIMEOUT_MS",
	    "BODY_MAX_BYTES",
	    "UPLOAD_MAX_BYTES",
	    "MAX_PAGE_SIZE",
	    "SECRET_KEY",
	    "JWT_TTL_S",
	    "TRUSTED_PROXIES",
	    "LOG_LEVEL",
	    "LOG_FORMAT",
	    "SHUTDOWN_GRACE_MS",
	};
	char *text = NULL;
	size_t len = 0, i;
	FILE *f = open_memstream(&text, &len);

	(void)state;
	assert_non_null(f);
	config_print_help(f);
	fclose(f);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strstr(text, names[i]) == NULL)
			fail_msg("--help does not list %s", names[i]);
	assert_non_null(strstr(text, "8080"));
	assert_non_null(strstr(text, "127.0.0.1"));
	assert_non_null(strstr(text, "1000"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_defaults, teardown),
	    cmocka_unit_test_teardown(test_values, teardown),
	    cmocka_unit_test_teardown(test_booleans_and_levels, teardown),
	    cmocka_unit_test_teardown(test_limits_accepted, teardown),
	    cmocka_unit_test_teardown(test_invalid_values, teardown),
	    cmocka_unit_test_teardown(test_empty_means_default, teardown),
	    cmocka_unit_test_teardown(test_secret_key, teardown),
	    cmocka_unit_test_teardown(test_public_url_ipv6_host, teardown),
	    cmocka_unit_test_teardown(test_reload_replaces, teardown),
	    cmocka_unit_test_teardown(test_config_set, teardown),
	    cmocka_unit_test_teardown(test_help, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
