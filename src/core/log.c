/*
 * log: levelled log lines on stderr, text or JSON, with an optional request
 * id, plus the access log. Owns the process-wide level and format; nothing
 * else. Never blocks beyond a stdio write, never logs request bodies.
 */
#include "core/log.h"

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

/* Writes s as the body of a JSON string (without quotes). */
static void json_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
}

void log_msg(int level, const char *reqid, const char *fmt, ...)
{
	if (level < log_level)
		return;
	char msg[2048], ts[40];
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
	flockfile(stderr);
	if (log_json) {
		fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"pid\":%d", ts,
			level_names[level], (int)getpid());
		if (reqid) {
			fputs(",\"request_id\":\"", stderr);
			json_escape(stderr, reqid);
			fputc('"', stderr);
		}
		fputs(",\"msg\":\"", stderr);
		json_escape(stderr, msg);
		fputs("\"}\n", stderr);
	} else {
		fprintf(stderr, "%s %-5s [%d]%s%s%s %s\n", ts, level_names[level], (int)getpid(),
			reqid ? " [" : "", reqid ? reqid : "", reqid ? "]" : "", msg);
	}
	funlockfile(stderr);
}

void log_access(const char *reqid, const char *client, const char *method, const char *path,
		int status, long bytes, double latency_ms)
{
	if (log_level > LOG_INFO)
		return;
	char ts[40];
	timestamp(ts, sizeof(ts));
	flockfile(stderr);
	if (log_json) {
		fprintf(stderr,
			"{\"ts\":\"%s\",\"level\":\"info\",\"pid\":%d,\"type\":\"access\","
			"\"request_id\":\"%s\",\"client\":\"",
			ts, (int)getpid(), reqid);
		json_escape(stderr, client);
		fprintf(stderr, "\",\"method\":\"%s\",\"path\":\"", method);
		json_escape(stderr, path);
		fprintf(stderr, "\",\"status\":%d,\"bytes\":%ld,\"latency_ms\":%.3f}\n", status,
			bytes, latency_ms);
	} else {
		fprintf(stderr, "%s access [%d] [%s] %s \"%s ", ts, (int)getpid(), reqid, client,
			method);
		/* the path is client-controlled: keep the line one line */
		for (const char *p = path; *p; p++)
			fputc((unsigned char)*p < 0x20 ? '?' : *p, stderr);
		fprintf(stderr, "\" %d %ld %.3fms\n", status, bytes, latency_ms);
	}
	funlockfile(stderr);
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
