/*
 * ratelimit: counters of failed attempts (sign-in, password checks) per
 * key (an email, a client address, a user), spec §5b: after `max` failures
 * within a window of `window_s` seconds that started with the first one, a
 * key is refused until the window ends (429 with Retry-After).
 *
 * An attempt is counted when it starts (ratelimit_acquire reserves one on
 * every key it names, atomically, or refuses when one of them is at the
 * limit), so that parallel guesses cannot slip past the limit; an attempt
 * that turns out fine is given back (ratelimit_forgive) or clears its key
 * (ratelimit_reset). Counters live in Redis when REDIS_URL is set (shared
 * by every instance; one Lua script per check, so the check and the count
 * are atomic) and per worker process otherwise, and also while Redis does
 * not answer (a reply is awaited at most RATELIMIT_REDIS_TIMEOUT_MS).
 *
 * Keys are keyed BLAKE2b digests of their scope and value (the key derived
 * from SECRET_KEY, so instances agree): neither Redis nor memory holds an
 * address. Owns: the local table (bounded: the entries that would expire
 * first make room) and its Redis connection. Never: blocks the loop
 * (names are resolved with evdns), calls a callback from inside
 * ratelimit_acquire, or frees a hiredis context inside a hiredis callback.
 */
#ifndef OES_RATELIMIT_H
#define OES_RATELIMIT_H

#include <stddef.h>

struct event_base;
struct evdns_base;

#define RATELIMIT_DEFAULT_MAX	   10  /* LOGIN_MAX_FAILURES */
#define RATELIMIT_DEFAULT_WINDOW_S 300 /* LOGIN_WINDOW_S */
#define RATELIMIT_LOCAL_SLOTS	   65536
#define RATELIMIT_REDIS_TIMEOUT_MS 1000

/* A counter's name: "oes:rl:" + 32 hex digits. */
struct ratelimit_key {
	char k[48];
};

/* Sets the limit and the window (values <= 0 keep the defaults) and
 * derives the hashing key from secret (NULL: a random one; instances then
 * do not share counters). Clears the local table. */
void ratelimit_configure(int max, int window_s, const char *secret);

/* Connects to Redis (redis_url NULL or "": local counters only). 0, or -1
 * for a bad URL. */
int ratelimit_start(struct event_base *base, struct evdns_base *dns, const char *redis_url);
/* Closes the connection (pending checks are answered from the local table
 * first) and clears the local table. */
void ratelimit_stop(void);

/* The counter of value[0..len) in scope (e.g. "login-email"). Callers
 * normalise values first (lower-case emails). Pure but for the key. */
void ratelimit_key(struct ratelimit_key *out, const char *scope, const char *value, size_t len);

/* allowed: 1 (one attempt reserved on each key) or 0 (refused; retry_after_s
 * >= 1 is when the busiest key's window ends). */
typedef void (*ratelimit_cb)(void *arg, int allowed, int retry_after_s);

/* Checks and reserves one attempt on n keys (1..4). cb runs exactly once,
 * later on the loop (never inside this call). -1 when refused at once (out
 * of memory; no callback). */
int ratelimit_acquire(const struct ratelimit_key *keys, int n, ratelimit_cb cb, void *arg);
/* Gives back one reserved attempt on each key (the attempt did not fail). */
void ratelimit_forgive(const struct ratelimit_key *keys, int n);
/* Clears a key (e.g. an account's failures after a good password). */
void ratelimit_reset(const struct ratelimit_key *key);

/* ---- the local table (exposed for tests) ---- */

/* The same check on the local table only, at time now_ms (monotonic):
 * 1 allowed (reserved), 0 refused with *retry_after_s. */
int ratelimit_local_acquire(const struct ratelimit_key *keys, int n, long long now_ms,
			    int *retry_after_s);
void ratelimit_local_forgive(const struct ratelimit_key *keys, int n, long long now_ms);
void ratelimit_local_reset(const struct ratelimit_key *key);
/* Live entries of the local table. */
int ratelimit_local_count(long long now_ms);

#endif
