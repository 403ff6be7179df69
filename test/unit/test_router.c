/*
 * test_router: unit tests of src/core/router.c: pattern registration, literal
 * and capture matching, id and identifier rules, precedence, 404/405 with
 * the Allow mask and header text, HEAD on GET routes and path shape limits.
 * Links only the router; handlers are fake functions whose addresses are
 * compared, never called.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/router.h"

/* A route without flags; designated so new fields of struct route start at 0. */
#define R(m, p, h, u)                                                                              \
	{                                                                                          \
		.methods = (m), .pattern = (p), .handler = (h), .udata = (u)                       \
	}

static void h_list(struct req_ctx *ctx)
{
	(void)ctx;
}

static void h_detail(struct req_ctx *ctx)
{
	(void)ctx;
}

static void h_me(struct req_ctx *ctx)
{
	(void)ctx;
}

static void h_sessions(struct req_ctx *ctx)
{
	(void)ctx;
}

static void h_root(struct req_ctx *ctx)
{
	(void)ctx;
}

static void h_rel(struct req_ctx *ctx)
{
	(void)ctx;
}

static void h_create(struct req_ctx *ctx)
{
	(void)ctx;
}

static const struct route routes[] = {
    R(ROUTER_GET, "/", h_root, NULL),
    R(ROUTER_GET, "/v1/events", h_list, "events"),
    R(ROUTER_POST, "/v1/events", h_create, "events"),
    R(ROUTER_GET | ROUTER_PATCH | ROUTER_DELETE, "/v1/events/{event_id}", h_detail, NULL),
    R(ROUTER_GET, "/v1/events/{event_id}/sessions", h_sessions, NULL),
    /* added after the capture route: must still win by its literal count */
    R(ROUTER_GET, "/v1/users/{id}", h_detail, "users"),
    R(ROUTER_GET, "/v1/users/me", h_me, NULL),
    R(ROUTER_GET | ROUTER_POST | ROUTER_DELETE, "/v1/sessions/{id}/relationships/speakers", h_rel,
      NULL),
    R(ROUTER_GET, "/v1/events/{event_id}/sessions/{id}", h_detail, NULL),
    R(ROUTER_PUT, "/v1/b/c/d/e/f/g/h", h_root, NULL),
};

static int setup(void **state)
{
	struct router *r = router_new();
	size_t i;

	assert_non_null(r);
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		assert_int_equal(router_add(r, &routes[i]), 0);
	*state = r;
	return 0;
}

static int teardown(void **state)
{
	router_free(*state);
	return 0;
}

static int match(void **state, int method, const char *path, struct route_match *m)
{
	return router_match(*state, method, path, m);
}

/* ---- router_parse_id ---- */

static long long id_of(const char *s)
{
	long long v = -42;

	if (router_parse_id(s, strlen(s), &v) < 0)
		return -1;
	return v;
}

static void test_parse_id_valid(void **state)
{
	(void)state;
	assert_int_equal(id_of("1"), 1);
	assert_int_equal(id_of("42"), 42);
	assert_int_equal(id_of("1000"), 1000);
	assert_true(id_of("9223372036854775807") == 9223372036854775807LL);
	assert_true(id_of("9223372036854775806") == 9223372036854775806LL);
}

static void test_parse_id_invalid(void **state)
{
	long long v = 7;

	(void)state;
	assert_int_equal(router_parse_id("0", 1, &v), -1);
	assert_int_equal(router_parse_id("-1", 2, &v), -1);
	assert_int_equal(router_parse_id("+1", 2, &v), -1);
	assert_int_equal(router_parse_id("01", 2, &v), -1);
	assert_int_equal(router_parse_id("00", 2, &v), -1);
	assert_int_equal(router_parse_id("9223372036854775808", 19, &v), -1);
	assert_int_equal(router_parse_id("18446744073709551616", 20, &v), -1);
	assert_int_equal(router_parse_id("99999999999999999999999", 23, &v), -1);
	assert_int_equal(router_parse_id("1e3", 3, &v), -1);
	assert_int_equal(router_parse_id("12a", 3, &v), -1);
	assert_int_equal(router_parse_id(" 1", 2, &v), -1);
	assert_int_equal(router_parse_id("1 ", 2, &v), -1);
	assert_int_equal(router_parse_id("1.0", 3, &v), -1);
	assert_int_equal(router_parse_id("", 0, &v), -1);
	/* failures leave *out alone */
	assert_int_equal(v, 7);
	/* only len bytes are read */
	assert_int_equal(router_parse_id("12a", 2, &v), 0);
	assert_int_equal(v, 12);
}

