/*
 * test_jsonapi: unit tests of src/core/jsonapi.c: the exact shape of error
 * documents, the top-level envelope, pagination links and meta for first,
 * middle, last and out-of-range pages and for page[size]=0, and the JSON:API
 * 1.0 media-type rules (415 / 406). Links jsonapi.c and query.c (for the
 * query string the links keep).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/jsonapi.h"
#include "core/jsonw.h"
#include "core/query.h"

/* The member at a '/'-separated path ("errors/0/source/pointer"); array
 * elements by index. NULL when absent. */
static struct json_object *at(struct json_object *o, const char *path)
{
	char buf[256];
	char *save = NULL, *tok;

	if (strlen(path) >= sizeof(buf))
		return NULL;
	strcpy(buf, path);
	for (tok = strtok_r(buf, "/", &save); tok != NULL && o != NULL;
	     tok = strtok_r(NULL, "/", &save)) {
		if (json_object_is_type(o, json_type_array)) {
			char *end;
			long i = strtol(tok, &end, 10);

			if (*end != '\0' || i < 0 || (size_t)i >= json_object_array_length(o))
				return NULL;
			o = json_object_array_get_idx(o, (size_t)i);
		} else if (json_object_is_type(o, json_type_object)) {
			struct json_object *next = NULL;

			if (!json_object_object_get_ex(o, tok, &next))
				return NULL;
			o = next;
		} else {
			return NULL;
		}
	}
	return o;
}

/* The string at path; fails the test when it is missing or not a string. */
static const char *str_at(struct json_object *o, const char *path)
{
	struct json_object *v = at(o, path);

	if (v == NULL)
		fail_msg("%s: missing", path);
	if (!json_object_is_type(v, json_type_string))
		fail_msg("%s: not a string (%s)", path, json_object_to_json_string(v));
	return json_object_get_string(v);
}

static const char *plain(struct json_object *o)
{
	return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						     JSON_C_TO_STRING_NOSLASHESCAPE);
}

static int nkeys(struct json_object *o)
{
	assert_true(json_object_is_type(o, json_type_object));
	return json_object_object_length(o);
}

/* ---- titles and error documents ---- */

static void test_status_titles(void **state)
{
	(void)state;
	assert_string_equal(jsonapi_status_title(400), "Bad Request");
	assert_string_equal(jsonapi_status_title(401), "Unauthorized");
	assert_string_equal(jsonapi_status_title(403), "Forbidden");
	assert_string_equal(jsonapi_status_title(404), "Not Found");
	assert_string_equal(jsonapi_status_title(405), "Method Not Allowed");
	assert_string_equal(jsonapi_status_title(406), "Not Acceptable");
	assert_string_equal(jsonapi_status_title(409), "Conflict");
	assert_string_equal(jsonapi_status_title(413), "Payload Too Large");
	assert_string_equal(jsonapi_status_title(415), "Unsupported Media Type");
	assert_string_equal(jsonapi_status_title(422), "Unprocessable Entity");
	assert_string_equal(jsonapi_status_title(500), "Internal Server Error");
	assert_string_equal(jsonapi_status_title(503), "Service Unavailable");
	assert_string_equal(jsonapi_status_title(504), "Gateway Timeout");
	assert_string_equal(jsonapi_status_title(299), "Error");
	assert_string_equal(jsonapi_status_title(0), "Error");
}

static void test_error_doc_exact(void **state)
{
	struct json_object *doc;

	(void)state;
	doc = jsonapi_error_doc(422, "Unknown attribute", "/data/attributes/colour", NULL);
	assert_string_equal(plain(doc),
			    "{\"errors\":[{\"status\":\"422\",\"title\":\"Unprocessable "
			    "Entity\",\"detail\":\"Unknown attribute\",\"source\":{"
			    "\"pointer\":\"/data/attributes/colour\"}}],\"jsonapi\":{"
			    "\"version\":\"1.0\"}}");
	json_object_put(doc);

	doc = jsonapi_error_doc(400, "page[size] must be an integer", NULL, "page[size]");
	assert_string_equal(plain(doc),
			    "{\"errors\":[{\"status\":\"400\",\"title\":\"Bad Request\","
			    "\"detail\":\"page[size] must be an integer\",\"source\":{"
			    "\"parameter\":\"page[size]\"}}],\"jsonapi\":{\"version\":"
			    "\"1.0\"}}");
	json_object_put(doc);
}

