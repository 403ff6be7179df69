/*
 * db_pg_pool: cmocka tests of the PostgreSQL pool against a real server
 * (DATABASE_URL, started by the integration harness): pipelined batches,
 * an error inside a shared sync, write isolation, transactions, the bounded
 * queue, cancellation, and pipeline off. Every test runs its own loop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core/pg_pool.h"

static const char *url;

struct fixture {
	struct event_base *base;
	struct pg_pool *pool;
	int done;	 /* callbacks seen */
	int want;	 /* callbacks expected before the loop stops */
	int ok, errors;	 /* by outcome */
	int unavailable; /* PG_ERR_UNAVAILABLE */
	char last[64];	 /* first column of the last row */
	int seen[256];	 /* echo values "v<n>" received */
	struct pg_txn *txn;
};

static void stop_if_done(struct fixture *f)
{
	if (f->done >= f->want)
		event_base_loopbreak(f->base);
}

static void count_cb(void *arg, PGresult *res, int err)
{
	struct fixture *f = arg;
	f->done++;
	if (err == PG_OK) {
		f->ok++;
		if (PQntuples(res) > 0) {
			snprintf(f->last, sizeof(f->last), "%s", PQgetvalue(res, 0, 0));
			int n = f->last[0] == 'v' ? atoi(f->last + 1) : -1;
			if (n >= 0 && n < 256)
				f->seen[n]++;
		}
	} else if (err == PG_ERR_QUERY) {
		f->errors++;
	} else {
		f->unavailable++;
	}
	stop_if_done(f);
}

static struct fixture *setup_pool(int size, int pipeline, int queue_max)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->base = event_base_new();
	f->pool = pg_pool_new(f->base, NULL, url, size, pipeline, queue_max, 5000);
	assert_non_null(f->pool);
	assert_int_equal(pg_pool_prepare(f->pool, "echo", "SELECT $1::text"), 0);
	assert_int_equal(pg_pool_start(f->pool), 0);
	return f;
}

static void run(struct fixture *f, int want)
{
	f->want = want;
	struct timeval tv = {10, 0};
	event_base_loopexit(f->base, &tv);
	event_base_dispatch(f->base);
}

static void teardown_pool(struct fixture *f)
{
	pg_pool_free(f->pool);
	event_base_free(f->base);
	free(f);
}

static void test_batch_of_reads(void **state)
{
	(void)state;
	for (int pipeline = 0; pipeline <= 1; pipeline++) {
		struct fixture *f = setup_pool(2, pipeline, 4096);
		char buf[16];
		for (int i = 0; i < 200; i++) {
			snprintf(buf, sizeof(buf), "v%d", i);
			const char *p = buf;
			assert_non_null(
			    pg_pool_query(f->pool, PG_READ, "echo", NULL, 1, &p, count_cb, f));
		}
		run(f, 200);
		assert_int_equal(f->ok, 200);
		for (int i = 0; i < 200; i++)
			assert_int_equal(f->seen[i], 1); /* each answer once, to its own query */
		teardown_pool(f);
	}
}

/* One failing read in a shared sync: the others are retried and succeed. */
static void test_error_in_batch(void **state)
{
	(void)state;
	struct fixture *f = setup_pool(1, 1, 4096);
	const char *p = "x";
	for (int i = 0; i < 5; i++)
		pg_pool_query(f->pool, PG_READ, "echo", NULL, 1, &p, count_cb, f);
	pg_pool_query(f->pool, PG_READ, NULL, "SELECT 1/0", 0, NULL, count_cb, f);
	for (int i = 0; i < 5; i++)
		pg_pool_query(f->pool, PG_READ, "echo", NULL, 1, &p, count_cb, f);
	run(f, 11);
	assert_int_equal(f->errors, 1);
	assert_int_equal(f->ok, 10);
	teardown_pool(f);
}

static void txn_step(void *arg, PGresult *res, int err);

static void txn_ready(void *arg, struct pg_txn *txn, int err)
{
	struct fixture *f = arg;
	assert_int_equal(err, PG_OK);
	f->txn = txn;
	assert_non_null(
	    pg_txn_query(txn, NULL, "INSERT INTO pool_t VALUES (1)", 0, NULL, txn_step, f));
	assert_non_null(
	    pg_txn_query(txn, NULL, "INSERT INTO pool_t VALUES (2)", 0, NULL, txn_step, f));
}

