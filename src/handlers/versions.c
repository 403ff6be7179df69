/*
 * versions: reads event_versions joined to the event under the event's
 * visibility rule; counters are bumped by the signal receivers' tasks.
 */
#include "handlers/versions.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/access.h"
#include "core/jsonapi.h"
#include "core/pg_pool.h"
#include "core/req_ctx.h"
#include "core/sqlbuf.h"
#include "handlers/resources.h"

static const char *const counters[] = {"event-ver", "sessions-ver", "speakers-ver",
				       "microlocations-ver"};

static void loaded(struct req_ctx *ctx, PGresult *res, int err, void *arg)
{
	(void)arg;
	if (err != PG_OK) {
		req_ctx_reply_error(ctx, 500, "The versions could not be read.", NULL, NULL);
		return;
	}
	if (PQntuples(res) != 1) {
		req_ctx_reply_error(ctx, 404, "No such event.", NULL, NULL);
		return;
	}
	const char *id = PQgetvalue(res, 0, 0);
	char self[64];
	snprintf(self, sizeof(self), "/v1/events/%s/versions", id);
	struct json_object *attrs = json_object_new_object();
	for (int i = 0; i < 4; i++)
		json_object_object_add(
		    attrs, counters[i],
		    json_object_new_int64(strtoll(PQgetvalue(res, 0, i + 1), NULL, 10)));
	struct json_object *data = json_object_new_object();
	json_object_object_add(data, "type", json_object_new_string("event-version"));
	json_object_object_add(data, "id", json_object_new_string(id));
	json_object_object_add(data, "attributes", attrs);
	struct json_object *links = json_object_new_object();
	json_object_object_add(links, "self", json_object_new_string(self));
	json_object_object_add(data, "links", links);
	struct json_object *doc = jsonapi_doc(data);
	links = json_object_new_object();
	json_object_object_add(links, "self", json_object_new_string(self));
	json_object_object_add(doc, "links", links);
	req_ctx_reply_json(ctx, 200, doc, 1);
}

static void authed(struct req_ctx *ctx)
{
	const struct route_param *p = route_param_get(&ctx->match, "event_id");
	struct sqlbuf b;
	sqlbuf_init(&b);
	sqlbuf_add(&b, "SELECT e.id, coalesce(v.event_ver, 0), coalesce(v.sessions_ver, 0), "
		       "coalesce(v.speakers_ver, 0), coalesce(v.microlocations_ver, 0) "
		       "FROM events e LEFT JOIN event_versions v ON v.event_id = e.id WHERE ");
	if (p && p->is_ident) {
		sqlbuf_add(&b, "e.identifier = ");
		sqlbuf_param(&b, p->ident);
	} else {
		sqlbuf_add(&b, "e.id = ");
		sqlbuf_param_int(&b, p ? p->id : 0);
	}
	sqlbuf_add(&b, " AND ");
	access_visible(&event_resource, "e", &ctx->principal, TRASH_HIDE, &b);
	if (sqlbuf_failed(&b))
		req_ctx_reply_error(ctx, 500, "Out of memory.", NULL, NULL);
	else
		req_ctx_query(ctx, PG_READ, NULL, b.s, b.nparams, sqlbuf_params(&b), loaded, NULL);
	sqlbuf_free(&b);
}

void versions_get(struct req_ctx *ctx)
{
	auth_resolve(ctx, authed);
}
