/*
 * curlm: one libcurl multi handle driven by the event loop (the multi_socket
 * interface: curl says which sockets to watch and when to wake it; libevent
 * tells curl when a socket is ready or the timer fired). Any protocol: the
 * caller prepares an easy handle (URL, options, callbacks) and hands it
 * over; its completion callback runs on the loop with curl's result.
 *
 * Owns: the multi handle, one watcher per socket curl uses, and every easy
 * handle given to it (removed from the multi handle and cleaned up only in
 * its check of finished transfers, never inside one of curl's callbacks).
 * Never: calls a completion callback from inside curlm_add or
 * curlm_cancel, or twice; blocks the loop (libcurl's threaded resolver resolves names
 * off the loop); lets curl raise signals (CURLOPT_NOSIGNAL).
 */
#ifndef OES_CURLM_H
#define OES_CURLM_H

#include <curl/curl.h>

struct event_base;
struct curlm;
struct curlm_xfer;

/* A finished transfer: res is curl's result (CURLE_ABORTED_BY_CALLBACK
 * when curlm_cancel or curlm_free stopped it). easy is valid during the
 * call (for curl_easy_getinfo) and cleaned up after it returns: curl no
 * longer reads or writes the owner's buffers then, so done may free them. */
typedef void (*curlm_done_fn)(void *arg, CURL *easy, CURLcode res);

/* A multi handle on base, keeping at most max_connects idle connections.
 * Caller frees with curlm_free. NULL on failure. */
struct curlm *curlm_new(struct event_base *base, long max_connects);

/* Stops every transfer (their callbacks run with CURLE_ABORTED_BY_CALLBACK)
 * and frees everything. Call with the loop stopped
 * or from a plain loop callback (not from a curlm_done_fn). */
void curlm_free(struct curlm *m);

/* Starts a transfer. Takes ownership of easy (also on failure, when it is
 * cleaned up at once) and sets its CURLOPT_PRIVATE and CURLOPT_NOSIGNAL.
 * done(arg, ...) runs exactly once, later on the loop. The handle is valid
 * until done runs; NULL on failure (no callback then). */
struct curlm_xfer *curlm_add(struct curlm *m, CURL *easy, curlm_done_fn done, void *arg);

/* Stops the transfer: it is removed on a later loop turn (never inside a
 * curl callback) and its done then runs with CURLE_ABORTED_BY_CALLBACK, so
 * that the owner of the buffers curl reads frees them there. x must be a
 * live handle (not after its done ran). */
void curlm_cancel(struct curlm_xfer *x);

/* Transfers in flight (cancelled ones not yet reaped included). */
int curlm_inflight(const struct curlm *m);

#endif