static int txn_commit;

static void txn_end_cb(void *arg, PGresult *res, int err)
{
	struct fixture *f = arg;
	(void)res;
	assert_int_equal(err, PG_OK);
	f->done++;
	stop_if_done(f);
}

static void txn_step(void *arg, PGresult *res, int err)
{
	struct fixture *f = arg;
	(void)res;
	assert_int_equal(err, PG_OK);
	if (++f->ok == 2)
		assert_int_equal(pg_txn_end(f->txn, txn_commit, txn_end_cb, f), 0);
}

static void test_transactions(void **state)
{
	(void)state;
	for (int pipeline = 0; pipeline <= 1; pipeline++) {
		for (txn_commit = 0; txn_commit <= 1; txn_commit++) {
			struct fixture *f = setup_pool(2, pipeline, 4096);
			pg_pool_query(f->pool, PG_WRITE, NULL,
				      "CREATE TABLE IF NOT EXISTS pool_t (v int)", 0, NULL,
				      count_cb, f);
			run(f, 1);
			pg_pool_query(f->pool, PG_WRITE, NULL, "TRUNCATE pool_t", 0, NULL, count_cb,
				      f);
			run(f, 2);
			f->ok = 0;
			assert_non_null(pg_pool_txn_begin(f->pool, txn_ready, f));
			/* reads go on on the other connection meanwhile */
			const char *p = "during";
			pg_pool_query(f->pool, PG_READ, "echo", NULL, 1, &p, count_cb, f);
			run(f, 4);
			f->last[0] = '\0';
			pg_pool_query(f->pool, PG_READ, NULL, "SELECT count(*) FROM pool_t", 0,
				      NULL, count_cb, f);
			run(f, 5);
			assert_string_equal(f->last, txn_commit ? "2" : "0");
			teardown_pool(f);
		}
	}
}

static void never_cb(void *arg, PGresult *res, int err)
{
	(void)arg, (void)res, (void)err;
	fail_msg("a cancelled query's callback ran");
}

static void test_queue_bound_and_cancel(void **state)
{
	(void)state;
	struct fixture *f = setup_pool(1, 1, 3);
	const char *p = "q";
	struct pg_query *a = pg_pool_query(f->pool, PG_READ, "echo", NULL, 1, &p, never_cb, f);
	assert_non_null(a);
	assert_non_null(pg_pool_query(f->pool, PG_READ, "echo", NULL, 1, &p, count_cb, f));
	assert_non_null(pg_pool_query(f->pool, PG_READ, "echo", NULL, 1, &p, count_cb, f));
	/* the queue holds 3: the fourth is refused at once */
	assert_null(pg_pool_query(f->pool, PG_READ, "echo", NULL, 1, &p, count_cb, f));
	pg_query_cancel(a);
	run(f, 2);
	assert_int_equal(f->ok, 2);
	teardown_pool(f);
}

/* A database that refuses connections: queries fail fast, not hang. */
static void test_unreachable(void **state)
{
	(void)state;
	struct fixture *f = calloc(1, sizeof(*f));
	f->base = event_base_new();
	f->pool =
	    pg_pool_new(f->base, NULL, "postgresql://postgres@127.0.0.1:1/none", 1, 1, 16, 1000);
	pg_pool_start(f->pool);
	const char *p = "x";
	struct pg_query *q = pg_pool_query(f->pool, PG_READ, "echo", NULL, 1, &p, count_cb, f);
	if (q)
		run(f, 1);
	assert_int_equal(f->ok, 0);
	/* refused at once now that the pool knows it is down */
	assert_null(pg_pool_query(f->pool, PG_READ, "echo", NULL, 1, &p, count_cb, f));
	teardown_pool(f);
}

int main(void)
{
	url = getenv("DATABASE_URL");
	if (!url) {
		fprintf(stderr, "db_pg_pool: DATABASE_URL is required\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_batch_of_reads), cmocka_unit_test(test_error_in_batch),
	    cmocka_unit_test(test_transactions),   cmocka_unit_test(test_queue_bound_and_cancel),
	    cmocka_unit_test(test_unreachable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
