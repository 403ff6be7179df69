/*
 * Unit tests of core/password.c (argon2id parameters, verify, the dummy
 * verify, length rules) and of core/workers.c, the thread pool that runs
 * the hashing: results come back on the loop thread, the queue is bounded,
 * and workers_stop runs every job's `done` exactly once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/password.h"
#include "core/workers.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- password ---- */

static void test_hash_and_verify(void **state)
{
	(void)state;
	char h[PASSWORD_HASH_BYTES];
	assert_int_equal(password_hash("correct horse battery staple", h), 0);
	assert_int_equal(password_verify(h, "correct horse battery staple"), 1);
	assert_int_equal(password_verify(h, "correct horse battery stapl"), 0);
	assert_int_equal(password_verify(h, "Correct horse battery staple"), 0);
	assert_int_equal(password_verify(h, ""), 0);

	/* salted: the same password hashes differently, both verify */
	char h2[PASSWORD_HASH_BYTES];
	assert_int_equal(password_hash("correct horse battery staple", h2), 0);
	assert_string_not_equal(h, h2);
	assert_int_equal(password_verify(h2, "correct horse battery staple"), 1);

	/* UTF-8 and the longest allowed password */
	assert_int_equal(password_hash("pässwörd-\xe2\x82\xac", h), 0);
	assert_int_equal(password_verify(h, "pässwörd-\xe2\x82\xac"), 1);
	assert_int_equal(password_verify(h, "passwort-\xe2\x82\xac"), 0);
	char *longest = malloc(PASSWORD_MAX_BYTES + 1);
	memset(longest, 'x', PASSWORD_MAX_BYTES);
	longest[PASSWORD_MAX_BYTES] = '\0';
	assert_int_equal(password_hash(longest, h), 0);
	assert_int_equal(password_verify(h, longest), 1);
	longest[PASSWORD_MAX_BYTES - 1] = 'y';
	assert_int_equal(password_verify(h, longest), 0);
	free(longest);
}

static void test_parameters(void **state)
{
	(void)state;
	char h[PASSWORD_HASH_BYTES];
	assert_int_equal(password_hash("secret-password", h), 0);
	assert_true(strncmp(h, "$argon2id$v=19$", 15) == 0);
	unsigned m = 0, t = 0, p = 0;
	assert_int_equal(sscanf(h, "$argon2id$v=19$m=%u,t=%u,p=%u$", &m, &t, &p), 3);
	assert_true(m >= 19456); /* KiB: 19 MiB, OWASP */
	assert_true(t >= 2);
	assert_true(p >= 1);
	assert_true(strlen(h) < PASSWORD_HASH_BYTES);
}

static void test_bad_hashes(void **state)
{
	(void)state;
	assert_int_equal(password_verify(NULL, "x"), 0);
	assert_int_equal(password_verify("", "x"), 0);
	assert_int_equal(password_verify("plain text", "plain text"), 0);
	assert_int_equal(
	    password_verify("$2b$12$KIXQJZ1v5pD2c6xE7m1QxO0qV3YgkHq1xkz1dJd3Z6Q1p5fQeU8bK", "x"),
	    0);
	/* argon2i is not accepted, even when right */
	char h[PASSWORD_HASH_BYTES];
	assert_int_equal(
	    crypto_pwhash_str_alg(h, "pw", 2, 3, 19 * 1024 * 1024, crypto_pwhash_ALG_ARGON2I13), 0);
	assert_int_equal(password_verify(h, "pw"), 0);
	/* a truncated argon2id hash */
	assert_int_equal(password_hash("pw", h), 0);
	h[strlen(h) - 5] = '\0';
	assert_int_equal(password_verify(h, "pw"), 0);
	/* an over-long string */
	char big[400];
	memset(big, 'a', sizeof(big) - 1);
	memcpy(big, "$argon2id$", 10);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(password_verify(big, "pw"), 0);
}

