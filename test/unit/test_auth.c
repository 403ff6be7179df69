/*
 * Unit tests of core/auth.c: token issue and verification (tokens crafted
 * by hand with libsodium's HMACs and base64url, so libjwt is not trusted to
 * make the bad ones), header schemes, and auth_resolve with its cache
 * against fakes of req_ctx (no loop, no database).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jwt.h>
#include <sodium.h>

#include "core/auth.h"
#include "core/config.h"
#include "core/pg_pool.h"
#include "core/req_ctx.h"

/* exported by auth.c beyond auth.h */
void auth_reply_unauthorized(struct req_ctx *ctx, const char *detail);
void auth_set_cache_ttl_ms(int ms);

#define KEY	  "0123456789abcdef0123456789abcdef-unit-test-key"
#define OTHER_KEY "fedcba9876543210fedcba9876543210-another-key!"

struct config cfg;

/* ---- fakes of req_ctx ---- */

static struct {
	const char *authorization; /* the request's Authorization header */
	int status;		   /* last reply status, 0 if none */
	char detail[256];	   /* its detail */
	char www_auth[128];	   /* WWW-Authenticate added, "" if none */
	int queries;		   /* req_ctx_query calls */
	char sql[256];		   /* the last query's text */
	char param[32];		   /* its $1 */
	req_db_cb cb;		   /* its callback */
	void *arg;		   /* and argument */
	int refuse;		   /* req_ctx_query refuses (503) */
	int done_calls;		   /* the resolve continuation ran */
} fk;

const char *req_ctx_header(const struct req_ctx *ctx, const char *name)
{
	(void)ctx;
	return strcasecmp(name, "Authorization") == 0 ? fk.authorization : NULL;
}

void req_ctx_add_header(struct req_ctx *ctx, const char *name, const char *value)
{
	(void)ctx;
	if (strcasecmp(name, "WWW-Authenticate") == 0)
		snprintf(fk.www_auth, sizeof(fk.www_auth), "%s", value);
}

void req_ctx_reply_error(struct req_ctx *ctx, int status, const char *detail, const char *pointer,
			 const char *parameter)
{
	(void)pointer, (void)parameter;
	assert_int_equal(ctx->replied, 0);
	ctx->replied = 1;
	fk.status = status;
	snprintf(fk.detail, sizeof(fk.detail), "%s", detail ? detail : "");
}

int req_ctx_query(struct req_ctx *ctx, int flags, const char *stmt, const char *sql, int nparams,
		  const char *const *params, req_db_cb cb, void *arg)
{
	(void)flags, (void)stmt;
	fk.queries++;
	if (fk.refuse) {
		req_ctx_reply_error(ctx, 503, "The database is unavailable or overloaded.", NULL,
				    NULL);
		return -1;
	}
	snprintf(fk.sql, sizeof(fk.sql), "%s", sql ? sql : "");
	assert_int_equal(nparams, 1);
	snprintf(fk.param, sizeof(fk.param), "%s", params[0]);
	fk.cb = cb;
	fk.arg = arg;
	return 0;
}

static void done(struct req_ctx *ctx)
{
	(void)ctx;
	fk.done_calls++;
}

/* ---- crafting tokens ---- */

