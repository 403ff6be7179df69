/*
 * auth: JWT verification and issue (libjwt, HS256 pinned, SECRET_KEY), and
 * the resolution of a token's user into the request's principal through a
 * small per-worker cache of users rows.
 *
 * Token rules: `Authorization: JWT <t>` or `Bearer <t>` (scheme compared
 * without case); the token is three base64url parts with a non-empty
 * signature; libjwt checks the signature with our key; the algorithm must
 * be HS256 (so `none` and HS384/HS512 are refused even when signed with our
 * key); `identity` is a positive integer; `exp` is an integer and > now;
 * `nbf` and `iat`, when present, are integers and nbf <= now + NBF_LEEWAY_S
 * (clocks of issuers differ a little, and time() is a coarse clock); `jti`, when
 * present, is a string of at most 63 bytes; `iat_ms` (ours: the issue time
 * in milliseconds, compared with tokens_valid_after), when present, is an
 * integer.
 *
 * Revocations: auth_revocation_check (core/revocations) answers from memory;
 * when it cannot (its state is stale, e.g. at start-up), the users query
 * checks the token's jti and iat_ms in the database instead, uncached.
 *
 * Owns: the cache (a direct-mapped table of AUTH_CACHE_SLOTS entries, one
 * per user id hash, each valid for the cache TTL). Never: logs a token,
 * blocks (the only I/O is one query through req_ctx_query), or tells a
 * caller whether a user is missing, deleted or blocked.
 */
#include "core/auth.h"

#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <json-c/json.h>
#include <jwt.h>
#include <sodium.h>

#include "core/config.h"
#include "core/log.h"
#include "core/pg_pool.h"
#include "core/req_ctx.h"

#define TOKEN_MAX_BYTES	  4096
#define AUTH_CACHE_SLOTS  4096	/* a power of two */
#define AUTH_CACHE_TTL_MS 30000 /* spec §5: at most 30 s */
#define AUTH_CHALLENGE	  "JWT realm=\"open-event-server\""
#define AUTH_FAILED	  "Authentication failed"
#define AUTH_REVOKED	  "The token has been revoked."

struct cache_entry {
	long long user_id;  /* 0: empty slot */
	int is_admin;	    /* users.is_admin */
	int is_super_admin; /* users.is_super_admin */
	int ok;		    /* the row exists, is live and not blocked */
	long long at_ms;    /* when it was loaded (monotonic ms) */
};

static struct cache_entry *cache; /* AUTH_CACHE_SLOTS entries, allocated on first use */
static int cache_ttl_ms = AUTH_CACHE_TTL_MS;

static const char user_sql[] =
    "SELECT is_admin, is_super_admin, is_blocked, deleted_at IS NOT NULL FROM users "
    "WHERE id = $1";
/* the same, and whether the token is revoked (when memory cannot tell) */
static const char user_revoked_sql[] =
    "SELECT is_admin, is_super_admin, is_blocked, deleted_at IS NOT NULL, "
    "coalesce(tokens_valid_after > to_timestamp($3::bigint / 1000.0), false) OR EXISTS "
    "(SELECT 1 FROM token_revocations WHERE jti = $2 AND expires_at > now()) FROM users "
    "WHERE id = $1";

int (*auth_revocation_check)(const struct principal *p);

/* ---- tokens ---- */

static void say(char *why, size_t whylen, const char *msg)
{
	if (why && whylen)
		snprintf(why, whylen, "%s", msg);
}

static const unsigned char *secret(int *len)
{
	const char *k = cfg.secret_key;
	*len = k ? (int)strlen(k) : 0;
	return (const unsigned char *)k;
}

static int b64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/* header.payload.signature, base64url, every part non-empty. */
static int well_formed(const char *t, size_t n)
{
	int dots = 0;
	size_t part = 0;
	for (size_t i = 0; i < n; i++) {
		if (t[i] == '.') {
			if (part == 0)
				return 0;
			dots++;
			part = 0;
		} else if (b64url_char(t[i])) {
			part++;
		} else {
			return 0;
		}
	}
	return dots == 2 && part > 0;
}

/* An integer claim: 1 present (value in *out), 0 absent, -1 another type.
 * (libjwt 1.10's jwt_get_grant_int reads 4.5, "42" and null as 0.) */