static void test_dummy_costs_as_much(void **state)
{
	(void)state;
	char h[PASSWORD_HASH_BYTES];
	assert_int_equal(password_hash("some password", h), 0);
	assert_int_equal(password_verify_dummy("warm up"), 0); /* makes the dummy hash */
	double real = 1e9, dummy = 1e9;
	for (int i = 0; i < 3; i++) {
		double t0 = now_s();
		assert_int_equal(password_verify(h, "wrong password"), 0);
		double t1 = now_s();
		assert_int_equal(password_verify_dummy("wrong password"), 0);
		double t2 = now_s();
		real = t1 - t0 < real ? t1 - t0 : real;
		dummy = t2 - t1 < dummy ? t2 - t1 : dummy;
	}
	/* same parameters, so the same work; generous bounds against noise */
	assert_true(dummy > real * 0.4);
	assert_true(dummy < real * 2.5);
	assert_true(real > 0.002); /* it is a slow hash */
}

static void test_problems(void **state)
{
	(void)state;
	char buf[PASSWORD_MAX_BYTES + 2];
	memset(buf, 'a', sizeof(buf));
	assert_null(password_problem(buf, PASSWORD_MAX_BYTES, 0));
	assert_null(password_problem(buf, PASSWORD_MAX_BYTES, 1));
	assert_non_null(password_problem(buf, PASSWORD_MAX_BYTES + 1, 0));
	assert_non_null(strstr(password_problem(buf, PASSWORD_MAX_BYTES + 1, 1), "1024"));
	assert_non_null(password_problem("ab\0cdefghij", 11, 0));
	assert_null(password_problem("", 0, 0)); /* login: any length */
	assert_non_null(password_problem("", 0, 1));
	assert_non_null(password_problem("1234567", 7, 1));
	assert_null(password_problem("12345678", 8, 1));
	/* characters, not bytes: 7 two-byte characters are too few */
	const char *seven = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9";
	assert_non_null(password_problem(seven, strlen(seven), 1));
	const char *eight = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9";
	assert_null(password_problem(eight, strlen(eight), 1));
}

/* ---- workers ---- */

static struct event_base *base;
static pthread_t loop_thread;

struct job {
	int id;		/* its number */
	const char *pw; /* password to hash, or NULL: just wait for the gate */
	char hash[PASSWORD_HASH_BYTES];
	int hashed;	   /* password_hash returned 0 */
	int entered;	   /* work began (atomic) */
	int worked;	   /* work ran (count) */
	int finished;	   /* done ran (count) */
	int work_on_loop;  /* work ran on the loop thread (must not) */
	int done_off_loop; /* done ran elsewhere (must not) */
};

static int gate_open = 1;   /* jobs without pw wait until this is 1 */
static int started;	    /* work calls entered (atomic) */
static int finished_total;  /* done callbacks so far */
static int exit_after = -1; /* loopexit when finished_total reaches this */

static void work(void *arg)
{
	struct job *j = arg;
	/* no cmocka assertions here: this is not the test's thread */
	__atomic_add_fetch(&started, 1, __ATOMIC_ACQ_REL);
	__atomic_store_n(&j->entered, 1, __ATOMIC_RELEASE);
	j->work_on_loop += pthread_equal(pthread_self(), loop_thread) != 0;
	if (j->pw) {
		j->hashed = password_hash(j->pw, j->hash) == 0;
	} else {
		while (!__atomic_load_n(&gate_open, __ATOMIC_ACQUIRE))
			usleep(1000);
	}
	j->worked++;
}

static void done(void *arg)
{
	struct job *j = arg;
	j->done_off_loop += pthread_equal(pthread_self(), loop_thread) == 0;
	j->finished++;
	if (++finished_total == exit_after)
		event_base_loopexit(base, NULL);
}

static int workers_setup(void **state)
{
	(void)state;
	base = event_base_new();
	loop_thread = pthread_self();
	finished_total = 0;
	exit_after = -1;
	__atomic_store_n(&started, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&gate_open, 1, __ATOMIC_RELEASE);
	return base && workers_start(base, 2) == 0 ? 0 : -1;
}

static int workers_teardown(void **state)
{
	(void)state;
	__atomic_store_n(&gate_open, 1, __ATOMIC_RELEASE);
	workers_stop();
	event_base_free(base);
	base = NULL;
	return 0;
}

