/*
 * auth: who is calling. Verifies `Authorization: JWT <token>` (or Bearer)
 * tokens with libjwt (HS256 only, SECRET_KEY; exp and nbf checked here),
 * issues tokens, and resolves a token's user to a principal (is the user
 * still there, not blocked, admin?) through a short per-worker cache.
 *
 * Never: logs tokens or passwords; blocks the loop (password hashing runs
 * on the worker pool, see core/workers.h).
 */
#ifndef OES_AUTH_H
#define OES_AUTH_H

#include <stddef.h>

struct req_ctx;

struct principal {
	long long user_id;  /* 0: anonymous */
	int is_admin;	    /* users.is_admin (or super admin) */
	int is_super_admin; /* users.is_super_admin */
	char jti[64];	    /* token id */
	long long iat, exp; /* issued at, expires at (Unix seconds) */
	long long iat_ms;   /* issued at in ms (claim iat_ms, else iat * 1000) */
};

/* The revocation check of auth_resolve (set by core/revocations; NULL: no
 * check): 1 when the token of p is revoked (its jti, or issued before its
 * user's tokens_valid_after), 0 when it is not, -1 when the in-memory
 * state is not fresh enough to say (auth_resolve then asks the database). */
extern int (*auth_revocation_check)(const struct principal *p);

/* Parses and verifies an Authorization header value without I/O.
 * Returns 0 when header is NULL (anonymous), 1 when the token is valid
 * (fills user_id, jti, iat, exp), -1 when it is not (why says why, for the
 * 401 detail; never the token). */
int auth_parse_header(const char *header, struct principal *p, char *why, size_t whylen);

/* A signed token for user_id with a fresh jti (written to jti_out when not
 * NULL, 64 bytes). Caller frees. NULL on failure. */
char *auth_issue_token(long long user_id, char *jti_out);
/* The same, with an iat_ms claim of at least min_iat_ms (a token issued
 * right after its user's tokens_valid_after was set, by a clock that may
 * lag the database's). Caller frees. */
char *auth_issue_token_after(long long user_id, long long min_iat_ms, char *jti_out);

/* Resolves the request's caller into ctx->principal: anonymous callers at
 * once; token holders by the users row (cached per worker up to 30 s):
 * missing, deleted or blocked users, and bad or revoked tokens (see
 * auth_revocation_check; without a database round trip when the
 * revocations in memory are fresh), get a 401 answer and
 * `done` is not called. `done` runs on the loop while ctx can still answer
 * (it may run before auth_resolve returns). */
void auth_resolve(struct req_ctx *ctx, void (*done)(struct req_ctx *ctx));

/* Drops the cached status of a user (after a change to the users row). */
void auth_forget_user(long long user_id);
/* A 401 JSON:API error (detail NULL: "Authentication failed") with
 * `WWW-Authenticate: JWT realm="open-event-server"`. May free ctx. */
void auth_reply_unauthorized(struct req_ctx *ctx, const char *detail);
/* How long a users row stays cached (default 30000; 0: no cache). Clears it. */
void auth_set_cache_ttl_ms(int ms);
/* Frees the cache. */
void auth_cleanup(void);

#endif
