/*
 * exports: permission check on the event, then tasks_enqueue. The request
 * holds a reference while the task's row is inserted; the answer is sent
 * from the enqueue callback if the client is still there.
 */
#include "handlers/exports.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/access.h"
#include "core/auth.h"
#include "core/pg_pool.h"
#include "core/req_ctx.h"
#include "core/sqlbuf.h"
#include "handlers/resources.h"
#include "tasks/tasks.h"

static void enqueued(void *arg, int err, const char *id)
{
	struct req_ctx *ctx = arg;
	if (req_ctx_alive(ctx)) {
		if (err || !id) {
			req_ctx_reply_error(ctx, 503, "The export could not be queued.", NULL,
					    NULL);
		} else {
			char url[96];
			snprintf(url, sizeof(url), "/v1/tasks/%s", id);
			struct json_object *o = json_object_new_object();
			json_object_object_add(o, "task_url", json_object_new_string(url));
			req_ctx_reply_json(ctx, 200, o, 0);
		}
	}
	req_ctx_unref(ctx);
}

static void checked(struct req_ctx *ctx, PGresult *res, int err, void *arg)
{
	const char *task = arg;
	if (err != PG_OK) {
		req_ctx_reply_error(ctx, 500, "The event could not be read.", NULL, NULL);
		return;
	}
	if (PQntuples(res) != 1) {
		req_ctx_reply_error(ctx, 404, "No such event.", NULL, NULL);
		return;
	}
	long long event_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	int roles = atoi(PQgetvalue(res, 0, 1));
	int visible = strcmp(PQgetvalue(res, 0, 2), "t") == 0;
	if (!ctx->principal.is_admin && !(roles & ROLES_ORGANISERS)) {
		if (visible)
			req_ctx_reply_error(ctx, 403, "Only the event's organisers may export it.",
					    NULL, NULL);
		else
			req_ctx_reply_error(ctx, 404, "No such event.", NULL, NULL);
		return;
	}
	struct json_object *payload = json_object_new_object();
	json_object_object_add(payload, "event_id", json_object_new_int64(event_id));
	struct task_opts o = {.creator_id = ctx->principal.user_id};
	req_ctx_ref(ctx);
	int rc = tasks_enqueue(task, payload, &o, enqueued, ctx);
	json_object_put(payload);
	if (rc < 0) {
		req_ctx_unref(ctx); /* the HTTP side still holds one */
		req_ctx_reply_error(ctx, 503, "The database is unavailable or overloaded.", NULL,
				    NULL);
	}
}

static void authed_task(struct req_ctx *ctx, const char *task)
{
	const struct principal *pr = &ctx->principal;
	if (!pr->user_id) {
		auth_reply_unauthorized(ctx, "Exports need a signed-in organiser.");
		return;
	}
	const struct route_param *p = route_param_get(&ctx->match, "event_id");
	struct sqlbuf b;
	sqlbuf_init(&b);
	sqlbuf_add(&b, "SELECT e.id, ");
	access_roles_sql("e.id", pr, &b);
	sqlbuf_add(&b, ", ");
	access_visible(&event_resource, "e", pr, TRASH_HIDE, &b);
	sqlbuf_add(&b, " FROM events e WHERE e.deleted_at IS NULL AND ");
	if (p && p->is_ident) {
		sqlbuf_add(&b, "e.identifier = ");
		sqlbuf_param(&b, p->ident);
	} else {
		sqlbuf_add(&b, "e.id = ");
		sqlbuf_param_int(&b, p ? p->id : 0);
	}
	if (sqlbuf_failed(&b))
		req_ctx_reply_error(ctx, 500, "Out of memory.", NULL, NULL);
	else
		req_ctx_query(ctx, PG_READ, NULL, b.s, b.nparams, sqlbuf_params(&b), checked,
			      (void *)task);
	sqlbuf_free(&b);
}

static void authed_json(struct req_ctx *ctx)
{
	authed_task(ctx, TASK_EXPORT_JSON);
}

static void authed_ical(struct req_ctx *ctx)
{
	authed_task(ctx, TASK_EXPORT_ICAL);
}

static void authed_xcal(struct req_ctx *ctx)
{
	authed_task(ctx, TASK_EXPORT_XCAL);
}

void exports_json(struct req_ctx *ctx)
{
	auth_resolve(ctx, authed_json);
}

void exports_ical(struct req_ctx *ctx)
{
	auth_resolve(ctx, authed_ical);
}

void exports_xcal(struct req_ctx *ctx)
{
	auth_resolve(ctx, authed_xcal);
}