static void b64url(const void *data, size_t n, char *out, size_t outlen)
{
	sodium_bin2base64(out, outlen, data, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

enum alg { HS256, HS384, HS512, NONE };

/* header.payload.signature with the JSON texts given; writes into out. */
static void craft(char *out, size_t outlen, const char *header_json, const char *payload_json,
		  enum alg alg, const char *key)
{
	char h[512], p[1024];
	b64url(header_json, strlen(header_json), h, sizeof(h));
	b64url(payload_json, strlen(payload_json), p, sizeof(p));
	char signing[2048];
	snprintf(signing, sizeof(signing), "%s.%s", h, p);
	unsigned char mac[64];
	size_t maclen = 0;
	if (alg == HS256) {
		crypto_auth_hmacsha256_state st;
		crypto_auth_hmacsha256_init(&st, (const unsigned char *)key, strlen(key));
		crypto_auth_hmacsha256_update(&st, (const unsigned char *)signing, strlen(signing));
		crypto_auth_hmacsha256_final(&st, mac);
		maclen = 32;
	} else if (alg == HS512) {
		crypto_auth_hmacsha512_state st;
		crypto_auth_hmacsha512_init(&st, (const unsigned char *)key, strlen(key));
		crypto_auth_hmacsha512_update(&st, (const unsigned char *)signing, strlen(signing));
		crypto_auth_hmacsha512_final(&st, mac);
		maclen = 64;
	} else if (alg == HS384) {
		/* no HMAC-SHA384 in libsodium: a 48-byte tag that cannot verify */
		memset(mac, 0x5a, 48);
		maclen = 48;
	}
	char sig[128] = "";
	if (maclen)
		b64url(mac, maclen, sig, sizeof(sig));
	snprintf(out, outlen, "%s.%s", signing, sig);
}

static const char *HDR256 = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

static void payload(char *out, size_t n, long long identity, long iat, long nbf, long exp)
{
	snprintf(out, n,
		 "{\"identity\":%lld,\"iat\":%ld,\"nbf\":%ld,\"exp\":%ld,\"jti\":\"abc123\"}",
		 identity, iat, nbf, exp);
}

static int parse_token(const char *scheme, const char *token, struct principal *p, char *why)
{
	char header[6000];
	snprintf(header, sizeof(header), "%s %s", scheme, token);
	return auth_parse_header(header, p, why, 160);
}

static int setup(void **state)
{
	(void)state;
	memset(&fk, 0, sizeof(fk));
	cfg.secret_key = KEY;
	cfg.jwt_ttl_s = 86400;
	auth_set_cache_ttl_ms(30000);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	auth_cleanup();
	return 0;
}

/* ---- tokens ---- */

static void test_round_trip(void **state)
{
	(void)state;
	char jti[64] = "";
	long before = (long)time(NULL);
	char *t = auth_issue_token(42, jti);
	assert_non_null(t);
	assert_int_equal(strlen(jti), 32);
	for (const char *c = jti; *c; c++)
		assert_non_null(strchr("0123456789abcdef", *c));
	struct principal p;
	char why[160];
	assert_int_equal(parse_token("JWT", t, &p, why), 1);
	assert_int_equal(p.user_id, 42);
	assert_string_equal(p.jti, jti);
	assert_true(p.iat >= before && p.iat <= (long)time(NULL));
	assert_int_equal(p.exp - p.iat, 86400);
	assert_int_equal(p.is_admin, 0);

	/* two tokens never share a jti */
	char jti2[64];
	char *t2 = auth_issue_token(42, jti2);
	assert_non_null(t2);
	assert_string_not_equal(jti, jti2);
	free(t);
	free(t2);
	assert_null(auth_issue_token(0, NULL));
}

static void test_issue_uses_ttl(void **state)
{
	(void)state;
	cfg.jwt_ttl_s = 60;
	char *t = auth_issue_token(7, NULL);
	assert_non_null(t);
	struct principal p;
	char why[160];
	assert_int_equal(parse_token("Bearer", t, &p, why), 1);
	assert_int_equal(p.exp - p.iat, 60);
	free(t);
}

static void test_schemes(void **state)
{
	(void)state;
	char *t = auth_issue_token(5, NULL);
	struct principal p;
	char why[160], h[4096];
	const char *ok[] = {"JWT %s",	 "Bearer %s",	 "jwt %s", "bearer %s",
			    "BEARER %s", "  JWT   %s  ", "JWT\t%s"};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(h, sizeof(h), ok[i], t);
		assert_int_equal(auth_parse_header(h, &p, why, sizeof(why)), 1);
		assert_int_equal(p.user_id, 5);
	}
	const char *bad[] = {"Basic %s", "Token %s",	 "%s",	    "JWT",	  "JWT ",
			     "Bearer",	 "JWT %s extra", "JWTx %s", "Bearer: %s", ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(h, sizeof(h), bad[i], t);
		p.user_id = 99;
		assert_int_equal(auth_parse_header(h, &p, why, sizeof(why)), -1);
		assert_int_equal(p.user_id, 0);
		assert_true(strlen(why) > 0);
		assert_null(strstr(why, t)); /* never the token */
	}
	free(t);
}

static void test_anonymous(void **state)
{
	(void)state;
	struct principal p;
	memset(&p, 0x7f, sizeof(p));
	char why[160] = "x";
	assert_int_equal(auth_parse_header(NULL, &p, why, sizeof(why)), 0);
	assert_int_equal(p.user_id, 0);
	assert_int_equal(p.is_admin, 0);
	assert_string_equal(why, "");
}

static void test_crafted_valid(void **state)
{
	(void)state;
	long now = (long)time(NULL);
	char pl[256], t[2048];
	struct principal p;
	char why[160];
	payload(pl, sizeof(pl), 9, now, now, now + 100);
	craft(t, sizeof(t), HDR256, pl, HS256, KEY);
	assert_int_equal(parse_token("JWT", t, &p, why), 1);
	assert_int_equal(p.user_id, 9);
	assert_string_equal(p.jti, "abc123");
	/* the original's tokens: no nbf/jti needed, extra claims ignored */
	craft(t, sizeof(t), HDR256, "{\"identity\":10,\"exp\":99999999999,\"type\":\"access\"}",
	      HS256, KEY);
	assert_int_equal(parse_token("JWT", t, &p, why), 1);
	assert_int_equal(p.user_id, 10);
	assert_string_equal(p.jti, "");
	/* a header without typ */
	craft(t, sizeof(t), "{\"alg\":\"HS256\"}", pl, HS256, KEY);
	assert_int_equal(parse_token("JWT", t, &p, why), 1);
}

static void expect_refused(const char *token, const char *why_has)
{
	struct principal p;
	char why[160];
	assert_int_equal(parse_token("JWT", token, &p, why), -1);
	assert_int_equal(p.user_id, 0);
	assert_string_equal(p.jti, "");
	if (why_has && !strstr(why, why_has))
		fail_msg("reason %s does not mention %s", why, why_has);
}

static void test_expired(void **state)
{
	(void)state;
	long now = (long)time(NULL);
	char pl[256], t[2048];
	payload(pl, sizeof(pl), 9, now - 200, now - 200, now - 1);
	craft(t, sizeof(t), HDR256, pl, HS256, KEY);
	expect_refused(t, "expired");
	payload(pl, sizeof(pl), 9, now - 200, now - 200, now); /* exp == now */
	craft(t, sizeof(t), HDR256, pl, HS256, KEY);
	expect_refused(t, "expired");
	/* issued by us with a negative lifetime */
	cfg.jwt_ttl_s = -10;
	char *mine = auth_issue_token(3, NULL);
	expect_refused(mine, "expired");
	free(mine);
}

static void test_not_yet_valid(void **state)
{
	(void)state;
	long now = (long)time(NULL);
	char pl[256], t[2048];
	payload(pl, sizeof(pl), 9, now, now + 60, now + 3600);
	craft(t, sizeof(t), HDR256, pl, HS256, KEY);
	expect_refused(t, "nbf");
}

static void test_wrong_key(void **state)
{
	(void)state;
	long now = (long)time(NULL);
	char pl[256], t[2048];
	payload(pl, sizeof(pl), 9, now, now, now + 3600);
	craft(t, sizeof(t), HDR256, pl, HS256, OTHER_KEY);
	expect_refused(t, "signature");
	/* a token of ours, then the server's key changes */
	char *mine = auth_issue_token(3, NULL);
	cfg.secret_key = OTHER_KEY;
	expect_refused(mine, "signature");
	cfg.secret_key = NULL;
	expect_refused(mine, NULL);
	free(mine);
}

static void test_alg_none(void **state)
{
	(void)state;
	long now = (long)time(NULL);
	char pl[256], t[2048];
	payload(pl, sizeof(pl), 1, now, now, now + 3600);
	/* unsigned: header.payload. */
	craft(t, sizeof(t), "{\"alg\":\"none\",\"typ\":\"JWT\"}", pl, NONE, KEY);
	assert_int_equal(t[strlen(t) - 1], '.');
	expect_refused(t, NULL);
	/* and without the last dot */
	t[strlen(t) - 1] = '\0';
	expect_refused(t, NULL);
	/* other spellings of none, with an HS256 signature attached */
	const char *hdrs[] = {"{\"alg\":\"none\",\"typ\":\"JWT\"}",
			      "{\"alg\":\"None\"}",
			      "{\"alg\":\"NONE\"}",
			      "{\"typ\":\"JWT\"}",
			      "{\"alg\":\"\"}",
			      "{\"alg\":256}"};
	for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
		craft(t, sizeof(t), hdrs[i], pl, HS256, KEY);
		expect_refused(t, NULL);
	}
}

