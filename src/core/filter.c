/*
 * filter: a recursive compiler from the filter JSON to SQL. Bounded: at
 * most FILTER_MAX_DEPTH levels and FILTER_MAX_NODES nodes.
 */
#include "core/filter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/access.h"
#include "core/jsonapi.h"

#define FILTER_MAX_DEPTH 8
#define FILTER_MAX_NODES 64
#define FILTER_MAX_TEXT	 8192

struct fstate {
	const struct principal *p; /* caller, for visibility of related rows */
	struct sqlbuf *b;	   /* output */
	char *err;		   /* message on failure */
	size_t errlen;
	int nodes;   /* nodes compiled */
	int aliases; /* sub-query aliases used */
};

static int fail(struct fstate *st, const char *fmt, const char *arg)
{
	snprintf(st->err, st->errlen, fmt, arg ? arg : "");
	return -1;
}

/* The text of a scalar value, checked against the attribute's type. */
static int scalar(struct fstate *st, const struct resource_attr *a, struct json_object *v,
		  char *buf, size_t len, const char **out)
{
	enum json_type t = json_object_get_type(v);
	if (t == json_type_null || t == json_type_object || t == json_type_array)
		return fail(st, "filter value for '%s' must be a string, number or boolean",
			    a ? a->name : "id");
	int type = a ? a->type : ATTR_INT;
	const char *s = json_object_get_string(v);
	switch (type) {
	case ATTR_INT: {
		char *end;
		if (t == json_type_double || t == json_type_boolean)
			return fail(st, "filter value for '%s' must be an integer",
				    a ? a->name : "id");
		strtoll(s, &end, 10);
		if (*s == '\0' || *end != '\0')
			return fail(st, "filter value for '%s' must be an integer",
				    a ? a->name : "id");
		break;
	}
	case ATTR_FLOAT: {
		char *end;
		strtod(s, &end);
		if (t == json_type_boolean || *s == '\0' || *end != '\0')
			return fail(st, "filter value for '%s' must be a number", a->name);
		break;
	}
	case ATTR_BOOL:
		if (t == json_type_boolean)
			s = json_object_get_boolean(v) ? "true" : "false";
		else if (strcmp(s, "true") != 0 && strcmp(s, "false") != 0)
			return fail(st, "filter value for '%s' must be a boolean", a->name);
		break;
	default:
		break;
	}
	snprintf(buf, len, "%s", s);
	*out = buf;
	return 0;
}

static int node_sql(struct fstate *st, struct json_object *n, const struct resource *r,
		    const char *alias, int depth);

/* Array-literal text {"a","b"} for = ANY($n). */
static int array_literal(struct fstate *st, const struct resource_attr *a, struct json_object *v,
			 struct sqlbuf *tmp)
{
	if (!json_object_is_type(v, json_type_array))
		return fail(st, "filter value for '%s' with in_/notin_ must be an array",
			    a ? a->name : "id");
	size_t n = json_object_array_length(v);
	if (n > 1000)
		return fail(st, "filter value list for '%s' is too long", a ? a->name : "id");
	sqlbuf_add(tmp, "{");
	for (size_t i = 0; i < n; i++) {
		char buf[1024];
		const char *s;
		if (scalar(st, a, json_object_array_get_idx(v, i), buf, sizeof(buf), &s) < 0)
			return -1;
		sqlbuf_add(tmp, "%s\"", i ? "," : "");
		for (; *s; s++)
			sqlbuf_add(tmp, "%s%c", (*s == '"' || *s == '\\') ? "\\" : "", *s);
		sqlbuf_add(tmp, "\"");
	}
	sqlbuf_add(tmp, "}");
	return 0;
}

/* LIKE pattern with the input's own % and _ escaped. */
static void like_param(struct sqlbuf *b, const char *pre, const char *s, const char *post)
{
	struct sqlbuf t;
	sqlbuf_init(&t);
	sqlbuf_add(&t, "%s", pre);
	for (; *s; s++)
		sqlbuf_add(&t, "%s%c", (*s == '%' || *s == '_' || *s == '\\') ? "\\" : "", *s);
	sqlbuf_add(&t, "%s", post);
	sqlbuf_param(b, t.s ? t.s : "");
	sqlbuf_free(&t);
}

