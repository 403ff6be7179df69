/*
 * handlers/auth: sign-in. Reads {"email","password"}, loads the live user
 * by lower(email), checks the password on the worker pool (an unknown email
 * is checked against a dummy hash so that it costs the same), and answers
 * {"access_token": "<JWT>"} or one 401 body for every kind of failure.
 *
 * Choices: passwords over PASSWORD_MAX_BYTES (1 KiB) or containing NUL get
 * 422 with pointer /password, and emails over EMAIL_MAX_BYTES or containing
 * NUL get 422 with pointer /email: bad input, not wrong credentials, and
 * never hashed. The request's Content-Type is not checked: any body that
 * parses as a JSON object is taken (the JSON:API media rules do not apply
 * to this route).
 *
 * Limits (spec §5b, core/ratelimit): before the lookup, one attempt is
 * reserved on the counters of the email (lower-cased) and of the client
 * address (ctx->client: TRUSTED_PROXIES applied); at the limit the answer
 * is 429 with Retry-After, and no password is checked. A good password
 * clears the email's counter and gives the address's attempt back; a
 * server-side failure gives both back; a wrong one keeps them.
 *
 * Owns: the login state (ctx->hdata; the password copy is wiped as soon as
 * it has been checked, and again when the state is freed). Never: logs an
 * email, password or token; verifies a password on the loop; touches the
 * request when the client has left (the worker job holds a reference and
 * its result is then discarded).
 */
#include "handlers/auth.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <json-c/json.h>

#include "core/app.h"
#include "core/auth.h"
#include "core/jsonapi.h"
#include "core/log.h"
#include "core/password.h"
#include "core/pg_pool.h"
#include "core/ratelimit.h"
#include "core/req_ctx.h"
#include "core/workers.h"

#define EMAIL_MAX_BYTES 320
#define LOGIN_FAILED	"Authentication failed"
#define CHALLENGE	"JWT realm=\"open-event-server\""

static const char find_user_sql[] = "SELECT id, password_hash, is_blocked FROM users "
				    "WHERE lower(email) = lower($1) AND deleted_at IS NULL LIMIT 1";
static const char touch_user_sql[] = "UPDATE users SET last_accessed_at = now() WHERE id = $1";

struct login {
	struct req_ctx *ctx;		 /* the request (a reference is held while the job runs) */
	char *password;			 /* copy of the given password, wiped after the check */
	size_t pwlen;			 /* its length in bytes */
	long long user_id;		 /* the live user with that email, 0 when none */
	int blocked;			 /* users.is_blocked */
	char hash[PASSWORD_HASH_BYTES];	 /* users.password_hash, "" when none or too long */
	int ok;				 /* the worker's answer: the password matches */
	char email[EMAIL_MAX_BYTES + 1]; /* the email given */
	struct ratelimit_key keys[2];	 /* counters: the email's, the client address's */
};

static void login_free(void *p)
{
	struct login *l = p;
	if (!l)
		return;
	if (l->password) {
		sodium_memzero(l->password, l->pwlen);
		free(l->password);
	}
	sodium_memzero(l->hash, sizeof(l->hash));
	free(l);
}

static void unauthorized(struct req_ctx *ctx)
{
	req_ctx_add_header(ctx, "WWW-Authenticate", CHALLENGE);
	req_ctx_reply_error(ctx, 401, LOGIN_FAILED, NULL, NULL);
}

/* ---- the worker job ---- */

/* On a pool thread: touches only the login state. */
static void check_password(void *arg)
{
	struct login *l = arg;
	if (l->user_id > 0 && l->hash[0])
		l->ok = password_verify(l->hash, l->password);
	else
		l->ok = password_verify_dummy(l->password);
	sodium_memzero(l->password, l->pwlen);
}

static void touched(void *arg, PGresult *res, int err)
{
	(void)arg;
	if (err != PG_OK)
		log_warn(NULL, "login: last_accessed_at not updated (%s)",
			 res ? pg_sqlstate(res) : "database unavailable");
}

/* On the loop, after check_password. */
static void checked(void *arg)
{
	struct login *l = arg;
	struct req_ctx *ctx = l->ctx;
	if (!req_ctx_alive(ctx))
		goto out; /* the client left: discard */
	if (!l->ok || l->blocked || l->user_id <= 0) {
		log_info(ctx->id, "login refused");
		unauthorized(ctx);
		goto out;
	}
	ratelimit_reset(&l->keys[0]);
	ratelimit_forgive(&l->keys[1], 1);
	char *token = auth_issue_token(l->user_id, NULL);
	if (!token) {
		log_error(ctx->id, "login: cannot issue a token");
		req_ctx_reply_error(ctx, 500, "The token could not be issued.", NULL, NULL);
		goto out;
	}
	/* fire and forget: not tied to the request */
	char id[24];
	snprintf(id, sizeof(id), "%lld", l->user_id);
	const char *params[1] = {id};
	if (app.pg)
		pg_pool_query(app.pg, PG_WRITE, NULL, touch_user_sql, 1, params, touched, NULL);
	log_info(ctx->id, "login of user %lld", l->user_id);
	struct json_object *doc = json_object_new_object();
	json_object_object_add(doc, "access_token", json_object_new_string(token));
	free(token);
	req_ctx_add_header(ctx, "Cache-Control", "no-store");
	req_ctx_reply_json(ctx, 200, doc, 0);
out:
	req_ctx_unref(ctx); /* the job's reference; may free ctx and l */
}

