/*
 * revocations: which tokens are revoked, in memory, for auth_resolve's
 * check on every authenticated request without a database round trip.
 *
 * Two sets, both loaded from PostgreSQL (the source of truth) and then
 * refreshed every REVOCATIONS_REFRESH_MS with what changed since the last
 * look (with an overlap, so late commits are not missed): the jti of every
 * token_revocations row not yet expired (logout), and users'
 * tokens_valid_after (password change or reset: every token issued before
 * is refused), kept while a token issued before could still be alive
 * (JWT_TTL_S). A revocation made by this process is added at once; other
 * processes and instances see it at their next refresh (within about
 * REVOCATIONS_REFRESH_MS plus one query, well within spec §5b's 5 s).
 *
 * When the sets are stale (not loaded yet, or the last good refresh is
 * older than REVOCATIONS_STALE_MS because the database does not answer),
 * the check answers "unknown" and auth_resolve asks the database itself:
 * a revoked token is never accepted for want of a refresh.
 *
 * Owns: the two tables and the refresh timer and its query. Never: blocks
 * the loop; runs two refreshes at once.
 */
#ifndef OES_REVOCATIONS_H
#define OES_REVOCATIONS_H

struct event_base;
struct pg_pool;
struct principal;

#define REVOCATIONS_REFRESH_MS 1000
#define REVOCATIONS_STALE_MS   4000
#define REVOCATIONS_OVERLAP_MS 10000 /* each refresh looks this far behind the last */

/* Starts loading and refreshing from pg (which must outlive it), and sets
 * auth_revocation_check. jwt_ttl_s: the longest token lifetime. 0/-1. */
int revocations_start(struct event_base *base, struct pg_pool *pg, int jwt_ttl_s);
/* Stops the timer, cancels a refresh in flight, unsets the check, frees. */
void revocations_stop(void);

/* 1 revoked, 0 not, -1 unknown (stale: ask the database). Pure memory. */
int revocations_check(const struct principal *p);

/* This process revoked jti (of a token that expires at exp_ms, Unix ms):
 * refused at once here. */
void revocations_add_jti(const char *jti, long long exp_ms);
/* This process set user_id's tokens_valid_after to valid_after_ms (Unix
 * ms): tokens issued before are refused at once here. */
void revocations_set_user(long long user_id, long long valid_after_ms);

/* Entries held (jti, users), for tests and metrics. */
void revocations_counts(long *jtis, long *users);

#endif
