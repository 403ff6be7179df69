/*
 * resource: descriptor tables of JSON:API resource types and the generic
 * parts built from them: select lists, rendering of rows as resource
 * objects, name look-ups. Identifiers in SQL come only from these tables.
 */
#ifndef OES_RESOURCE_H
#define OES_RESOURCE_H

#include <json-c/json.h>
#include <libpq-fe.h>

struct req_ctx;
struct principal;
struct sqlbuf;

enum attr_type {
	ATTR_TEXT,  /* text */
	ATTR_INT,   /* integer */
	ATTR_FLOAT, /* double precision or numeric, as a JSON number */
	ATTR_BOOL,  /* boolean */
	ATTR_TIME,  /* timestamptz, rendered ISO 8601 with offset */
	ATTR_NULL,  /* no column: always null (out-of-scope, read-only) */
};

enum attr_flags {
	ATTR_REQUIRED = 1 << 0,	 /* must be given on create */
	ATTR_READONLY = 1 << 1,	 /* never written by clients */
	ATTR_WRITEONLY = 1 << 2, /* never rendered (passwords) */
	ATTR_PRIVATE = 1 << 3,	 /* rendered only to the row's user and admins */
	ATTR_ADMIN = 1 << 4,	 /* written only by admins */
	ATTR_SUPER = 1 << 5,	 /* written only by super admins */
	ATTR_NONEMPTY = 1 << 6,	 /* a string must not be blank */
	ATTR_URL = 1 << 7,	 /* a string must be an http(s) URL */
};

struct resource_attr {
	const char *name;		/* dasherized JSON name */
	const char *column;		/* column in the table (NULL for ATTR_NULL) */
	int type;			/* enum attr_type */
	int flags;			/* enum attr_flags */
	const char *const *enum_values; /* allowed values (NULL-terminated), or NULL */
};

enum rel_flags {
	REL_REQUIRED = 1 << 0, /* to-one that must be given on create */
	REL_READONLY = 1 << 1, /* not writable by clients */
	REL_FIXED = 1 << 2,    /* writable on create only (e.g. a child's event) */
	REL_PRIVATE = 1 << 3,  /* its routes are for the parent row's user and admins */
};

struct resource;

struct resource_rel {
	const char *name;	       /* dasherized relationship name */
	int to_many;		       /* 1: to-many */
	const struct resource *target; /* the related type */
	const char *fk;		       /* to-one: our column holding the target id;
					  to-many: the target's column holding our id */
	const char *join_table;	       /* to-many through a link table, or NULL */
	const char *join_self;	       /* its column holding our id */
	const char *join_other;	       /* its column holding the target id */
	const char *sql_target_ids;    /* special relationship: SQL giving the target ids of
					  row `%s.id` (one %s: the alias), or NULL */
	int flags;		       /* enum rel_flags */
};

/* Who may do something (checked with the caller's roles on the event). */
enum perm {
	PERM_NONE,	/* nobody (not even admins: e.g. static types) */
	PERM_ANYONE,	/* anonymous callers too */
	PERM_SIGNED_IN, /* any signed-in caller */
	PERM_EVENT,	/* callers whose roles on the row's event intersect the mask */
	PERM_SELF,	/* the user row itself (users only) */
	PERM_ADMIN,	/* admins only */
};

/* Bits of the event roles; roles are seeded with ids 1..6 in this order. */
enum event_role {
	ROLE_OWNER = 1 << 0,
	ROLE_ORGANIZER = 1 << 1,
	ROLE_COORGANIZER = 1 << 2,
	ROLE_TRACK_ORGANIZER = 1 << 3,
	ROLE_MODERATOR = 1 << 4,
	ROLE_REGISTRAR = 1 << 5,
};
#define ROLES_ORGANISERS (ROLE_OWNER | ROLE_ORGANIZER | ROLE_COORGANIZER)
#define ROLES_STAFF	 0x3f

struct write_ctx;

struct resource {
	const char *type;			   /* JSON:API type, singular ("event") */
	const char *path;			   /* route segment, plural ("events") */
	const char *table;			   /* SQL table */
	const struct resource_attr *attrs;	   /* attributes, in rendering order */
	int nattrs;				   /* their number */
	const struct resource_rel *rels;	   /* relationships */
	int nrels;				   /* their number */
	int soft_delete;			   /* has deleted_at */
	const char *event_col;			   /* column with the event's id ("id" for events),
						      or NULL for types outside events */
	const char *default_sort;		   /* ORDER BY of lists, e.g. "t.id" */
	int list_route;				   /* GET /v1/<path> exists */
	int perm_list;				   /* enum perm for GET /v1/<path> */
	int perm_create, perm_update, perm_delete; /* enum perm */
	int role_mask;				   /* roles allowed for PERM_EVENT writes */
	int role_mask_delete; /* roles allowed to delete, when narrower (0: same) */
	/* Extra condition for callers who are not staff of the row's event
	 * (e.g. sessions: accepted or confirmed, or their own), or NULL. */
	void (*public_filter)(struct sqlbuf *b, const char *alias, const struct principal *p);
	/* Replaces the visibility rule entirely (types outside the event rules),
	 * or NULL. Must append a boolean SQL expression. */
	void (*visible)(struct sqlbuf *b, const char *alias, const struct principal *p);
	/* Business rules of writes: fills derived columns, checks values; may
	 * answer (then returns -1). NULL when none. */
	int (*before_write)(struct write_ctx *w);
	/* Appends CTEs run with an insert (the new row is CTE `ins`), e.g. the
	 * owner role of a new event. NULL when none. */
	void (*insert_ctes)(struct write_ctx *w, struct sqlbuf *b);
};

const struct resource_attr *resource_attr_find(const struct resource *r, const char *name);
const struct resource_rel *resource_rel_find(const struct resource *r, const char *name);

/* Appends "a.id, a.col, ..., to_json(a.t)#>>'{}'" for the rendered
 * attributes, then the fk column of every to-one relationship that has one. */
void resource_select_list(const struct resource *r, const char *alias, struct sqlbuf *b);

struct jw;

/* The linkage of one relationship of one object, when included. */
struct resource_linkage {
	int set;	/* 1: write a "data" member */
	int n, cap;	/* ids */
	long long *ids; /* owned */
};

/* Writes the "attributes" object of row `row` (columns as
 * resource_select_list, from col0). private_ok: render ATTR_PRIVATE attributes; fields: sparse
 * fieldset (NULL: all) as a NULL-terminated name list. */
void resource_write_attrs(struct jw *w, const struct resource *r, const PGresult *res, int row,
			  int col0, int private_ok, const char *const *fields);
/* Writes a whole resource object from its id and attributes text; lk (NULL
 * or r->nrels entries) gives the linkage of included relationships. */
void resource_write_object(struct jw *w, const struct resource *r, const char *id,
			   const char *attrs, size_t attrs_len, const char *const *fields,
			   const struct resource_linkage *lk);

/* Frees the cached select lists. */
void resource_cleanup(void);

/* Number of columns resource_select_list produces. */
int resource_ncols(const struct resource *r);
/* Column index (relative to col0) of the fk of to-one relationship `rel`. */
int resource_fk_col(const struct resource *r, const struct resource_rel *rel);

#endif