/* ---- the user row ---- */

static void user_found(struct req_ctx *ctx, PGresult *res, int err, void *arg)
{
	struct login *l = arg;
	if (err != PG_OK) {
		const char *state = pg_sqlstate(res);
		ratelimit_forgive(l->keys, 2);
		log_error(ctx->id, "login: user lookup failed (%s)", state);
		if (strcmp(state, "57014") == 0)
			req_ctx_reply_error(ctx, 503, "The database did not answer in time.", NULL,
					    NULL);
		else
			req_ctx_reply_error(ctx, 500, "The database refused the query.", NULL,
					    NULL);
		return;
	}
	if (PQntuples(res) > 0) {
		l->user_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		l->blocked = PQgetvalue(res, 0, 2)[0] == 't';
		if (!PQgetisnull(res, 0, 1) && (size_t)PQgetlength(res, 0, 1) < sizeof(l->hash))
			memcpy(l->hash, PQgetvalue(res, 0, 1), (size_t)PQgetlength(res, 0, 1) + 1);
	}
	req_ctx_ref(ctx);
	if (workers_submit_big(check_password, checked, l) < 0) {
		req_ctx_unref(ctx); /* never the last: the HTTP side holds one */
		ratelimit_forgive(l->keys, 2);
		log_warn(ctx->id, "login: password workers are full");
		req_ctx_add_header(ctx, "Retry-After", "1");
		req_ctx_reply_error(ctx, 503, "The server is busy; try again shortly.", NULL, NULL);
	}
}

/* ---- the limits ---- */

static void limited(void *arg, int allowed, int retry_after_s)
{
	struct login *l = arg;
	struct req_ctx *ctx = l->ctx;
	if (!req_ctx_alive(ctx)) {
		if (allowed)
			ratelimit_forgive(l->keys, 2); /* no attempt was made */
	} else if (!allowed) {
		char v[16];
		snprintf(v, sizeof(v), "%d", retry_after_s > 0 ? retry_after_s : 1);
		log_info(ctx->id, "login refused: too many failures");
		req_ctx_add_header(ctx, "Retry-After", v);
		req_ctx_reply_error(ctx, 429, "Too many failed sign-ins; try again later.", NULL,
				    NULL);
	} else {
		const char *params[1] = {l->email};
		if (req_ctx_query(ctx, PG_READ, NULL, find_user_sql, 1, params, user_found, l) < 0)
			ratelimit_forgive(l->keys, 2); /* answered 503 */
	}
	req_ctx_unref(ctx); /* the check's reference; may free ctx and l */
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
	struct json_object *o = jsonapi_parse(data, n, 32);
	int ok = o != NULL;
	if (!ok || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return NULL;
	}
	return o;
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

void auth_login(struct req_ctx *ctx)
{
	struct json_object *body = body_object(ctx);
	if (!body) {
		req_ctx_reply_error(ctx, 400,
				    "The body must be a JSON object with email and password.", NULL,
				    NULL);
		return;
	}
	struct json_object *email = NULL, *pw = NULL, *errors = NULL;
	if (!json_object_object_get_ex(body, "email", &email) ||
	    !json_object_is_type(email, json_type_string))
		add_error(&errors, 400, "email is required and must be a string.", "/email");
	if (!json_object_object_get_ex(body, "password", &pw) ||
	    !json_object_is_type(pw, json_type_string))
		add_error(&errors, 400, "password is required and must be a string.", "/password");
	if (errors) {
		json_object_put(body);
		req_ctx_reply_json(ctx, 400, errors, 1);
		return;
	}
	const char *e = json_object_get_string(email);
	size_t elen = (size_t)json_object_get_string_len(email);
	const char *p = json_object_get_string(pw);
	size_t plen = (size_t)json_object_get_string_len(pw);
	if (elen > EMAIL_MAX_BYTES || memchr(e, '\0', elen))
		add_error(&errors, 422, "The email is longer than 320 bytes or contains NUL.",
			  "/email");
	const char *why = password_problem(p, plen, 0);
	if (why)
		add_error(&errors, 422, why, "/password");
	if (errors) {
		json_object_put(body);
		req_ctx_reply_json(ctx, 422, errors, 1);
		return;
	}
	struct login *l = calloc(1, sizeof(*l));
	if (l)
		l->password = malloc(plen + 1);
	if (!l || !l->password) {
		login_free(l);
		json_object_put(body);
		req_ctx_reply_error(ctx, 503, "Out of memory.", NULL, NULL);
		return;
	}
	memcpy(l->password, p, plen + 1);
	l->pwlen = plen;
	l->ctx = ctx;
	memcpy(l->email, e, elen + 1);
	json_object_put(body);
	/* freed with the context, also when the client leaves mid-way */
	ctx->hdata = l;
	ctx->hfree = login_free;
	char low[EMAIL_MAX_BYTES + 1];
	for (size_t i = 0; i <= elen; i++) {
		char c = l->email[i];
		low[i] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
	}
	ratelimit_key(&l->keys[0], "login-email", low, elen);
	ratelimit_key(&l->keys[1], "login-addr", ctx->client, strlen(ctx->client));
	req_ctx_ref(ctx);
	if (ratelimit_acquire(l->keys, 2, limited, l) < 0) {
		req_ctx_unref(ctx); /* never the last: the HTTP side holds one */
		req_ctx_reply_error(ctx, 503, "Out of memory.", NULL, NULL);
	}
}
