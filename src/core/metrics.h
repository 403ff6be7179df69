/*
 * metrics: per-process counters in Prometheus text format: requests by
 * route and status, a latency histogram, and gauges read at scrape time.
 * Single-threaded (the loop's thread only).
 */
#ifndef OES_METRICS_H
#define OES_METRICS_H

#include <stddef.h>

struct evbuffer;

/* route: the matched pattern, or NULL for unmatched requests. */
void metrics_observe(const char *route, int status, double seconds);
/* More series from other modules (the task system sets it); NULL: none. */
extern void (*metrics_render_extra)(struct evbuffer *buf);
/* Appends the exposition text to buf. */
void metrics_render(struct evbuffer *buf);
void metrics_free(void);

#endif
