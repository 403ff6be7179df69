/*
 * signals: one namespace of named signals. A receiver is connected to a
 * signal name with user data; signals_send() copies the keyword arguments
 * (a JSON object) and queues one delivery; every receiver runs later, as a
 * deferred callback on the loop, never on the sender's stack. Receivers
 * read the keys they need and ignore the others, so senders may add keys.
 * A receiver that fails (returns -1) is logged and the others still run.
 * SIGNALS=off (signals_init with enabled 0) turns delivery off: sends are
 * dropped, receivers stay connected.
 *
 * Owns: the receiver table and the queued deliveries (their kwargs copies).
 * Never: calls a receiver from signals_send(); lets a receiver's failure
 * stop the others.
 */
#ifndef OES_SIGNALS_SIGNALS_H
#define OES_SIGNALS_SIGNALS_H

#include <json-c/json.h>

struct event_base;

/* A receiver: sender is the name given to signals_send; kwargs is borrowed
 * for the call (a copy made at send time). Returns 0, or -1 when it failed
 * (the failure is logged with the signal's name). */
typedef int (*signals_receiver)(void *udata, const char *signal, const char *sender,
				struct json_object *kwargs);

/* Prepares the deferred delivery on base. enabled 0: sends are dropped
 * (SIGNALS=off). 0/-1. */
int signals_init(struct event_base *base, int enabled);
/* Drops queued deliveries and disconnects every receiver. */
void signals_cleanup(void);

/* Connects fn to the signal called name (a static string), once per
 * (name, fn, udata). 0/-1. */
int signals_connect(const char *name, signals_receiver fn, void *udata);
/* Disconnects it. 0, or -1 when it was not connected. */
int signals_disconnect(const char *name, signals_receiver fn, void *udata);

/* Queues one delivery of name to its receivers. kwargs (borrowed; NULL
 * means {}) is deep-copied now: later changes by the sender are not seen.
 * Returns the number of receivers that will run (0 when delivery is off or
 * nobody listens), or -1 on allocation failure. Never runs a receiver. */
int signals_send(const char *name, const char *sender, struct json_object *kwargs);

/* Deliveries queued and not yet run (for tests and shutdown). */
int signals_pending(void);

/* Reads an integer id from kwargs[key] (a JSON integer or a decimal
 * string). 0, or -1 when missing or not a positive integer. */
int signals_kwarg_id(struct json_object *kwargs, const char *key, long long *out);

#endif