static void test_is_identifier(void **state)
{
	(void)state;
	assert_int_equal(router_is_identifier("a1b2c3d4", 8), 1);
	assert_int_equal(router_is_identifier("ABCDEF12", 8), 1);
	assert_int_equal(router_is_identifier("abcdefab", 8), 1);
	assert_int_equal(router_is_identifier("0000000a", 8), 1);
	assert_int_equal(router_is_identifier("12345678", 8), 0);
	assert_int_equal(router_is_identifier("a1b2c3d", 7), 0);
	assert_int_equal(router_is_identifier("a1b2c3d4e", 9), 0);
	assert_int_equal(router_is_identifier("g1b2c3d4", 8), 0);
	assert_int_equal(router_is_identifier("a1b2-3d4", 8), 0);
	assert_int_equal(router_is_identifier("", 0), 0);
}

/* ---- router_add ---- */

static void test_add_rejects_bad_patterns(void **state)
{
	struct router *r = router_new();
	struct route bad[] = {
	    R(ROUTER_GET, "", h_root, NULL),
	    R(ROUTER_GET, "v1/events", h_root, NULL),
	    R(ROUTER_GET, "/v1/events/", h_root, NULL),
	    R(ROUTER_GET, "/v1//events", h_root, NULL),
	    R(ROUTER_GET, "/v1/{id", h_root, NULL),
	    R(ROUTER_GET, "/v1/{}", h_root, NULL),
	    R(ROUTER_GET, "/v1/x{id}", h_root, NULL),
	    R(ROUTER_GET, "/v1/{a{b}", h_root, NULL),
	    R(ROUTER_GET, "/1/2/3/4/5/6/7/8/9", h_root, NULL),
	    R(ROUTER_GET, "/{a}/{b}/{c}/{d}/{e}", h_root, NULL),
	    R(0, "/v1/events", h_root, NULL),
	    R(ROUTER_GET, NULL, h_root, NULL),
	};
	struct route_match m;
	size_t i;

	(void)state;
	assert_non_null(r);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (router_add(r, &bad[i]) != -1)
			fail_msg("pattern %zu (%s) was accepted", i,
				 bad[i].pattern ? bad[i].pattern : "NULL");
	}
	/* nothing got in */
	assert_int_equal(router_match(r, ROUTER_GET, "/v1/events", &m), ROUTER_NOT_FOUND);
	/* the limits themselves are fine */
	struct route ok8 = R(ROUTER_GET, "/1/2/3/4/5/6/7/8", h_root, NULL);
	struct route ok4 = R(ROUTER_GET, "/{a}/{b}/{c}/{d}", h_root, NULL);
	assert_int_equal(router_add(r, &ok8), 0);
	assert_int_equal(router_add(r, &ok4), 0);
	assert_int_equal(router_match(r, ROUTER_GET, "/1/2/3/4/5/6/7/8", &m), ROUTER_FOUND);
	assert_int_equal(router_match(r, ROUTER_GET, "/5/6/7/8", &m), ROUTER_FOUND);
	assert_int_equal(m.nparams, 4);
	assert_string_equal(m.params[3].name, "d");
	assert_int_equal(m.params[3].id, 8);
	router_free(r);
}

static void test_add_copies_route(void **state)
{
	struct router *r = router_new();
	struct route rt = R(ROUTER_GET, "/v1/things/{id}", h_list, "things");
	struct route_match m;

	(void)state;
	rt.flags = ROUTE_JSONAPI | ROUTE_UPLOAD;
	assert_int_equal(router_add(r, &rt), 0);
	rt.handler = h_root;
	rt.flags = 0;
	rt.methods = ROUTER_POST;
	assert_int_equal(router_match(r, ROUTER_GET, "/v1/things/5", &m), ROUTER_FOUND);
	assert_ptr_equal(m.route->handler, h_list);
	assert_string_equal(m.route->udata, "things");
	assert_string_equal(m.route->pattern, "/v1/things/{id}");
	assert_int_equal(m.route->flags, ROUTE_JSONAPI | ROUTE_UPLOAD);
	router_free(r);
	router_free(NULL);
}