static void test_error_doc_fields(void **state)
{
	struct json_object *doc, *err, *v;

	(void)state;
	doc = jsonapi_error_doc(404, "No event 5", NULL, NULL);
	assert_int_equal(nkeys(doc), 2);
	v = at(doc, "errors");
	assert_non_null(v);
	assert_true(json_object_is_type(v, json_type_array));
	assert_int_equal(json_object_array_length(v), 1);
	err = at(doc, "errors/0");
	/* status is a string, not a number */
	assert_true(json_object_is_type(at(err, "status"), json_type_string));
	assert_string_equal(str_at(err, "status"), "404");
	assert_string_equal(str_at(err, "title"), "Not Found");
	assert_string_equal(str_at(err, "detail"), "No event 5");
	assert_null(at(err, "source"));
	assert_int_equal(nkeys(err), 3);
	assert_string_equal(str_at(doc, "jsonapi/version"), "1.0");
	assert_int_equal(nkeys(at(doc, "jsonapi")), 1);
	json_object_put(doc);

	/* no detail at all */
	doc = jsonapi_error_doc(503, NULL, NULL, NULL);
	err = at(doc, "errors/0");
	assert_string_equal(str_at(err, "status"), "503");
	assert_string_equal(str_at(err, "title"), "Service Unavailable");
	assert_null(at(err, "detail"));
	assert_null(at(err, "source"));
	assert_int_equal(nkeys(err), 2);
	json_object_put(doc);

	/* both pointer and parameter */
	doc = jsonapi_error_doc(400, "d", "/data/id", "filter");
	assert_string_equal(str_at(doc, "errors/0/source/pointer"), "/data/id");
	assert_string_equal(str_at(doc, "errors/0/source/parameter"), "filter");
	assert_int_equal(nkeys(at(doc, "errors/0/source")), 2);
	json_object_put(doc);

	/* an unknown status still has a title; detail text is escaped as JSON */
	doc = jsonapi_error_doc(418, "a \"quoted\" \\ detail\n", NULL, NULL);
	assert_string_equal(str_at(doc, "errors/0/status"), "418");
	assert_string_equal(str_at(doc, "errors/0/title"), "Error");
	assert_string_equal(str_at(doc, "errors/0/detail"), "a \"quoted\" \\ detail\n");
	assert_non_null(strstr(plain(doc), "\"a \\\"quoted\\\" \\\\ detail\\n\""));
	json_object_put(doc);
}

static void test_doc(void **state)
{
	struct json_object *doc, *data;

	(void)state;
	doc = jsonapi_doc(NULL);
	assert_string_equal(plain(doc), "{\"jsonapi\":{\"version\":\"1.0\"}}");
	json_object_put(doc);

	data = json_object_new_object();
	json_object_object_add(data, "type", json_object_new_string("event"));
	json_object_object_add(data, "id", json_object_new_string("7"));
	doc = jsonapi_doc(data);
	assert_ptr_equal(at(doc, "data"), data);
	assert_string_equal(str_at(doc, "data/id"), "7");
	assert_string_equal(str_at(doc, "jsonapi/version"), "1.0");
	assert_int_equal(nkeys(doc), 2);
	json_object_put(doc); /* frees data too: run under ASan */

	doc = jsonapi_doc(json_object_new_array());
	assert_true(json_object_is_type(at(doc, "data"), json_type_array));
	json_object_put(doc);
}

/* ---- paging ---- */

static struct json_object *paged(const char *qs, const char *path, long count, long number,
				 long size)
{
	struct query q;
	struct jw w;

	jw_init(&w);
	jw_lit(&w, "{\"data\":[],\"jsonapi\":{\"version\":\"1.0\"},");
	assert_int_equal(query_parse(&q, qs, NULL), 0);
	jsonapi_write_paging(&w, path, &q, count, number, size);
	jw_lit(&w, "}");
	query_free(&q);
	struct json_object *doc = json_tokener_parse(jw_text(&w));
	assert_non_null(doc);
	jw_free(&w);
	return doc;
}

static long count_of(struct json_object *doc)
{
	struct json_object *c = at(doc, "meta/count");

	assert_non_null(c);
	assert_true(json_object_is_type(c, json_type_int));
	return (long)json_object_get_int64(c);
}

#define PAGE(n, s) "page%5Bnumber%5D=" #n "&page%5Bsize%5D=" #s