static void test_alg_none_with_libjwt_directly(void **state)
{
	/* the library alone, with a key: documents why auth.c checks the alg */
	(void)state;
	long now = (long)time(NULL);
	char pl[256], t[2048];
	payload(pl, sizeof(pl), 1, now, now, now + 3600);
	craft(t, sizeof(t), "{\"alg\":\"none\",\"typ\":\"JWT\"}", pl, NONE, KEY);
	jwt_t *jwt = NULL;
	int rc = jwt_decode(&jwt, t, (const unsigned char *)KEY, (int)strlen(KEY));
	if (rc == 0) {
		/* accepted by the library: it must at least say so */
		assert_int_not_equal(jwt_get_alg(jwt), JWT_ALG_HS256);
		jwt_free(jwt);
	}
	struct principal p;
	char why[160];
	assert_int_equal(parse_token("Bearer", t, &p, why), -1);
}

static void test_tampered(void **state)
{
	(void)state;
	char *t = auth_issue_token(5, NULL);
	char *dot1 = strchr(t, '.'), *dot2 = strchr(dot1 + 1, '.');
	/* swap the payload for one naming user 1, keep the signature */
	long now = (long)time(NULL);
	char pl[256], b[512], forged[4096];
	payload(pl, sizeof(pl), 1, now, now, now + 3600);
	b64url(pl, strlen(pl), b, sizeof(b));
	snprintf(forged, sizeof(forged), "%.*s.%s%s", (int)(dot1 - t), t, b, dot2);
	expect_refused(forged, "signature");
	/* flip one character of the signature */
	char *copy = strdup(t);
	size_t n = strlen(copy);
	copy[n - 2] = copy[n - 2] == 'A' ? 'B' : 'A';
	expect_refused(copy, NULL);
	/* drop the signature */
	copy[dot2 - t + 1] = '\0';
	expect_refused(copy, NULL);
	free(copy);
	free(t);
}

