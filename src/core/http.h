/*
 * http: the evhttp server of one worker: listener (large backlog, optional
 * SO_REUSEPORT), allowed methods, size limits, and the dispatch of each
 * request through the router and the order of checks of spec §2.
 */
#ifndef OES_HTTP_H
#define OES_HTTP_H

struct event_base;
struct router;
struct http_server;

/* Binds HOST:PORT from cfg. reuseport: share the port with sibling workers.
 * Returns NULL (logged) on failure. Caller frees with http_server_free. */
struct http_server *http_server_new(struct event_base *base, struct router *r, int reuseport);
/* Stops accepting new connections; requests in flight go on. */
void http_server_stop_accepting(struct http_server *s);
/* Closes every connection and frees the server. */
void http_server_free(struct http_server *s);

#endif