static int int_claim(struct json_object *claims, const char *name, long long *out)
{
	struct json_object *v;
	if (!json_object_object_get_ex(claims, name, &v))
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return -1;
	*out = (long long)json_object_get_int64(v);
	return 1;
}

/* Seconds a token's nbf may be ahead of our clock: a token made this second
 * by a client or another instance whose clock (or time()'s coarse clock
 * here) is a few milliseconds apart must not be refused. */
#define NBF_LEEWAY_S 5

/* Checks the claims of a verified token into p; 1 or -1 with why. */
static int check_claims(struct json_object *claims, struct principal *p, char *why, size_t whylen)
{
	long long identity = 0, exp = 0, nbf = 0, iat = 0, iat_ms = 0;
	long long now = (long long)time(NULL);
	if (!json_object_is_type(claims, json_type_object)) {
		say(why, whylen, "The token's payload is not a JSON object.");
		return -1;
	}
	if (int_claim(claims, "identity", &identity) != 1 || identity <= 0) {
		say(why, whylen, "The token names no user (claim identity).");
		return -1;
	}
	int has_exp = int_claim(claims, "exp", &exp);
	int has_nbf = int_claim(claims, "nbf", &nbf);
	int has_iat = int_claim(claims, "iat", &iat);
	int has_iat_ms = int_claim(claims, "iat_ms", &iat_ms);
	if (has_exp != 1 || has_nbf < 0 || has_iat < 0 || has_iat_ms < 0) {
		say(why, whylen, "The token's exp, nbf or iat claim is missing or not an integer.");
		return -1;
	}
	if (exp <= now) {
		say(why, whylen, "The token has expired.");
		return -1;
	}
	if (has_nbf && nbf > now + NBF_LEEWAY_S) {
		say(why, whylen, "The token is not valid yet (claim nbf).");
		return -1;
	}
	struct json_object *j = NULL;
	const char *jti = NULL;
	if (json_object_object_get_ex(claims, "jti", &j)) {
		if (!json_object_is_type(j, json_type_string) ||
		    (size_t)json_object_get_string_len(j) >= sizeof(p->jti)) {
			say(why, whylen, "The token's jti claim is not a short string.");
			return -1;
		}
		jti = json_object_get_string(j);
		if (strlen(jti) != (size_t)json_object_get_string_len(j)) {
			say(why, whylen, "The token's jti claim is not a short string.");
			return -1;
		}
	}
	p->user_id = identity;
	p->exp = exp;
	p->iat = has_iat ? iat : 0;
	/* iat in milliseconds, saturated: a signed token may carry any number */
	p->iat_ms = has_iat_ms ? iat_ms
		    : p->iat > LLONG_MAX / 1000 || p->iat < LLONG_MIN / 1000
			? (p->iat < 0 ? LLONG_MIN : LLONG_MAX)
			: p->iat * 1000;
	if (jti)
		snprintf(p->jti, sizeof(p->jti), "%s", jti);
	return 1;
}

static int verify(const char *token, struct principal *p, char *why, size_t whylen)
{
	int keylen;
	const unsigned char *key = secret(&keylen);
	if (keylen == 0) {
		say(why, whylen, "The server cannot verify tokens.");
		return -1;
	}
	jwt_t *jwt = NULL;
	if (jwt_decode(&jwt, token, key, keylen) != 0 || !jwt) {
		say(why, whylen, "The token is malformed or its signature is invalid.");
		return -1;
	}
	int rc = -1;
	/* pinned: libjwt verified with whatever alg the header named */
	/* libjwt compares the header's alg without case: ask for it exactly */
	const char *alg = jwt_get_header(jwt, "alg");
	if (jwt_get_alg(jwt) != JWT_ALG_HS256 || !alg || strcmp(alg, "HS256") != 0) {
		say(why, whylen, "The token's algorithm is not HS256.");
		jwt_free(jwt);
		return -1;
	}
	char *text = jwt_get_grants_json(jwt, NULL);
	jwt_free(jwt);
	struct json_object *claims = text ? json_tokener_parse(text) : NULL;
	free(text);
	if (!claims)
		say(why, whylen, "The token's payload is not a JSON object.");
	else
		rc = check_claims(claims, p, why, whylen);
	json_object_put(claims);
	return rc;
}

