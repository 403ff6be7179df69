/*
 * fuzz_body: libFuzzer target for JSON:API write bodies: the strict JSON
 * parsing with its depth limit (parse_body), the document checks
 * (validate: data, type, id, relationships) and the attribute checks
 * (validate_attrs, check_attr: types, ranges, NUL bytes, lengths, enums,
 * required fields, admin-only fields), then the INSERT/UPDATE statement
 * built from what passed (write_run). Those functions are static in
 * src/core/crud.c, so this file includes crud.c itself and links the
 * modules crud.c and the resource descriptors use, but not req_ctx.c,
 * whose API is faked here: replies are recorded, queries captured and
 * never run. (A crud_validate_body() exported by crud.c would let this
 * target stop including crud.c.)
 *
 * Input: byte 0 picks the resource type, byte 1 the write (bit 0: create,
 * else update of row 42; bits 1-2: the caller, anonymous, a user, an admin,
 * a super admin; bit 3: the update's URL used an event identifier), the
 * rest is the request body.
 *
 * Oracles:
 *   - an answer or a deferred error is one of 400, 403, 404, 409, 422 with
 *     a pointer under /data; never a 5xx but 503 for memory;
 *   - a body nested deeper than the limit (32) is refused;
 *   - a body that passes names only attributes of the type, has every
 *     required attribute on create, has data.type equal to the type, and
 *     gives a statement whose text is built only from the code (the same
 *     SQL check as fuzz_filter: no input byte in the SQL text, $1..$n each
 *     once), with as many parameters as it sent;
 *   - no leak (LeakSanitizer, per input) and no memory error on any path.
 *
 * fuzz-sources: src/core/access.c src/core/auth.c src/core/cidr.c src/core/config.c
 * fuzz-sources: src/core/filter.c src/core/jsonapi.c src/core/jsonw.c src/core/log.c
 * fuzz-sources: src/core/password.c src/core/pg_pool.c src/core/query.c src/core/resource.c
 * fuzz-sources: src/core/router.c src/core/sqlbuf.c src/core/workers.c src/core/metrics.c src/core/listcache.c
 * fuzz-sources: src/core/mailaddr.c @resource-files
 * fuzz-pkgs: libevent libevent_pthreads libpq json-c libjwt libsodium
 * fuzz-max-len: 65536
 */
#include "core/crud.c"

#include <stdint.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "core/app.h"
#include "core/config.h"
#include "handlers/resources.h"

struct app app;
void (*req_ctx_on_done)(void);

/* ---- fakes of req_ctx ---- */

static struct {
	int replies;	   /* answers sent */
	int status;	   /* last answer's status */
	char pointer[200]; /* its pointer */
	int queries;	   /* queries sent */
	char *sql;	   /* the last query (owned) */
	int nparams;	   /* its parameter count */
} fk;

struct req_ctx *req_ctx_new(struct evhttp_request *req)
{
	(void)req;
	abort();
}

void req_ctx_ref(struct req_ctx *ctx)
{
	ctx->refs++;
}

void req_ctx_unref(struct req_ctx *ctx)
{
	ctx->refs--;
}

int req_ctx_alive(const struct req_ctx *ctx)
{
	return !ctx->replied;
}

const char *req_ctx_header(const struct req_ctx *ctx, const char *name)
{
	(void)ctx, (void)name;
	return NULL;
}

void req_ctx_add_header(struct req_ctx *ctx, const char *name, const char *value)
{
	(void)ctx, (void)name, (void)value;
}

void req_ctx_reply(struct req_ctx *ctx, int status, const char *content_type, const char *body,
		   size_t len, int etag)
{
	(void)content_type, (void)body, (void)len, (void)etag;
	if (ctx->replied)
		abort(); /* answered twice */
	ctx->replied = 1;
	fk.replies++;
	fk.status = status;
}