/* ---- matching ---- */

static void test_literal(void **state)
{
	struct route_match m;

	assert_int_equal(match(state, ROUTER_GET, "/v1/events", &m), ROUTER_FOUND);
	assert_ptr_equal(m.route->handler, h_list);
	assert_string_equal(m.route->udata, "events");
	assert_int_equal(m.nparams, 0);

	assert_int_equal(match(state, ROUTER_POST, "/v1/events", &m), ROUTER_FOUND);
	assert_ptr_equal(m.route->handler, h_create);
	assert_int_equal(m.allowed, ROUTER_GET | ROUTER_HEAD | ROUTER_POST | ROUTER_OPTIONS);

	assert_int_equal(match(state, ROUTER_GET, "/", &m), ROUTER_FOUND);
	assert_ptr_equal(m.route->handler, h_root);

	assert_int_equal(match(state, ROUTER_GET, "/v1/event", &m), ROUTER_NOT_FOUND);
	assert_int_equal(match(state, ROUTER_GET, "/v1/eventsx", &m), ROUTER_NOT_FOUND);
	assert_int_equal(match(state, ROUTER_GET, "/V1/events", &m), ROUTER_NOT_FOUND);
	assert_int_equal(match(state, ROUTER_GET, "/v1", &m), ROUTER_NOT_FOUND);
	assert_int_equal(match(state, ROUTER_GET, "/nothing/here", &m), ROUTER_NOT_FOUND);
	assert_null(m.route);
	assert_int_equal(m.allowed, 0);
}

static void test_capture_id(void **state)
{
	struct route_match m;
	const struct route_param *p;

	assert_int_equal(match(state, ROUTER_GET, "/v1/events/123", &m), ROUTER_FOUND);
	assert_ptr_equal(m.route->handler, h_detail);
	assert_int_equal(m.nparams, 1);
	p = route_param_get(&m, "event_id");
	assert_non_null(p);
	assert_string_equal(p->name, "event_id");
	assert_int_equal(p->is_ident, 0);
	assert_int_equal(p->id, 123);
	assert_null(route_param_get(&m, "id"));
	assert_null(route_param_get(&m, "event"));

	assert_int_equal(match(state, ROUTER_GET, "/v1/events/9223372036854775807", &m),
			 ROUTER_FOUND);
	assert_true(route_param_get(&m, "event_id")->id == 9223372036854775807LL);

	assert_int_equal(match(state, ROUTER_GET, "/v1/users/77", &m), ROUTER_FOUND);
	assert_ptr_equal(m.route->handler, h_detail);
	assert_string_equal(m.route->udata, "users");
	assert_int_equal(route_param_get(&m, "id")->id, 77);
}

static void test_bad_ids_are_not_found(void **state)
{
	static const char *paths[] = {
	    "/v1/users/0",
	    "/v1/users/-1",
	    "/v1/users/+1",
	    "/v1/users/01",
	    "/v1/users/9223372036854775808",
	    "/v1/users/1e3",
	    "/v1/users/12a",
	    "/v1/users/abcdef12", /* identifiers only in {event_id} */
	    "/v1/users/%31",
	    "/v1/events/0",
	    "/v1/events/-1",
	    "/v1/events/01",
	    "/v1/events/9223372036854775808",
	    "/v1/events/1e3",
	    "/v1/events/12a",
	    "/v1/events/01234567",  /* 8 digits with a leading zero */
	    "/v1/events/abcdef1",   /* 7 */
	    "/v1/events/abcdef123", /* 9 */
	    "/v1/events/abcdefgh",
	    "/v1/sessions/0/relationships/speakers",
	    "/v1/events/1/sessions/01",
	};
	struct route_match m;
	size_t i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		int rc = match(state, ROUTER_GET, paths[i], &m);

		if (rc != ROUTER_NOT_FOUND)
			fail_msg("%s gave %d, want ROUTER_NOT_FOUND", paths[i], rc);
		assert_int_equal(m.allowed, 0);
		assert_int_equal(m.nparams, 0);
	}
}