int auth_parse_header(const char *header, struct principal *p, char *why, size_t whylen)
{
	memset(p, 0, sizeof(*p));
	if (why && whylen)
		why[0] = '\0';
	if (!header)
		return 0;
	const char *s = header;
	while (*s == ' ' || *s == '\t')
		s++;
	size_t scheme = strcspn(s, " \t");
	if (!((scheme == 3 && strncasecmp(s, "JWT", 3) == 0) ||
	      (scheme == 6 && strncasecmp(s, "Bearer", 6) == 0)) ||
	    s[scheme] == '\0') {
		say(why, whylen,
		    "The Authorization header must be `JWT <token>` or `Bearer <token>`.");
		return -1;
	}
	s += scheme;
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strcspn(s, " \t");
	const char *rest = s + n;
	while (*rest == ' ' || *rest == '\t')
		rest++;
	if (n == 0 || *rest != '\0') {
		say(why, whylen,
		    "The Authorization header must be `JWT <token>` or `Bearer <token>`.");
		return -1;
	}
	if (n > TOKEN_MAX_BYTES) {
		say(why, whylen, "The token is too long.");
		return -1;
	}
	if (!well_formed(s, n)) {
		say(why, whylen, "The token is malformed or unsigned.");
		return -1;
	}
	char token[TOKEN_MAX_BYTES + 1];
	memcpy(token, s, n);
	token[n] = '\0';
	int rc = verify(token, p, why, whylen);
	if (rc < 0)
		memset(p, 0, sizeof(*p));
	return rc;
}

char *auth_issue_token(long long user_id, char *jti_out)
{
	return auth_issue_token_after(user_id, 0, jti_out);
}

char *auth_issue_token_after(long long user_id, long long min_iat_ms, char *jti_out)
{
	int keylen;
	const unsigned char *key = secret(&keylen);
	if (user_id <= 0 || keylen == 0 || sodium_init() < 0)
		return NULL;
	unsigned char raw[16];
	char jti[2 * sizeof(raw) + 1];
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(jti, sizeof(jti), raw, sizeof(raw));
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	long now = (long)ts.tv_sec;
	long long iat_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (iat_ms < min_iat_ms)
		iat_ms = min_iat_ms;
	char *out = NULL;
	jwt_t *jwt = NULL;
	if (jwt_new(&jwt) != 0 || !jwt)
		return NULL;
	if (jwt_add_grant_int(jwt, "identity", (long)user_id) == 0 &&
	    jwt_add_grant_int(jwt, "iat", now) == 0 && jwt_add_grant_int(jwt, "nbf", now) == 0 &&
	    jwt_add_grant_int(jwt, "exp", now + cfg.jwt_ttl_s) == 0 &&
	    jwt_add_grant_int(jwt, "iat_ms", (long)iat_ms) == 0 &&
	    jwt_add_grant(jwt, "jti", jti) == 0 &&
	    jwt_set_alg(jwt, JWT_ALG_HS256, key, keylen) == 0)
		out = jwt_encode_str(jwt);
	jwt_free(jwt);
	if (out && jti_out)
		memcpy(jti_out, jti, sizeof(jti));
	return out;
}

/* ---- the users cache ---- */

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct cache_entry *slot(long long user_id)
{
	if (!cache) {
		cache = calloc(AUTH_CACHE_SLOTS, sizeof(*cache));
		if (!cache)
			return NULL;
	}
	uint64_t h = (uint64_t)user_id * 0x9E3779B97F4A7C15ULL;
	return &cache[(h >> 32) & (AUTH_CACHE_SLOTS - 1)];
}

/* The fresh cached entry of user_id, or NULL. */
static const struct cache_entry *cache_get(long long user_id)
{
	if (cache_ttl_ms <= 0 || !cache)
		return NULL;
	struct cache_entry *e = slot(user_id);
	if (!e || e->user_id != user_id || now_ms() - e->at_ms >= cache_ttl_ms)
		return NULL;
	return e;
}

static void cache_put(long long user_id, int is_admin, int is_super_admin, int ok)
{
	if (cache_ttl_ms <= 0)
		return;
	struct cache_entry *e = slot(user_id);
	if (!e)
		return;
	e->user_id = user_id;
	e->is_admin = is_admin;
	e->is_super_admin = is_super_admin;
	e->ok = ok;
	e->at_ms = now_ms();
}

