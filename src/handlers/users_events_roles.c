/*
 * users_events_roles: the `users-events-role` resource: a user's role on
 * an event. Granted and revoked by the event's owner and admins; seen by
 * the event's staff, the user, and admins.
 */
#include <string.h>

#include "core/crud.h"
#include "core/req_ctx.h"
#include "core/sqlbuf.h"
#include "handlers/resources.h"

static const struct resource_attr uer_attrs[] = {
    {"deleted-at", NULL, ATTR_NULL, ATTR_READONLY},
};

static const struct resource_rel uer_rels[] = {
    {"user", 0, &user_resource, "user_id", NULL, NULL, NULL, NULL, REL_REQUIRED | REL_FIXED},
    {"event", 0, &event_resource, "event_id", NULL, NULL, NULL, NULL, REL_REQUIRED | REL_FIXED},
    {"role", 0, &role_resource, "role_id", NULL, NULL, NULL, NULL, REL_REQUIRED | REL_FIXED},
};

/* The grant's user and the staff of its (live) event. */
static void uer_visible(struct sqlbuf *b, const char *alias, const struct principal *p)
{
	if (p->is_admin) {
		sqlbuf_add(b,
			   "EXISTS (SELECT 1 FROM events ev WHERE ev.id = %s.event_id AND "
			   "ev.deleted_at IS NULL)",
			   alias);
		return;
	}
	if (!p->user_id) {
		sqlbuf_add(b, "FALSE");
		return;
	}
	sqlbuf_add(b,
		   "EXISTS (SELECT 1 FROM events ev WHERE ev.id = %s.event_id AND "
		   "ev.deleted_at IS NULL) AND (%s.user_id = ",
		   alias, alias);
	sqlbuf_param_int(b, p->user_id);
	sqlbuf_add(b,
		   " OR %s.event_id IN (SELECT u2.event_id FROM users_events_roles u2 WHERE "
		   "u2.user_id = ",
		   alias);
	sqlbuf_param_int(b, p->user_id);
	sqlbuf_add(b, "))");
}

const struct resource users_events_role_resource = {
    .type = "users-events-role",
    .path = "users-events-roles",
    .table = "users_events_roles",
    .attrs = uer_attrs,
    .nattrs = sizeof(uer_attrs) / sizeof(uer_attrs[0]),
    .rels = uer_rels,
    .nrels = sizeof(uer_rels) / sizeof(uer_rels[0]),
    .event_col = "event_id",
    .list_route = 1,
    .perm_list = PERM_SIGNED_IN,
    .perm_create = PERM_EVENT,
    .perm_update = PERM_NONE,
    .perm_delete = PERM_EVENT,
    .role_mask = ROLE_OWNER,
    .visible = uer_visible,
};
