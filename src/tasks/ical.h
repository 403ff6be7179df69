/*
 * ical: renders an event's schedule as iCalendar (RFC 5545) and xCal
 * (RFC 6321) from the calendar document the export query builds:
 *
 *   {"event": {"name", "identifier"},
 *    "sessions": [{"id", "title", "subtitle", "abstract", "start", "end",
 *                  "modified", "location", "track", "speakers": [names]}]}
 *
 * with times in UTC as "YYYYMMDDTHHMMSSZ". Text is escaped (iCalendar:
 * backslash, semicolon, comma, newline; XML: the five entities), control
 * characters are dropped, iCalendar lines are folded at 75 octets without
 * splitting a UTF-8 sequence, and lines end with CRLF.
 *
 * Pure: no I/O. Returned strings are the caller's to free.
 */
#ifndef OES_TASKS_ICAL_H
#define OES_TASKS_ICAL_H

#include <stddef.h>

#include <json-c/json.h>

/* uid_domain: the right-hand side of every UID ("example.org"). NULL on
 * a malformed document or allocation failure; *len gets the length. */
char *ical_render(struct json_object *cal, const char *uid_domain, size_t *len);
char *ical_render_xcal(struct json_object *cal, const char *uid_domain, size_t *len);

#endif