/* documents kept in memory belong to reads, which never run here */
void req_ctx_reply_ref(struct req_ctx *ctx, int status, const char *content_type, const char *body,
		       size_t len, const char *tag,
		       void (*release)(const void *body, size_t len, void *arg), void *arg)
{
	(void)ctx, (void)status, (void)content_type, (void)body, (void)len, (void)tag;
	(void)release, (void)arg;
	abort();
}

void req_ctx_reply_json(struct req_ctx *ctx, int status, struct json_object *doc, int jsonapi)
{
	(void)jsonapi;
	json_object_put(doc);
	req_ctx_reply(ctx, status, NULL, NULL, 0, 0);
}

void req_ctx_reply_error(struct req_ctx *ctx, int status, const char *detail, const char *pointer,
			 const char *parameter)
{
	(void)detail, (void)parameter;
	snprintf(fk.pointer, sizeof(fk.pointer), "%s", pointer ? pointer : "");
	req_ctx_reply(ctx, status, NULL, NULL, 0, 0);
}

int req_ctx_query(struct req_ctx *ctx, int flags, const char *stmt, const char *sql, int nparams,
		  const char *const *params, req_db_cb cb, void *arg)
{
	(void)ctx, (void)flags, (void)stmt, (void)params, (void)cb, (void)arg;
	fk.queries++;
	free(fk.sql);
	fk.sql = strdup(sql ? sql : "");
	fk.nparams = nparams;
	return 0;
}

long req_ctx_live(void)
{
	return 0;
}

long req_ctx_inflight(void)
{
	return 0;
}

static const char *cur_text;

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		fprintf(stderr, "fuzz_body: " __VA_ARGS__);                                        \
		fprintf(stderr, "\n  body: %.400s\n", cur_text);                                   \
		abort();                                                                           \
	} while (0)

#include "sqlcheck.h"

/* ---- the vocabulary of code-made SQL ---- */

static const char *const lower_words[] = {"t",	     "text",	"x",	       "now", "unnest",
					  "to_json", "ins",	"upd",	       "old", "int",
					  "bigint",  "boolean", "timestamptz", NULL};

static void build_vocab(void)
{
	for (const char *const *w = lower_words; *w; w++)
		harvest(*w);
	sqlcheck_harvest_resources(1);
}

/* Deepest nesting of [ and { outside strings. */
static int nesting(const char *s, size_t n)
{
	int d = 0, max = 0, in_str = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '[' || c == '{') {
			if (++d > max)
				max = d;
		} else if (c == ']' || c == '}') {
			d--;
		}
	}
	return max;
}

static char *nul_getenv(const char *name)
{
	(void)name;
	return NULL;
}

