/*
 * test_signals: unit tests of src/signals/signals.c on a real event_base:
 * receivers never run on the sender's stack, kwargs are copied at send
 * time, receivers run in connection order with their user data, a failing
 * receiver does not stop the others, signals sent by receivers run in a
 * later round, SIGNALS=off drops sends, disconnecting works (also during a
 * round), and kwarg ids are read strictly. Links signals.c and log.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <json-c/json.h>

#include "signals/signals.h"

struct call {
	const char *who;    /* receiver's user data */
	char signal[32];    /* signal name */
	char sender[32];    /* sender */
	long long event_id; /* kwargs.event_id, or -1 */
	int depth;	    /* nesting of sends when it ran */
};

static struct call calls[64];
static int ncalls;
static int send_depth; /* > 0 while a test is inside signals_send */

static int record(void *udata, const char *signal, const char *sender, struct json_object *kw)
{
	struct call *c = &calls[ncalls++];
	c->who = udata;
	snprintf(c->signal, sizeof(c->signal), "%s", signal);
	snprintf(c->sender, sizeof(c->sender), "%s", sender);
	if (signals_kwarg_id(kw, "event_id", &c->event_id) < 0)
		c->event_id = -1;
	c->depth = send_depth;
	return 0;
}

static int failing(void *udata, const char *signal, const char *sender, struct json_object *kw)
{
	record(udata, signal, sender, kw);
	return -1;
}

static int chained(void *udata, const char *signal, const char *sender, struct json_object *kw)
{
	record(udata, signal, sender, kw);
	send_depth++;
	signals_send("second", "chained", kw);
	send_depth--;
	return 0;
}

static int disconnecting(void *udata, const char *signal, const char *sender,
			 struct json_object *kw)
{
	record(udata, signal, sender, kw);
	signals_disconnect("first", record, "later");
	return 0;
}

static struct event_base *base;

static int setup(void **state)
{
	(void)state;
	base = event_base_new();
	ncalls = 0;
	return signals_init(base, 1);
}

static int teardown(void **state)
{
	(void)state;
	signals_cleanup();
	event_base_free(base);
	return 0;
}

static void run_loop(void)
{
	event_base_loop(base, EVLOOP_NONBLOCK);
	event_base_loop(base, EVLOOP_NONBLOCK);
	event_base_loop(base, EVLOOP_NONBLOCK);
}

static int send_event(const char *name, long long event_id)
{
	struct json_object *kw = json_object_new_object();
	json_object_object_add(kw, "event_id", json_object_new_int64(event_id));
	send_depth++;
	int n = signals_send(name, "test", kw);
	send_depth--;
	json_object_put(kw);
	return n;
}

static void test_deferred_and_ordered(void **state)
{
	(void)state;
	assert_int_equal(signals_connect("first", record, "a"), 0);
	assert_int_equal(signals_connect("first", record, "b"), 0);
	assert_int_equal(signals_connect("other", record, "c"), 0);
	assert_int_equal(signals_connect("first", record, "a"), 0); /* once per (name, fn, data) */
	assert_int_equal(send_event("first", 7), 2);
	assert_int_equal(ncalls, 0); /* not on the sender's stack */
	assert_int_equal(signals_pending(), 1);
	run_loop();
	assert_int_equal(ncalls, 2);
	assert_string_equal(calls[0].who, "a");
	assert_string_equal(calls[1].who, "b");
	assert_string_equal(calls[0].signal, "first");
	assert_string_equal(calls[0].sender, "test");
	assert_int_equal(calls[0].event_id, 7);
	assert_int_equal(calls[0].depth, 0);
	assert_int_equal(signals_pending(), 0);
	/* deliveries keep their order */
	send_event("first", 1);
	send_event("other", 2);
	send_event("first", 3);
	run_loop();
	assert_int_equal(ncalls, 7);
	assert_int_equal(calls[2].event_id, 1);
	assert_int_equal(calls[4].event_id, 2);
	assert_string_equal(calls[4].who, "c");
	assert_int_equal(calls[5].event_id, 3);
}