static void test_identifier(void **state)
{
	struct route_match m;
	const struct route_param *p;

	assert_int_equal(match(state, ROUTER_GET, "/v1/events/a1b2c3d4", &m), ROUTER_FOUND);
	p = route_param_get(&m, "event_id");
	assert_non_null(p);
	assert_int_equal(p->is_ident, 1);
	assert_string_equal(p->ident, "a1b2c3d4");

	/* upper case accepted and lowered */
	assert_int_equal(match(state, ROUTER_GET, "/v1/events/A1B2C3DF", &m), ROUTER_FOUND);
	p = route_param_get(&m, "event_id");
	assert_int_equal(p->is_ident, 1);
	assert_string_equal(p->ident, "a1b2c3df");

	assert_int_equal(match(state, ROUTER_GET, "/v1/events/AbCdEf01/sessions", &m),
			 ROUTER_FOUND);
	assert_ptr_equal(m.route->handler, h_sessions);
	assert_string_equal(route_param_get(&m, "event_id")->ident, "abcdef01");

	/* all digits is an id, not an identifier */
	assert_int_equal(match(state, ROUTER_GET, "/v1/events/12345678", &m), ROUTER_FOUND);
	p = route_param_get(&m, "event_id");
	assert_int_equal(p->is_ident, 0);
	assert_int_equal(p->id, 12345678);
	assert_string_equal(p->ident, "");
}

static void test_two_captures(void **state)
{
	struct route_match m;

	assert_int_equal(match(state, ROUTER_GET, "/v1/events/deadbeef/sessions/9", &m),
			 ROUTER_FOUND);
	assert_int_equal(m.nparams, 2);
	assert_string_equal(m.params[0].name, "event_id");
	assert_string_equal(m.params[0].ident, "deadbeef");
	assert_string_equal(m.params[1].name, "id");
	assert_int_equal(m.params[1].id, 9);
	assert_int_equal(m.params[1].is_ident, 0);
	assert_ptr_equal(route_param_get(&m, "id"), &m.params[1]);
}

static void test_literal_beats_capture(void **state)
{
	struct route_match m;
	struct router *r;
	struct route cap = R(ROUTER_GET, "/v1/events/{event_id}", h_detail, NULL);
	struct route lit = R(ROUTER_GET, "/v1/events/deadbeef", h_me, NULL);
	struct route lit2 = R(ROUTER_GET, "/v1/events/12", h_list, NULL);

	/* /v1/users/me was added after /v1/users/{id}; "me" is no id anyway */
	assert_int_equal(match(state, ROUTER_GET, "/v1/users/me", &m), ROUTER_FOUND);
	assert_ptr_equal(m.route->handler, h_me);
	assert_int_equal(m.nparams, 0);

	/* a literal that the capture would also accept, added after it */
	r = router_new();
	assert_int_equal(router_add(r, &cap), 0);
	assert_int_equal(router_add(r, &lit), 0);
	assert_int_equal(router_add(r, &lit2), 0);
	assert_int_equal(router_match(r, ROUTER_GET, "/v1/events/deadbeef", &m), ROUTER_FOUND);
	assert_ptr_equal(m.route->handler, h_me);
	assert_int_equal(m.nparams, 0);
	assert_int_equal(router_match(r, ROUTER_GET, "/v1/events/DEADBEEF", &m), ROUTER_FOUND);
	assert_ptr_equal(m.route->handler, h_detail);
	assert_int_equal(router_match(r, ROUTER_GET, "/v1/events/12", &m), ROUTER_FOUND);
	assert_ptr_equal(m.route->handler, h_list);
	assert_int_equal(m.nparams, 0);
	assert_int_equal(router_match(r, ROUTER_GET, "/v1/events/13", &m), ROUTER_FOUND);
	assert_ptr_equal(m.route->handler, h_detail);
	assert_int_equal(m.params[0].id, 13);
	router_free(r);
}

