/*
 * access: who sees and who may change what. Builds the visibility predicate
 * of a resource type for a caller (spec §4-§5: trashed rows hidden, drafts
 * and private events only for their staff, admins see all) and decides
 * writes from the caller's roles on the row's event.
 */
#ifndef OES_ACCESS_H
#define OES_ACCESS_H

#include "core/auth.h"
#include "core/resource.h"
#include "core/sqlbuf.h"

enum trash_mode {
	TRASH_HIDE, /* live rows only (the default) */
	TRASH_WITH, /* live and trashed rows */
	TRASH_ONLY, /* trashed rows only */
};

/* Appends a boolean SQL expression: row `alias` of r is visible to p. */
void access_visible(const struct resource *r, const char *alias, const struct principal *p,
		    int trash, struct sqlbuf *b);
/* Appends an integer SQL expression: the caller's event-role bits (enum
 * event_role) on the event whose id is the SQL expression event_expr. */
void access_roles_sql(const char *event_expr, const struct principal *p, struct sqlbuf *b);
/* Whether the caller may do an action guarded by perm on a row whose event
 * roles are `roles` (user_row: the id of the users row for PERM_SELF). */
int access_allows(const struct resource *r, int perm, const struct principal *p, int roles,
		  long long user_row);

#endif