static void test_other_hmac_algs_refused(void **state)
{
	(void)state;
	long now = (long)time(NULL);
	char pl[256], t[2048];
	payload(pl, sizeof(pl), 9, now, now, now + 3600);
	craft(t, sizeof(t), "{\"alg\":\"HS512\",\"typ\":\"JWT\"}", pl, HS512, KEY);
	expect_refused(t, "HS256");
	craft(t, sizeof(t), "{\"alg\":\"HS384\",\"typ\":\"JWT\"}", pl, HS384, KEY);
	expect_refused(t, NULL);
	craft(t, sizeof(t), "{\"alg\":\"RS256\",\"typ\":\"JWT\"}", pl, HS256, KEY);
	expect_refused(t, NULL);
}

static void test_garbage(void **state)
{
	(void)state;
	const char *bad[] = {
	    "abc",     "a.b",	  "a.b.c",   "...",	"a..c",		".b.c",
	    "a.b.c.d", "a.b.c==", "a+b.c.d", "a/b.c.d", "\xc3\xa9.b.c", "eyJ.eyJ.sig"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_refused(bad[i], NULL);
	/* too long */
	char *huge = malloc(5001);
	memset(huge, 'A', 5000);
	huge[2000] = '.';
	huge[4000] = '.';
	huge[5000] = '\0';
	expect_refused(huge, "too long");
	free(huge);
	/* signed, but the payload is not a JSON object */
	char t[2048];
	craft(t, sizeof(t), HDR256, "not json", HS256, KEY);
	expect_refused(t, NULL);
	craft(t, sizeof(t), HDR256, "[1,2]", HS256, KEY);
	expect_refused(t, NULL);
	craft(t, sizeof(t), "not json", "{\"identity\":1,\"exp\":99999999999}", HS256, KEY);
	expect_refused(t, NULL);
}

static void test_claims(void **state)
{
	(void)state;
	long now = (long)time(NULL);
	char pl[512], t[2048];
	const char *bad[] = {
	    "{\"exp\":%ld}",				      /* no identity */
	    "{\"identity\":\"42\",\"exp\":%ld}",	      /* a string */
	    "{\"identity\":0,\"exp\":%ld}",		      /* not a user id */
	    "{\"identity\":-4,\"exp\":%ld}",		      /* negative */
	    "{\"identity\":4.5,\"exp\":%ld}",		      /* not an integer */
	    "{\"identity\":null,\"exp\":%ld}",		      /* null */
	    "{\"identity\":{\"id\":4},\"exp\":%ld}",	      /* an object */
	    "{\"identity\":4,\"exp\":\"%ld\"}",		      /* exp a string */
	    "{\"identity\":4,\"exp\":%ld,\"nbf\":\"0\"}",     /* nbf a string */
	    "{\"identity\":4,\"exp\":%ld,\"iat\":1.5}",	      /* iat a float */
	    "{\"identity\":4,\"exp\":%ld,\"jti\":7}",	      /* jti not a string */
	    "{\"identity\":4,\"nbf\":0,\"iat\":0,\"x\":%ld}", /* no exp */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(pl, sizeof(pl), bad[i], now + 3600);
		craft(t, sizeof(t), HDR256, pl, HS256, KEY);
		struct principal p;
		char why[160];
		if (parse_token("JWT", t, &p, why) != -1)
			fail_msg("accepted claims %s", pl);
		assert_int_equal(p.user_id, 0);
	}
	char jti[200];
	memset(jti, 'j', 100);
	jti[100] = '\0';
	snprintf(pl, sizeof(pl), "{\"identity\":4,\"exp\":%ld,\"jti\":\"%s\"}", now + 60, jti);
	craft(t, sizeof(t), HDR256, pl, HS256, KEY);
	expect_refused(t, "jti");
	snprintf(pl, sizeof(pl), "{\"identity\":4,\"exp\":%ld}", now + 60);
	craft(t, sizeof(t), HDR256, pl, HS256, KEY);
	struct principal p;
	char why[160];
	assert_int_equal(parse_token("JWT", t, &p, why), 1);
	assert_int_equal(p.user_id, 4);
	assert_int_equal(p.iat, 0);
}

/* ---- auth_resolve ---- */

static PGresult *user_row(const char *is_admin, const char *is_super, const char *blocked,
			  const char *deleted)
{
	PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	PGresAttDesc attrs[4];
	memset(attrs, 0, sizeof(attrs));
	const char *names[] = {"is_admin", "is_super_admin", "is_blocked", "?column?"};
	for (int i = 0; i < 4; i++) {
		attrs[i].name = (char *)names[i];
		attrs[i].typid = 16; /* bool */
		attrs[i].typlen = 1;
		attrs[i].atttypmod = -1;
	}
	assert_true(PQsetResultAttrs(res, 4, attrs));
	if (is_admin) {
		const char *v[] = {is_admin, is_super, blocked, deleted};
		for (int i = 0; i < 4; i++)
			assert_true(PQsetvalue(res, 0, i, (char *)v[i], 1));
	}
	return res;
}

static struct req_ctx *new_ctx(const char *authorization)
{
	struct req_ctx *ctx = calloc(1, sizeof(*ctx));
	strcpy(ctx->id, "test");
	fk.authorization = authorization;
	fk.status = 0;
	fk.www_auth[0] = '\0';
	fk.done_calls = 0;
	return ctx;
}

static char *bearer(long long user)
{
	char *t = auth_issue_token(user, NULL);
	char *h = malloc(strlen(t) + 8);
	sprintf(h, "JWT %s", t);
	free(t);
	return h;
}

/* Resolves with the fake result res (NULL: expect no query). */
static struct req_ctx *resolve(const char *authorization, PGresult *res, int err)
{
	struct req_ctx *ctx = new_ctx(authorization);
	int before = fk.queries;
	auth_resolve(ctx, done);
	if (res || err) {
		assert_int_equal(fk.queries, before + 1);
		assert_int_equal(fk.done_calls, 0);
		assert_int_equal(fk.status, 0);
		fk.cb(ctx, res, err, fk.arg);
		if (res)
			PQclear(res);
	} else {
		assert_int_equal(fk.queries, before);
	}
	return ctx;
}

static void test_resolve_anonymous(void **state)
{
	(void)state;
	struct req_ctx *ctx = resolve(NULL, NULL, 0);
	assert_int_equal(fk.done_calls, 1);
	assert_int_equal(fk.status, 0);
	assert_int_equal(ctx->principal.user_id, 0);
	free(ctx);
}

static void test_resolve_bad_token(void **state)
{
	(void)state;
	struct req_ctx *ctx = resolve("JWT a.b.c", NULL, 0);
	assert_int_equal(fk.done_calls, 0);
	assert_int_equal(fk.status, 401);
	assert_string_equal(fk.www_auth, "JWT realm=\"open-event-server\"");
	assert_true(strlen(fk.detail) > 0);
	assert_int_equal(ctx->principal.user_id, 0);
	free(ctx);
	ctx = resolve("Basic dXNlcjpwYXNz", NULL, 0);
	assert_int_equal(fk.status, 401);
	assert_int_equal(fk.done_calls, 0);
	free(ctx);
}

static void test_resolve_user_and_cache(void **state)
{
	(void)state;
	char *h = bearer(42);
	struct req_ctx *ctx = resolve(h, user_row("f", "t", "f", "f"), 0);
	assert_string_equal(fk.param, "42");
	assert_non_null(strstr(fk.sql, "FROM users"));
	assert_int_equal(fk.done_calls, 1);
	assert_int_equal(fk.status, 0);
	assert_int_equal(ctx->principal.user_id, 42);
	assert_int_equal(ctx->principal.is_super_admin, 1);
	assert_int_equal(ctx->principal.is_admin, 1); /* super admin implies admin */
	free(ctx);

	/* cached: no query */
	ctx = resolve(h, NULL, 0);
	assert_int_equal(fk.done_calls, 1);
	assert_int_equal(ctx->principal.is_admin, 1);
	free(ctx);

	/* forgotten: loaded again (now a plain user) */
	auth_forget_user(42);
	ctx = resolve(h, user_row("f", "f", "f", "f"), 0);
	assert_int_equal(fk.done_calls, 1);
	assert_int_equal(ctx->principal.is_admin, 0);
	assert_int_equal(ctx->principal.is_super_admin, 0);
	free(ctx);
	auth_forget_user(12345); /* not cached: harmless */
	free(h);

	h = bearer(43);
	ctx = resolve(h, user_row("t", "f", "f", "f"), 0);
	assert_int_equal(ctx->principal.is_admin, 1);
	assert_int_equal(ctx->principal.is_super_admin, 0);
	free(ctx);
	free(h);
}

static void check_refused_user(const char *is_admin, const char *is_super, const char *blocked,
			       const char *deleted, long long id)
{
	char *h = bearer(id);
	struct req_ctx *ctx = resolve(h, user_row(is_admin, is_super, blocked, deleted), 0);
	assert_int_equal(fk.done_calls, 0);
	assert_int_equal(fk.status, 401);
	assert_string_equal(fk.detail, "Authentication failed");
	assert_string_equal(fk.www_auth, "JWT realm=\"open-event-server\"");
	free(ctx);
	/* the refusal is cached too, with the same answer */
	ctx = resolve(h, NULL, 0);
	assert_int_equal(fk.done_calls, 0);
	assert_int_equal(fk.status, 401);
	assert_string_equal(fk.detail, "Authentication failed");
	free(ctx);
	free(h);
}

static void test_resolve_refused_users(void **state)
{
	(void)state;
	check_refused_user("t", "t", "t", "f", 50);	/* blocked (even an admin) */
	check_refused_user("f", "f", "f", "t", 51);	/* deleted */
	check_refused_user(NULL, NULL, NULL, NULL, 52); /* missing: no row */
}

static void test_resolve_cache_ttl(void **state)
{
	(void)state;
	auth_set_cache_ttl_ms(40);
	char *h = bearer(60);
	struct req_ctx *ctx = resolve(h, user_row("f", "f", "f", "f"), 0);
	assert_int_equal(fk.done_calls, 1);
	free(ctx);
	ctx = resolve(h, NULL, 0);
	assert_int_equal(fk.done_calls, 1);
	free(ctx);
	usleep(60 * 1000);
	/* stale: asked again, and now the user is blocked */
	ctx = resolve(h, user_row("f", "f", "t", "f"), 0);
	assert_int_equal(fk.status, 401);
	free(ctx);
	/* no cache at all */
	auth_set_cache_ttl_ms(0);
	ctx = resolve(h, user_row("f", "f", "f", "f"), 0);
	assert_int_equal(fk.done_calls, 1);
	free(ctx);
	ctx = resolve(h, user_row("f", "f", "f", "f"), 0);
	assert_int_equal(fk.done_calls, 1);
	free(ctx);
	free(h);
}

static void test_resolve_db_errors(void **state)
{
	(void)state;
	char *h = bearer(70);
	PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_FATAL_ERROR);
	struct req_ctx *ctx = resolve(h, res, PG_ERR_QUERY);
	assert_int_equal(fk.done_calls, 0);
	assert_int_equal(fk.status, 500);
	free(ctx);
	/* an error is not cached: the next request asks again */
	fk.refuse = 1;
	int before = fk.queries;
	ctx = new_ctx(h);
	auth_resolve(ctx, done);
	fk.refuse = 0;
	assert_int_equal(fk.queries, before + 1);
	assert_int_equal(fk.status, 503);
	assert_int_equal(fk.done_calls, 0);
	free(ctx);
	free(h);
}

static void test_reply_unauthorized(void **state)
{
	(void)state;
	struct req_ctx *ctx = new_ctx(NULL);
	auth_reply_unauthorized(ctx, NULL);
	assert_int_equal(fk.status, 401);
	assert_string_equal(fk.detail, "Authentication failed");
	assert_string_equal(fk.www_auth, "JWT realm=\"open-event-server\"");
	free(ctx);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_round_trip),
	    T(test_issue_uses_ttl),
	    T(test_schemes),
	    T(test_anonymous),
	    T(test_crafted_valid),
	    T(test_expired),
	    T(test_not_yet_valid),
	    T(test_wrong_key),
	    T(test_alg_none),
	    T(test_alg_none_with_libjwt_directly),
	    T(test_tampered),
	    T(test_other_hmac_algs_refused),
	    T(test_garbage),
	    T(test_claims),
	    T(test_resolve_anonymous),
	    T(test_resolve_bad_token),
	    T(test_resolve_user_and_cache),
	    T(test_resolve_refused_users),
	    T(test_resolve_cache_ttl),
	    T(test_resolve_db_errors),
	    T(test_reply_unauthorized),
	};
	return cmocka_run_group_tests_name("auth", tests, NULL, NULL);
}
