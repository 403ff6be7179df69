/*
 * redis_queue: task dispatch through Redis, a reliable queue of task ids.
 *
 * Producers LPUSH an id on REDIS_QUEUE_KEY; a consumer moves one id at a
 * time to REDIS_PROCESSING_KEY with BRPOPLPUSH and, when the task is over,
 * acknowledges it with LREM. PostgreSQL stays the source of truth: an id
 * lost with Redis or with a consumer is re-dispatched by the task sweeper.
 *
 * Two connections (hiredis async on the loop, redisLibeventAttach): one for
 * commands, one for the blocking pop. Each is watched by a timer of its own
 * (hiredis 0.14 has no async timeouts): a connect, a reply or an idle PING
 * that takes too long closes the connection, and it reconnects with
 * exponential backoff. Host names are resolved with evdns, never on the
 * loop with getaddrinfo.
 *
 * Owns: the connections, the ids not yet pushed (kept while Redis is down,
 * bounded) and every command's private data until its callback ran.
 * Never: frees a hiredis context inside one of its callbacks (closing is
 * done from our timers); assumes a reply: every pending callback gets a
 * NULL reply when the connection goes.
 */
#ifndef OES_TASKS_REDIS_QUEUE_H
#define OES_TASKS_REDIS_QUEUE_H

#include <stddef.h>

struct event_base;
struct evdns_base;

#define REDIS_QUEUE_KEY	     "oes:tasks:queue"
#define REDIS_PROCESSING_KEY "oes:tasks:processing"

/* A parsed REDIS_URL: redis://[[user]:password@]host[:port][/db]. */
struct redis_url {
	char host[256];	    /* name or address (IPv6 without brackets) */
	int port;	    /* default 6379 */
	char password[256]; /* "" when none */
	int db;		    /* default 0 */
};

/* Parses url into out. 0, or -1 with a one-line reason in err. Pure. */
int redis_queue_parse_url(const char *url, struct redis_url *out, char *err, size_t errlen);

struct redis_queue_handlers {
	/* A job was moved to the processing list: run it, then ack it. id is
	 * valid during the call. */
	void (*job)(const char *id);
	/* The command connection is ready (again); first: the first time. */
	void (*ready)(int first);
};

/* Starts connecting (both connections when consume, else commands only).
 * 0/-1 (a bad URL). */
int redis_queue_start(struct event_base *base, struct evdns_base *dns, const char *url, int consume,
		      const struct redis_queue_handlers *h);
/* Closes everything; pending callbacks run with NULL replies and do
 * nothing. */
void redis_queue_stop(void);

/* Queues id (copied) for LPUSH; kept and pushed later while Redis is down. */
void redis_queue_push(const char *id);
/* LREM of id from the processing list (dropped while Redis is down: the
 * sweeper tidies the list). */
void redis_queue_ack(const char *id);
/* The consumer may take up to n more jobs now (0: pause). */
void redis_queue_capacity(int n);
/* 1 when the command connection is ready. */
int redis_queue_up(void);

/* Reads up to max ids of the processing list; cb gets them (borrowed, for
 * the call) or n = -1 when Redis went away. -1 when Redis is down (no
 * callback). */
int redis_queue_processing(int max, void (*cb)(void *arg, char **ids, int n), void *arg);

#endif