static int rel_sql(struct fstate *st, const struct resource_rel *rel, const char *op,
		   struct json_object *val, const char *alias, int depth)
{
	if (strcmp(op, rel->to_many ? "any" : "has") != 0)
		return fail(st, "relationship '%s' takes op 'has' (to-one) or 'any' (to-many)",
			    rel->name);
	if (!json_object_is_type(val, json_type_object) &&
	    !json_object_is_type(val, json_type_array))
		return fail(st, "the value of a '%s' filter must be a filter object", rel->name);
	char sub[16];
	snprintf(sub, sizeof(sub), "f%d", ++st->aliases);
	const struct resource *t = rel->target;
	struct sqlbuf *b = st->b;
	if (rel->sql_target_ids) {
		sqlbuf_add(b, "EXISTS (SELECT 1 FROM %s %s WHERE %s.id IN (", t->table, sub, sub);
		sqlbuf_add(b, rel->sql_target_ids, alias);
		sqlbuf_add(b, ")");
	} else if (!rel->to_many) {
		sqlbuf_add(b, "EXISTS (SELECT 1 FROM %s %s WHERE %s.id = %s.%s", t->table, sub, sub,
			   alias, rel->fk);
	} else if (rel->join_table) {
		sqlbuf_add(b,
			   "EXISTS (SELECT 1 FROM %s j%s JOIN %s %s ON %s.id = j%s.%s WHERE j%s.%s "
			   "= %s.id",
			   rel->join_table, sub, t->table, sub, sub, sub, rel->join_other, sub,
			   rel->join_self, alias);
	} else {
		sqlbuf_add(b, "EXISTS (SELECT 1 FROM %s %s WHERE %s.%s = %s.id", t->table, sub, sub,
			   rel->fk, alias);
	}
	sqlbuf_add(b, " AND ");
	access_visible(t, sub, st->p, TRASH_HIDE, b);
	sqlbuf_add(b, " AND ");
	if (node_sql(st, val, t, sub, depth + 1) < 0)
		return -1;
	sqlbuf_add(b, ")");
	return 0;
}

static int leaf_sql(struct fstate *st, struct json_object *n, const struct resource *r,
		    const char *alias, int depth)
{
	struct json_object *jname, *jop, *val = NULL;
	if (!json_object_object_get_ex(n, "name", &jname) ||
	    !json_object_is_type(jname, json_type_string))
		return fail(st, "a filter node needs a 'name' string (or and/or/not)", NULL);
	if (!json_object_object_get_ex(n, "op", &jop) ||
	    !json_object_is_type(jop, json_type_string))
		return fail(st, "a filter node needs an 'op' string", NULL);
	json_object_object_get_ex(n, "val", &val);
	const char *name = json_object_get_string(jname), *op = json_object_get_string(jop);
	const struct resource_attr *a = NULL;
	if (strcmp(name, "id") != 0) {
		a = resource_attr_find(r, name);
		if (!a) {
			const struct resource_rel *rel = resource_rel_find(r, name);
			if (rel)
				return rel_sql(st, rel, op, val, alias, depth);
			return fail(st, "unknown filter field '%s'", name);
		}
		if (a->type == ATTR_NULL || (a->flags & (ATTR_WRITEONLY | ATTR_PRIVATE)))
			return fail(st, "field '%s' cannot be filtered on", name);
	}
	char col[96];
	snprintf(col, sizeof(col), "%s.%s", alias, a ? a->column : "id");
	struct sqlbuf *b = st->b;
	static const struct {
		const char *op, *sql;
	} cmp[] = {{"eq", "="}, {"ne", "<>"}, {"lt", "<"}, {"le", "<="}, {"gt", ">"}, {"ge", ">="}};
	char buf[1024];
	const char *s;
	for (size_t i = 0; i < sizeof(cmp) / sizeof(cmp[0]); i++) {
		if (strcmp(op, cmp[i].op) != 0)
			continue;
		if (!val)
			return fail(st, "filter op '%s' needs a 'val'", op);
		if (json_object_is_type(val, json_type_null)) {
			if (i > 1)
				return fail(st, "filter op '%s' cannot compare with null", op);
			sqlbuf_add(b, "%s IS %sNULL", col, i == 0 ? "" : "NOT ");
			return 0;
		}
		if (scalar(st, a, val, buf, sizeof(buf), &s) < 0)
			return -1;
		sqlbuf_add(b, "%s %s ", col, cmp[i].sql);
		sqlbuf_param(b, s);
		return 0;
	}
	if (strcmp(op, "in_") == 0 || strcmp(op, "notin_") == 0) {
		struct sqlbuf tmp;
		sqlbuf_init(&tmp);
		if (!val || array_literal(st, a, val, &tmp) < 0) {
			sqlbuf_free(&tmp);
			return val ? -1 : fail(st, "filter op '%s' needs a 'val'", op);
		}
		sqlbuf_add(b, op[0] == 'i' ? "%s = ANY(" : "NOT (%s = ANY(", col);
		sqlbuf_param(b, tmp.s);
		sqlbuf_add(b, op[0] == 'i' ? ")" : "))");
		sqlbuf_free(&tmp);
		return 0;
	}
	if (strcmp(op, "is_") == 0 || strcmp(op, "isnot") == 0) {
		const char *neg = op[2] == 'n' ? "NOT " : "";
		if (!val || json_object_is_type(val, json_type_null))
			sqlbuf_add(b, "%s IS %sNULL", col, neg);
		else if (json_object_is_type(val, json_type_boolean))
			sqlbuf_add(b, "%s IS %s%s", col, neg,
				   json_object_get_boolean(val) ? "TRUE" : "FALSE");
		else
			return fail(st, "filter op '%s' takes null, true or false", op);
		return 0;
	}
	if (strcmp(op, "between") == 0) {
		if (!val || !json_object_is_type(val, json_type_array) ||
		    json_object_array_length(val) != 2)
			return fail(st, "filter op 'between' needs a 'val' of two values", NULL);
		char buf2[1024];
		const char *s2;
		if (scalar(st, a, json_object_array_get_idx(val, 0), buf, sizeof(buf), &s) < 0 ||
		    scalar(st, a, json_object_array_get_idx(val, 1), buf2, sizeof(buf2), &s2) < 0)
			return -1;
		sqlbuf_add(b, "%s BETWEEN ", col);
		sqlbuf_param(b, s);
		sqlbuf_add(b, " AND ");
		sqlbuf_param(b, s2);
		return 0;
	}
	static const struct {
		const char *op, *sql, *pre, *post;
		int escape;
	} like[] = {
	    {"like", "LIKE", "", "", 0},	{"ilike", "ILIKE", "", "", 0},
	    {"startswith", "LIKE", "", "%", 1}, {"endswith", "LIKE", "%", "", 1},
	    {"contains", "LIKE", "%", "%", 1},
	};
	for (size_t i = 0; i < sizeof(like) / sizeof(like[0]); i++) {
		if (strcmp(op, like[i].op) != 0)
			continue;
		if (!val || !json_object_is_type(val, json_type_string))
			return fail(st, "filter op '%s' needs a string 'val'", op);
		sqlbuf_add(b, "%s::text %s ", col, like[i].sql);
		if (like[i].escape)
			like_param(b, like[i].pre, json_object_get_string(val), like[i].post);
		else
			sqlbuf_param(b, json_object_get_string(val));
		return 0;
	}
	if (strcmp(op, "has") == 0 || strcmp(op, "any") == 0)
		return fail(st, "'%s' is an attribute, not a relationship", name);
	return fail(st, "unknown filter op '%s'", op);
}

