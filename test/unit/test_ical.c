/*
 * test_ical: unit tests of src/tasks/ical.c: the iCalendar text (CRLF line
 * ends, folding at 75 octets without splitting UTF-8, TEXT escaping, control
 * characters dropped, required properties), the sessions that cannot be
 * calendar entries, and the xCal XML (escaping, date-time form). Links only
 * ical.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "tasks/ical.h"

static struct json_object *doc(const char *sessions)
{
	char buf[8192];
	snprintf(
	    buf, sizeof(buf),
	    "{\"event\": {\"name\": \"Conf; 2030, \\\"big\\\"\", \"identifier\": \"abcd1234\"}, "
	    "\"sessions\": %s}",
	    sessions);
	struct json_object *o = json_tokener_parse(buf);
	assert_non_null(o);
	return o;
}

/* The unfolded value of the first line starting with name (NUL-terminated
 * copy; caller frees), or NULL. */
static char *unfolded(const char *text, const char *name)
{
	size_t n = strlen(name);
	const char *p = text;
	while (p && *p) {
		if (strncmp(p, name, n) == 0 && (p[n] == ':' || p[n] == ';')) {
			char *out = malloc(strlen(p) + 1), *o = out;
			const char *q = p;
			for (;;) {
				const char *eol = strstr(q, "\r\n");
				assert_non_null(eol);
				memcpy(o, q, (size_t)(eol - q));
				o += eol - q;
				q = eol + 2;
				if (*q != ' ')
					break;
				q++;
			}
			*o = '\0';
			return out;
		}
		p = strstr(p, "\r\n");
		if (p)
			p += 2;
	}
	return NULL;
}

static void test_calendar_shape(void **state)
{
	(void)state;
	struct json_object *d = doc("[{\"id\": 7, \"title\": \"Talk, one; two\", \"start\": "
				    "\"20300601T101000Z\", \"end\": \"20300601T104000Z\", "
				    "\"modified\": \"20300101T000000Z\", \"location\": \"Room 1\", "
				    "\"track\": \"Main\", \"abstract\": \"a\\\\b\\nc\", "
				    "\"speakers\": [\"Ada\", \"Bob\"]}]");
	size_t len = 0;
	char *t = ical_render(d, "example.org", &len);
	assert_non_null(t);
	assert_int_equal(strlen(t), len);
	assert_true(strncmp(t, "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:", 37) == 0);
	assert_non_null(strstr(t, "\r\nEND:VCALENDAR\r\n"));
	assert_int_equal(t[len - 1], '\n');
	/* every line ends with CRLF and no bare LF */
	for (size_t i = 0; i < len; i++)
		if (t[i] == '\n')
			assert_int_equal(t[i - 1], '\r');
	char *v = unfolded(t, "X-WR-CALNAME");
	assert_string_equal(v, "X-WR-CALNAME:Conf\\; 2030\\, \"big\"");
	free(v);
	v = unfolded(t, "UID");
	assert_string_equal(v, "UID:session-7-abcd1234@example.org");
	free(v);
	v = unfolded(t, "SUMMARY");
	assert_string_equal(v, "SUMMARY:Talk\\, one\\; two");
	free(v);
	v = unfolded(t, "DTSTART");
	assert_string_equal(v, "DTSTART:20300601T101000Z");
	free(v);
	v = unfolded(t, "DTEND");
	assert_string_equal(v, "DTEND:20300601T104000Z");
	free(v);
	v = unfolded(t, "DTSTAMP");
	assert_string_equal(v, "DTSTAMP:20300101T000000Z");
	free(v);
	v = unfolded(t, "DESCRIPTION");
	assert_string_equal(v, "DESCRIPTION:a\\\\b\\nc\\n\\nSpeakers: Ada\\, Bob");
	free(v);
	v = unfolded(t, "LOCATION");
	assert_string_equal(v, "LOCATION:Room 1");
	free(v);
	v = unfolded(t, "CATEGORIES");
	assert_string_equal(v, "CATEGORIES:Main");
	free(v);
	free(t);
	json_object_put(d);
}

static void test_folding(void **state)
{
	(void)state;
	/* 200 two-byte characters: folding must not split them */
	char title[1024] = "";
	for (int i = 0; i < 200; i++)
		strcat(title, "\xc3\xa9");
	char sessions[2048];
	snprintf(sessions, sizeof(sessions),
		 "[{\"id\": 1, \"title\": \"x%s\", \"start\": \"20300601T101000Z\"}]", title);
	struct json_object *d = doc(sessions);
	size_t len;
	char *t = ical_render(d, NULL, &len);
	assert_non_null(t);
	int continuation = 0;
	for (char *line = t; *line;) {
		char *eol = strstr(line, "\r\n");
		assert_non_null(eol);
		assert_true(eol - line <= 75);
		if (*line == ' ') {
			continuation++;
			/* no line starts inside a UTF-8 sequence */
			assert_true(((unsigned char)line[1] & 0xC0) != 0x80);
		}
		line = eol + 2;
	}
	assert_true(continuation >= 5);
	char *v = unfolded(t, "SUMMARY");
	assert_int_equal(strlen(v), strlen("SUMMARY:x") + 400);
	free(v);
	v = unfolded(t, "UID");
	assert_string_equal(v, "UID:session-1-abcd1234@open-event-server");
	free(v);
	free(t);
	json_object_put(d);
}

