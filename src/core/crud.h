/*
 * crud: the generic JSON:API engine. From a resource descriptor it serves
 * lists (filter, sort, page, include, fields), details, related routes,
 * relationship routes, and writes (create, update, delete) with the
 * permission and validation rules of the descriptor.
 *
 * Owns: the routes it generates (patterns and route data live until
 * crud_cleanup). Never: puts input into SQL text.
 */
#ifndef OES_CRUD_H
#define OES_CRUD_H

#include <json-c/json.h>

#include "core/resource.h"

struct router;
struct req_ctx;

/* Adds every route of the given types to the router. 0/-1. */
int crud_register(struct router *rt, const struct resource *const *types, int ntypes);
void crud_cleanup(void);
/* Whether a DELETE of r trashes (1) or purges (0), by the type's policy and
 * SOFT_DELETE / SOFT_DELETE_OFF. */
int crud_soft_delete(const struct resource *r);

enum crud_action { CRUD_CREATED, CRUD_UPDATED, CRUD_TRASHED, CRUD_RESTORED, CRUD_PURGED };

/* Called on the loop after every committed write (set by the signals
 * module; NULL: nothing to do). event_id is the row's event (the row itself
 * for events; 0 for types outside events). Must not answer the request. */
extern void (*crud_on_write)(const struct resource *r, int action, long long id,
			     long long event_id);

/* State of one write, for before_write hooks. */
struct write_ctx {
	struct req_ctx *ctx;		/* the request */
	const struct resource *r;	/* type written */
	int creating;			/* 1: POST, 0: PATCH */
	long long id;			/* row id (PATCH) */
	long long event_id;		/* the row's event, when it has one */
	int roles;			/* caller's enum event_role bits on that event */
	struct json_object *attrs;	/* data.attributes (borrowed), validated */
	struct json_object *rels;	/* data.relationships (borrowed), validated */
	struct json_object *row;	/* current values of the row (PATCH), by column */
	int nextra;			/* extra columns set by hooks */
	const char *extra_col[8];	/* their columns (static strings) */
	char *extra_val[8];		/* their values (owned; NULL = SQL NULL) */
	int allowed;			/* the permission check passed (hooks may grant) */
	struct json_object *event;	/* the event's row (starts-at, ends-at, state, ...) */
	void *hook_data;		/* hook state, freed with free() */
	int rel_only;			/* PATCH of a relationship route: answer linkage */
	const struct resource_rel *rel; /* that relationship */
};

/* For hooks: sets a column (value copied; NULL is SQL NULL). 0/-1. */
int crud_set_column(struct write_ctx *w, const char *column, const char *value);
/* For asynchronous hooks (returned 1): continue the write, or stop when the
 * hook already answered (ok = 0). */
void crud_write_resume(struct write_ctx *w, int ok);

#endif
