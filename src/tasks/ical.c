/*
 * ical: see ical.h. A small growable buffer; one function per output
 * format; the session fields are read the same way for both.
 */
#include "tasks/ical.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FOLD_OCTETS 75 /* RFC 5545 3.1: lines longer than this are folded */

struct buf {
	char *s;    /* text, NUL-terminated */
	size_t len; /* bytes used */
	size_t cap; /* bytes allocated */
	int failed; /* an allocation failed */
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 4096;
		while (b->len + n + 1 > ncap)
			ncap *= 2;
		char *p = realloc(b->s, ncap);
		if (!p) {
			b->failed = 1;
			return;
		}
		b->s = p;
		b->cap = ncap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void puts_(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static const char *str_of(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) || !v ||
	    json_object_is_type(v, json_type_null))
		return NULL;
	const char *s = json_object_get_string(v);
	return s && *s ? s : NULL;
}

/* "YYYYMMDDTHHMMSSZ" */
static int is_utc_stamp(const char *s)
{
	if (!s || strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z')
		return 0;
	for (int i = 0; i < 15; i++)
		if (i != 8 && (s[i] < '0' || s[i] > '9'))
			return 0;
	return 1;
}

static void now_stamp(char out[17])
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* ---- iCalendar ---- */

/* Appends text escaped as an iCalendar TEXT value. */
static void ical_text(struct buf *b, const char *s)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '\\' || c == ';' || c == ',') {
			char e[2] = {'\\', (char)c};
			put(b, e, 2);
		} else if (c == '\n') {
			put(b, "\\n", 2);
		} else if (c < 0x20 && c != '\t') {
			continue; /* CR and other controls are not allowed */
		} else if (c == 0x7f) {
			continue;
		} else {
			put(b, s, 1);
		}
	}
}

/* Appends one content line (name:value already built in line) folded at
 * FOLD_OCTETS octets, never inside a UTF-8 sequence, ended by CRLF. */
static void ical_line(struct buf *out, const struct buf *line)
{
	const char *s = line->s ? line->s : "";
	size_t n = line->len, pos = 0;
	int first = 1;
	while (pos < n) {
		size_t room = first ? FOLD_OCTETS : FOLD_OCTETS - 1;
		size_t take = n - pos <= room ? n - pos : room;
		/* do not end inside a multi-byte sequence */
		while (take > 0 && pos + take < n && ((unsigned char)s[pos + take] & 0xC0) == 0x80)
			take--;
		if (take == 0)
			take = n - pos < room ? n - pos : room;
		if (!first)
			put(out, " ", 1);
		put(out, s + pos, take);
		put(out, "\r\n", 2);
		pos += take;
		first = 0;
	}
	if (n == 0)
		put(out, "\r\n", 2);
}

/* name:escaped-text */
static void ical_prop(struct buf *out, const char *name, const char *text)
{
	struct buf l = {0};
	puts_(&l, name);
	put(&l, ":", 1);
	ical_text(&l, text);
	if (l.failed)
		out->failed = 1;
	ical_line(out, &l);
	free(l.s);
}

/* name:raw (values that need no escaping: dates, fixed words) */
static void ical_raw(struct buf *out, const char *name, const char *value)
{
	struct buf l = {0};
	puts_(&l, name);
	put(&l, ":", 1);
	puts_(&l, value);
	if (l.failed)
		out->failed = 1;
	ical_line(out, &l);
	free(l.s);
}

/* The description of a session: subtitle, abstract and speakers. */
static char *session_description(struct json_object *s)
{
	struct buf d = {0};
	const char *sub = str_of(s, "subtitle"), *abs = str_of(s, "abstract");
	if (sub)
		puts_(&d, sub);
	if (abs) {
		if (d.len)
			puts_(&d, "\n\n");
		puts_(&d, abs);
	}
	struct json_object *sp;
	if (json_object_object_get_ex(s, "speakers", &sp) &&
	    json_object_is_type(sp, json_type_array) && json_object_array_length(sp) > 0) {
		if (d.len)
			puts_(&d, "\n\n");
		puts_(&d, "Speakers: ");
		for (size_t i = 0; i < json_object_array_length(sp); i++) {
			const char *name = json_object_get_string(json_object_array_get_idx(sp, i));
			if (i)
				puts_(&d, ", ");
			puts_(&d, name ? name : "");
		}
	}
	if (d.failed) {
		free(d.s);
		return NULL;
	}
	return d.s;
}