static void run_loop_until(int total)
{
	exit_after = total;
	struct timeval limit = {20, 0};
	event_base_loopexit(base, &limit); /* a hung test fails, not hangs */
	if (finished_total < total)
		event_base_dispatch(base);
	assert_int_equal(finished_total, total);
}

static void test_workers_hash_on_threads(void **state)
{
	(void)state;
	struct job jobs[6];
	memset(jobs, 0, sizeof(jobs));
	char pws[6][24];
	for (int i = 0; i < 6; i++) {
		snprintf(pws[i], sizeof(pws[i]), "password-%d", i);
		jobs[i].id = i;
		jobs[i].pw = pws[i];
		assert_int_equal(workers_submit(work, done, &jobs[i]), 0);
	}
	assert_int_equal(workers_inflight(), 6);
	/* nothing is delivered before the loop runs */
	assert_int_equal(finished_total, 0);
	run_loop_until(6);
	assert_int_equal(workers_inflight(), 0);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(jobs[i].worked, 1);
		assert_int_equal(jobs[i].finished, 1);
		assert_int_equal(jobs[i].work_on_loop, 0);
		assert_int_equal(jobs[i].done_off_loop, 0);
		assert_int_equal(jobs[i].hashed, 1);
		assert_int_equal(password_verify(jobs[i].hash, pws[i]), 1);
	}
}

static void test_workers_parallel(void **state)
{
	/* two threads: two jobs that block run at the same time, a third waits */
	(void)state;
	__atomic_store_n(&gate_open, 0, __ATOMIC_RELEASE);
	struct job a = {0}, b = {0}, c = {0};
	assert_int_equal(workers_submit(work, done, &a), 0);
	assert_int_equal(workers_submit(work, done, &b), 0);
	assert_int_equal(workers_submit(work, done, &c), 0);
	double limit = now_s() + 5;
	while (__atomic_load_n(&started, __ATOMIC_ACQUIRE) < 2 && now_s() < limit)
		usleep(1000);
	usleep(20 * 1000);
	assert_int_equal(__atomic_load_n(&started, __ATOMIC_ACQUIRE), 2);
	__atomic_store_n(&gate_open, 1, __ATOMIC_RELEASE);
	run_loop_until(3);
	assert_int_equal(a.finished + b.finished + c.finished, 3);
	assert_int_equal(a.worked + b.worked + c.worked, 3);
}

static void wait_started(int n)
{
	double limit = now_s() + 5;
	while (__atomic_load_n(&started, __ATOMIC_ACQUIRE) < n && now_s() < limit)
		usleep(1000);
	usleep(20 * 1000); /* and no more than n */
}

static void test_workers_big_jobs_take_turns(void **state)
{
	/* one big job at a time (the default): the second waits, and a small
	 * job submitted after it passes it on the free thread */
	(void)state;
	__atomic_store_n(&gate_open, 0, __ATOMIC_RELEASE);
	struct job a = {0}, b = {0}, c = {0};
	assert_int_equal(workers_submit_big(work, done, &a), 0);
	assert_int_equal(workers_submit_big(work, done, &b), 0);
	assert_int_equal(workers_submit(work, done, &c), 0);
	wait_started(2);
	assert_int_equal(__atomic_load_n(&started, __ATOMIC_ACQUIRE), 2);
	assert_int_equal(__atomic_load_n(&a.entered, __ATOMIC_ACQUIRE), 1);
	assert_int_equal(__atomic_load_n(&b.entered, __ATOMIC_ACQUIRE), 0);
	assert_int_equal(__atomic_load_n(&c.entered, __ATOMIC_ACQUIRE), 1);
	__atomic_store_n(&gate_open, 1, __ATOMIC_RELEASE);
	run_loop_until(3);
	assert_int_equal(a.worked + b.worked + c.worked, 3);

	/* two at a time when allowed */
	workers_set_big_max(2);
	__atomic_store_n(&gate_open, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&started, 0, __ATOMIC_RELEASE);
	struct job d = {0}, e = {0};
	assert_int_equal(workers_submit_big(work, done, &d), 0);
	assert_int_equal(workers_submit_big(work, done, &e), 0);
	wait_started(2);
	assert_int_equal(__atomic_load_n(&started, __ATOMIC_ACQUIRE), 2);
	__atomic_store_n(&gate_open, 1, __ATOMIC_RELEASE);
	run_loop_until(5);
	workers_set_big_max(0); /* back to the default */
}