static int list_sql(struct fstate *st, struct json_object *arr, const char *joiner,
		    const struct resource *r, const char *alias, int depth)
{
	size_t n = json_object_array_length(arr);
	if (n == 0) {
		sqlbuf_add(st->b, strcmp(joiner, "AND") == 0 ? "TRUE" : "FALSE");
		return 0;
	}
	sqlbuf_add(st->b, "(");
	for (size_t i = 0; i < n; i++) {
		if (i)
			sqlbuf_add(st->b, " %s ", joiner);
		sqlbuf_add(st->b, "(");
		if (node_sql(st, json_object_array_get_idx(arr, i), r, alias, depth + 1) < 0)
			return -1;
		sqlbuf_add(st->b, ")");
	}
	sqlbuf_add(st->b, ")");
	return 0;
}

static int node_sql(struct fstate *st, struct json_object *n, const struct resource *r,
		    const char *alias, int depth)
{
	if (depth > FILTER_MAX_DEPTH || ++st->nodes > FILTER_MAX_NODES)
		return fail(st, "the filter is too deep or too large", NULL);
	if (json_object_is_type(n, json_type_array))
		return list_sql(st, n, "AND", r, alias, depth);
	if (!json_object_is_type(n, json_type_object))
		return fail(st, "a filter node must be an object or an array", NULL);
	struct json_object *sub;
	if (json_object_object_get_ex(n, "and", &sub) || json_object_object_get_ex(n, "or", &sub)) {
		if (!json_object_is_type(sub, json_type_array))
			return fail(st, "'and' and 'or' take an array of filter nodes", NULL);
		int is_and = json_object_object_get_ex(n, "and", NULL);
		return list_sql(st, sub, is_and ? "AND" : "OR", r, alias, depth);
	}
	if (json_object_object_get_ex(n, "not", &sub)) {
		sqlbuf_add(st->b, "NOT (");
		if (node_sql(st, sub, r, alias, depth + 1) < 0)
			return -1;
		sqlbuf_add(st->b, ")");
		return 0;
	}
	return leaf_sql(st, n, r, alias, depth);
}

int filter_sql(const char *text, const struct resource *r, const char *alias,
	       const struct principal *p, struct sqlbuf *b, char *err, size_t errlen)
{
	struct fstate st = {p, b, err, errlen, 0, 0};
	if (strlen(text) > FILTER_MAX_TEXT)
		return fail(&st, "the filter is too long", NULL);
	struct json_object *root = jsonapi_parse(text, strlen(text), FILTER_MAX_DEPTH * 2 + 4);
	if (!root)
		return fail(&st, "the filter is not valid JSON (or holds invalid UTF-8 or NUL)",
			    NULL);
	sqlbuf_add(b, " AND (");
	int rc = node_sql(&st, root, r, alias, 0);
	sqlbuf_add(b, ")");
	json_object_put(root);
	return rc;
}
