/*
 * app: the process-wide objects of one worker: its loop, resolver, database
 * pool and router. Set up by main before the loop runs; read by handlers.
 */
#ifndef OES_APP_H
#define OES_APP_H

struct event_base;
struct evdns_base;
struct pg_pool;
struct router;

struct app {
	struct event_base *base; /* the one loop of this process */
	struct evdns_base *dns;	 /* asynchronous resolver */
	struct pg_pool *pg;	 /* database connections */
	struct router *router;	 /* route table */
	int shutting_down;	 /* SIGTERM/SIGINT received */
};

extern struct app app;

#endif