static void test_kwargs_copied(void **state)
{
	(void)state;
	signals_connect("first", record, "a");
	struct json_object *kw = json_object_new_object();
	json_object_object_add(kw, "event_id", json_object_new_int64(5));
	json_object_object_add(kw, "unknown_key", json_object_new_string("ignored"));
	assert_int_equal(signals_send("first", "test", kw), 1);
	/* the sender changes and drops its object: the receiver sees the copy */
	json_object_object_add(kw, "event_id", json_object_new_int64(99));
	json_object_put(kw);
	run_loop();
	assert_int_equal(ncalls, 1);
	assert_int_equal(calls[0].event_id, 5);
	/* NULL kwargs are {} */
	assert_int_equal(signals_send("first", NULL, NULL), 1);
	run_loop();
	assert_int_equal(ncalls, 2);
	assert_int_equal(calls[1].event_id, -1);
	assert_string_equal(calls[1].sender, "-");
	/* kwargs must be an object */
	struct json_object *arr = json_object_new_array();
	assert_int_equal(signals_send("first", "test", arr), -1);
	json_object_put(arr);
	run_loop();
	assert_int_equal(ncalls, 2);
}

static void test_failure_does_not_stop_others(void **state)
{
	(void)state;
	signals_connect("first", failing, "bad");
	signals_connect("first", record, "good");
	send_event("first", 1);
	run_loop();
	assert_int_equal(ncalls, 2);
	assert_string_equal(calls[0].who, "bad");
	assert_string_equal(calls[1].who, "good");
}

static void test_chain_runs_later(void **state)
{
	(void)state;
	signals_connect("first", chained, "chain");
	signals_connect("second", record, "end");
	send_event("first", 4);
	run_loop();
	assert_int_equal(ncalls, 2);
	assert_string_equal(calls[0].who, "chain");
	/* the chained send was queued, not run inside the first receiver */
	assert_int_equal(calls[1].depth, 0);
	assert_string_equal(calls[1].who, "end");
	assert_string_equal(calls[1].sender, "chained");
	assert_int_equal(calls[1].event_id, 4);
}

static void test_disconnect(void **state)
{
	(void)state;
	signals_connect("first", disconnecting, "early");
	signals_connect("first", record, "later");
	send_event("first", 1);
	run_loop();
	/* disconnected during the round, before its turn: not called */
	assert_int_equal(ncalls, 1);
	assert_string_equal(calls[0].who, "early");
	assert_int_equal(signals_disconnect("first", record, "later"), -1);
	assert_int_equal(signals_disconnect("first", disconnecting, "early"), 0);
	assert_int_equal(send_event("first", 2), 0); /* nobody listens */
	run_loop();
	assert_int_equal(ncalls, 1);
}

static void test_off(void **state)
{
	(void)state;
	signals_connect("first", record, "a");
	signals_cleanup();
	assert_int_equal(signals_init(base, 0), 0);
	signals_connect("first", record, "a");
	assert_int_equal(send_event("first", 1), 0);
	assert_int_equal(signals_pending(), 0);
	run_loop();
	assert_int_equal(ncalls, 0);
}

static void test_pending_dropped_on_cleanup(void **state)
{
	(void)state;
	signals_connect("first", record, "a");
	send_event("first", 1);
	send_event("first", 2);
	assert_int_equal(signals_pending(), 2);
	signals_cleanup(); /* frees the copies (the leak checker would tell) */
	assert_int_equal(signals_pending(), 0);
	assert_int_equal(signals_init(base, 1), 0);
	run_loop();
	assert_int_equal(ncalls, 0);
}

static void test_kwarg_id(void **state)
{
	(void)state;
	struct json_object *kw = json_tokener_parse(
	    "{\"a\": 12, \"b\": \"34\", \"c\": 0, \"d\": \"-1\", \"e\": \"07\", \"f\": 1.5, "
	    "\"g\": \"12x\", \"h\": null, \"i\": \"99999999999999999999\"}");
	long long v = 0;
	assert_int_equal(signals_kwarg_id(kw, "a", &v), 0);
	assert_int_equal(v, 12);
	assert_int_equal(signals_kwarg_id(kw, "b", &v), 0);
	assert_int_equal(v, 34);
	const char *bad[] = {"c", "d", "e", "f", "g", "h", "i", "missing"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(signals_kwarg_id(kw, bad[i], &v), -1);
	assert_int_equal(signals_kwarg_id(NULL, "a", &v), -1);
	json_object_put(kw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_deferred_and_ordered, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kwargs_copied, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failure_does_not_stop_others, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chain_runs_later, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disconnect, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_off, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pending_dropped_on_cleanup, setup, teardown),
	    cmocka_unit_test(test_kwarg_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