static void test_paging_first(void **state)
{
	struct json_object *doc;

	(void)state;
	doc = paged("page[size]=10", "/v1/events", 45, 1, 10);
	assert_int_equal(count_of(doc), 45);
	assert_string_equal(str_at(doc, "links/self"), "/v1/events?" PAGE(1, 10));
	assert_string_equal(str_at(doc, "links/first"), "/v1/events?" PAGE(1, 10));
	assert_string_equal(str_at(doc, "links/last"), "/v1/events?" PAGE(5, 10));
	assert_null(at(doc, "links/prev"));
	assert_string_equal(str_at(doc, "links/next"), "/v1/events?" PAGE(2, 10));
	assert_int_equal(nkeys(at(doc, "links")), 4);
	assert_int_equal(nkeys(at(doc, "meta")), 1);
	/* the data is left alone */
	assert_true(json_object_is_type(at(doc, "data"), json_type_array));
	assert_string_equal(str_at(doc, "jsonapi/version"), "1.0");
	json_object_put(doc);
}

static void test_paging_middle_keeps_params(void **state)
{
	struct json_object *doc;

	(void)state;
	doc = paged("sort=-starts-at&page[number]=3&filter=[{\"name\":\"name\",\"op\":\"eq\","
		    "\"val\":\"a b\"}]&page[size]=10&include=sessions",
		    "/v1/events", 45, 3, 10);
#define KEEP                                                                                       \
	"/v1/"                                                                                     \
	"events?sort=-starts-at&filter=%5B%7B%22name%22%3A%22name%22%2C%22op%22%3A%22eq%22%2C%"    \
	"22val%22%3A%22a%20b%22%7D%5D&include=sessions&"
	assert_string_equal(str_at(doc, "links/self"), KEEP PAGE(3, 10));
	assert_string_equal(str_at(doc, "links/first"), KEEP PAGE(1, 10));
	assert_string_equal(str_at(doc, "links/prev"), KEEP PAGE(2, 10));
	assert_string_equal(str_at(doc, "links/next"), KEEP PAGE(4, 10));
	assert_string_equal(str_at(doc, "links/last"), KEEP PAGE(5, 10));
#undef KEEP
	assert_int_equal(nkeys(at(doc, "links")), 5);
	assert_int_equal(count_of(doc), 45);
	json_object_put(doc);
}

static void test_paging_last(void **state)
{
	struct json_object *doc;

	(void)state;
	doc = paged("", "/v1/sessions", 40, 2, 20);
	assert_string_equal(str_at(doc, "links/self"), "/v1/sessions?" PAGE(2, 20));
	assert_string_equal(str_at(doc, "links/last"), "/v1/sessions?" PAGE(2, 20));
	assert_string_equal(str_at(doc, "links/prev"), "/v1/sessions?" PAGE(1, 20));
	assert_null(at(doc, "links/next"));
	assert_int_equal(count_of(doc), 40);
	json_object_put(doc);

	/* 41 rows need a third page */
	doc = paged("", "/v1/sessions", 41, 2, 20);
	assert_string_equal(str_at(doc, "links/last"), "/v1/sessions?" PAGE(3, 20));
	assert_string_equal(str_at(doc, "links/next"), "/v1/sessions?" PAGE(3, 20));
	json_object_put(doc);
}

static void test_paging_beyond_and_empty(void **state)
{
	struct json_object *doc;

	(void)state;
	/* past the end: prev points at the last page, no next */
	doc = paged("", "/v1/events", 25, 7, 10);
	assert_string_equal(str_at(doc, "links/self"), "/v1/events?" PAGE(7, 10));
	assert_string_equal(str_at(doc, "links/last"), "/v1/events?" PAGE(3, 10));
	assert_string_equal(str_at(doc, "links/prev"), "/v1/events?" PAGE(3, 10));
	assert_null(at(doc, "links/next"));
	json_object_put(doc);

	/* no rows: one (empty) page */
	doc = paged("", "/v1/events", 0, 1, 20);
	assert_int_equal(count_of(doc), 0);
	assert_string_equal(str_at(doc, "links/first"), "/v1/events?" PAGE(1, 20));
	assert_string_equal(str_at(doc, "links/last"), "/v1/events?" PAGE(1, 20));
	assert_null(at(doc, "links/prev"));
	assert_null(at(doc, "links/next"));
	json_object_put(doc);
}

static void test_paging_size_zero(void **state)
{
	struct json_object *doc;

	(void)state;
	doc = paged("page[size]=0&sort=name", "/v1/events", 250, 1, 0);
	assert_int_equal(count_of(doc), 250);
	assert_string_equal(str_at(doc, "links/self"), "/v1/events?sort=name");
	assert_string_equal(str_at(doc, "links/first"), "/v1/events?sort=name");
	assert_string_equal(str_at(doc, "links/last"), "/v1/events?sort=name");
	assert_null(at(doc, "links/prev"));
	assert_null(at(doc, "links/next"));
	json_object_put(doc);

	doc = paged("page[size]=0", "/v1/events", 3, 1, 0);
	assert_string_equal(str_at(doc, "links/self"), "/v1/events");
	assert_string_equal(str_at(doc, "links/last"), "/v1/events");
	json_object_put(doc);
}

