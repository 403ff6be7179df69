/*
 * handlers/account: password change and reset, email verification, logout
 * (see account.h).
 *
 * Each request keeps its state in a struct acct (ctx->hdata, freed with the
 * context; passwords wiped as soon as they are hashed or checked, and again
 * when freed). Password work runs on the worker pool, never on the loop;
 * a worker job and a rate-limit check each hold a reference to the
 * request, and their late results are discarded when the client has left.
 *
 * Link tokens: only their SHA-256 is looked up. A token is consumed by the
 * same statement that applies its effect (DELETE ... RETURNING feeding the
 * UPDATE), so it works once even when two requests race with it. A reset
 * token is checked before the new password is hashed, so forged tokens
 * cost no hashing.
 *
 * Owns: nothing beyond the request. Never: logs an email, password, token
 * or link; tells whether an address has an account (reset answers the
 * same for every well-formed address, and sends at most the rate limit's
 * number of mails per address and client per window).
 */
#include "handlers/account.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <json-c/json.h>
#include <sodium.h>

#include "core/auth.h"
#include "core/jsonapi.h"
#include "core/log.h"
#include "core/mail.h"
#include "core/password.h"
#include "core/pg_pool.h"
#include "core/ratelimit.h"
#include "core/req_ctx.h"
#include "core/revocations.h"
#include "core/workers.h"

#define TOKEN_MAX_BYTES 128
#define BAD_TOKEN	"The token is invalid, expired or used already."
#define RESET_ANSWER                                                                               \
	"If your email was registered with us, you'll get an email with reset link shortly"

static const char user_sql[] = "SELECT email, password_hash, is_verified FROM users "
			       "WHERE id = $1::bigint AND deleted_at IS NULL";

/* valid_after in ms, rounded up: a token issued before it is always older */
static const char change_sql[] =
    "WITH u AS (UPDATE users SET password_hash = $2, tokens_valid_after = clock_timestamp() "
    "WHERE id = $1::bigint AND deleted_at IS NULL AND password_hash = $3 "
    "RETURNING id, tokens_valid_after), "
    "d AS (DELETE FROM account_tokens a USING u WHERE a.user_id = u.id "
    "AND a.purpose = 'reset-password') "
    "SELECT ceil(extract(epoch FROM tokens_valid_after) * 1000)::bigint FROM u";

static const char reset_check_sql[] =
    "SELECT t.user_id FROM account_tokens t JOIN users u ON u.id = t.user_id "
    "WHERE t.token_hash = $1 AND t.purpose = 'reset-password' AND t.expires_at > now() "
    "AND u.deleted_at IS NULL AND lower(u.email) = lower(t.email)";

static const char reset_sql[] =
    "WITH t AS (DELETE FROM account_tokens WHERE token_hash = $1 "
    "AND purpose = 'reset-password' RETURNING user_id, email, expires_at), "
    "u AS (UPDATE users SET password_hash = $2, tokens_valid_after = clock_timestamp(), "
    "is_verified = true FROM t WHERE users.id = t.user_id AND t.expires_at > now() "
    "AND users.deleted_at IS NULL AND lower(users.email) = lower(t.email) "
    "RETURNING users.id, users.email, users.first_name, users.last_name, "
    "users.tokens_valid_after), "
    "d AS (DELETE FROM account_tokens a USING u WHERE a.user_id = u.id "
    "AND a.purpose = 'reset-password' AND a.token_hash <> $1) "
    "SELECT id, email, ceil(extract(epoch FROM tokens_valid_after) * 1000)::bigint, "
    "nullif(concat_ws(' ', nullif(first_name, ''), nullif(last_name, '')), '') FROM u";

