/*
 * access: visibility predicates and write decisions. SQL text comes from
 * the descriptors and fixed fragments; the caller's id is a parameter.
 */
#include "core/access.h"

#include <stdio.h>
#include <string.h>

#define PUBLISHED(ev) ev ".state = 'published' AND " ev ".privacy = 'public'"

static void staff_events(const struct principal *p, struct sqlbuf *b)
{
	sqlbuf_add(b, "(SELECT uer.event_id FROM users_events_roles uer WHERE uer.user_id = ");
	sqlbuf_param_int(b, p->user_id);
	sqlbuf_add(b, ")");
}

/* Whether the caller organises the event whose id is SQL `event`. */
static void organises(const char *event, const struct principal *p, struct sqlbuf *b)
{
	sqlbuf_add(b,
		   "EXISTS (SELECT 1 FROM users_events_roles uo WHERE uo.event_id = %s AND "
		   "uo.role_id IN (1, 2, 3) AND uo.user_id = ",
		   event);
	sqlbuf_param_int(b, p->user_id);
	sqlbuf_add(b, ")");
}

/* Trashed rows: admins see all asked for; organisers those of their events. */
static void trash_cond(const struct resource *r, const char *alias, const struct principal *p,
		       int trash, struct sqlbuf *b)
{
	if (!r->soft_delete) {
		sqlbuf_add(b, trash == TRASH_ONLY ? "FALSE" : "TRUE");
		return;
	}
	if (trash == TRASH_HIDE) {
		sqlbuf_add(b, "%s.deleted_at IS NULL", alias);
		return;
	}
	if (p->is_admin) {
		sqlbuf_add(b, trash == TRASH_WITH ? "TRUE" : "%s.deleted_at IS NOT NULL", alias);
		return;
	}
	if (!r->event_col || !p->user_id) {
		sqlbuf_add(b, trash == TRASH_WITH ? "%s.deleted_at IS NULL" : "FALSE", alias);
		return;
	}
	char event[96];
	snprintf(event, sizeof(event), "%s.%s", alias, r->event_col);
	sqlbuf_add(b,
		   trash == TRASH_WITH ? "(%s.deleted_at IS NULL OR "
				       : "(%s.deleted_at IS NOT NULL AND ",
		   alias);
	organises(event, p, b);
	sqlbuf_add(b, ")");
}

void access_visible(const struct resource *r, const char *alias, const struct principal *p,
		    int trash, struct sqlbuf *b)
{
	sqlbuf_add(b, "(");
	trash_cond(r, alias, p, trash, b);
	if (r->visible) {
		sqlbuf_add(b, " AND ");
		r->visible(b, alias, p);
	} else if (r->event_col && strcmp(r->event_col, "id") == 0) {
		/* events themselves */
		if (!p->is_admin) {
			sqlbuf_add(b, " AND ((" PUBLISHED("%s") ")", alias, alias);
			if (p->user_id) {
				sqlbuf_add(b, " OR %s.id IN ", alias);
				staff_events(p, b);
			}
			sqlbuf_add(b, ")");
		}
	} else if (r->event_col) {
		/* rows of an event: visible with their event (hidden when it is trashed) */
		sqlbuf_add(b, " AND EXISTS (SELECT 1 FROM events ev WHERE ev.id = %s.%s", alias,
			   r->event_col);
		if (trash == TRASH_HIDE || !p->user_id) {
			sqlbuf_add(b, " AND ev.deleted_at IS NULL");
		} else if (!p->is_admin) {
			sqlbuf_add(b, " AND (ev.deleted_at IS NULL OR ");
			organises("ev.id", p, b);
			sqlbuf_add(b, ")");
		}
		if (!p->is_admin) {
			sqlbuf_add(b, " AND ((" PUBLISHED("ev"));
			if (r->public_filter) {
				sqlbuf_add(b, " AND ");
				r->public_filter(b, alias, p);
			}
			sqlbuf_add(b, ")");
			if (p->user_id) {
				sqlbuf_add(b, " OR ev.id IN ");
				staff_events(p, b);
			}
			sqlbuf_add(b, ")");
		}
		sqlbuf_add(b, ")");
	}
	sqlbuf_add(b, ")");
}

void access_roles_sql(const char *event_expr, const struct principal *p, struct sqlbuf *b)
{
	if (!p->user_id) {
		sqlbuf_add(b, "0");
		return;
	}
	sqlbuf_add(
	    b,
	    "(SELECT coalesce(bit_or(1 << (uer.role_id::int - 1)), 0) FROM users_events_roles uer "
	    "WHERE uer.event_id = %s AND uer.user_id = ",
	    event_expr);
	sqlbuf_param_int(b, p->user_id);
	sqlbuf_add(b, ")");
}

int access_allows(const struct resource *r, int perm, const struct principal *p, int roles,
		  long long user_row)
{
	switch (perm) {
	case PERM_ANYONE:
		return 1;
	case PERM_SIGNED_IN:
		return p->user_id != 0;
	case PERM_EVENT:
		return p->is_admin || (roles & r->role_mask) != 0;
	case PERM_SELF:
		return p->is_admin || (p->user_id != 0 && p->user_id == user_row);
	case PERM_ADMIN:
		return p->is_admin;
	default:
		return 0;
	}
}
