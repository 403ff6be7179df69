/*
 * resource: SQL select lists and JSON:API resource objects from descriptor
 * tables. Pure apart from allocation; the caller owns what it returns.
 */
#include "core/resource.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rendered(const struct resource_attr *a)
{
	return !(a->flags & ATTR_WRITEONLY) && a->type != ATTR_NULL;
}

char *resource_select_list(const struct resource *r, const char *alias)
{
	size_t cap = 64;
	for (int i = 0; i < r->nattrs; i++)
		cap += strlen(r->attrs[i].column ? r->attrs[i].column : "") * 2 + 48;
	char *s = malloc(cap);
	if (!s)
		return NULL;
	size_t n = (size_t)snprintf(s, cap, "%s.id", alias);
	for (int i = 0; i < r->nattrs; i++) {
		const struct resource_attr *a = &r->attrs[i];
		if (!rendered(a))
			continue;
		if (a->type == ATTR_TIME)
			n += (size_t)snprintf(s + n, cap - n, ", to_json(%s.%s)#>>'{}'", alias,
					      a->column);
		else
			n += (size_t)snprintf(s + n, cap - n, ", %s.%s", alias, a->column);
	}
	return s;
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

struct json_object *resource_object(const struct resource *r, const PGresult *res, int row)
{
	const char *id = PQgetvalue(res, row, 0);
	char self[128];
	snprintf(self, sizeof(self), "/v1/%s/%s", r->path, id);

	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string(r->type));
	json_object_object_add(o, "id", json_object_new_string(id));

	struct json_object *attrs = json_object_new_object();
	int col = 1;
	for (int i = 0; i < r->nattrs; i++) {
		const struct resource_attr *a = &r->attrs[i];
		if (a->flags & ATTR_WRITEONLY)
			continue;
		json_object_object_add(attrs, a->name, attr_value(a, res, row, col));
		if (rendered(a))
			col++;
	}
	json_object_object_add(o, "attributes", attrs);

	struct json_object *rels = json_object_new_object();
	for (int i = 0; i < r->nrels; i++) {
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