static const char verify_sql[] =
    "WITH t AS (DELETE FROM account_tokens WHERE token_hash = $1 "
    "AND purpose = 'verify-email' RETURNING user_id, email, expires_at), "
    "u AS (UPDATE users SET is_verified = true FROM t WHERE users.id = t.user_id "
    "AND t.expires_at > now() AND users.deleted_at IS NULL "
    "AND lower(users.email) = lower(t.email) RETURNING users.id), "
    "d AS (DELETE FROM account_tokens a USING u WHERE a.user_id = u.id "
    "AND a.purpose = 'verify-email' AND a.token_hash <> $1) "
    "SELECT id FROM u";

static const char logout_sql[] =
    "INSERT INTO token_revocations (jti, user_id, expires_at) "
    "VALUES ($1, $2::bigint, to_timestamp($3::bigint)) ON CONFLICT (jti) DO NOTHING";

/* a token without a jti cannot be revoked alone: all of the user's go */
static const char logout_all_sql[] =
    "UPDATE users SET tokens_valid_after = clock_timestamp() WHERE id = $1::bigint "
    "RETURNING ceil(extract(epoch FROM tokens_valid_after) * 1000)::bigint";

struct acct {
	struct req_ctx *ctx;		    /* the request */
	char *pw;			    /* the (old) password given, wiped after use */
	size_t pwlen;			    /* its length */
	char *new_pw;			    /* change: the new password, wiped after use */
	size_t new_len;			    /* its length */
	long long user_id;		    /* the user concerned */
	char email[MAIL_ADDRESS_MAX + 1];   /* their address */
	char hash[PASSWORD_HASH_BYTES];	    /* the stored hash ("" when none) */
	char new_hash[PASSWORD_HASH_BYTES]; /* the new password's hash */
	char token_hash[65];		    /* hex SHA-256 of a link's token */
	struct ratelimit_key keys[2];	    /* the counters of this attempt */
	int nkeys;			    /* their number */
	int ok;				    /* worker: the old password matched */
	int same;			    /* worker: the new password is the old one */
	int hashed;			    /* worker: new_hash was made */
};

static void acct_free(void *p)
{
	struct acct *a = p;
	if (!a)
		return;
	if (a->pw) {
		sodium_memzero(a->pw, a->pwlen);
		free(a->pw);
	}
	if (a->new_pw) {
		sodium_memzero(a->new_pw, a->new_len);
		free(a->new_pw);
	}
	sodium_memzero(a, sizeof(*a));
	free(a);
}

/* A new state owned by ctx, or NULL (503 answered). */
static struct acct *acct_new(struct req_ctx *ctx)
{
	struct acct *a = calloc(1, sizeof(*a));
	if (!a) {
		req_ctx_reply_error(ctx, 503, "Out of memory.", NULL, NULL);
		return NULL;
	}
	a->ctx = ctx;
	ctx->hdata = a;
	ctx->hfree = acct_free;
	return a;
}

static char *dup_secret(const char *s, size_t len)
{
	char *p = malloc(len + 1);
	if (p)
		memcpy(p, s, len + 1);
	return p;
}

/* ---- answers ---- */

static void db_error(struct req_ctx *ctx, PGresult *res, int err, const char *what)
{
	const char *state = err == PG_ERR_QUERY ? pg_sqlstate(res) : "";
	log_error(ctx->id, "account: %s failed (%s)", what,
		  err == PG_ERR_QUERY ? state : "database unavailable");
	if (err != PG_ERR_QUERY || strcmp(state, "57014") == 0)
		req_ctx_reply_error(ctx, 503, "The database did not answer in time.", NULL, NULL);
	else
		req_ctx_reply_error(ctx, 500, "The database refused the query.", NULL, NULL);
}

static void reply_doc(struct req_ctx *ctx, struct json_object *doc)
{
	req_ctx_add_header(ctx, "Cache-Control", "no-store");
	req_ctx_reply_json(ctx, 200, doc, 0);
}

static void reply_message(struct req_ctx *ctx, const char *msg)
{
	struct json_object *doc = json_object_new_object();
	json_object_object_add(doc, "message", json_object_new_string(msg));
	reply_doc(ctx, doc);
}