void auth_forget_user(long long user_id)
{
	if (!cache)
		return;
	struct cache_entry *e = slot(user_id);
	if (e && e->user_id == user_id)
		memset(e, 0, sizeof(*e));
}

void auth_set_cache_ttl_ms(int ms)
{
	cache_ttl_ms = ms;
	if (cache)
		memset(cache, 0, AUTH_CACHE_SLOTS * sizeof(*cache));
}

void auth_cleanup(void)
{
	free(cache);
	cache = NULL;
}

/* ---- resolution ---- */

void auth_reply_unauthorized(struct req_ctx *ctx, const char *detail)
{
	req_ctx_add_header(ctx, "WWW-Authenticate", AUTH_CHALLENGE);
	req_ctx_reply_error(ctx, 401, detail ? detail : AUTH_FAILED, NULL, NULL);
}

typedef void (*done_fn)(struct req_ctx *ctx);

/* A principal whose user is known and allowed: fills the flags, goes on. */
static void admit(struct req_ctx *ctx, const struct cache_entry *e, done_fn done)
{
	if (!e->ok) {
		auth_reply_unauthorized(ctx, AUTH_FAILED);
		return;
	}
	ctx->principal.is_super_admin = e->is_super_admin;
	ctx->principal.is_admin = e->is_admin || e->is_super_admin;
	done(ctx);
}

static int truthy(const PGresult *res, int col)
{
	return !PQgetisnull(res, 0, col) && PQgetvalue(res, 0, col)[0] == 't';
}

static void user_loaded(struct req_ctx *ctx, PGresult *res, int err, void *arg)
{
	done_fn done;
	memcpy(&done, &arg, sizeof(done));
	if (err != PG_OK) {
		const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
		log_error(ctx->id, "auth: loading user %lld failed (%s)", ctx->principal.user_id,
			  state ? state : "no SQLSTATE");
		if (state && strcmp(state, "57014") == 0)
			req_ctx_reply_error(ctx, 503, "The database did not answer in time.", NULL,
					    NULL);
		else
			req_ctx_reply_error(ctx, 500, "The database refused the query.", NULL,
					    NULL);
		return;
	}
	struct cache_entry e = {.user_id = ctx->principal.user_id};
	if (PQntuples(res) > 0 && PQnfields(res) >= 4) {
		e.is_admin = truthy(res, 0);
		e.is_super_admin = truthy(res, 1);
		e.ok = !truthy(res, 2) && !truthy(res, 3);
	}
	cache_put(e.user_id, e.is_admin, e.is_super_admin, e.ok);
	if (e.ok && PQntuples(res) > 0 && PQnfields(res) >= 5 && truthy(res, 4)) {
		auth_reply_unauthorized(ctx, AUTH_REVOKED);
		return;
	}
	admit(ctx, &e, done);
}

void auth_resolve(struct req_ctx *ctx, void (*done)(struct req_ctx *ctx))
{
	char why[160];
	int r = auth_parse_header(req_ctx_header(ctx, "Authorization"), &ctx->principal, why,
				  sizeof(why));
	if (r == 0) {
		done(ctx);
		return;
	}
	if (r < 0) {
		auth_reply_unauthorized(ctx, why);
		return;
	}
	int revoked = auth_revocation_check ? auth_revocation_check(&ctx->principal) : 0;
	if (revoked > 0) {
		auth_reply_unauthorized(ctx, AUTH_REVOKED);
		return;
	}
	const struct cache_entry *e = revoked == 0 ? cache_get(ctx->principal.user_id) : NULL;
	if (e) {
		admit(ctx, e, done);
		return;
	}
	char id[24], iat_ms[24];
	snprintf(id, sizeof(id), "%lld", ctx->principal.user_id);
	snprintf(iat_ms, sizeof(iat_ms), "%lld", ctx->principal.iat_ms);
	const char *params[3] = {id, ctx->principal.jti, iat_ms};
	void *arg;
	_Static_assert(sizeof(arg) == sizeof(done), "function pointers fit in void *");
	memcpy(&arg, &done, sizeof(arg));
	/* on refusal req_ctx_query has answered 503 */
	if (revoked < 0) /* memory cannot tell: the database does */
		req_ctx_query(ctx, PG_READ, NULL, user_revoked_sql, 3, params, user_loaded, arg);
	else
		req_ctx_query(ctx, PG_READ, NULL, user_sql, 1, params, user_loaded, arg);
}