static void test_first_added_wins_on_tie(void **state)
{
	struct router *r = router_new();
	struct route a = R(ROUTER_GET, "/x/{id}", h_list, NULL);
	struct route b = R(ROUTER_GET | ROUTER_POST, "/x/{event_id}", h_detail, NULL);
	struct route_match m;

	(void)state;
	assert_int_equal(router_add(r, &a), 0);
	assert_int_equal(router_add(r, &b), 0);
	assert_int_equal(router_match(r, ROUTER_GET, "/x/5", &m), ROUTER_FOUND);
	assert_ptr_equal(m.route->handler, h_list);
	assert_string_equal(m.params[0].name, "id");
	/* the method decides before precedence */
	assert_int_equal(router_match(r, ROUTER_POST, "/x/5", &m), ROUTER_FOUND);
	assert_ptr_equal(m.route->handler, h_detail);
	assert_string_equal(m.params[0].name, "event_id");
	/* only b takes identifiers */
	assert_int_equal(router_match(r, ROUTER_GET, "/x/abcdabcd", &m), ROUTER_FOUND);
	assert_ptr_equal(m.route->handler, h_detail);
	router_free(r);
}

static void test_method_not_allowed(void **state)
{
	struct route_match m;
	char allow[128];

	assert_int_equal(match(state, ROUTER_PUT, "/v1/events", &m), ROUTER_METHOD_NOT_ALLOWED);
	assert_null(m.route);
	assert_int_equal(m.nparams, 0);
	assert_int_equal(m.allowed, ROUTER_GET | ROUTER_HEAD | ROUTER_POST | ROUTER_OPTIONS);
	router_allow_header(m.allowed, allow, sizeof(allow));
	assert_string_equal(allow, "GET, HEAD, POST, OPTIONS");

	assert_int_equal(match(state, ROUTER_POST, "/v1/events/5", &m), ROUTER_METHOD_NOT_ALLOWED);
	assert_int_equal(m.allowed,
			 ROUTER_GET | ROUTER_HEAD | ROUTER_PATCH | ROUTER_DELETE | ROUTER_OPTIONS);
	router_allow_header(m.allowed, allow, sizeof(allow));
	assert_string_equal(allow, "GET, HEAD, PATCH, DELETE, OPTIONS");

	/* a route with no GET gets no HEAD */
	assert_int_equal(match(state, ROUTER_GET, "/v1/b/c/d/e/f/g/h", &m),
			 ROUTER_METHOD_NOT_ALLOWED);
	assert_int_equal(m.allowed, ROUTER_PUT | ROUTER_OPTIONS);
	router_allow_header(m.allowed, allow, sizeof(allow));
	assert_string_equal(allow, "PUT, OPTIONS");
	assert_int_equal(match(state, ROUTER_HEAD, "/v1/b/c/d/e/f/g/h", &m),
			 ROUTER_METHOD_NOT_ALLOWED);
	assert_int_equal(match(state, ROUTER_PUT, "/v1/b/c/d/e/f/g/h", &m), ROUTER_FOUND);

	/* OPTIONS is not implied by the router for routes that do not list it */
	assert_int_equal(match(state, ROUTER_OPTIONS, "/v1/events", &m), ROUTER_METHOD_NOT_ALLOWED);
	assert_int_equal(m.allowed, ROUTER_GET | ROUTER_HEAD | ROUTER_POST | ROUTER_OPTIONS);

	/* an unknown method (0) never matches, the path still does */
	assert_int_equal(match(state, 0, "/v1/events", &m), ROUTER_METHOD_NOT_ALLOWED);

	/* a bad id is still 404, not 405 */
	assert_int_equal(match(state, ROUTER_PUT, "/v1/events/0", &m), ROUTER_NOT_FOUND);
	assert_int_equal(m.allowed, 0);
}

static void test_found_reports_allowed(void **state)
{
	struct route_match m;

	assert_int_equal(match(state, ROUTER_DELETE, "/v1/sessions/3/relationships/speakers", &m),
			 ROUTER_FOUND);
	assert_ptr_equal(m.route->handler, h_rel);
	assert_int_equal(m.allowed,
			 ROUTER_GET | ROUTER_HEAD | ROUTER_POST | ROUTER_DELETE | ROUTER_OPTIONS);
	assert_int_equal(route_param_get(&m, "id")->id, 3);
}

