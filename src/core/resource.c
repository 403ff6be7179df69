/*
 * resource: SQL select lists and JSON:API resource objects from descriptor
 * tables. Pure apart from allocation; the caller owns what it returns.
 */
#include "core/resource.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sqlbuf.h"

static int rendered(const struct resource_attr *a)
{
	return !(a->flags & ATTR_WRITEONLY) && a->type != ATTR_NULL;
}

const struct resource_attr *resource_attr_find(const struct resource *r, const char *name)
{
	for (int i = 0; i < r->nattrs; i++) {
		const char *a = r->attrs[i].name, *b = name;
		/* "starts-at" and "starts_at" name the same attribute */
		while (*a && (*a == *b || (*a == '-' && *b == '_')))
			a++, b++;
		if (*a == '\0' && *b == '\0')
			return &r->attrs[i];
	}
	return NULL;
}

const struct resource_rel *resource_rel_find(const struct resource *r, const char *name)
{
	for (int i = 0; i < r->nrels; i++) {
		const char *a = r->rels[i].name, *b = name;
		while (*a && (*a == *b || (*a == '-' && *b == '_')))
			a++, b++;
		if (*a == '\0' && *b == '\0')
			return &r->rels[i];
	}
	return NULL;
}

static int has_fk_col(const struct resource_rel *rel)
{
	return !rel->to_many && rel->fk && !rel->sql_target_ids;
}

static void build_select_list(const struct resource *r, const char *alias, struct sqlbuf *b)
{
	sqlbuf_add(b, "%s.id", alias);
	for (int i = 0; i < r->nattrs; i++) {
		const struct resource_attr *a = &r->attrs[i];
		if (!rendered(a))
			continue;
		if (a->type == ATTR_TIME)
			sqlbuf_add(b, ", to_json(%s.%s)#>>'{}'", alias, a->column);
		else
			sqlbuf_add(b, ", %s.%s", alias, a->column);
	}
	for (int i = 0; i < r->nrels; i++)
		if (has_fk_col(&r->rels[i]))
			sqlbuf_add(b, ", %s.%s", alias, r->rels[i].fk);
}

/* Select lists are built once per (type, alias) and kept: the engine asks
 * for the same few on every request. The loop's thread only. */
struct select_cache {
	const struct resource *r; /* type */
	char alias[8];		  /* alias */
	char *text;		  /* the list */
	size_t len;		  /* its length */
};

#define SELECT_CACHE_MAX 128
static struct select_cache select_cache[SELECT_CACHE_MAX];
static int nselect_cache;

void resource_select_list(const struct resource *r, const char *alias, struct sqlbuf *b)
{
	for (int i = 0; i < nselect_cache; i++) {
		struct select_cache *c = &select_cache[i];
		if (c->r == r && strcmp(c->alias, alias) == 0) {
			sqlbuf_cat(b, c->text, c->len);
			return;
		}
	}
	struct sqlbuf t;
	sqlbuf_init(&t);
	build_select_list(r, alias, &t);
	if (!sqlbuf_failed(&t) && nselect_cache < SELECT_CACHE_MAX && strlen(alias) < 8) {
		struct select_cache *c = &select_cache[nselect_cache++];
		c->r = r;
		snprintf(c->alias, sizeof(c->alias), "%s", alias);
		c->text = t.s;
		c->len = t.len;
		sqlbuf_cat(b, c->text, c->len);
		return;
	}
	if (!sqlbuf_failed(&t))
		sqlbuf_cat(b, t.s, t.len);
	else
		b->failed = 1;
	sqlbuf_free(&t);
}

void resource_cleanup(void)
{
	for (int i = 0; i < nselect_cache; i++)
		free(select_cache[i].text);
	nselect_cache = 0;
}

int resource_ncols(const struct resource *r)
{
	int n = 1;
	for (int i = 0; i < r->nattrs; i++)
		n += rendered(&r->attrs[i]);
	for (int i = 0; i < r->nrels; i++)
		n += has_fk_col(&r->rels[i]);
	return n;
}

int resource_fk_col(const struct resource *r, const struct resource_rel *rel)
{
	int n = 1;
	for (int i = 0; i < r->nattrs; i++)
		n += rendered(&r->attrs[i]);
	for (int i = 0; i < r->nrels; i++) {
		if (&r->rels[i] == rel)
			return has_fk_col(rel) ? n : -1;
		n += has_fk_col(&r->rels[i]);
	}
	return -1;
}

static struct json_object *attr_value(const struct resource_attr *a, const PGresult *res, int row,
				      int col)
{
	if (a->type == ATTR_NULL || PQgetisnull(res, row, col))
		return NULL;
	const char *v = PQgetvalue(res, row, col);
	switch (a->type) {
	case ATTR_BOOL:
		return json_object_new_boolean(v[0] == 't');
	case ATTR_INT:
		return json_object_new_int64(strtoll(v, NULL, 10));
	case ATTR_FLOAT:
		return json_object_new_double(strtod(v, NULL));
	default:
		return json_object_new_string_len(v, PQgetlength(res, row, col));
	}
}

static int in_fields(const char *const *fields, const char *name)
{
	if (!fields)
		return 1;
	for (; *fields; fields++)
		if (strcmp(*fields, name) == 0)
			return 1;
	return 0;
}

struct json_object *resource_object(const struct resource *r, const PGresult *res, int row,
				    int col0, int private_ok, const char *const *fields)
{
	const char *id = PQgetvalue(res, row, col0);
	char self[128];
	snprintf(self, sizeof(self), "/v1/%s/%s", r->path, id);

	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string(r->type));
	json_object_object_add(o, "id", json_object_new_string(id));

	struct json_object *attrs = json_object_new_object();
	int col = col0 + 1;
	for (int i = 0; i < r->nattrs; i++) {
		const struct resource_attr *a = &r->attrs[i];
		if (a->flags & ATTR_WRITEONLY)
			continue;
		if (in_fields(fields, a->name) && (private_ok || !(a->flags & ATTR_PRIVATE)))
			json_object_object_add(attrs, a->name, attr_value(a, res, row, col));
		if (rendered(a))
			col++;
	}
	json_object_object_add(o, "attributes", attrs);

	struct json_object *rels = json_object_new_object();
	for (int i = 0; i < r->nrels; i++) {
		if (!in_fields(fields, r->rels[i].name))
			continue;
		char buf[192];
		struct json_object *links = json_object_new_object();
		snprintf(buf, sizeof(buf), "%s/relationships/%s", self, r->rels[i].name);
		json_object_object_add(links, "self", json_object_new_string(buf));
		snprintf(buf, sizeof(buf), "%s/%s", self, r->rels[i].name);
		json_object_object_add(links, "related", json_object_new_string(buf));
		struct json_object *rel = json_object_new_object();
		json_object_object_add(rel, "links", links);
		json_object_object_add(rels, r->rels[i].name, rel);
	}
	json_object_object_add(o, "relationships", rels);

	struct json_object *links = json_object_new_object();
	json_object_object_add(links, "self", json_object_new_string(self));
	json_object_object_add(o, "links", links);
	return o;
}