static void test_workers_queue_bound(void **state)
{
	(void)state;
	__atomic_store_n(&gate_open, 0, __ATOMIC_RELEASE);
	struct job *jobs = calloc(WORKERS_QUEUE_MAX + 1, sizeof(*jobs));
	for (int i = 0; i < WORKERS_QUEUE_MAX; i++)
		assert_int_equal(workers_submit(work, done, &jobs[i]), 0);
	assert_int_equal(workers_inflight(), WORKERS_QUEUE_MAX);
	/* full: refused, and its callbacks never run */
	assert_int_equal(workers_submit(work, done, &jobs[WORKERS_QUEUE_MAX]), -1);
	__atomic_store_n(&gate_open, 1, __ATOMIC_RELEASE);
	run_loop_until(WORKERS_QUEUE_MAX);
	for (int i = 0; i < WORKERS_QUEUE_MAX; i++) {
		assert_int_equal(jobs[i].worked, 1);
		assert_int_equal(jobs[i].finished, 1);
	}
	assert_int_equal(jobs[WORKERS_QUEUE_MAX].worked, 0);
	assert_int_equal(jobs[WORKERS_QUEUE_MAX].finished, 0);
	/* room again */
	assert_int_equal(workers_submit(work, done, &jobs[WORKERS_QUEUE_MAX]), 0);
	run_loop_until(WORKERS_QUEUE_MAX + 1);
	free(jobs);
}

static void test_workers_stop_delivers_everything(void **state)
{
	(void)state;
	struct job jobs[10];
	memset(jobs, 0, sizeof(jobs));
	for (int i = 0; i < 10; i++) {
		jobs[i].pw = i % 2 ? "pw" : NULL;
		assert_int_equal(workers_submit(work, done, &jobs[i]), 0);
	}
	/* the loop never ran: stop runs the queue and the done callbacks */
	workers_stop();
	assert_int_equal(finished_total, 10);
	assert_int_equal(workers_inflight(), 0);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(jobs[i].worked, 1);
		assert_int_equal(jobs[i].finished, 1);
		assert_int_equal(jobs[i].done_off_loop, 0);
	}
	/* stopped: refused; stopping again is harmless; it starts again */
	assert_int_equal(workers_submit(work, done, &jobs[0]), -1);
	workers_stop();
	assert_int_equal(workers_start(base, 1), 0);
	assert_int_equal(workers_submit(work, done, &jobs[0]), 0);
	run_loop_until(11);
	assert_int_equal(jobs[0].finished, 2);
}

static void test_workers_not_started(void **state)
{
	(void)state;
	struct job j = {0};
	assert_int_equal(workers_submit(work, done, &j), -1);
	workers_stop(); /* no-op */
}

int main(void)
{
	const struct CMUnitTest password_tests[] = {
	    cmocka_unit_test(test_hash_and_verify), cmocka_unit_test(test_parameters),
	    cmocka_unit_test(test_bad_hashes),	    cmocka_unit_test(test_dummy_costs_as_much),
	    cmocka_unit_test(test_problems),	    cmocka_unit_test(test_workers_not_started),
	};
	const struct CMUnitTest worker_tests[] = {
	    cmocka_unit_test_setup_teardown(test_workers_hash_on_threads, workers_setup,
					    workers_teardown),
	    cmocka_unit_test_setup_teardown(test_workers_parallel, workers_setup, workers_teardown),
	    cmocka_unit_test_setup_teardown(test_workers_big_jobs_take_turns, workers_setup,
					    workers_teardown),
	    cmocka_unit_test_setup_teardown(test_workers_queue_bound, workers_setup,
					    workers_teardown),
	    cmocka_unit_test_setup_teardown(test_workers_stop_delivers_everything, workers_setup,
					    workers_teardown),
	};
	int failed = cmocka_run_group_tests_name("password", password_tests, NULL, NULL);
	failed += cmocka_run_group_tests_name("workers", worker_tests, NULL, NULL);
	return failed;
}
