/*
 * log: levelled log lines on stderr, text or JSON, with an optional request
 * id, plus the access log. Owns the process-wide level and format; nothing
 * else. Never blocks beyond one write(2) per line, never logs request bodies.
 */
#include "core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/event.h>

static int log_level = LOG_INFO;
static int log_json;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

void log_setup(int level, int json)
{
	log_level = level;
	log_json = json;
}

static void timestamp(char *buf, size_t len)
{
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
}

/*
 * A line is built in memory and written with one write(2): stderr is
 * unbuffered, so each stdio call on it was a system call of its own (one per
 * character of an access line's path), and lines from the pool threads could
 * interleave. Variable fields are cut to a bound (the cut marked with "...")
 * so that the fixed parts always fit and a JSON line stays valid.
 */
#define LINE_BYTES 16384
#define FIELD_MAX  2048 /* bytes of one variable field, escaped */

struct line {
	size_t n;
	char b[LINE_BYTES];
};

static void put(struct line *l, const char *s, size_t len)
{
	if (len > sizeof(l->b) - 1 - l->n) /* keep room for the final newline */
		len = sizeof(l->b) - 1 - l->n;
	memcpy(l->b + l->n, s, len);
	l->n += len;
}

static void putf(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct line *l, const char *fmt, ...)
{
	size_t room = sizeof(l->b) - 1 - l->n;
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(l->b + l->n, room + 1, fmt, ap);
	va_end(ap);
	if (k > 0)
		l->n += (size_t)k < room ? (size_t)k : room;
}

/* A field: JSON-escaped (json) or with control bytes shown as '?'. At most
 * FIELD_MAX bytes of it are written, escapes included; a cut is marked with
 * "...". Every line has at most four fields and fixed parts well under
 * LINE_BYTES - 4 * (FIELD_MAX + 3), so its closing part always fits. */
static void put_field(struct line *l, const char *s, int json)
{
	size_t start = l->n;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];
		size_t k;
		if (!json)
			esc[0] = c < 0x20 || c == 0x7f ? '?' : (char)c, k = 1;
		else if (c == '"' || c == '\\')
			esc[0] = '\\', esc[1] = (char)c, k = 2;
		else if (c == '\n')
			esc[0] = '\\', esc[1] = 'n', k = 2;
		else if (c < 0x20)
			k = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", c);
		else
			esc[0] = (char)c, k = 1;
		if (l->n - start + k > FIELD_MAX) {
			put(l, "...", 3);
			return;
		}
		put(l, esc, k);
	}
}

/* before, the field s, after (before and after written as they are). */
static void put_wrapped(struct line *l, const char *before, const char *s, const char *after,
			int json)
{
	put(l, before, strlen(before));
	put_field(l, s, json);
	put(l, after, strlen(after));
}

static void emit(struct line *l)
{
	l->b[l->n++] = '\n';
	for (size_t off = 0; off < l->n;) {
		ssize_t w = write(STDERR_FILENO, l->b + off, l->n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* nowhere to report it */
		off += (size_t)w;
	}
}

void log_msg(int level, const char *reqid, const char *fmt, ...)
{
	if (level < log_level)
		return;
	char msg[FIELD_MAX + 1], ts[40];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	size_t n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	for (size_t i = 0; i < n; i++) /* one event, one line */
		if (msg[i] == '\n' || msg[i] == '\r' || msg[i] == '\t')
			msg[i] = ' ';
	timestamp(ts, sizeof(ts));
	struct line l;
	l.n = 0;
	int pid = (int)getpid();
	if (log_json) {
		putf(&l, "{\"ts\":\"%s\",\"level\":\"%s\",\"pid\":%d", ts, level_names[level], pid);
		if (reqid)
			put_wrapped(&l, ",\"request_id\":\"", reqid, "\"", 1);
		put_wrapped(&l, ",\"msg\":\"", msg, "\"}", 1);
	} else {
		putf(&l, "%s %-5s [%d]", ts, level_names[level], pid);
		if (reqid)
			put_wrapped(&l, " [", reqid, "]", 0);
		put_wrapped(&l, " ", msg, "", 0);
	}
	emit(&l);
}

void log_access(const char *reqid, const char *client, const char *method, const char *path,
		int status, long bytes, double latency_ms)
{
	if (log_level > LOG_INFO)
		return;
	char ts[40];
	timestamp(ts, sizeof(ts));
	struct line l;
	l.n = 0;
	int j = log_json;
	if (j)
		putf(&l, "{\"ts\":\"%s\",\"level\":\"info\",\"pid\":%d,\"type\":\"access\",", ts,
		     (int)getpid());
	else
		putf(&l, "%s access [%d] ", ts, (int)getpid());
	/* the path is client-controlled: escaped, one line either way */
	put_wrapped(&l, j ? "\"request_id\":\"" : "[", reqid, j ? "\"," : "] ", j);
	put_wrapped(&l, j ? "\"client\":\"" : "", client, j ? "\"," : " \"", j);
	put_wrapped(&l, j ? "\"method\":\"" : "", method, j ? "\"," : " ", j);
	put_wrapped(&l, j ? "\"path\":\"" : "", path, j ? "\"," : "\"", j);
	if (j)
		putf(&l, "\"status\":%d,\"bytes\":%ld,\"latency_ms\":%.3f}", status, bytes,
		     latency_ms);
	else
		putf(&l, " %d %ld %.3fms", status, bytes, latency_ms);
	emit(&l);
}

static void libevent_log_cb(int severity, const char *msg)
{
	int level = severity == EVENT_LOG_DEBUG	 ? LOG_DEBUG
		    : severity == EVENT_LOG_MSG	 ? LOG_INFO
		    : severity == EVENT_LOG_WARN ? LOG_WARN
						 : LOG_ERROR;
	log_msg(level, NULL, "libevent: %s", msg);
}

void log_hook_libevent(void)
{
	event_set_log_callback(libevent_log_cb);
}
