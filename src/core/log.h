/*
 * log: levelled logging to stderr with a request-id prefix, text or JSON,
 * and the access log (one line per request). libevent's and libpq's
 * messages are routed here.
 *
 * Never: logs secrets (callers pass no passwords or tokens).
 */
#ifndef OES_LOG_H
#define OES_LOG_H

#include <stdarg.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Parses "debug|info|warn|error"; -1 when unknown. */
int log_level_parse(const char *s);
void log_setup(int level, int json);
/* reqid may be NULL. */
void log_msg(int level, const char *reqid, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(id, ...) log_msg(LOG_DEBUG, id, __VA_ARGS__)
#define log_info(id, ...)  log_msg(LOG_INFO, id, __VA_ARGS__)
#define log_warn(id, ...)  log_msg(LOG_WARN, id, __VA_ARGS__)
#define log_error(id, ...) log_msg(LOG_ERROR, id, __VA_ARGS__)

/* One access-log line. */
void log_access(const char *reqid, const char *client, const char *method, const char *path,
		int status, long bytes, double latency_ms);

/* Routes libevent's internal log through log_msg. */
void log_hook_libevent(void);

#endif
