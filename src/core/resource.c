/*
 * resource: SQL select lists and JSON:API resource objects from descriptor
 * tables. Pure apart from allocation; the caller owns what it returns.
 */
#include "core/resource.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonw.h"
#include "core/sqlbuf.h"

#include <math.h>

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

static int in_fields(const char *const *fields, const char *name)
{
	if (!fields)
		return 1;
	for (; *fields; fields++)
		if (strcmp(*fields, name) == 0)
			return 1;
	return 0;
}

/* A timestamptz as PostgreSQL prints it to our sessions (DateStyle ISO,
 * TimeZone UTC: "2030-03-01 09:00:00.5+00") in RFC 3339, as to_json() would
 * write it ("2030-03-01T09:00:00.5+00:00"), without asking PostgreSQL to do
 * it for every value (to_json on each timestamp cost a list of 20 sessions a
 * third of its database time). Anything else ("infinity", years past 9999,
 * BC dates) is written as it came. */
static void write_time(struct jw *w, const char *v, size_t len)
{
	char out[64];
	int shaped = len >= 22 && len + 3 < sizeof(out) && v[4] == '-' && v[7] == '-' &&
		     v[10] == ' ' && v[13] == ':' && v[16] == ':';
	if (!shaped) {
		jw_str(w, v, len);
		return;
	}
	memcpy(out, v, len);
	out[10] = 'T';
	/* a whole-hour offset ("+00", "-05") gets its minutes */
	if ((out[len - 3] == '+' || out[len - 3] == '-') && out[len - 2] >= '0' &&
	    out[len - 2] <= '9' && out[len - 1] >= '0' && out[len - 1] <= '9') {
		memcpy(out + len, ":00", 3);
		len += 3;
	}
	jw_str(w, out, len);
}

void resource_write_attrs(struct jw *w, const struct resource *r, const PGresult *res, int row,
			  int col0, int private_ok, const char *const *fields)
{
	int col = col0 + 1, first = 1;
	jw_raw(w, "{", 1);
	for (int i = 0; i < r->nattrs; i++) {
		const struct resource_attr *a = &r->attrs[i];
		if (a->flags & ATTR_WRITEONLY)
			continue;
		int c = col;
		if (rendered(a))
			col++;
		if (!in_fields(fields, a->name) || (!private_ok && (a->flags & ATTR_PRIVATE)))
			continue;
		if (!first)
			jw_raw(w, ",", 1);
		first = 0;
		jw_cstr(w, a->name);
		jw_raw(w, ":", 1);
		if (a->type == ATTR_NULL || PQgetisnull(res, row, c)) {
			jw_raw(w, "null", 4);
			continue;
		}
		const char *v = PQgetvalue(res, row, c);
		int len = PQgetlength(res, row, c);
		switch (a->type) {
		case ATTR_BOOL:
			jw_lit(w, v[0] == 't' ? "true" : "false");
			break;
		case ATTR_INT:
			jw_raw(w, v, (size_t)len);
			break;
		case ATTR_FLOAT:
			/* NaN and infinities are not JSON */
			if (isfinite(strtod(v, NULL)))
				jw_raw(w, v, (size_t)len);
			else
				jw_raw(w, "null", 4);
			break;
		case ATTR_TIME:
			write_time(w, v, (size_t)len);
			break;
		default:
			jw_str(w, v, (size_t)len);
			break;
		}
	}
	jw_raw(w, "}", 1);
}

void resource_write_object(struct jw *w, const struct resource *r, const char *id,
			   const char *attrs, size_t attrs_len, const char *const *fields,
			   const struct resource_linkage *lk)
{
	jw_lit(w, "{\"type\":");
	jw_cstr(w, r->type);
	jw_lit(w, ",\"id\":");
	jw_cstr(w, id);
	jw_lit(w, ",\"attributes\":");
	jw_raw(w, attrs, attrs_len);
	jw_lit(w, ",\"relationships\":{");
	int first = 1;
	for (int i = 0; i < r->nrels; i++) {
		const struct resource_rel *rel = &r->rels[i];
		if (!in_fields(fields, rel->name))
			continue;
		if (!first)
			jw_raw(w, ",", 1);
		first = 0;
		/* names and paths are ours (no escaping needed); ids are digits */
		jw_raw(w, "\"", 1);
		jw_lit(w, rel->name);
		jw_lit(w, "\":{\"links\":{\"self\":\"/v1/");
		jw_lit(w, r->path);
		jw_raw(w, "/", 1);
		jw_lit(w, id);
		jw_lit(w, "/relationships/");
		jw_lit(w, rel->name);
		jw_lit(w, "\",\"related\":\"/v1/");
		jw_lit(w, r->path);
		jw_raw(w, "/", 1);
		jw_lit(w, id);
		jw_raw(w, "/", 1);
		jw_lit(w, rel->name);
		jw_lit(w, "\"}");
		if (lk && lk[i].set) {
			jw_lit(w, ",\"data\":");
			if (rel->to_many)
				jw_raw(w, "[", 1);
			else if (lk[i].n == 0)
				jw_lit(w, "null");
			for (int j = 0; j < lk[i].n; j++) {
				if (j)
					jw_raw(w, ",", 1);
				jw_lit(w, "{\"type\":");
				jw_cstr(w, rel->target->type);
				jw_lit(w, ",\"id\":\"");
				jw_int(w, lk[i].ids[j]);
				jw_lit(w, "\"}");
				if (!rel->to_many)
					break;
			}
			if (rel->to_many)
				jw_raw(w, "]", 1);
		}
		jw_raw(w, "}", 1);
	}
	jw_lit(w, "},\"links\":{\"self\":\"/v1/");
	jw_lit(w, r->path);
	jw_raw(w, "/", 1);
	jw_lit(w, id);
	jw_lit(w, "\"}}");
}
