/*
 * handlers/tasks: reads one row of `tasks`. The UUID comes from the
 * router's {uuid} capture (already checked and lower-cased).
 */
#include "handlers/tasks.h"

#include <stdlib.h>
#include <string.h>

#include "core/auth.h"
#include "core/pg_pool.h"
#include "core/req_ctx.h"

static const char task_sql[] =
    "SELECT state, result::text, coalesce(creator_id, 0) FROM tasks WHERE id = $1::uuid";

static void loaded(struct req_ctx *ctx, PGresult *res, int err, void *arg)
{
	(void)arg;
	if (err != PG_OK) {
		req_ctx_reply_error(ctx, 500, "The task could not be read.", NULL, NULL);
		return;
	}
	if (PQntuples(res) != 1) {
		req_ctx_reply_error(ctx, 404, "No such task.", NULL, NULL);
		return;
	}
	long long creator = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	if (!ctx->principal.is_admin && creator != ctx->principal.user_id) {
		req_ctx_reply_error(ctx, 403, "Only the task's creator and admins may read it.",
				    NULL, NULL);
		return;
	}
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "state", json_object_new_string(PQgetvalue(res, 0, 0)));
	json_object_object_add(
	    o, "result", PQgetisnull(res, 0, 1) ? NULL : json_tokener_parse(PQgetvalue(res, 0, 1)));
	req_ctx_reply_json(ctx, 200, o, 0);
}

static void authed(struct req_ctx *ctx)
{
	if (!ctx->principal.user_id) {
		auth_reply_unauthorized(ctx, "Reading a task needs a signed-in caller.");
		return;
	}
	const struct route_param *p = route_param_get(&ctx->match, "uuid");
	if (!p || !p->uuid[0]) {
		req_ctx_reply_error(ctx, 404, "No such task.", NULL, NULL);
		return;
	}
	const char *params[1] = {p->uuid};
	req_ctx_query(ctx, PG_READ, NULL, task_sql, 1, params, loaded, NULL);
}

void task_status(struct req_ctx *ctx)
{
	auth_resolve(ctx, authed);
}
