/*
 * resource: descriptor tables of JSON:API resource types and the generic
 * parts built from them: the SQL select list and the rendering of a row as
 * a resource object. Identifiers in SQL come only from these tables.
 */
#ifndef OES_RESOURCE_H
#define OES_RESOURCE_H

#include <json-c/json.h>
#include <libpq-fe.h>

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
};

struct resource_attr {
	const char *name;   /* dasherized JSON name */
	const char *column; /* column in the table (NULL for ATTR_NULL) */
	int type;	    /* enum attr_type */
	int flags;	    /* enum attr_flags */
};

struct resource_rel {
	const char *name; /* dasherized relationship name */
	int to_many;	  /* 1: to-many */
};

struct resource {
	const char *type;		   /* JSON:API type, singular ("event") */
	const char *path;		   /* route segment, plural ("events") */
	const char *table;		   /* SQL table */
	const struct resource_attr *attrs; /* attributes, in rendering order */
	int nattrs;			   /* their number */
	const struct resource_rel *rels;   /* relationships */
	int nrels;			   /* their number */
};

/* "t.id, t.name, ..., to_json(t.starts_at)#>>'{}'" for the attributes that
 * are rendered, with `alias` as the table alias. Caller frees. */
char *resource_select_list(const struct resource *r, const char *alias);

/* The resource object of row `row` of a result whose columns are those of
 * resource_select_list (id first). Caller owns the object. */
struct json_object *resource_object(const struct resource *r, const PGresult *res, int row);

#endif