static void check_error(int status, const char *pointer)
{
	if (status != 400 && status != 403 && status != 404 && status != 409 && status != 422 &&
	    status != 503)
		FAIL("answered %d", status);
	if (status == 503)
		return;
	if (pointer[0] && strncmp(pointer, "/data", 5) != 0)
		FAIL("error %d with pointer \"%s\" outside /data", status, pointer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!nvocab) {
		char err[256];
		if (config_load(nul_getenv, 0, err, sizeof(err)) != 0) {
			fprintf(stderr, "fuzz_body: config_load: %s\n", err);
			abort();
		}
		build_vocab();
		/* the CTEs that creates add (e.g. the owner role of a new event) */
		struct req_ctx c = {0};
		c.principal.user_id = 7;
		for (int i = 0; i < nall_resources; i++) {
			const struct resource *r = all_resources[i];
			if (!r->insert_ctes)
				continue;
			struct write_ctx w = {0};
			w.ctx = &c;
			w.r = r;
			w.creating = 1;
			struct sqlbuf b;
			sqlbuf_init(&b);
			r->insert_ctes(&w, &b);
			harvest(b.s);
			sqlbuf_free(&b);
		}
	}
	if (size < 2 || size > 200000)
		return 0;
	const struct resource *r = all_resources[data[0] % nall_resources];
	int creating = data[1] & 1;
	const char *body = (const char *)data + 2;
	size_t len = size - 2;
	char *shown = strndup(body, len > 400 ? 400 : len);
	cur_text = shown;

	struct req_ctx *ctx = calloc(1, sizeof(*ctx));
	ctx->req = evhttp_request_new(NULL, NULL);
	evbuffer_add(evhttp_request_get_input_buffer(ctx->req), body, len);
	ctx->refs = 1;
	switch ((data[1] >> 1) & 3) {
	case 1:
		ctx->principal.user_id = 7;
		break;
	case 2:
		ctx->principal.user_id = 8;
		ctx->principal.is_admin = 1;
		break;
	case 3:
		ctx->principal.user_id = 9;
		ctx->principal.is_admin = ctx->principal.is_super_admin = 1;
		break;
	}
	memset(&fk, 0, sizeof(fk));

	/* as do_write sets up a create or an update */
	struct write_state *ws = calloc(1, sizeof(*ws));
	ctx->hdata = ws;
	ctx->hfree = write_free;
	ws->kind = creating ? CRUD_CREATE : CRUD_UPDATE;
	struct write_ctx *w = &ws->w;
	w->ctx = ctx;
	w->r = r;
	w->creating = creating;
	w->id = creating ? 0 : 42;
	for (int i = 0; i < 16; i++)
		ws->nrel_ids[i] = -1;
	ws->def.on = !creating;
	if (!creating && (data[1] & 8)) {
		w->id = 0;
		ws->id_later = 1;
	}

	int ok = 0;
	ws->body = parse_body(ctx);
	if (ws->body) {
		if (nesting(body, len) > BODY_MAX_DEPTH)
			FAIL("took a body nested %d deep", nesting(body, len));
		if (validate(ctx, ws) == 0) {
			/* after the permission check (not modelled): a deferred error answers */
			if (ws->def.status == 0 && validate_attrs(ctx, ws) == 0 &&
			    ws->def.status == 0 && !ctx->replied)
				ok = 1;
		}
	}
	if (ws->def.status)
		check_error(ws->def.status, ws->def.pointer);
	if (ctx->replied)
		check_error(fk.status, fk.pointer);
	if (!ok && !ctx->replied && !ws->def.status)
		FAIL("refused without an answer");
	if (creating && ws->def.status)
		FAIL("a create deferred its error");
	if (!creating && ctx->replied)
		FAIL("an update answered before its permission check (status %d)", fk.status);

	if (ok) {
		struct json_object *d, *t;
		if (!json_object_object_get_ex(ws->body, "data", &d) ||
		    !json_object_object_get_ex(d, "type", &t) ||
		    strcmp(json_object_get_string(t), r->type) != 0)
			FAIL("took a body whose data.type is not %s", r->type);
		if (w->attrs) {
			json_object_object_foreach(w->attrs, k, v)
			{
				(void)v;
				if (!resource_attr_find(r, k))
					FAIL("took unknown attribute %s of %s", k, r->type);
			}
		}
		if (creating)
			for (int i = 0; i < r->nattrs; i++)
				if ((r->attrs[i].flags & ATTR_REQUIRED) &&
				    (!w->attrs ||
				     !json_object_object_get_ex(w->attrs, r->attrs[i].name, NULL)))
					FAIL("create of %s without required %s", r->type,
					     r->attrs[i].name);
		if (ws->id_later)
			w->id = 42; /* known after the load */
		write_run(ws);
		if (ctx->replied)
			check_error(fk.status, fk.pointer);
		else if (fk.queries != 1 || !fk.sql)
			FAIL("a valid write sent %d statements", fk.queries);
		else
			check_sql(fk.sql, fk.nparams);
	}

	ctx->hfree(ctx->hdata);
	evhttp_request_free(ctx->req);
	query_free(&ctx->query);
	free(ctx);
	free(fk.sql);
	fk.sql = NULL;
	free(shown);
	return 0;
}