static void too_many(struct req_ctx *ctx, int retry_after_s)
{
	char v[16];
	snprintf(v, sizeof(v), "%d", retry_after_s > 0 ? retry_after_s : 1);
	req_ctx_add_header(ctx, "Retry-After", v);
	req_ctx_reply_error(ctx, 429, "Too many failed attempts; try again later.", NULL, NULL);
}

/* ---- the body ---- */

/* The body as a JSON object, or NULL. Caller puts. */
static struct json_object *body_object(struct req_ctx *ctx)
{
	struct evbuffer *buf = evhttp_request_get_input_buffer(ctx->req);
	size_t n = buf ? evbuffer_get_length(buf) : 0;
	if (n == 0 || n > (size_t)INT32_MAX)
		return NULL;
	const char *data = (const char *)evbuffer_pullup(buf, -1);
	struct json_tokener *tok = json_tokener_new_ex(32);
	if (!data || !tok) {
		if (tok)
			json_tokener_free(tok);
		return NULL;
	}
	struct json_object *o = json_tokener_parse_ex(tok, data, (int)n);
	int ok = o && json_tokener_get_error(tok) == json_tokener_success;
	for (size_t i = ok ? json_tokener_get_parse_end(tok) : n; i < n; i++)
		if (!strchr(" \t\r\n", data[i]))
			ok = 0; /* something after the value */
	json_tokener_free(tok);
	if (!ok || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* The members of a body: the object itself, or its "data" object when the
 * body is {"data": {...}} (the original's form). Borrowed from body. */
static struct json_object *members(struct json_object *body)
{
	struct json_object *d;
	if (json_object_object_length(body) == 1 && json_object_object_get_ex(body, "data", &d) &&
	    json_object_is_type(d, json_type_object))
		return d;
	return body;
}

/* Appends one error object to doc's errors. */
static void add_error(struct json_object **doc, int status, const char *detail, const char *pointer)
{
	struct json_object *one = jsonapi_error_doc(status, detail, pointer, NULL);
	if (!*doc) {
		*doc = one;
		return;
	}
	struct json_object *errs, *more;
	if (json_object_object_get_ex(*doc, "errors", &errs) &&
	    json_object_object_get_ex(one, "errors", &more) && json_object_array_length(more) > 0)
		json_object_array_add(errs, json_object_get(json_object_array_get_idx(more, 0)));
	json_object_put(one);
}

/* The string member `name` of m, or NULL with a 400 error added. */
static const char *need_string(struct json_object *m, const char *name, size_t *len,
			       struct json_object **errors)
{
	struct json_object *v;
	if (!json_object_object_get_ex(m, name, &v) || !json_object_is_type(v, json_type_string)) {
		char detail[96], pointer[48];
		snprintf(detail, sizeof(detail), "%s is required and must be a string.", name);
		snprintf(pointer, sizeof(pointer), "/%s", name);
		add_error(errors, 400, detail, pointer);
		return NULL;
	}
	*len = (size_t)json_object_get_string_len(v);
	return json_object_get_string(v);
}

/* Parses the body into members; NULL after answering 400. Caller puts the
 * returned body (the members are borrowed from it). */
static struct json_object *parse(struct req_ctx *ctx, struct json_object **m, const char *what)
{
	struct json_object *body = body_object(ctx);
	if (!body) {
		char detail[128];
		snprintf(detail, sizeof(detail), "The body must be a JSON object with %s.", what);
		req_ctx_reply_error(ctx, 400, detail, NULL, NULL);
		return NULL;
	}
	*m = members(body);
	return body;
}

/* A link token's problems: 0 fine (hash in out), -1 after answering. */
static int take_token(struct req_ctx *ctx, const char *t, size_t len, char out[65])
{
	if (len == 0 || len > TOKEN_MAX_BYTES || memchr(t, '\0', len)) {
		req_ctx_reply_error(ctx, 400, BAD_TOKEN, "/token", NULL);
		return -1;
	}
	mail_token_hash(t, len, out);
	return 0;
}

static void lower_copy(char *out, size_t outlen, const char *s, size_t len)
{
	size_t i = 0;
	for (; i < len && i + 1 < outlen; i++)
		out[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + 32) : s[i];
	out[i] = '\0';
}

/* ---- change-password ---- */

static void cp_updated(struct req_ctx *ctx, PGresult *res, int err, void *arg)
{
	struct acct *a = arg;
	if (err != PG_OK) {
		db_error(ctx, res, err, "password change");
		return;
	}
	if (PQntuples(res) != 1) {
		req_ctx_reply_error(ctx, 409,
				    "The password was changed by another request meanwhile.",
				    "/old-password", NULL);
		return;
	}
	long long va = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	revocations_set_user(a->user_id, va);
	auth_forget_user(a->user_id);
	char *token = auth_issue_token_after(a->user_id, va, NULL);
	if (!token) {
		log_error(ctx->id, "account: cannot issue a token");
		req_ctx_reply_error(ctx, 500, "The token could not be issued.", NULL, NULL);
		return;
	}
	mail_enqueue(MAIL_PASSWORD_CHANGED, a->user_id, NULL, a->user_id);
	log_info(ctx->id, "password of user %lld changed; older tokens revoked", a->user_id);
	struct json_object *doc = json_object_new_object();
	json_object_object_add(doc, "access_token", json_object_new_string(token));
	json_object_object_add(doc, "id", json_object_new_int64(a->user_id));
	json_object_object_add(doc, "email", json_object_new_string(a->email));
	json_object_object_add(doc, "password-changed", json_object_new_boolean(1));
	sodium_memzero(token, strlen(token));
	free(token);
	reply_doc(ctx, doc);
}

/* On a pool thread: touches only a. */
static void cp_work(void *arg)
{
	struct acct *a = arg;
	a->ok = a->hash[0] ? password_verify(a->hash, a->pw) : password_verify_dummy(a->pw);
	a->same = a->pwlen == a->new_len && sodium_memcmp(a->pw, a->new_pw, a->pwlen) == 0;
	if (a->ok && !a->same)
		a->hashed = password_hash(a->new_pw, a->new_hash) == 0;
	sodium_memzero(a->pw, a->pwlen);
	sodium_memzero(a->new_pw, a->new_len);
}

static void cp_worked(void *arg)
{
	struct acct *a = arg;
	struct req_ctx *ctx = a->ctx;
	if (!req_ctx_alive(ctx))
		goto out; /* the attempt stays counted */
	if (!a->ok) {
		log_info(ctx->id, "password change of user %lld refused: wrong password",
			 a->user_id);
		req_ctx_reply_error(ctx, 400, "Wrong password. Please enter the current password.",
				    "/old-password", NULL);
		goto out;
	}
	ratelimit_reset(&a->keys[0]);
	ratelimit_forgive(&a->keys[1], 1);
	if (a->same) {
		req_ctx_reply_error(ctx, 400, "The old and new passwords must be different.",
				    "/new-password", NULL);
		goto out;
	}
	if (!a->hashed) {
		req_ctx_reply_error(ctx, 503, "Could not hash the password.", NULL, NULL);
		goto out;
	}
	char id[24];
	snprintf(id, sizeof(id), "%lld", a->user_id);
	const char *params[3] = {id, a->new_hash, a->hash};
	req_ctx_query(ctx, PG_WRITE, NULL, change_sql, 3, params, cp_updated, a);
out:
	req_ctx_unref(ctx); /* the job's reference; may free ctx and a */
}

static void cp_limited(void *arg, int allowed, int retry_after_s)
{
	struct acct *a = arg;
	struct req_ctx *ctx = a->ctx;
	if (!req_ctx_alive(ctx)) {
		if (allowed)
			ratelimit_forgive(a->keys, a->nkeys);
		goto out;
	}
	if (!allowed) {
		log_info(ctx->id, "password change of user %lld refused: too many failures",
			 a->user_id);
		too_many(ctx, retry_after_s);
		goto out;
	}
	req_ctx_ref(ctx);
	if (workers_submit_big(cp_work, cp_worked, a) < 0) {
		req_ctx_unref(ctx); /* never the last: ours is held */
		ratelimit_forgive(a->keys, a->nkeys);
		req_ctx_add_header(ctx, "Retry-After", "1");
		req_ctx_reply_error(ctx, 503, "The server is busy; try again shortly.", NULL, NULL);
	}
out:
	req_ctx_unref(ctx); /* the check's reference; may free ctx and a */
}

static void cp_user(struct req_ctx *ctx, PGresult *res, int err, void *arg)
{
	struct acct *a = arg;
	if (err != PG_OK) {
		db_error(ctx, res, err, "user lookup");
		return;
	}
	if (PQntuples(res) != 1) {
		auth_reply_unauthorized(ctx, NULL);
		return;
	}
	snprintf(a->email, sizeof(a->email), "%s", PQgetvalue(res, 0, 0));
	if (!PQgetisnull(res, 0, 1) && (size_t)PQgetlength(res, 0, 1) < sizeof(a->hash))
		memcpy(a->hash, PQgetvalue(res, 0, 1), (size_t)PQgetlength(res, 0, 1) + 1);
	char low[MAIL_ADDRESS_MAX + 1];
	lower_copy(low, sizeof(low), a->email, strlen(a->email));
	ratelimit_key(&a->keys[0], "login-email", low, strlen(low));
	ratelimit_key(&a->keys[1], "login-addr", ctx->client, strlen(ctx->client));
	a->nkeys = 2;
	req_ctx_ref(ctx);
	if (ratelimit_acquire(a->keys, a->nkeys, cp_limited, a) < 0) {
		req_ctx_unref(ctx);
		req_ctx_reply_error(ctx, 503, "Out of memory.", NULL, NULL);
	}
}

static void cp_authed(struct req_ctx *ctx)
{
	if (ctx->principal.user_id <= 0) {
		auth_reply_unauthorized(ctx, "Sign in to change your password.");
		return;
	}
	struct json_object *m, *body = parse(ctx, &m, "old-password and new-password");
	if (!body)
		return;
	struct json_object *errors = NULL;
	size_t olen = 0, nlen = 0;
	const char *old = need_string(m, "old-password", &olen, &errors);
	const char *nw = need_string(m, "new-password", &nlen, &errors);
	if (errors) {
		json_object_put(body);
		req_ctx_reply_json(ctx, 400, errors, 1);
		return;
	}
	const char *why = password_problem(old, olen, 0);
	if (why)
		add_error(&errors, 422, why, "/old-password");
	why = password_problem(nw, nlen, 1);
	if (why)
		add_error(&errors, 422, why, "/new-password");
	if (errors) {
		json_object_put(body);
		req_ctx_reply_json(ctx, 422, errors, 1);
		return;
	}
	struct acct *a = acct_new(ctx);
	if (a) {
		a->user_id = ctx->principal.user_id;
		a->pw = dup_secret(old, olen);
		a->pwlen = olen;
		a->new_pw = dup_secret(nw, nlen);
		a->new_len = nlen;
	}
	json_object_put(body);
	if (!a)
		return;
	if (!a->pw || !a->new_pw) {
		req_ctx_reply_error(ctx, 503, "Out of memory.", NULL, NULL);
		return;
	}
	char id[24];
	snprintf(id, sizeof(id), "%lld", a->user_id);
	const char *params[1] = {id};
	req_ctx_query(ctx, PG_READ, NULL, user_sql, 1, params, cp_user, a);
}

void account_change_password(struct req_ctx *ctx)
{
	auth_resolve(ctx, cp_authed);
}

/* ---- reset-password: the request for a link ---- */

static void rr_limited(void *arg, int allowed, int retry_after_s)
{
	struct acct *a = arg;
	struct req_ctx *ctx = a->ctx;
	(void)retry_after_s;
	/* sent whether or not the client is still there */
	if (allowed)
		mail_enqueue(MAIL_RESET_PASSWORD, 0, a->email, 0);
	else
		log_info(ctx->id, "password reset mail not sent: too many asked");
	if (req_ctx_alive(ctx)) {
		struct json_object *doc = json_object_new_object();
		json_object_object_add(doc, "message", json_object_new_string(RESET_ANSWER));
		json_object_object_add(doc, "email", json_object_new_string(a->email));
		reply_doc(ctx, doc);
	}
	req_ctx_unref(ctx); /* the check's reference; may free ctx and a */
}

void account_reset_request(struct req_ctx *ctx)
{
	struct json_object *m, *body = parse(ctx, &m, "email");
	if (!body)
		return;
	struct json_object *errors = NULL;
	size_t elen = 0;
	const char *email = need_string(m, "email", &elen, &errors);
	if (errors) {
		json_object_put(body);
		req_ctx_reply_json(ctx, 400, errors, 1);
		return;
	}
	if (!mail_address_ok(email, elen)) {
		json_object_put(body);
		req_ctx_reply_error(ctx, 422,
				    "The email must be an address of 3 to 320 printable ASCII "
				    "characters without spaces, quotes, brackets or line breaks.",
				    "/email", NULL);
		return;
	}
	struct acct *a = acct_new(ctx);
	if (a)
		memcpy(a->email, email, elen + 1);
	json_object_put(body);
	if (!a)
		return;
	char low[MAIL_ADDRESS_MAX + 1];
	lower_copy(low, sizeof(low), a->email, elen);
	ratelimit_key(&a->keys[0], "reset-email", low, strlen(low));
	ratelimit_key(&a->keys[1], "reset-addr", ctx->client, strlen(ctx->client));
	a->nkeys = 2;
	req_ctx_ref(ctx);
	if (ratelimit_acquire(a->keys, a->nkeys, rr_limited, a) < 0)
		rr_limited(a, 1, 0);
}

/* ---- reset-password: the new password ---- */

static void rp_done(struct req_ctx *ctx, PGresult *res, int err, void *arg)
{
	struct acct *a = arg;
	if (err != PG_OK) {
		db_error(ctx, res, err, "password reset");
		return;
	}
	if (PQntuples(res) != 1) { /* used or expired meanwhile */
		req_ctx_reply_error(ctx, 400, BAD_TOKEN, "/token", NULL);
		return;
	}
	a->user_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	long long va = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	revocations_set_user(a->user_id, va);
	auth_forget_user(a->user_id);
	log_info(ctx->id, "password of user %lld reset by mail; older tokens revoked", a->user_id);
	struct json_object *doc = json_object_new_object();
	json_object_object_add(doc, "id", json_object_new_int64(a->user_id));
	json_object_object_add(doc, "email", json_object_new_string(PQgetvalue(res, 0, 1)));
	json_object_object_add(
	    doc, "name",
	    PQgetisnull(res, 0, 3) ? NULL : json_object_new_string(PQgetvalue(res, 0, 3)));
	reply_doc(ctx, doc);
}

static void rp_work(void *arg)
{
	struct acct *a = arg;
	a->hashed = password_hash(a->new_pw, a->new_hash) == 0;
	sodium_memzero(a->new_pw, a->new_len);
}

static void rp_worked(void *arg)
{
	struct acct *a = arg;
	struct req_ctx *ctx = a->ctx;
	if (!req_ctx_alive(ctx))
		goto out;
	if (!a->hashed) {
		req_ctx_reply_error(ctx, 503, "Could not hash the password.", NULL, NULL);
		goto out;
	}
	const char *params[2] = {a->token_hash, a->new_hash};
	req_ctx_query(ctx, PG_WRITE, NULL, reset_sql, 2, params, rp_done, a);
out:
	req_ctx_unref(ctx);
}

static void rp_checked(struct req_ctx *ctx, PGresult *res, int err, void *arg)
{
	struct acct *a = arg;
	if (err != PG_OK) {
		db_error(ctx, res, err, "reset token lookup");
		return;
	}
	if (PQntuples(res) != 1) {
		log_info(ctx->id, "password reset refused: bad token");
		req_ctx_reply_error(ctx, 400, BAD_TOKEN, "/token", NULL);
		return;
	}
	req_ctx_ref(ctx);
	if (workers_submit_big(rp_work, rp_worked, a) < 0) {
		req_ctx_unref(ctx);
		req_ctx_add_header(ctx, "Retry-After", "1");
		req_ctx_reply_error(ctx, 503, "The server is busy; try again shortly.", NULL, NULL);
	}
}

void account_reset_password(struct req_ctx *ctx)
{
	struct json_object *m, *body = parse(ctx, &m, "token and password");
	if (!body)
		return;
	struct json_object *errors = NULL;
	size_t tlen = 0, plen = 0;
	const char *token = need_string(m, "token", &tlen, &errors);
	const char *pw = need_string(m, "password", &plen, &errors);
	if (errors) {
		json_object_put(body);
		req_ctx_reply_json(ctx, 400, errors, 1);
		return;
	}
	const char *why = password_problem(pw, plen, 1);
	if (why) {
		json_object_put(body);
		req_ctx_reply_error(ctx, 422, why, "/password", NULL);
		return;
	}
	char hash[65];
	if (take_token(ctx, token, tlen, hash) < 0) {
		json_object_put(body);
		return;
	}
	struct acct *a = acct_new(ctx);
	if (a) {
		memcpy(a->token_hash, hash, sizeof(hash));
		a->new_pw = dup_secret(pw, plen);
		a->new_len = plen;
	}
	json_object_put(body);
	if (!a)
		return;
	if (!a->new_pw) {
		req_ctx_reply_error(ctx, 503, "Out of memory.", NULL, NULL);
		return;
	}
	const char *params[1] = {a->token_hash};
	req_ctx_query(ctx, PG_READ, NULL, reset_check_sql, 1, params, rp_checked, a);
}

/* ---- verify-email ---- */

static void ve_done(struct req_ctx *ctx, PGresult *res, int err, void *arg)
{
	(void)arg;
	if (err != PG_OK) {
		db_error(ctx, res, err, "email verification");
		return;
	}
	if (PQntuples(res) != 1) {
		log_info(ctx->id, "email verification refused: bad token");
		req_ctx_reply_error(ctx, 400, BAD_TOKEN, "/token", NULL);
		return;
	}
	log_info(ctx->id, "email of user %s verified", PQgetvalue(res, 0, 0));
	reply_message(ctx, "Email Verified");
}

void account_verify_email(struct req_ctx *ctx)
{
	struct json_object *m, *body = parse(ctx, &m, "token");
	if (!body)
		return;
	struct json_object *errors = NULL;
	size_t tlen = 0;
	const char *token = need_string(m, "token", &tlen, &errors);
	if (errors) {
		json_object_put(body);
		req_ctx_reply_json(ctx, 400, errors, 1);
		return;
	}
	char hash[65];
	int bad = take_token(ctx, token, tlen, hash);
	json_object_put(body);
	if (bad)
		return;
	const char *params[1] = {hash};
	req_ctx_query(ctx, PG_WRITE, NULL, verify_sql, 1, params, ve_done, NULL);
}

/* ---- resend-verification-email ---- */

static void rv_limited(void *arg, int allowed, int retry_after_s)
{
	struct acct *a = arg;
	struct req_ctx *ctx = a->ctx;
	if (req_ctx_alive(ctx)) {
		if (!allowed) {
			too_many(ctx, retry_after_s);
		} else if (account_send_verification(a->user_id) < 0) {
			ratelimit_forgive(a->keys, a->nkeys);
			req_ctx_reply_error(ctx, 503, "The mail could not be queued; try again.",
					    NULL, NULL);
		} else {
			reply_message(ctx, "Verification email resent");
		}
	}
	req_ctx_unref(ctx);
}

static void rv_user(struct req_ctx *ctx, PGresult *res, int err, void *arg)
{
	struct acct *a = arg;
	if (err != PG_OK) {
		db_error(ctx, res, err, "user lookup");
		return;
	}
	if (PQntuples(res) != 1) {
		auth_reply_unauthorized(ctx, NULL);
		return;
	}
	if (PQgetvalue(res, 0, 2)[0] == 't') {
		req_ctx_reply_error(ctx, 422, "The email address is verified already.", NULL, NULL);
		return;
	}
	char uid[24];
	snprintf(uid, sizeof(uid), "%lld", a->user_id);
	ratelimit_key(&a->keys[0], "verify-user", uid, strlen(uid));
	a->nkeys = 1;
	req_ctx_ref(ctx);
	if (ratelimit_acquire(a->keys, a->nkeys, rv_limited, a) < 0)
		rv_limited(a, 1, 0);
}

static void rv_authed(struct req_ctx *ctx)
{
	if (ctx->principal.user_id <= 0) {
		auth_reply_unauthorized(ctx, "Sign in to ask for a verification email.");
		return;
	}
	struct acct *a = acct_new(ctx);
	if (!a)
		return;
	a->user_id = ctx->principal.user_id;
	char id[24];
	snprintf(id, sizeof(id), "%lld", a->user_id);
	const char *params[1] = {id};
	req_ctx_query(ctx, PG_READ, NULL, user_sql, 1, params, rv_user, a);
}

void account_resend_verification(struct req_ctx *ctx)
{
	auth_resolve(ctx, rv_authed);
}

int account_send_verification(long long user_id)
{
	return mail_enqueue(MAIL_VERIFY_EMAIL, user_id, NULL, user_id);
}

/* ---- logout ---- */

static void lo_done(struct req_ctx *ctx, PGresult *res, int err, void *arg)
{
	(void)arg;
	if (err != PG_OK) {
		db_error(ctx, res, err, "logout");
		return;
	}
	const struct principal *p = &ctx->principal;
	if (p->jti[0])
		revocations_add_jti(p->jti, p->exp * 1000);
	else if (PQntuples(res) == 1)
		revocations_set_user(p->user_id, strtoll(PQgetvalue(res, 0, 0), NULL, 10));
	log_info(ctx->id, "logout of user %lld: token revoked", p->user_id);
	struct json_object *doc = json_object_new_object();
	json_object_object_add(doc, "success", json_object_new_boolean(1));
	reply_doc(ctx, doc);
}

static void lo_authed(struct req_ctx *ctx)
{
	const struct principal *p = &ctx->principal;
	if (p->user_id <= 0) {
		auth_reply_unauthorized(ctx, "Sign in to sign out.");
		return;
	}
	char uid[24], exp[24];
	snprintf(uid, sizeof(uid), "%lld", p->user_id);
	snprintf(exp, sizeof(exp), "%lld", p->exp);
	if (p->jti[0]) {
		const char *params[3] = {p->jti, uid, exp};
		req_ctx_query(ctx, PG_WRITE, NULL, logout_sql, 3, params, lo_done, NULL);
	} else {
		const char *params[1] = {uid};
		req_ctx_query(ctx, PG_WRITE, NULL, logout_all_sql, 1, params, lo_done, NULL);
	}
}

void account_logout(struct req_ctx *ctx)
{
	auth_resolve(ctx, lo_authed);
}