struct cal_session {
	long long id;		 /* session id */
	const char *title;	 /* SUMMARY */
	const char *start, *end; /* UTC stamps; end NULL when not after start */
	const char *stamp;	 /* DTSTAMP */
	const char *location;	 /* LOCATION or NULL */
	const char *track;	 /* CATEGORIES or NULL */
	char *description;	 /* owned, or NULL */
};

/* Reads session i; 0, or -1 when it cannot be a calendar entry. */
static int read_session(struct json_object *s, const char *now, struct cal_session *out)
{
	memset(out, 0, sizeof(*out));
	struct json_object *id;
	if (!json_object_object_get_ex(s, "id", &id))
		return -1;
	out->id = json_object_get_int64(id);
	out->start = str_of(s, "start");
	out->end = str_of(s, "end");
	if (out->id <= 0 || !is_utc_stamp(out->start))
		return -1;
	if (!is_utc_stamp(out->end) || strcmp(out->end, out->start) <= 0)
		out->end = NULL;
	out->stamp = is_utc_stamp(str_of(s, "modified")) ? str_of(s, "modified") : now;
	out->title = str_of(s, "title") ? str_of(s, "title") : "Session";
	out->location = str_of(s, "location");
	out->track = str_of(s, "track");
	out->description = session_description(s);
	return 0;
}

static int read_doc(struct json_object *cal, struct json_object **event,
		    struct json_object **sessions)
{
	if (!cal || !json_object_object_get_ex(cal, "event", event) ||
	    !json_object_is_type(*event, json_type_object))
		return -1;
	if (!json_object_object_get_ex(cal, "sessions", sessions) ||
	    !json_object_is_type(*sessions, json_type_array))
		*sessions = NULL;
	return 0;
}

static char *finish(struct buf *b, size_t *len)
{
	if (b->failed) {
		free(b->s);
		return NULL;
	}
	if (len)
		*len = b->len;
	return b->s;
}

char *ical_render(struct json_object *cal, const char *domain, size_t *len)
{
	struct json_object *event, *sessions;
	if (read_doc(cal, &event, &sessions) < 0)
		return NULL;
	const char *ident = str_of(event, "identifier") ? str_of(event, "identifier") : "event";
	char now[17];
	now_stamp(now);
	struct buf b = {0};
	ical_raw(&b, "BEGIN", "VCALENDAR");
	ical_raw(&b, "VERSION", "2.0");
	ical_raw(&b, "PRODID", "-//open-event-server//Open Event Server in C//EN");
	ical_raw(&b, "CALSCALE", "GREGORIAN");
	ical_raw(&b, "METHOD", "PUBLISH");
	ical_prop(&b, "X-WR-CALNAME", str_of(event, "name") ? str_of(event, "name") : ident);
	size_t n = sessions ? json_object_array_length(sessions) : 0;
	for (size_t i = 0; i < n; i++) {
		struct cal_session s;
		if (read_session(json_object_array_get_idx(sessions, i), now, &s) < 0)
			continue;
		char uid[160];
		snprintf(uid, sizeof(uid), "session-%lld-%s@%s", s.id, ident,
			 domain && *domain ? domain : "open-event-server");
		ical_raw(&b, "BEGIN", "VEVENT");
		ical_prop(&b, "UID", uid);
		ical_raw(&b, "DTSTAMP", s.stamp);
		ical_raw(&b, "DTSTART", s.start);
		if (s.end)
			ical_raw(&b, "DTEND", s.end);
		ical_prop(&b, "SUMMARY", s.title);
		if (s.description)
			ical_prop(&b, "DESCRIPTION", s.description);
		if (s.location)
			ical_prop(&b, "LOCATION", s.location);
		if (s.track)
			ical_prop(&b, "CATEGORIES", s.track);
		ical_raw(&b, "END", "VEVENT");
		free(s.description);
	}
	ical_raw(&b, "END", "VCALENDAR");
	return finish(&b, len);
}