/* ---- media types ---- */

#define JA JSONAPI_MEDIA_TYPE

static void test_media_content_type(void **state)
{
	(void)state;
	/* no body: Content-Type does not matter */
	assert_int_equal(jsonapi_check_media(NULL, 0, NULL), 0);
	assert_int_equal(jsonapi_check_media("text/plain", 0, NULL), 0);
	/* a body needs exactly the JSON:API media type */
	assert_int_equal(jsonapi_check_media(JA, 1, NULL), 0);
	assert_int_equal(jsonapi_check_media("Application/Vnd.Api+JSON", 1, NULL), 0);
	assert_int_equal(jsonapi_check_media(NULL, 1, NULL), 415);
	assert_int_equal(jsonapi_check_media("", 1, NULL), 415);
	assert_int_equal(jsonapi_check_media("application/json", 1, NULL), 415);
	assert_int_equal(jsonapi_check_media("text/plain", 1, NULL), 415);
	assert_int_equal(jsonapi_check_media(JA "x", 1, NULL), 415);
	assert_int_equal(jsonapi_check_media("application/vnd.api", 1, NULL), 415);
	/* with media type parameters */
	assert_int_equal(jsonapi_check_media(JA "; charset=utf-8", 1, NULL), 415);
	assert_int_equal(jsonapi_check_media(JA ";version=1", 1, NULL), 415);
	assert_int_equal(jsonapi_check_media(JA "; ext=\"bulk\"", 1, NULL), 415);
	/* 415 is checked before 406 */
	assert_int_equal(jsonapi_check_media("application/json", 1, JA "; ext=x"), 415);
}

static void test_media_accept(void **state)
{
	(void)state;
	/* absent, empty or wildcard: acceptable */
	assert_int_equal(jsonapi_check_media(NULL, 0, NULL), 0);
	assert_int_equal(jsonapi_check_media(NULL, 0, ""), 0);
	assert_int_equal(jsonapi_check_media(NULL, 0, "*/*"), 0);
	assert_int_equal(jsonapi_check_media(NULL, 0, "application/*"), 0);
	assert_int_equal(jsonapi_check_media(JA, 1, "*/*"), 0);
	/* no JSON:API media type at all: nothing to refuse under JSON:API 1.0 */
	assert_int_equal(jsonapi_check_media(NULL, 0, "application/json"), 0);
	assert_int_equal(jsonapi_check_media(NULL, 0, "text/html, application/json"), 0);
	/* plain JSON:API type */
	assert_int_equal(jsonapi_check_media(NULL, 0, JA), 0);
	assert_int_equal(jsonapi_check_media(NULL, 0, "APPLICATION/VND.API+JSON"), 0);
	/* every JSON:API instance has parameters: 406 */
	assert_int_equal(jsonapi_check_media(NULL, 0, JA "; charset=utf-8"), 406);
	assert_int_equal(jsonapi_check_media(JA, 1, JA ";ext=bulk"), 406);
	assert_int_equal(jsonapi_check_media(NULL, 0, JA "; a=1, " JA "; b=2"), 406);
	assert_int_equal(jsonapi_check_media(NULL, 0, "text/html, " JA ";x=y"), 406);
	/* ... even alongside a wildcard */
	assert_int_equal(jsonapi_check_media(NULL, 0, JA ";x=y, */*"), 406);
	/* at least one plain instance: fine */
	assert_int_equal(jsonapi_check_media(NULL, 0, JA "; a=1, " JA), 0);
	assert_int_equal(jsonapi_check_media(NULL, 0, JA ", " JA ";x=y"), 0);
	assert_int_equal(jsonapi_check_media(NULL, 0, "  " JA "  ,text/html"), 0);
	/* similar names are not the JSON:API type */
	assert_int_equal(jsonapi_check_media(NULL, 0, JA "x; a=1"), 0);
	assert_int_equal(jsonapi_check_media(NULL, 0, "application/vnd.api; a=1"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_status_titles),
	    cmocka_unit_test(test_error_doc_exact),
	    cmocka_unit_test(test_error_doc_fields),
	    cmocka_unit_test(test_doc),
	    cmocka_unit_test(test_paging_first),
	    cmocka_unit_test(test_paging_middle_keeps_params),
	    cmocka_unit_test(test_paging_last),
	    cmocka_unit_test(test_paging_beyond_and_empty),
	    cmocka_unit_test(test_paging_size_zero),
	    cmocka_unit_test(test_media_content_type),
	    cmocka_unit_test(test_media_accept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