static void test_skipped_and_controls(void **state)
{
	(void)state;
	struct json_object *d =
	    doc("[{\"id\": 1, \"title\": \"no start\"},"
		" {\"id\": 2, \"title\": \"bad start\", \"start\": \"2030-06-01T10:00:00Z\"},"
		" {\"id\": 0, \"title\": \"no id\", \"start\": \"20300601T101000Z\"},"
		" {\"id\": 3, \"title\": \"end before start\", \"start\": \"20300601T101000Z\", "
		"\"end\": \"20300601T090000Z\"},"
		" {\"id\": 4, \"title\": \"ctl\\u0001\\r\\tx\", \"start\": \"20300601T101000Z\", "
		"\"location\": null, \"track\": \"\"}]");
	size_t len;
	char *t = ical_render(d, "x", &len);
	assert_non_null(t);
	int vevents = 0;
	for (const char *p = t; (p = strstr(p, "BEGIN:VEVENT")); p++)
		vevents++;
	assert_int_equal(vevents, 2);
	assert_null(strstr(t, "no start"));
	assert_null(strstr(t, "bad start"));
	assert_null(strstr(t, "no id"));
	assert_null(strstr(t, "DTEND")); /* the end before the start is left out */
	assert_null(strstr(t, "LOCATION"));
	assert_null(strstr(t, "CATEGORIES"));
	char *v = unfolded(t, "SUMMARY");
	assert_string_equal(v, "SUMMARY:end before start");
	free(v);
	assert_non_null(strstr(t, "SUMMARY:ctl\tx\r\n"));
	/* no DTSTAMP given: one is made */
	assert_non_null(strstr(t, "DTSTAMP:2"));
	free(t);
	json_object_put(d);
	/* a document without an event is refused */
	struct json_object *bad = json_tokener_parse("{\"sessions\": []}");
	assert_null(ical_render(bad, "x", &len));
	assert_null(ical_render_xcal(bad, "x", &len));
	assert_null(ical_render(NULL, "x", &len));
	json_object_put(bad);
}

static void test_xcal(void **state)
{
	(void)state;
	struct json_object *d =
	    doc("[{\"id\": 9, \"title\": \"<b>&\\\"q\\\"'</b>\\u0002\", "
		"\"start\": \"20300601T101000Z\", \"end\": \"20300601T104000Z\", "
		"\"modified\": \"20300101T000000Z\", \"location\": \"R&D\"}]");
	size_t len;
	char *t = ical_render_xcal(d, "example.org", &len);
	assert_non_null(t);
	assert_int_equal(strlen(t), len);
	assert_true(strncmp(t,
			    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<icalendar "
			    "xmlns=\"urn:ietf:params:xml:ns:icalendar-2.0\">",
			    93) == 0);
	assert_non_null(strstr(t, "<summary><text>&lt;b&gt;&amp;&quot;q&quot;&apos;&lt;/b&gt;"
				  "</text></summary>"));
	assert_non_null(
	    strstr(t, "<dtstart><date-time>2030-06-01T10:10:00Z</date-time></dtstart>"));
	assert_non_null(strstr(t, "<dtend><date-time>2030-06-01T10:40:00Z</date-time></dtend>"));
	assert_non_null(strstr(t, "<dtstamp><date-time>2030-01-01T00:00:00Z</date-time>"));
	assert_non_null(strstr(t, "<uid><text>session-9-abcd1234@example.org</text></uid>"));
	assert_non_null(strstr(t, "<location><text>R&amp;D</text></location>"));
	assert_non_null(strstr(t, "<x-wr-calname><unknown>Conf; 2030, &quot;big&quot;</unknown>"));
	assert_null(strchr(t, '\x02'));
	assert_non_null(strstr(t, "</icalendar>\n"));
	free(t);
	json_object_put(d);
}

static void test_empty_schedule(void **state)
{
	(void)state;
	struct json_object *d = doc("[]");
	size_t len;
	char *t = ical_render(d, "x", &len);
	assert_non_null(t);
	assert_null(strstr(t, "VEVENT"));
	assert_non_null(strstr(t, "END:VCALENDAR\r\n"));
	free(t);
	t = ical_render_xcal(d, "x", &len);
	assert_non_null(t);
	assert_null(strstr(t, "<vevent>"));
	free(t);
	json_object_put(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_calendar_shape),	 cmocka_unit_test(test_folding),
	    cmocka_unit_test(test_skipped_and_controls), cmocka_unit_test(test_xcal),
	    cmocka_unit_test(test_empty_schedule),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