static void test_head_on_get(void **state)
{
	struct route_match m;

	assert_int_equal(match(state, ROUTER_HEAD, "/v1/events", &m), ROUTER_FOUND);
	assert_ptr_equal(m.route->handler, h_list);
	assert_int_equal(match(state, ROUTER_HEAD, "/v1/events/abcdef12", &m), ROUTER_FOUND);
	assert_ptr_equal(m.route->handler, h_detail);
	assert_string_equal(route_param_get(&m, "event_id")->ident, "abcdef12");
	assert_int_equal(match(state, ROUTER_HEAD, "/", &m), ROUTER_FOUND);
	assert_int_equal(match(state, ROUTER_HEAD, "/nope", &m), ROUTER_NOT_FOUND);
}

static void test_path_shape(void **state)
{
	static const char *paths[] = {
	    "",
	    "v1/events",
	    "/v1/events/",
	    "/v1//events",
	    "//v1/events",
	    "//",
	    "/v1/events/5/",
	    "/v1/events//5",
	    "/v1/b/c/d/e/f/g/h/i", /* nine segments */
	    "/v1/b/c/d/e/f/g/h/",
	    "/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17/18/19/20",
	};
	struct route_match m;
	size_t i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		int rc = match(state, ROUTER_GET, paths[i], &m);

		if (rc != ROUTER_NOT_FOUND)
			fail_msg("\"%s\" gave %d, want ROUTER_NOT_FOUND", paths[i], rc);
	}
	assert_int_equal(match(state, ROUTER_GET, NULL, &m), ROUTER_NOT_FOUND);
	/* eight segments is the limit and still matches */
	assert_int_equal(match(state, ROUTER_PUT, "/v1/b/c/d/e/f/g/h", &m), ROUTER_FOUND);
	assert_int_equal(router_match(NULL, ROUTER_GET, "/", &m), ROUTER_NOT_FOUND);
}

static void test_allow_header(void **state)
{
	char buf[64];
	char small[10];

	(void)state;
	router_allow_header(ROUTER_GET | ROUTER_HEAD | ROUTER_POST | ROUTER_PUT | ROUTER_PATCH |
				ROUTER_DELETE | ROUTER_OPTIONS,
			    buf, sizeof(buf));
	assert_string_equal(buf, "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
	router_allow_header(ROUTER_OPTIONS | ROUTER_DELETE | ROUTER_GET, buf, sizeof(buf));
	assert_string_equal(buf, "GET, DELETE, OPTIONS");
	router_allow_header(ROUTER_PATCH, buf, sizeof(buf));
	assert_string_equal(buf, "PATCH");
	router_allow_header(0, buf, sizeof(buf));
	assert_string_equal(buf, "");
	/* truncation keeps whole names and a NUL */
	memset(small, 'x', sizeof(small));
	router_allow_header(ROUTER_GET | ROUTER_HEAD | ROUTER_POST, small, sizeof(small));
	assert_string_equal(small, "GET, HEAD");
	memset(small, 'x', sizeof(small));
	router_allow_header(ROUTER_OPTIONS, small, 3);
	assert_string_equal(small, "");
	router_allow_header(ROUTER_GET, small, 0); /* no write */
	assert_int_equal(small[0], '\0');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_id_valid),
	    cmocka_unit_test(test_parse_id_invalid),
	    cmocka_unit_test(test_is_identifier),
	    cmocka_unit_test(test_add_rejects_bad_patterns),
	    cmocka_unit_test(test_add_copies_route),
	    cmocka_unit_test_setup_teardown(test_literal, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_capture_id, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_ids_are_not_found, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_identifier, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_two_captures, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_literal_beats_capture, setup, teardown),
	    cmocka_unit_test(test_first_added_wins_on_tie),
	    cmocka_unit_test_setup_teardown(test_method_not_allowed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_found_reports_allowed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_head_on_get, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_path_shape, setup, teardown),
	    cmocka_unit_test(test_allow_header),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