/* ---- xCal ---- */

/* Appends text escaped for XML character data and attribute values;
 * characters XML 1.0 does not allow are dropped. */
static void xml_text(struct buf *b, const char *s)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		switch (c) {
		case '&':
			puts_(b, "&amp;");
			break;
		case '<':
			puts_(b, "&lt;");
			break;
		case '>':
			puts_(b, "&gt;");
			break;
		case '"':
			puts_(b, "&quot;");
			break;
		case '\'':
			puts_(b, "&apos;");
			break;
		default:
			if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
				break;
			put(b, s, 1);
		}
	}
}

/* <name><type>text</type></name> */
static void xml_prop(struct buf *b, const char *indent, const char *name, const char *type,
		     const char *text)
{
	puts_(b, indent);
	put(b, "<", 1);
	puts_(b, name);
	put(b, "><", 2);
	puts_(b, type);
	put(b, ">", 1);
	xml_text(b, text);
	put(b, "</", 2);
	puts_(b, type);
	put(b, "></", 3);
	puts_(b, name);
	put(b, ">\n", 2);
}

/* "YYYYMMDDTHHMMSSZ" -> "YYYY-MM-DDTHH:MM:SSZ" */
static void xml_datetime(const char *s, char out[21])
{
	snprintf(out, 21, "%.4s-%.2s-%.2sT%.2s:%.2s:%.2sZ", s, s + 4, s + 6, s + 9, s + 11, s + 13);
}

char *ical_render_xcal(struct json_object *cal, const char *domain, size_t *len)
{
	struct json_object *event, *sessions;
	if (read_doc(cal, &event, &sessions) < 0)
		return NULL;
	const char *ident = str_of(event, "identifier") ? str_of(event, "identifier") : "event";
	char now[17];
	now_stamp(now);
	struct buf b = {0};
	puts_(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
		  "<icalendar xmlns=\"urn:ietf:params:xml:ns:icalendar-2.0\">\n"
		  " <vcalendar>\n"
		  "  <properties>\n");
	xml_prop(&b, "   ", "prodid", "text", "-//open-event-server//Open Event Server in C//EN");
	xml_prop(&b, "   ", "version", "text", "2.0");
	xml_prop(&b, "   ", "calscale", "text", "GREGORIAN");
	xml_prop(&b, "   ", "method", "text", "PUBLISH");
	xml_prop(&b, "   ", "x-wr-calname", "unknown",
		 str_of(event, "name") ? str_of(event, "name") : ident);
	puts_(&b, "  </properties>\n  <components>\n");
	size_t n = sessions ? json_object_array_length(sessions) : 0;
	for (size_t i = 0; i < n; i++) {
		struct cal_session s;
		if (read_session(json_object_array_get_idx(sessions, i), now, &s) < 0)
			continue;
		char uid[160], t[21];
		snprintf(uid, sizeof(uid), "session-%lld-%s@%s", s.id, ident,
			 domain && *domain ? domain : "open-event-server");
		puts_(&b, "   <vevent>\n    <properties>\n");
		xml_prop(&b, "     ", "uid", "text", uid);
		xml_datetime(s.stamp, t);
		xml_prop(&b, "     ", "dtstamp", "date-time", t);
		xml_datetime(s.start, t);
		xml_prop(&b, "     ", "dtstart", "date-time", t);
		if (s.end) {
			xml_datetime(s.end, t);
			xml_prop(&b, "     ", "dtend", "date-time", t);
		}
		xml_prop(&b, "     ", "summary", "text", s.title);
		if (s.description)
			xml_prop(&b, "     ", "description", "text", s.description);
		if (s.location)
			xml_prop(&b, "     ", "location", "text", s.location);
		if (s.track)
			xml_prop(&b, "     ", "categories", "text", s.track);
		puts_(&b, "    </properties>\n   </vevent>\n");
		free(s.description);
	}
	puts_(&b, "  </components>\n </vcalendar>\n</icalendar>\n");
	return finish(&b, len);
}
