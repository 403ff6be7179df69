/*
 * crud: generic JSON:API routes from resource descriptors.
 *
 * Reads: one page query and one count query (independent reads: they share
 * a pipeline sync), then one query per level of each include path. Writes:
 * a load query (visibility and the caller's roles on the event), then one
 * statement (CTEs keep multi-table writes atomic), answered from its
 * RETURNING rows.
 *
 * Owns: generated route patterns and per-request states (freed with the
 * request context). Never: trusts a name from input without finding it in
 * a descriptor; puts a value anywhere but in a $n parameter.
 */
#include "core/crud.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/queue.h>

#include "core/access.h"
#include "core/app.h"
#include "core/auth.h"
#include "core/config.h"
#include "core/filter.h"
#include "core/jsonapi.h"
#include "core/jsonw.h"
#include "core/listcache.h"
#include "core/log.h"
#include "core/pg_pool.h"
#include "core/req_ctx.h"
#include "core/router.h"
#include "core/sqlbuf.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#define MAX_INCLUDES	  8
#define MAX_INCLUDE_DEPTH 4
#define MAX_SORT	  6
#define MAX_FIELDSETS	  8
#define BODY_MAX_DEPTH	  32

enum crud_kind {
	CRUD_LIST,	/* GET /v1/x, or GET /v1/p/{id}/x (to-many related) */
	CRUD_DETAIL,	/* GET /v1/x/{id} */
	CRUD_RELATED1,	/* GET /v1/p/{id}/x (to-one related) */
	CRUD_REL_GET,	/* GET /v1/p/{id}/relationships/x */
	CRUD_REL_PATCH, /* PATCH /v1/p/{id}/relationships/x (to-one) */
	CRUD_CREATE,	/* POST /v1/x */
	CRUD_UPDATE,	/* PATCH /v1/x/{id} */
	CRUD_DELETE,	/* DELETE /v1/x/{id} */
	CRUD_RESTORE,	/* POST /v1/x/{id}/restore */
};

struct crud_route {
	const struct resource *r;	/* type served (the target for related routes) */
	const struct resource *parent;	/* parent type of related/relationship routes */
	const struct resource_rel *rel; /* relationship of the parent, or NULL */
	int kind;			/* enum crud_kind */
};

/* Enough of the event type for visibility checks of a write's event. */
static const struct resource events_ref = {
    .type = "event", .table = "events", .soft_delete = 1, .event_col = "id"};

void (*crud_on_write)(const struct resource *r, int action, long long id, long long event_id);

static const struct resource *const *all_types; /* every registered type */
static int nall_types;

static struct crud_route *route_data;
static int nroute_data;
static char **patterns;
static int npatterns;

/* ---- small helpers ---- */

static const struct crud_route *route_of(struct req_ctx *ctx)
{
	return ctx->match.route->udata;
}

/* The {id} or {event_id} capture as a number; identifiers are passed as
 * SQL (events only). */
static void id_condition(struct req_ctx *ctx, const char *alias, struct sqlbuf *b)
{
	const struct route_param *p = &ctx->match.params[0];
	if (p->is_ident) {
		sqlbuf_add(b, "%s.identifier = ", alias);
		sqlbuf_param(b, p->ident);
	} else {
		sqlbuf_add(b, "%s.id = ", alias);
		sqlbuf_param_int(b, p->id);
	}
}

static void db_fail(struct req_ctx *ctx, PGresult *res, int reading);

/* The parent of a related route is looked up live, or also trashed when
 * trash is asked for (never "only trashed": a live parent exists). */
static int parent_trash(int mode)
{
	return mode == TRASH_HIDE ? TRASH_HIDE : TRASH_WITH;
}

static int trash_mode(struct req_ctx *ctx, int *mode)
{
	static const char *const with[] = {"with_trashed", "get_trashed"};
	*mode = TRASH_HIDE;
	for (int i = 0; i < 2; i++) {
		const char *v = query_get(&ctx->query, with[i]);
		if (v && strcmp(v, "true") == 0)
			*mode = TRASH_WITH;
	}
	const char *only = query_get(&ctx->query, "only_trashed");
	if (only && strcmp(only, "true") == 0)
		*mode = TRASH_ONLY;
	if (*mode == TRASH_HIDE)
		return 0;
	if (!ctx->principal.user_id) {
		req_ctx_reply_error(ctx, 401, "Reading trashed rows needs a signed-in caller.",
				    NULL, NULL);
		return -1;
	}
	return 0;
}

/* Non-admins read trash only as organisers of the events concerned: the
 * row's (detail), the parent's (related routes), or any (global lists). */
static void trash_gate_done(struct req_ctx *ctx, PGresult *res, int err, void *arg)
{
	void (*next)(struct req_ctx *) = (void (*)(struct req_ctx *))arg;
	if (err != PG_OK) {
		db_fail(ctx, res, 1);
		return;
	}
	if (PQgetvalue(res, 0, 0)[0] != 't') {
		req_ctx_reply_error(ctx, 403, "Only admins and organisers may read trashed rows.",
				    NULL, "with_trashed");
		return;
	}
	ctx->trash_ok = 1;
	next(ctx);
}

/* Returns 1 when the read may go on now; else it goes on in next() later
 * (or was answered). */
static int trash_gate(struct req_ctx *ctx, void (*next)(struct req_ctx *))
{
	const struct crud_route *cr = route_of(ctx);
	int mode;
	if (ctx->principal.is_admin || ctx->trash_ok)
		return 1;
	if (!ctx->principal.user_id) /* trash_mode answers 401 */
		return 1;
	const char *keys[] = {"with_trashed", "get_trashed", "only_trashed"};
	mode = TRASH_HIDE;
	for (int i = 0; i < 3; i++) {
		const char *v = query_get(&ctx->query, keys[i]);
		if (v && strcmp(v, "true") == 0)
			mode = TRASH_WITH;
	}
	if (mode == TRASH_HIDE)
		return 1;
	const struct resource *owner = cr->parent ? cr->parent : cr->r;
	int single = cr->parent || cr->kind != CRUD_LIST;
	struct sqlbuf b;
	sqlbuf_init(&b);
	sqlbuf_add(&b, "SELECT EXISTS (SELECT 1 FROM users_events_roles u WHERE u.role_id IN "
		       "(1, 2, 3) AND u.user_id = ");
	sqlbuf_param_int(&b, ctx->principal.user_id);
	if (single && owner->event_col) {
		sqlbuf_add(&b, " AND u.event_id = (SELECT t.%s FROM %s t WHERE ", owner->event_col,
			   owner->table);
		id_condition(ctx, "t", &b);
		sqlbuf_add(&b, ")");
	}
	sqlbuf_add(&b, ")");
	if (!sqlbuf_failed(&b))
		req_ctx_query(ctx, PG_READ, NULL, b.s, b.nparams, sqlbuf_params(&b),
			      trash_gate_done, (void *)next);
	else
		req_ctx_reply_error(ctx, 503, "Out of memory.", NULL, NULL);
	sqlbuf_free(&b);
	return 0;
}

/* Maps a database error to an answer. reading: a data error came from a
 * filter value (400), else from a written value (422). */
static void db_fail(struct req_ctx *ctx, PGresult *res, int reading)
{
	const char *st = pg_sqlstate(res);
	const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
	if (strcmp(st, "23505") == 0) {
		req_ctx_reply_error(ctx, 409, "A row with the same unique value exists.", NULL,
				    NULL);
	} else if (strcmp(st, "P0422") == 0) {
		/* business rule raised by a trigger: the hint holds the pointer */
		req_ctx_reply_error(ctx, 422, detail, hint, NULL);
	} else if (strncmp(st, "22", 2) == 0 || strcmp(st, "23514") == 0 ||
		   strcmp(st, "23502") == 0) {
		if (reading)
			req_ctx_reply_error(ctx, 400, "A filter value does not fit its field.",
					    NULL, "filter");
		else
			req_ctx_reply_error(ctx, 422, "A value is not acceptable for its field.",
					    NULL, NULL);
	} else if (strcmp(st, "23503") == 0) {
		req_ctx_reply_error(ctx, 404, "A related object does not exist.", NULL, NULL);
	} else if (strcmp(st, "57014") == 0) {
		req_ctx_reply_error(ctx, 503, "The database did not answer in time.", NULL, NULL);
	} else if (strncmp(st, "57P0", 4) == 0 || strncmp(st, "08", 2) == 0) {
		/* the server went away under the query (shutdown, crash, lost link) */
		req_ctx_reply_error(ctx, 503, "The database is unavailable.", NULL, NULL);
	} else {
		log_error(ctx->id, "query failed (%s): %s", st,
			  res ? PQresultErrorMessage(res) : "no result");
		req_ctx_reply_error(ctx, 500, "The database refused the query.", NULL, NULL);
	}
}

/* Whether ATTR_PRIVATE attributes of row `id` of r may be shown. */
static int private_ok(const struct resource *r, const struct principal *p, const char *id)
{
	if (p->is_admin)
		return 1;
	return r->perm_update == PERM_SELF && p->user_id && strtoll(id, NULL, 10) == p->user_id;
}

/* ---- list parameters ---- */

struct inc_path {
	const struct resource_rel *rels[MAX_INCLUDE_DEPTH]; /* relationship per level */
	int depth;					    /* levels */
};

struct fieldset {
	const struct resource *r; /* type */
	char **names;		  /* NULL-terminated, owned */
};

struct listq {
	long size, number;		   /* page */
	struct inc_path inc[MAX_INCLUDES]; /* include paths */
	int ninc;			   /* their number */
	struct fieldset fs[MAX_FIELDSETS]; /* sparse fieldsets */
	int nfs;			   /* their number */
	int trash;			   /* enum trash_mode */
};

static void listq_free(struct listq *q)
{
	for (int i = 0; i < q->nfs; i++) {
		for (char **n = q->fs[i].names; n && *n; n++)
			free(*n);
		free(q->fs[i].names);
	}
	q->nfs = 0;
}

static const char *const *fields_for(const struct listq *q, const struct resource *r)
{
	for (int i = 0; i < q->nfs; i++)
		if (q->fs[i].r == r)
			return (const char *const *)q->fs[i].names;
	return NULL;
}

/* Splits "a,b" into parts; calls fn on each (NUL-terminated copy). */
static int each_part(const char *s, int (*fn)(void *arg, char *part), void *arg)
{
	char *copy = strdup(s);
	if (!copy)
		return -1;
	int rc = 0;
	size_t n = strlen(copy);
	if (n == 0 || copy[0] == ',' || copy[n - 1] == ',' || strstr(copy, ",,"))
		rc = -1; /* an empty name */
	char *save = NULL;
	for (char *p = strtok_r(copy, ",", &save); p && rc == 0; p = strtok_r(NULL, ",", &save)) {
		while (*p == ' ')
			p++;
		rc = fn(arg, p);
	}
	free(copy);
	return rc;
}

struct inc_parse {
	struct listq *q;	  /* output */
	const struct resource *r; /* root type */
};

static int parse_include_one(void *arg, char *part)
{
	struct inc_parse *ip = arg;
	size_t n = strlen(part);
	if (ip->q->ninc >= MAX_INCLUDES || n == 0 || part[0] == '.' || part[n - 1] == '.' ||
	    strstr(part, ".."))
		return -1;
	struct inc_path *path = &ip->q->inc[ip->q->ninc];
	const struct resource *t = ip->r;
	char *save = NULL;
	path->depth = 0;
	for (char *seg = strtok_r(part, ".", &save); seg; seg = strtok_r(NULL, ".", &save)) {
		if (path->depth >= MAX_INCLUDE_DEPTH)
			return -1;
		const struct resource_rel *rel = resource_rel_find(t, seg);
		if (!rel)
			return -1;
		path->rels[path->depth++] = rel;
		t = rel->target;
	}
	if (path->depth == 0)
		return -1;
	ip->q->ninc++;
	return 0;
}

struct fields_parse {
	const struct resource *r; /* type of the fieldset */
	char **names;		  /* growing list */
	int n;
};

static int parse_field_one(void *arg, char *part)
{
	struct fields_parse *fp = arg;
	const struct resource_attr *a = resource_attr_find(fp->r, part);
	const struct resource_rel *rel = a ? NULL : resource_rel_find(fp->r, part);
	if ((!a || (a->flags & ATTR_WRITEONLY)) && !rel)
		return -1;
	char **names = realloc(fp->names, (size_t)(fp->n + 2) * sizeof(char *));
	if (!names)
		return -1;
	fp->names = names;
	names[fp->n++] = strdup(a ? a->name : rel->name);
	names[fp->n] = NULL;
	return 0;
}

/* Finds a type by its JSON:API name among the root and the included types. */
static const struct resource *type_by_name(const struct resource *r, const struct listq *q,
					   const char *name)
{
	if (strcmp(r->type, name) == 0)
		return r;
	for (int i = 0; i < q->ninc; i++)
		for (int j = 0; j < q->inc[i].depth; j++)
			if (strcmp(q->inc[i].rels[j]->target->type, name) == 0)
				return q->inc[i].rels[j]->target;
	for (int i = 0; i < r->nrels; i++)
		if (strcmp(r->rels[i].target->type, name) == 0)
			return r->rels[i].target;
	return NULL;
}

/* Parses include, fields[...], page[...] and the trash flags. Answers on
 * error and returns -1. */
static int listq_parse(struct req_ctx *ctx, const struct resource *r, struct listq *q, int paged)
{
	memset(q, 0, sizeof(*q));
	const char *bad = NULL;
	if (paged && query_page(&ctx->query, cfg.max_page_size, &q->size, &q->number, &bad) < 0) {
		req_ctx_reply_error(ctx, 400, "Invalid page parameter.", NULL, bad);
		return -1;
	}
	const char *inc = query_get(&ctx->query, "include");
	if (inc && *inc) {
		struct inc_parse ip = {q, r};
		if (each_part(inc, parse_include_one, &ip) < 0) {
			req_ctx_reply_error(ctx, 400, "Unknown or too deep include path.", NULL,
					    "include");
			return -1;
		}
	}
	for (size_t i = 0; i < ctx->query.n; i++) {
		const char *k = ctx->query.items[i].key;
		if (strncmp(k, "fields[", 7) != 0)
			continue;
		size_t kl = strlen(k);
		char tname[64];
		if (kl < 9 || k[kl - 1] != ']' || kl - 8 >= sizeof(tname)) {
			req_ctx_reply_error(ctx, 400, "Malformed sparse fieldset.", NULL, k);
			return -1;
		}
		memcpy(tname, k + 7, kl - 8);
		tname[kl - 8] = '\0';
		const struct resource *t = type_by_name(r, q, tname);
		struct fields_parse fp = {t, NULL, 0};
		if (!t || q->nfs >= MAX_FIELDSETS ||
		    each_part(ctx->query.items[i].value, parse_field_one, &fp) < 0) {
			for (int j = 0; j < fp.n; j++)
				free(fp.names[j]);
			free(fp.names);
			listq_free(q);
			req_ctx_reply_error(ctx, 400, "Unknown type or field in a sparse fieldset.",
					    NULL, k);
			return -1;
		}
		if (!fp.names) {
			fp.names = calloc(1, sizeof(char *));
		}
		q->fs[q->nfs].r = t;
		q->fs[q->nfs].names = fp.names;
		q->nfs++;
	}
	if (trash_mode(ctx, &q->trash) < 0) {
		listq_free(q);
		return -1;
	}
	return 0;
}

/* Appends ORDER BY for `sort` (and the joins it needs into `joins`).
 * Returns -1 on an unknown key. */
static int sort_sql(const char *sort, const struct resource *r, struct sqlbuf *joins,
		    struct sqlbuf *order)
{
	char *copy = strdup(sort);
	if (!copy)
		return -1;
	int n = 0, rc = 0;
	char *save = NULL;
	for (char *key = strtok_r(copy, ",", &save); key; key = strtok_r(NULL, ",", &save)) {
		int desc = 0;
		if (*key == '-') {
			desc = 1;
			key++;
		}
		if (++n > MAX_SORT) {
			rc = -1;
			break;
		}
		char *dot = strchr(key, '.');
		const char *alias = "t";
		const struct resource *tr = r;
		char join_alias[16];
		if (dot) {
			*dot = '\0';
			const struct resource_rel *rel = resource_rel_find(r, key);
			if (!rel || rel->to_many || !rel->fk || rel->sql_target_ids) {
				rc = -1;
				break;
			}
			snprintf(join_alias, sizeof(join_alias), "s%d", n);
			sqlbuf_add(joins, " LEFT JOIN %s %s ON %s.id = t.%s", rel->target->table,
				   join_alias, join_alias, rel->fk);
			if (rel->target->soft_delete)
				sqlbuf_add(joins, " AND %s.deleted_at IS NULL", join_alias);
			alias = join_alias;
			tr = rel->target;
			key = dot + 1;
		}
		const char *col = "id";
		if (strcmp(key, "id") != 0) {
			const struct resource_attr *a = resource_attr_find(tr, key);
			if (!a || a->type == ATTR_NULL ||
			    (a->flags & (ATTR_WRITEONLY | ATTR_PRIVATE))) {
				rc = -1;
				break;
			}
			col = a->column;
		}
		sqlbuf_add(order, "%s%s.%s %s", n > 1 ? ", " : "", alias, col,
			   desc ? "DESC NULLS LAST" : "ASC NULLS FIRST");
	}
	free(copy);
	return rc;
}

/* ---- compound documents ---- */

/* One resource object of a document: its attributes rendered at once, its
 * relationships' linkage filled in as includes arrive, written at the end. */
struct robj {
	const struct resource *r;    /* type */
	long long id;		     /* id */
	char idtext[24];	     /* id as text */
	char *attrs;		     /* the attributes object, owned */
	size_t attrs_len;	     /* its length */
	struct resource_linkage *lk; /* r->nrels entries once an include touched it */
};

static void robj_free(struct robj *o)
{
	if (!o)
		return;
	for (int i = 0; o->lk && i < o->r->nrels; i++)
		free(o->lk[i].ids);
	free(o->lk);
	free(o->attrs);
	free(o);
}

static struct robj *robj_new(const struct resource *r, const PGresult *res, int row, int col0,
			     const struct principal *p, const char *const *fields)
{
	struct robj *o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	const char *id = PQgetvalue(res, row, col0);
	o->r = r;
	o->id = strtoll(id, NULL, 10);
	snprintf(o->idtext, sizeof(o->idtext), "%s", id);
	struct jw w;
	jw_init(&w);
	resource_write_attrs(&w, r, res, row, col0, private_ok(r, p, id), fields);
	if (w.failed) {
		jw_free(&w);
		free(o);
		return NULL;
	}
	o->attrs = w.s;
	o->attrs_len = w.len;
	return o;
}

/* Starts the linkage of relationship idx: [] or null. */
static int robj_link_init(struct robj *o, int idx)
{
	if (!o->lk && !(o->lk = calloc((size_t)o->r->nrels, sizeof(*o->lk))))
		return -1;
	o->lk[idx].set = 1;
	o->lk[idx].n = 0;
	return 0;
}

static int robj_link_add(struct robj *o, int idx, long long id)
{
	struct resource_linkage *l = &o->lk[idx];
	if (!o->r->rels[idx].to_many) {
		if (!l->ids && !(l->ids = malloc(sizeof(long long))))
			return -1;
		l->ids[0] = id;
		l->n = 1;
		return 0;
	}
	if (l->n == l->cap) {
		int cap = l->cap ? l->cap * 2 : 4;
		long long *ids = realloc(l->ids, (size_t)cap * sizeof(*ids));
		if (!ids)
			return -1;
		l->ids = ids;
		l->cap = cap;
	}
	l->ids[l->n++] = id;
	return 0;
}

static void robj_write(struct jw *w, const struct robj *o, const char *const *fields)
{
	resource_write_object(w, o->r, o->idtext, o->attrs, o->attrs_len, fields, o->lk);
}

struct objref {
	const struct resource *r; /* type */
	long long id;		  /* id */
	struct robj *o;		  /* the object (owned by the document's lists) */
};

/* A set of resource objects by (type, id): open addressing. */
struct objset {
	struct objref *slots; /* capacity entries */
	size_t cap, n;	      /* capacity (power of 2), used */
};

static size_t objset_hash(const struct resource *r, long long id, size_t cap)
{
	unsigned long long h =
	    (unsigned long long)id * 0x9E3779B97F4A7C15ULL ^ (unsigned long long)(uintptr_t)r;
	return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

static struct robj *objset_get(const struct objset *s, const struct resource *r, long long id)
{
	if (!s->cap)
		return NULL;
	for (size_t i = objset_hash(r, id, s->cap);; i = (i + 1) & (s->cap - 1)) {
		if (!s->slots[i].r)
			return NULL;
		if (s->slots[i].r == r && s->slots[i].id == id)
			return s->slots[i].o;
	}
}

static int objset_put(struct objset *s, const struct resource *r, long long id, struct robj *o)
{
	if ((s->n + 1) * 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct objref *slots = calloc(cap, sizeof(*slots));
		if (!slots)
			return -1;
		for (size_t i = 0; i < s->cap; i++) {
			if (!s->slots[i].r)
				continue;
			size_t j = objset_hash(s->slots[i].r, s->slots[i].id, cap);
			while (slots[j].r)
				j = (j + 1) & (cap - 1);
			slots[j] = s->slots[i];
		}
		free(s->slots);
		s->slots = slots;
		s->cap = cap;
	}
	size_t j = objset_hash(r, id, s->cap);
	while (s->slots[j].r)
		j = (j + 1) & (s->cap - 1);
	s->slots[j] = (struct objref){r, id, o};
	s->n++;
	return 0;
}

/* A growing list of objects, in document order; owns them. */
struct robj_list {
	struct robj **v; /* the objects */
	size_t n, cap;	 /* used, allocated */
};

static int robj_list_add(struct robj_list *l, struct robj *o)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct robj **v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = o;
	return 0;
}

static void robj_list_free(struct robj_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		robj_free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* ---- reads ---- */

struct read_state {
	struct listq q;		     /* parameters */
	const struct crud_route *cr; /* route */
	int single;		     /* a single resource (detail, to-one related) */
	int pending;		     /* page + count results outstanding */
	long count;		     /* meta.count */
	int parent_missing;	     /* the parent of a related list is not visible */
	int null_data;		     /* to-one related with no target */
	int too_many;		     /* page[size]=0 and more rows than MAX_PAGE_SIZE */
	struct robj_list data;	     /* primary data, in order */
	struct robj_list included;   /* included objects, in order */
	struct objset primary;	     /* data objects by (type, id) */
	struct objset seen;	     /* included objects by (type, id) */
	int inc_path, inc_level;     /* include progress */
	struct objref *parents;	     /* objects of the current level */
	size_t nparents;
	struct req_ctx *ctx; /* while waiting for a large-list turn */
	int large;	     /* holds a large-list turn */
	int waiting;	     /* in large_waiting */
	TAILQ_ENTRY(read_state) wait_link;
	char *cache_key;     /* the document goes to core/listcache under this */
	long long cache_gen; /* ... built under this event generation */
};

/* ---- large lists ----
 * A list of more than LARGE_LIST_ROWS rows (a big event's schedule: 1,000
 * sessions with speakers and tracks is a 3 MB document) holds its rows and
 * its rendered document, megabytes, until it is written. The loop renders
 * them one after another anyway; letting all of them query at once only
 * multiplies that memory (16 at once took a worker past 100 MB). So each
 * worker builds at most LARGE_LISTS_MAX of them at a time; the others wait
 * for a turn in arrival order, still under their request deadline, and a
 * client that leaves gives up its place. Other requests never wait. */
static TAILQ_HEAD(, read_state) large_waiting = TAILQ_HEAD_INITIALIZER(large_waiting);
static int large_running;
static struct event *large_resume_ev;

static void list_queries(struct req_ctx *ctx, struct read_state *st);
static int serve_kept(struct req_ctx *ctx, struct read_state *st);

static void large_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	while (large_running < cfg.large_lists_max && !TAILQ_EMPTY(&large_waiting)) {
		struct read_state *st = TAILQ_FIRST(&large_waiting);
		TAILQ_REMOVE(&large_waiting, st, wait_link);
		st->waiting = 0;
		/* an identical list built while this one waited answers it */
		if (serve_kept(st->ctx, st))
			continue;
		st->large = 1;
		large_running++;
		list_queries(st->ctx, st);
	}
}

/* Gives back st's turn or its place in the queue; the next waiter starts
 * from the loop (never inside the caller, which may be freeing a context). */
static void large_release(struct read_state *st)
{
	if (st->waiting) {
		TAILQ_REMOVE(&large_waiting, st, wait_link);
		st->waiting = 0;
	}
	if (!st->large)
		return;
	st->large = 0;
	large_running--;
	if (!TAILQ_EMPTY(&large_waiting))
		event_active(large_resume_ev, 0, 0); /* made before anyone waited */
}

/* Whether a list waiting for a turn asks for the document st built. */
static int key_awaited(const struct read_state *st)
{
	struct read_state *w;
	TAILQ_FOREACH(w, &large_waiting, wait_link)
	{
		if (w->cache_key && w->cache_gen == st->cache_gen &&
		    strcmp(w->cache_key, st->cache_key) == 0)
			return 1;
	}
	return 0;
}

/* 1: st may build now (or needs no turn); 0: it waits for one. */
static int large_turn(struct req_ctx *ctx, struct read_state *st)
{
	if (st->q.size != 0 && st->q.size <= cfg.large_list_rows)
		return 1;
	if (!large_resume_ev)
		large_resume_ev = event_new(app.base, -1, 0, large_resume, NULL);
	/* without the event nobody could be woken: then nobody waits */
	if (!large_resume_ev ||
	    (large_running < cfg.large_lists_max && TAILQ_EMPTY(&large_waiting))) {
		large_running++;
		st->large = 1;
		return 1;
	}
	st->ctx = ctx;
	st->waiting = 1;
	TAILQ_INSERT_TAIL(&large_waiting, st, wait_link);
	return 0;
}

/* Frees the document's objects and indexes (st itself stays). */
static void read_release(struct read_state *st)
{
	robj_list_free(&st->data);
	robj_list_free(&st->included);
	free(st->primary.slots);
	memset(&st->primary, 0, sizeof(st->primary));
	free(st->seen.slots);
	memset(&st->seen, 0, sizeof(st->seen));
	free(st->parents);
	st->parents = NULL;
	st->nparents = 0;
}

static void read_free(void *p)
{
	struct read_state *st = p;
	large_release(st);
	free(st->cache_key);
	listq_free(&st->q);
	read_release(st);
	free(st);
}

static void read_finish(struct req_ctx *ctx, struct read_state *st);
static void include_next(struct req_ctx *ctx, struct read_state *st);

/* Objects at the start of an include path: the primary data. */
static int parents_from_primary(struct read_state *st)
{
	free(st->parents);
	st->parents = calloc(st->data.n ? st->data.n : 1, sizeof(*st->parents));
	if (!st->parents)
		return -1;
	st->nparents = 0;
	for (size_t i = 0; i < st->data.n; i++)
		st->parents[st->nparents++] =
		    (struct objref){st->data.v[i]->r, st->data.v[i]->id, st->data.v[i]};
	return 0;
}

/* Sets the linkage of rel on every parent to [] or null. */
static int linkage_init(struct read_state *st, const struct resource_rel *rel)
{
	for (size_t i = 0; i < st->nparents; i++) {
		struct robj *o = st->parents[i].o;
		if (robj_link_init(o, (int)(rel - o->r->rels)) < 0)
			return -1;
	}
	return 0;
}

static struct json_object *identifier(const struct resource *r, const char *id)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string(r->type));
	json_object_object_add(o, "id", json_object_new_string(id));
	return o;
}

static void include_done(struct req_ctx *ctx, PGresult *res, int err, void *arg)
{
	struct read_state *st = arg;
	if (err != PG_OK) {
		db_fail(ctx, res, 1);
		return;
	}
	const struct inc_path *path = &st->q.inc[st->inc_path];
	const struct resource_rel *rel = path->rels[st->inc_level];
	const struct resource *t = rel->target;
	const char *const *fields = fields_for(&st->q, t);
	/* the parents by id (one type per level) */
	struct objset byid = {0};
	int oom = 0;
	for (size_t i = 0; i < st->nparents; i++)
		oom |= objset_put(&byid, st->parents[i].r, st->parents[i].id, st->parents[i].o);
	int n = PQntuples(res);
	struct objref *next = calloc((size_t)n + 1, sizeof(*next));
	size_t nnext = 0;
	oom |= !next;
	for (int row = 0; row < n && !oom; row++) {
		long long owner = strtoll(PQgetvalue(res, row, 0), NULL, 10);
		long long idn = strtoll(PQgetvalue(res, row, 1), NULL, 10);
		struct robj *o = objset_get(&st->seen, t, idn);
		if (!o)
			o = objset_get(&st->primary, t, idn);
		if (!o) {
			o = robj_new(t, res, row, 1, &ctx->principal, fields);
			if (!o || robj_list_add(&st->included, o) < 0) {
				robj_free(o);
				oom = 1;
				break;
			}
			oom |= objset_put(&st->seen, t, idn, o);
		}
		next[nnext++] = (struct objref){t, idn, o};
		struct robj *parent = objset_get(&byid, st->parents[0].r, owner);
		if (parent)
			oom |= robj_link_add(parent, (int)(rel - parent->r->rels), idn);
	}
	free(byid.slots);
	if (oom) {
		free(next);
		req_ctx_reply_error(ctx, 503, "Out of memory.", NULL, NULL);
		return;
	}
	free(st->parents);
	st->parents = next;
	st->nparents = nnext;
	st->inc_level++;
	if (st->inc_level >= path->depth) {
		st->inc_path++;
		st->inc_level = 0;
		if (st->inc_path < st->q.ninc && parents_from_primary(st) < 0) {
			req_ctx_reply_error(ctx, 503, "Out of memory.", NULL, NULL);
			return;
		}
	}
	include_next(ctx, st);
}

/* Queries the next include level, or finishes. */
static void include_next(struct req_ctx *ctx, struct read_state *st)
{
	while (st->inc_path < st->q.ninc && st->nparents == 0) {
		/* nothing to include below here: the next path */
		st->inc_path++;
		st->inc_level = 0;
		if (st->inc_path < st->q.ninc && parents_from_primary(st) < 0) {
			req_ctx_reply_error(ctx, 503, "Out of memory.", NULL, NULL);
			return;
		}
	}
	if (st->inc_path >= st->q.ninc) {
		read_finish(ctx, st);
		return;
	}
	const struct resource_rel *rel = st->q.inc[st->inc_path].rels[st->inc_level];
	const struct resource *pr = st->parents[0].r, *t = rel->target;
	if (linkage_init(st, rel) < 0) {
		req_ctx_reply_error(ctx, 503, "Out of memory.", NULL, NULL);
		return;
	}
	/* The parents' ids are known: to-many relations start from the join
	 * table or the foreign key (their indexes lead with the parent's id)
	 * and never read the parents' rows again. */
	char pcol[80]; /* the parent's id, first column of every row */
	if (rel->to_many && !rel->sql_target_ids && rel->join_table)
		snprintf(pcol, sizeof(pcol), "j.%s", rel->join_self);
	else if (rel->to_many && !rel->sql_target_ids)
		snprintf(pcol, sizeof(pcol), "t.%s", rel->fk);
	else
		snprintf(pcol, sizeof(pcol), "pp.id");
	struct sqlbuf b;
	sqlbuf_init(&b);
	sqlbuf_add(&b, "SELECT %s, ", pcol);
	resource_select_list(t, "t", &b);
	if (rel->sql_target_ids) {
		sqlbuf_add(&b, " FROM %s pp JOIN %s t ON t.id IN (", pr->table, t->table);
		sqlbuf_add(&b, rel->sql_target_ids, "pp");
		sqlbuf_add(&b, ")");
	} else if (!rel->to_many) {
		sqlbuf_add(&b, " FROM %s pp JOIN %s t ON t.id = pp.%s", pr->table, t->table,
			   rel->fk);
	} else if (rel->join_table) {
		sqlbuf_add(&b, " FROM %s j JOIN %s t ON t.id = j.%s", rel->join_table, t->table,
			   rel->join_other);
	} else {
		sqlbuf_add(&b, " FROM %s t", t->table);
	}
	sqlbuf_add(&b, " WHERE %s = ANY(", pcol);
	struct sqlbuf ids;
	sqlbuf_init(&ids);
	sqlbuf_add(&ids, "{");
	for (size_t i = 0; i < st->nparents; i++)
		sqlbuf_add(&ids, "%s%lld", i ? "," : "", st->parents[i].id);
	sqlbuf_add(&ids, "}");
	sqlbuf_param(&b, ids.s);
	sqlbuf_free(&ids);
	sqlbuf_add(&b, "::bigint[]) AND ");
	access_visible(t, "t", &ctx->principal, TRASH_HIDE, &b);
	sqlbuf_add(&b, " ORDER BY 1, t.id");
	if (sqlbuf_failed(&b)) {
		sqlbuf_free(&b);
		req_ctx_reply_error(ctx, 503, "Out of memory.", NULL, NULL);
		return;
	}
	req_ctx_query(ctx, PG_READ, NULL, b.s, b.nparams, sqlbuf_params(&b), include_done, st);
	sqlbuf_free(&b);
}

static void doc_release(const void *body, size_t len, void *arg)
{
	(void)body;
	(void)len;
	lc_doc_unref(arg);
}

static void read_finish(struct req_ctx *ctx, struct read_state *st)
{
	struct jw w;
	jw_init(&w);
	const char *const *fields = fields_for(&st->q, st->cr->r);
	jw_lit(&w, "{\"data\":");
	if (st->single) {
		if (st->null_data || st->data.n == 0)
			jw_lit(&w, "null");
		else
			robj_write(&w, st->data.v[0], fields);
		jw_lit(&w, ",\"links\":{\"self\":");
		jw_cstr(&w, ctx->path);
		jw_lit(&w, "}");
	} else {
		jw_raw(&w, "[", 1);
		for (size_t i = 0; i < st->data.n; i++) {
			if (i)
				jw_raw(&w, ",", 1);
			robj_write(&w, st->data.v[i], fields);
		}
		jw_raw(&w, "]", 1);
		jw_raw(&w, ",", 1);
		jsonapi_write_paging(&w, ctx->path, &ctx->query, st->count, st->q.number,
				     st->q.size);
	}
	if (st->q.ninc > 0) {
		jw_lit(&w, ",\"included\":[");
		for (size_t i = 0; i < st->included.n; i++) {
			if (i)
				jw_raw(&w, ",", 1);
			robj_write(&w, st->included.v[i], fields_for(&st->q, st->included.v[i]->r));
		}
		jw_raw(&w, "]", 1);
	}
	jw_lit(&w, ",\"jsonapi\":{\"version\":\"1.0\"}}");
	if (w.failed) {
		jw_free(&w);
		req_ctx_reply_error(ctx, 503, "Out of memory.", NULL, NULL);
		return;
	}
	/* the objects are written: free them before the document goes out */
	char *doc = w.s;
	size_t len = w.len;
	w.s = NULL;
	read_release(st);
	large_release(st);
	if (st->cache_key) {
		struct lc_doc *d = lc_doc_new(doc, len);
		if (!d) {
			req_ctx_reply_error(ctx, 503, "Out of memory.", NULL, NULL);
			return;
		}
		listcache_put(st->cache_key, st->cache_gen, d, key_awaited(st));
		req_ctx_reply_ref(ctx, 200, JSONAPI_MEDIA_TYPE, d->body, d->len, d->etag,
				  doc_release, d);
		return;
	}
	req_ctx_reply_owned(ctx, 200, JSONAPI_MEDIA_TYPE, doc, len,
			    ctx->method == ROUTER_GET || ctx->method == ROUTER_HEAD);
}

/* "T t ON <cond>" joining the targets of rel to parent alias pp. */
static void rel_join(struct sqlbuf *b, const struct resource_rel *rel)
{
	const struct resource *t = rel->target;
	if (rel->sql_target_ids) {
		sqlbuf_add(b, "%s t ON t.id IN (", t->table);
		sqlbuf_add(b, rel->sql_target_ids, "pp");
		sqlbuf_add(b, ")");
	} else if (!rel->to_many) {
		sqlbuf_add(b, "%s t ON t.id = pp.%s", t->table, rel->fk);
	} else if (rel->join_table) {
		sqlbuf_add(b, "(%s j JOIN %s t ON t.id = j.%s) ON j.%s = pp.id", rel->join_table,
			   t->table, rel->join_other, rel->join_self);
	} else {
		sqlbuf_add(b, "%s t ON t.%s = pp.id", t->table, rel->fk);
	}
}

/* WHERE of a list: visibility, parent, filter. -1 (answered) on a bad filter. */
static int list_where(struct req_ctx *ctx, struct read_state *st, struct sqlbuf *b)
{
	const struct crud_route *cr = st->cr;
	sqlbuf_add(b, " WHERE ");
	access_visible(cr->r, "t", &ctx->principal, st->q.trash, b);
	const struct resource_rel *rel = cr->rel;
	if (rel && rel->sql_target_ids) {
		sqlbuf_add(b, " AND EXISTS (SELECT 1 FROM %s pp WHERE ", cr->parent->table);
		id_condition(ctx, "pp", b);
		sqlbuf_add(b, " AND t.id IN (");
		sqlbuf_add(b, rel->sql_target_ids, "pp");
		sqlbuf_add(b, "))");
	} else if (rel && rel->join_table) {
		sqlbuf_add(b,
			   " AND t.id IN (SELECT j.%s FROM %s j JOIN %s pp ON pp.id = j.%s WHERE ",
			   rel->join_other, rel->join_table, cr->parent->table, rel->join_self);
		id_condition(ctx, "pp", b);
		sqlbuf_add(b, ")");
	} else if (rel && !ctx->match.params[0].is_ident) {
		/* the parent by id: the foreign key itself (an index range on
		 * (fk, id) serves the page); the count query checks the parent */
		sqlbuf_add(b, " AND t.%s = ", rel->fk);
		sqlbuf_param_int(b, ctx->match.params[0].id);
	} else if (rel) {
		sqlbuf_add(b, " AND t.%s IN (SELECT pp.id FROM %s pp WHERE ", rel->fk,
			   cr->parent->table);
		id_condition(ctx, "pp", b);
		sqlbuf_add(b, ")");
	}
	const char *f = query_get(&ctx->query, "filter");
	if (f && *f) {
		char err[256];
		if (filter_sql(f, cr->r, "t", &ctx->principal, b, err, sizeof(err)) < 0) {
			req_ctx_reply_error(ctx, 400, err, NULL, "filter");
			return -1;
		}
	}
	return 0;
}

static void rows_into_data(struct req_ctx *ctx, struct read_state *st, PGresult *res, int col0)
{
	const struct resource *r = st->cr->r;
	const char *const *fields = fields_for(&st->q, r);
	int n = PQntuples(res);
	if (st->q.size == 0 && !st->single && n > cfg.max_page_size) {
		st->too_many = 1;
		return;
	}
	for (int i = 0; i < n; i++) {
		struct robj *o = robj_new(r, res, i, col0, &ctx->principal, fields);
		if (!o || robj_list_add(&st->data, o) < 0) {
			robj_free(o);
			st->too_many = -1; /* out of memory */
			return;
		}
		objset_put(&st->primary, r, o->id, o);
	}
}

static void read_ready(struct req_ctx *ctx, struct read_state *st)
{
	if (st->too_many < 0) {
		req_ctx_reply_error(ctx, 503, "Out of memory.", NULL, NULL);
		return;
	}
	if (st->q.ninc > 0 && st->data.n > 0) {
		if (parents_from_primary(st) < 0) {
			req_ctx_reply_error(ctx, 503, "Out of memory.", NULL, NULL);
			return;
		}
		include_next(ctx, st);
		return;
	}
	read_finish(ctx, st);
}

static void list_step(struct req_ctx *ctx, struct read_state *st)
{
	if (--st->pending > 0)
		return;
	if (st->parent_missing) {
		req_ctx_reply_error(ctx, 404, "The parent object does not exist.", NULL, NULL);
		return;
	}
	if (st->too_many > 0) {
		req_ctx_reply_error(ctx, 400, "page[size]=0 asks for more rows than MAX_PAGE_SIZE.",
				    NULL, "page[size]");
		return;
	}
	read_ready(ctx, st);
}

static void list_rows(struct req_ctx *ctx, PGresult *res, int err, void *arg)
{
	struct read_state *st = arg;
	if (err != PG_OK) {
		db_fail(ctx, res, 1);
		return;
	}
	rows_into_data(ctx, st, res, 0);
	list_step(ctx, st);
}

static void list_count(struct req_ctx *ctx, PGresult *res, int err, void *arg)
{
	struct read_state *st = arg;
	if (err != PG_OK) {
		db_fail(ctx, res, 1);
		return;
	}
	st->count = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	if (PQnfields(res) > 1)
		st->parent_missing = PQgetvalue(res, 0, 1)[0] != 't';
	list_step(ctx, st);
}

static struct read_state *read_new(struct req_ctx *ctx, int single, int paged)
{
	struct read_state *st = calloc(1, sizeof(*st));
	if (!st) {
		req_ctx_reply_error(ctx, 503, "Out of memory.", NULL, NULL);
		return NULL;
	}
	st->cr = route_of(ctx);
	st->single = single;
	ctx->hdata = st;
	ctx->hfree = read_free;
	if (listq_parse(ctx, st->cr->r, &st->q, paged) < 0)
		return NULL;
	return st;
}

/* ---- documents kept in core/listcache ----
 * An anonymous list under one event (GET /v1/events/{id}/<type>) is the same
 * document for every anonymous caller as long as the event's rows do not
 * change, and sql/008 changes the event's generation with any of them. So
 * such a list first reads the generation; a document stored under the same
 * generation and URI is the answer, otherwise the list is built and stored.
 * Lists that may depend on rows outside the event are built every time:
 * includes or relationships reaching types without an event (users, event
 * topics, ...), filters and sorts through relationships (they may name such
 * types), trash, signed-in callers (what they may see depends on their roles
 * and their own rows). */
static int cacheable(struct req_ctx *ctx, const struct read_state *st, long long *event_id)
{
	const struct crud_route *cr = st->cr;
	const struct route_param *p = &ctx->match.params[0];
	if (cfg.list_cache_bytes <= 0 || ctx->principal.user_id || st->q.trash != TRASH_HIDE ||
	    !(ctx->method & (ROUTER_GET | ROUTER_HEAD)) || !cr->rel || cr->rel->sql_target_ids ||
	    !cr->parent->event_col || strcmp(cr->parent->event_col, "id") != 0 || p->is_ident ||
	    !cr->r->event_col)
		return 0;
	const char *f = query_get(&ctx->query, "filter");
	const char *sort = query_get(&ctx->query, "sort");
	if ((f && *f) || (sort && strchr(sort, '.')))
		return 0;
	for (int i = 0; i < st->q.ninc; i++)
		for (int k = 0; k < st->q.inc[i].depth; k++) {
			const struct resource_rel *rel = st->q.inc[i].rels[k];
			if (!rel->target->event_col || rel->sql_target_ids)
				return 0;
		}
	*event_id = p->id;
	return 1;
}

/* 1: answered with the document kept for st's URI and generation. */
static int serve_kept(struct req_ctx *ctx, struct read_state *st)
{
	struct lc_doc *d = st->cache_key ? listcache_get(st->cache_key, st->cache_gen) : NULL;
	if (!d)
		return 0;
	req_ctx_reply_ref(ctx, 200, JSONAPI_MEDIA_TYPE, d->body, d->len, d->etag, doc_release, d);
	return 1;
}

static void cache_gen_done(struct req_ctx *ctx, PGresult *res, int err, void *arg)
{
	struct read_state *st = arg;
	if (err != PG_OK) {
		db_fail(ctx, res, 1);
		return;
	}
	if (PQntuples(res) != 1) { /* no generation: never from memory */
		free(st->cache_key);
		st->cache_key = NULL;
	} else {
		st->cache_gen = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		if (serve_kept(ctx, st))
			return;
	}
	if (large_turn(ctx, st))
		list_queries(ctx, st);
}

/* 0: the generation query is on its way (or ctx answered); -1: build the
 * list without the cache. */
static int cache_check(struct req_ctx *ctx, struct read_state *st, long long event_id)
{
	static const char gen_sql[] = "SELECT gen FROM event_generations WHERE event_id = $1";
	const char *uri = evhttp_request_get_uri(ctx->req);
	if (!uri || strlen(uri) > 2048 || !(st->cache_key = strdup(uri)))
		return -1;
	char id[24];
	snprintf(id, sizeof(id), "%lld", event_id);
	const char *params[1] = {id};
	req_ctx_query(ctx, PG_READ, NULL, gen_sql, 1, params, cache_gen_done, st);
	return 0;
}

static void do_list(struct req_ctx *ctx)
{
	if (!trash_gate(ctx, do_list))
		return;
	const struct crud_route *cr = route_of(ctx);
	const struct resource *r = cr->r;
	if (!cr->rel && !access_allows(r, r->perm_list, &ctx->principal, 0, 0)) {
		req_ctx_reply_error(ctx, ctx->principal.user_id ? 403 : 401,
				    "You may not list these objects.", NULL, NULL);
		return;
	}
	struct read_state *st = read_new(ctx, 0, 1);
	if (!st)
		return;
	long long event_id;
	if (cacheable(ctx, st, &event_id) && cache_check(ctx, st, event_id) == 0)
		return;
	if (large_turn(ctx, st))
		list_queries(ctx, st);
}

/* The page and count queries of a list. */
static void list_queries(struct req_ctx *ctx, struct read_state *st)
{
	const struct crud_route *cr = st->cr;
	const struct resource *r = cr->r;
	struct sqlbuf page, count, joins, order;
	sqlbuf_init(&page);
	sqlbuf_init(&count);
	sqlbuf_init(&joins);
	sqlbuf_init(&order);
	const char *sort = query_get(&ctx->query, "sort");
	if (sort && *sort && sort_sql(sort, r, &joins, &order) < 0) {
		req_ctx_reply_error(ctx, 400, "Unknown sort key.", NULL, "sort");
		goto out;
	}
	sqlbuf_add(&page, "SELECT ");
	resource_select_list(r, "t", &page);
	sqlbuf_add(&page, " FROM %s t%s", r->table, joins.s ? joins.s : "");
	if (list_where(ctx, st, &page) < 0)
		goto out;
	if (order.s)
		sqlbuf_add(&page, " ORDER BY %s, t.id", order.s);
	else if (r->default_sort)
		sqlbuf_add(&page, " ORDER BY %s, t.id", r->default_sort);
	else
		sqlbuf_add(&page, " ORDER BY t.id");
	sqlbuf_add(&page, " LIMIT ");
	sqlbuf_param_int(&page, st->q.size ? st->q.size : cfg.max_page_size + 1);
	sqlbuf_add(&page, " OFFSET ");
	sqlbuf_param_int(&page, st->q.size ? (st->q.number - 1) * st->q.size : 0);

	sqlbuf_add(&count, "SELECT count(*)");
	if (cr->rel) {
		sqlbuf_add(&count, ", (SELECT EXISTS (SELECT 1 FROM %s pp WHERE ",
			   cr->parent->table);
		id_condition(ctx, "pp", &count);
		sqlbuf_add(&count, " AND ");
		access_visible(cr->parent, "pp", &ctx->principal, parent_trash(st->q.trash),
			       &count);
		sqlbuf_add(&count, "))");
	}
	sqlbuf_add(&count, " FROM %s t", r->table);
	if (list_where(ctx, st, &count) < 0)
		goto out;
	if (sqlbuf_failed(&page) || sqlbuf_failed(&count)) {
		req_ctx_reply_error(ctx, 503, "Out of memory.", NULL, NULL);
		goto out;
	}
	st->pending = 2;
	if (req_ctx_query(ctx, PG_READ, NULL, page.s, page.nparams, sqlbuf_params(&page), list_rows,
			  st) == 0)
		req_ctx_query(ctx, PG_READ, NULL, count.s, count.nparams, sqlbuf_params(&count),
			      list_count, st);
out:
	sqlbuf_free(&page);
	sqlbuf_free(&count);
	sqlbuf_free(&joins);
	sqlbuf_free(&order);
}

static void single_rows(struct req_ctx *ctx, PGresult *res, int err, void *arg)
{
	struct read_state *st = arg;
	if (err != PG_OK) {
		db_fail(ctx, res, 1);
		return;
	}
	if (PQntuples(res) == 0) {
		req_ctx_reply_error(ctx, 404, "No such object.", NULL, NULL);
		return;
	}
	int col0 = st->cr->kind == CRUD_RELATED1 ? 1 : 0;
	if (PQgetisnull(res, 0, col0)) {
		st->null_data = 1;
		read_finish(ctx, st);
		return;
	}
	rows_into_data(ctx, st, res, col0);
	read_ready(ctx, st);
}

/* PERM_SELF reads (users): the user and admins only. */
static int self_read_ok(struct req_ctx *ctx, const struct resource *r)
{
	if (r->perm_list == PERM_SIGNED_IN && !ctx->principal.user_id) {
		req_ctx_reply_error(ctx, 401, "Sign in to read these objects.", NULL, NULL);
		return 0;
	}
	if (r->perm_update != PERM_SELF || ctx->principal.is_admin)
		return 1;
	if (!ctx->principal.user_id) {
		req_ctx_reply_error(ctx, 401, "Sign in to read this object.", NULL, NULL);
		return 0;
	}
	if (ctx->match.params[0].id != ctx->principal.user_id) {
		req_ctx_reply_error(ctx, 403, "Only the user and admins may read this object.",
				    NULL, NULL);
		return 0;
	}
	return 1;
}

static void do_detail(struct req_ctx *ctx)
{
	if (!trash_gate(ctx, do_detail))
		return;
	const struct crud_route *cr = route_of(ctx);
	if (!self_read_ok(ctx, cr->r))
		return;
	struct read_state *st = read_new(ctx, 1, 0);
	if (!st)
		return;
	struct sqlbuf b;
	sqlbuf_init(&b);
	sqlbuf_add(&b, "SELECT ");
	resource_select_list(cr->r, "t", &b);
	sqlbuf_add(&b, " FROM %s t WHERE ", cr->r->table);
	id_condition(ctx, "t", &b);
	sqlbuf_add(&b, " AND ");
	access_visible(cr->r, "t", &ctx->principal, st->q.trash, &b);
	if (!sqlbuf_failed(&b))
		req_ctx_query(ctx, PG_READ, NULL, b.s, b.nparams, sqlbuf_params(&b), single_rows,
			      st);
	else
		req_ctx_reply_error(ctx, 503, "Out of memory.", NULL, NULL);
	sqlbuf_free(&b);
}

/* GET /v1/p/{id}/x for a to-one x. */
static void do_related_one(struct req_ctx *ctx)
{
	if (!trash_gate(ctx, do_related_one))
		return;
	const struct crud_route *cr = route_of(ctx);
	struct read_state *st = read_new(ctx, 1, 0);
	if (!st)
		return;
	struct sqlbuf b;
	sqlbuf_init(&b);
	sqlbuf_add(&b, "SELECT pp.id, ");
	resource_select_list(cr->r, "t", &b);
	sqlbuf_add(&b, " FROM %s pp LEFT JOIN ", cr->parent->table);
	rel_join(&b, cr->rel);
	sqlbuf_add(&b, " AND ");
	access_visible(cr->r, "t", &ctx->principal, st->q.trash, &b);
	sqlbuf_add(&b, " WHERE ");
	id_condition(ctx, "pp", &b);
	sqlbuf_add(&b, " AND ");
	access_visible(cr->parent, "pp", &ctx->principal, parent_trash(st->q.trash), &b);
	sqlbuf_add(&b, " LIMIT 1");
	if (!sqlbuf_failed(&b))
		req_ctx_query(ctx, PG_READ, NULL, b.s, b.nparams, sqlbuf_params(&b), single_rows,
			      st);
	else
		req_ctx_reply_error(ctx, 503, "Out of memory.", NULL, NULL);
	sqlbuf_free(&b);
}

/* The linkage document of a relationship route. */
static struct json_object *linkage_doc(struct req_ctx *ctx, const struct resource_rel *rel,
				       PGresult *res, const char *parent_id)
{
	struct json_object *data = rel->to_many ? json_object_new_array() : NULL;
	for (int i = 0; i < PQntuples(res); i++) {
		if (PQgetisnull(res, i, 1))
			continue;
		struct json_object *ident = identifier(rel->target, PQgetvalue(res, i, 1));
		if (rel->to_many) {
			json_object_array_add(data, ident);
		} else {
			json_object_put(data);
			data = ident;
		}
	}
	struct json_object *doc = jsonapi_doc(NULL);
	json_object_object_add(doc, "data", data);
	char buf[256];
	struct json_object *links = json_object_new_object();
	const struct crud_route *cr = route_of(ctx);
	snprintf(buf, sizeof(buf), "/v1/%s/%s/relationships/%s", cr->parent->path, parent_id,
		 rel->name);
	json_object_object_add(links, "self", json_object_new_string(buf));
	snprintf(buf, sizeof(buf), "/v1/%s/%s/%s", cr->parent->path, parent_id, rel->name);
	json_object_object_add(links, "related", json_object_new_string(buf));
	json_object_object_add(doc, "links", links);
	return doc;
}

static void rel_get_done(struct req_ctx *ctx, PGresult *res, int err, void *arg)
{
	(void)arg;
	if (err != PG_OK) {
		db_fail(ctx, res, 1);
		return;
	}
	if (PQntuples(res) == 0) {
		req_ctx_reply_error(ctx, 404, "No such object.", NULL, NULL);
		return;
	}
	const struct crud_route *cr = route_of(ctx);
	req_ctx_reply_json(ctx, 200, linkage_doc(ctx, cr->rel, res, PQgetvalue(res, 0, 0)), 1);
}

static void linkage_query(struct req_ctx *ctx, req_db_cb cb, void *arg)
{
	const struct crud_route *cr = route_of(ctx);
	int trash;
	if (trash_mode(ctx, &trash) < 0)
		return;
	struct sqlbuf b;
	sqlbuf_init(&b);
	sqlbuf_add(&b, "SELECT pp.id, t.id FROM %s pp LEFT JOIN ", cr->parent->table);
	rel_join(&b, cr->rel);
	sqlbuf_add(&b, " AND ");
	access_visible(cr->rel->target, "t", &ctx->principal, trash, &b);
	sqlbuf_add(&b, " WHERE ");
	id_condition(ctx, "pp", &b);
	sqlbuf_add(&b, " AND ");
	access_visible(cr->parent, "pp", &ctx->principal, parent_trash(trash), &b);
	sqlbuf_add(&b, " ORDER BY t.id");
	if (!sqlbuf_failed(&b))
		req_ctx_query(ctx, PG_READ, NULL, b.s, b.nparams, sqlbuf_params(&b), cb, arg);
	else
		req_ctx_reply_error(ctx, 503, "Out of memory.", NULL, NULL);
	sqlbuf_free(&b);
}

static void do_rel_get(struct req_ctx *ctx)
{
	if (!trash_gate(ctx, do_rel_get))
		return;
	linkage_query(ctx, rel_get_done, NULL);
}

/* ---- writes ---- */

static void write_free(void *p);

/* A document error found before the permission check is kept and answered
 * after it (spec §2: 401/403/404 come before 400/409/422). */
struct deferred {
	int on;		   /* record instead of answering */
	int status;	   /* first error's status, 0: none */
	char detail[192];  /* its detail */
	char pointer[160]; /* its pointer */
};

struct write_state {
	struct write_ctx w;	   /* what hooks see */
	int kind;		   /* CRUD_CREATE, CRUD_UPDATE, CRUD_DELETE, CRUD_REL_PATCH */
	struct json_object *body;  /* parsed body (owned) */
	long long rel_ids[16][64]; /* to-one / to-many ids per relationship index */
	int nrel_ids[16];	   /* count per relationship (-1: not given) */
	int rel_null[16];	   /* to-one set to null */
	int trash;		   /* the row is trashed (restore path) */
	struct deferred def;	   /* document error to answer after the permission check */
	int id_later;		   /* compare data.id once the row's id is known */
	int restore;		   /* put a trashed row (and what was trashed with it) back */
	int load_trash;	     /* trash mode of the load: trashed rows are found for purge/restore */
	const char *data_id; /* data.id as sent (in body) */
};

static struct deferred *deferred_of(struct req_ctx *ctx)
{
	if (ctx->hfree != write_free)
		return NULL;
	return &((struct write_state *)ctx->hdata)->def;
}

static void write_free(void *p)
{
	struct write_state *ws = p;
	json_object_put(ws->body);
	json_object_put(ws->w.row);
	json_object_put(ws->w.event);
	for (int i = 0; i < ws->w.nextra; i++)
		free(ws->w.extra_val[i]);
	free(ws->w.hook_data);
	free(ws);
}

int crud_set_column(struct write_ctx *w, const char *column, const char *value)
{
	for (int i = 0; i < w->nextra; i++) {
		if (strcmp(w->extra_col[i], column) == 0) {
			free(w->extra_val[i]);
			w->extra_val[i] = value ? strdup(value) : NULL;
			return 0;
		}
	}
	if (w->nextra >= 8)
		return -1;
	w->extra_col[w->nextra] = column;
	w->extra_val[w->nextra] = value ? strdup(value) : NULL;
	w->nextra++;
	return 0;
}

static int digits(const char *p, int n, int *out)
{
	*out = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)p[i]))
			return -1;
		*out = *out * 10 + (p[i] - '0');
	}
	return 0;
}

/* YYYY-MM-DD[(T| )HH:MM[:SS[.f+]]][Z|(+|-)HH[:]MM], a real date and time. */
static int is_time(const char *s)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, mo, d, h = 0, mi = 0, sec = 0;
	if (strlen(s) < 10 || digits(s, 4, &y) < 0 || s[4] != '-' || digits(s + 5, 2, &mo) < 0 ||
	    s[7] != '-' || digits(s + 8, 2, &d) < 0)
		return 0;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1])
		return 0;
	if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return 0;
	const char *p = s + 10;
	if (*p == '\0')
		return 1;
	if (*p != 'T' && *p != ' ')
		return 0;
	p++;
	if (digits(p, 2, &h) < 0 || p[2] != ':' || digits(p + 3, 2, &mi) < 0)
		return 0;
	p += 5;
	if (*p == ':') {
		if (digits(p + 1, 2, &sec) < 0)
			return 0;
		p += 3;
		if (*p == '.') {
			p++;
			if (!isdigit((unsigned char)*p))
				return 0;
			while (isdigit((unsigned char)*p))
				p++;
		}
	}
	if (h > 23 || mi > 59 || sec > 59)
		return 0;
	if (*p == 'Z')
		return p[1] == '\0';
	if (*p == '+' || *p == '-') {
		int oh, om = 0;
		p++;
		if (digits(p, 2, &oh) < 0)
			return 0;
		p += 2;
		if (*p == ':')
			p++;
		if (*p && (digits(p, 2, &om) < 0 || p[2]))
			return 0;
		return oh <= 15 && om <= 59;
	}
	return *p == '\0';
}

static int pointer_error(struct req_ctx *ctx, int status, const char *detail, const char *section,
			 const char *name)
{
	char ptr[160];
	/* on a relationship route the request document's data is the linkage */
	if (ctx->hfree == write_free && ((struct write_state *)ctx->hdata)->w.rel_only && section &&
	    strcmp(section, "relationships") == 0)
		section = NULL;
	if (!section)
		snprintf(ptr, sizeof(ptr), "/data");
	else
		snprintf(ptr, sizeof(ptr), "/data/%s%s%s", section, name ? "/" : "",
			 name ? name : "");
	struct deferred *d = deferred_of(ctx);
	if (d && d->on) {
		if (!d->status) {
			d->status = status;
			snprintf(d->detail, sizeof(d->detail), "%s", detail);
			snprintf(d->pointer, sizeof(d->pointer), "%s", ptr);
		}
		return -1;
	}
	req_ctx_reply_error(ctx, status, detail, ptr, NULL);
	return -1;
}

/* Checks one attribute value against its descriptor. */
static int check_attr(struct req_ctx *ctx, const struct resource_attr *a, struct json_object *v)
{
	char detail[192];
	if (!v) {
		if (a->flags & (ATTR_REQUIRED | ATTR_NONEMPTY)) {
			snprintf(detail, sizeof(detail), "'%s' may not be null.", a->name);
			return pointer_error(ctx, 422, detail, "attributes", a->name);
		}
		return 0;
	}
	enum json_type t = json_object_get_type(v);
	int ok;
	switch (a->type) {
	case ATTR_BOOL:
		ok = t == json_type_boolean;
		break;
	case ATTR_INT: /* integer columns: 32 bits */
		ok = t == json_type_int && json_object_get_int64(v) >= -2147483648LL &&
		     json_object_get_int64(v) <= 2147483647LL;
		if (t == json_type_int && !ok) {
			snprintf(detail, sizeof(detail), "'%s' is out of range.", a->name);
			return pointer_error(ctx, 422, detail, "attributes", a->name);
		}
		break;
	case ATTR_FLOAT:
		ok = t == json_type_int || t == json_type_double;
		break;
	case ATTR_TIME:
		ok = t == json_type_string && is_time(json_object_get_string(v));
		break;
	default:
		ok = t == json_type_string;
		break;
	}
	if (!ok) {
		static const char *const names[] = {
		    "a string", "an integer", "a number", "a boolean", "an ISO 8601 date-time",
		    "null"};
		snprintf(detail, sizeof(detail), "'%s' must be %s.", a->name, names[a->type]);
		return pointer_error(ctx, 422, detail, "attributes", a->name);
	}
	const char *s = json_object_get_string(v);
	if (a->type == ATTR_TEXT) {
		if (json_object_get_string_len(v) > 100000 ||
		    strlen(s) != (size_t)json_object_get_string_len(v)) {
			snprintf(detail, sizeof(detail), "'%s' is too long or holds NUL bytes.",
				 a->name);
			return pointer_error(ctx, 422, detail, "attributes", a->name);
		}
		if ((a->flags & ATTR_NONEMPTY) || (a->flags & ATTR_REQUIRED)) {
			const char *p = s;
			while (isspace((unsigned char)*p))
				p++;
			if (*p == '\0') {
				snprintf(detail, sizeof(detail), "'%s' may not be blank.", a->name);
				return pointer_error(ctx, 422, detail, "attributes", a->name);
			}
		}
		if ((a->flags & ATTR_URL) && *s && strncmp(s, "http://", 7) != 0 &&
		    strncmp(s, "https://", 8) != 0) {
			snprintf(detail, sizeof(detail), "'%s' must be an http(s) URL.", a->name);
			return pointer_error(ctx, 422, detail, "attributes", a->name);
		}
	}
	if (a->enum_values) {
		for (const char *const *e = a->enum_values; *e; e++)
			if (strcmp(*e, s) == 0)
				return 0;
		snprintf(detail, sizeof(detail), "'%s' has a value that is not allowed.", a->name);
		return pointer_error(ctx, 422, detail, "attributes", a->name);
	}
	return 0;
}

/* Reads a resource identifier {type, id} of rel; returns 0, or -1 (answered). */
static int read_ident(struct req_ctx *ctx, const struct resource_rel *rel, struct json_object *o,
		      long long *id)
{
	struct json_object *jt, *jid;
	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "type", &jt) || !json_object_object_get_ex(o, "id", &jid))
		return pointer_error(ctx, 400, "A resource identifier needs 'type' and 'id'.",
				     "relationships", rel->name);
	if (!json_object_is_type(jt, json_type_string) ||
	    strcmp(json_object_get_string(jt), rel->target->type) != 0)
		return pointer_error(ctx, 409, "The related object has the wrong type.",
				     "relationships", rel->name);
	const char *s =
	    json_object_is_type(jid, json_type_string) ? json_object_get_string(jid) : NULL;
	if (!s || router_parse_id(s, strlen(s), id) < 0) {
		if (!s)
			return pointer_error(ctx, 400, "Ids are strings.", "relationships",
					     rel->name);
		return pointer_error(ctx, 404, "The related object does not exist.",
				     "relationships", rel->name);
	}
	return 0;
}

static struct json_object *parse_body(struct req_ctx *ctx)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(ctx->req);
	size_t len = evbuffer_get_length(in);
	const char *text = (const char *)evbuffer_pullup(in, -1);
	struct json_object *o = jsonapi_parse(text, len, BODY_MAX_DEPTH);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		struct deferred *d = deferred_of(ctx);
		if (d && d->on && !d->status) {
			d->status = 400;
			snprintf(d->detail, sizeof(d->detail), "The body is not a JSON object.");
			d->pointer[0] = '\0';
			return NULL;
		}
		req_ctx_reply_error(ctx, 400, "The body is not a JSON object.", "", NULL);
		return NULL;
	}
	return o;
}

/* Validates data.{type,id,attributes,relationships}. */
static int validate(struct req_ctx *ctx, struct write_state *ws)
{
	struct write_ctx *w = &ws->w;
	const struct resource *r = w->r;
	struct json_object *data, *jt, *jid;
	if (!json_object_object_get_ex(ws->body, "data", &data) ||
	    !json_object_is_type(data, json_type_object))
		return pointer_error(ctx, 400, "'data' must be a resource object.", NULL, NULL);
	if (!json_object_object_get_ex(data, "type", &jt) ||
	    !json_object_is_type(jt, json_type_string))
		return pointer_error(ctx, 400, "'data.type' is required.", "type", NULL);
	if (strcmp(json_object_get_string(jt), r->type) != 0)
		return pointer_error(ctx, 409, "'data.type' does not match this endpoint.", "type",
				     NULL);
	int has_id = json_object_object_get_ex(data, "id", &jid);
	if (w->creating && has_id)
		return pointer_error(ctx, 403, "Client-generated ids are not supported.", "id",
				     NULL);
	if (!w->creating) {
		char want[24];
		snprintf(want, sizeof(want), "%lld", w->id);
		if (has_id && json_object_is_type(jid, json_type_string))
			ws->data_id = json_object_get_string(jid);
		/* on an identifier route, data.id is compared once the row is loaded */
		int later = ws->id_later && ws->data_id;
		if (!later && (!has_id || !json_object_is_type(jid, json_type_string) ||
			       strcmp(json_object_get_string(jid), want) != 0))
			return pointer_error(ctx, 400,
					     "'data.id' must be the id of the URL, as a string.",
					     "id", NULL);
	}
	if (!json_object_object_get_ex(data, "attributes", &w->attrs))
		w->attrs = NULL;
	else if (!json_object_is_type(w->attrs, json_type_object))
		return pointer_error(ctx, 400, "'attributes' must be an object.", "attributes",
				     NULL);
	for (int i = 0; i < r->nrels && i < 16; i++)
		ws->nrel_ids[i] = -1;
	if (json_object_object_get_ex(data, "relationships", &w->rels)) {
		if (!json_object_is_type(w->rels, json_type_object))
			return pointer_error(ctx, 400, "'relationships' must be an object.",
					     "relationships", NULL);
		json_object_object_foreach(w->rels, k, v)
		{
			const struct resource_rel *rel = resource_rel_find(r, k);
			if (!rel) {
				char d[160];
				snprintf(d, sizeof(d), "Unknown relationship '%.100s'.", k);
				return pointer_error(ctx, 422, d, "relationships", k);
			}
			if ((rel->flags & REL_READONLY) ||
			    ((rel->flags & REL_FIXED) && !w->creating))
				continue;
			int idx = (int)(rel - r->rels);
			struct json_object *d;
			if (!json_object_is_type(v, json_type_object) ||
			    !json_object_object_get_ex(v, "data", &d))
				return pointer_error(ctx, 400, "A relationship needs 'data'.",
						     "relationships", rel->name);
			ws->nrel_ids[idx] = 0;
			if (!d) {
				if (rel->to_many)
					return pointer_error(ctx, 400, "To-many data is an array.",
							     "relationships", rel->name);
				ws->rel_null[idx] = 1;
				continue;
			}
			if (rel->to_many) {
				if (!json_object_is_type(d, json_type_array) ||
				    json_object_array_length(d) > 64)
					return pointer_error(
					    ctx, 400, "To-many data is an array (at most 64).",
					    "relationships", rel->name);
				for (size_t j = 0; j < json_object_array_length(d); j++)
					if (read_ident(ctx, rel, json_object_array_get_idx(d, j),
						       &ws->rel_ids[idx][ws->nrel_ids[idx]++]) < 0)
						return -1;
			} else {
				if (json_object_is_type(d, json_type_array))
					return pointer_error(ctx, 400, "To-one data is an object.",
							     "relationships", rel->name);
				if (read_ident(ctx, rel, d, &ws->rel_ids[idx][0]) < 0)
					return -1;
				ws->nrel_ids[idx] = 1;
			}
		}
	} else {
		w->rels = NULL;
	}
	if (w->creating)
		for (int i = 0; i < r->nrels; i++)
			if ((r->rels[i].flags & REL_REQUIRED) &&
			    (ws->nrel_ids[i] <= 0 || ws->rel_null[i]))
				return pointer_error(ctx, 422,
						     "A required relationship is missing.",
						     "relationships", r->rels[i].name);
	return 0;
}

/* Checks data.attributes: after the permission check (spec §2 order). */
static int validate_attrs(struct req_ctx *ctx, struct write_state *ws)
{
	struct write_ctx *w = &ws->w;
	const struct resource *r = w->r;
	if (w->attrs) {
		json_object_object_foreach(w->attrs, k, v)
		{
			const struct resource_attr *a = resource_attr_find(r, k);
			if (!a) {
				char d[160];
				snprintf(d, sizeof(d), "Unknown attribute '%.100s'.", k);
				return pointer_error(ctx, 422, d, "attributes", k);
			}
			if (a->flags & ATTR_READONLY)
				continue; /* read-only values sent back by clients are ignored */
			if (a->column && strcmp(a->column, "deleted_at") == 0 && v)
				return pointer_error(ctx, 422,
						     "'deleted-at' is set by DELETE; only null "
						     "(restore) may be written.",
						     "attributes", a->name);
			if (((a->flags & ATTR_ADMIN) && !ctx->principal.is_admin) ||
			    ((a->flags & ATTR_SUPER) && !ctx->principal.is_super_admin))
				return pointer_error(ctx, 403,
						     "Only admins may set this attribute.",
						     "attributes", a->name);
			if (check_attr(ctx, a, v) < 0)
				return -1;
		}
	}
	if (w->creating)
		for (int i = 0; i < r->nattrs; i++) {
			const struct resource_attr *a = &r->attrs[i];
			struct json_object *v = NULL;
			if (!(a->flags & ATTR_REQUIRED))
				continue;
			if (!w->attrs || !json_object_object_get_ex(w->attrs, a->name, &v))
				return pointer_error(ctx, 422, "A required attribute is missing.",
						     "attributes", a->name);
		}
	return 0;
}

/* ---- writes: load, decide, write, answer ---- */

/* Whether a DELETE of r trashes (1) or purges (0): the type must have
 * deleted_at, SOFT_DELETE must be on and the type not in SOFT_DELETE_OFF. */
int crud_soft_delete(const struct resource *r)
{
	if (!r->soft_delete || !cfg.soft_delete)
		return 0;
	const char *off = cfg.soft_delete_off;
	size_t n = strlen(r->type);
	for (const char *p = off ? off : ""; *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t len = strcspn(p, ", ");
		if (len == n && strncmp(p, r->type, n) == 0)
			return 0;
		p += len;
	}
	return 1;
}

/* Appends CTEs that set deleted_at on the live children of the event in CTE
 * `t0` (to its deleted_at), or clear it on the children trashed with it. */
static void cascade_ctes(struct sqlbuf *b, int restore)
{
	for (int i = 0; i < nall_types; i++) {
		const struct resource *c = all_types[i];
		if (!c->soft_delete || !c->event_col || strcmp(c->event_col, "event_id") != 0)
			continue;
		if (restore)
			sqlbuf_add(b,
				   ", c%d AS (UPDATE %s x SET deleted_at = NULL FROM old WHERE "
				   "x.event_id = old.id AND x.deleted_at = old.deleted_at)",
				   i, c->table);
		else
			sqlbuf_add(
			    b,
			    ", c%d AS (UPDATE %s x SET deleted_at = t0.deleted_at FROM t0 WHERE "
			    "x.event_id = t0.id AND x.deleted_at IS NULL)",
			    i, c->table);
	}
}

static void write_run(struct write_state *ws);

/* The event a write belongs to: the row's (update/delete) or the one named
 * in relationships.event (create). */
static void event_expr(struct write_state *ws, struct sqlbuf *b)
{
	const struct resource *r = ws->w.r;
	if (!r->event_col) {
		sqlbuf_add(b, "NULL::bigint");
	} else if (!ws->w.creating) {
		sqlbuf_add(b, "t.%s", r->event_col);
	} else {
		const struct resource_rel *ev = resource_rel_find(r, "event");
		int idx = ev ? (int)(ev - r->rels) : -1;
		if (idx >= 0 && ws->nrel_ids[idx] == 1)
			sqlbuf_param_int(b, ws->rel_ids[idx][0]);
		else
			sqlbuf_add(b, "NULL::bigint");
	}
}

#define LOAD_REL0 10 /* first column of the relationship checks */

static void load_done(struct req_ctx *ctx, PGresult *res, int err, void *arg)
{
	struct write_state *ws = arg;
	struct write_ctx *w = &ws->w;
	const struct resource *r = w->r;
	if (err != PG_OK) {
		db_fail(ctx, res, 0);
		return;
	}
	if (PQntuples(res) == 0 || (!w->creating && PQgetvalue(res, 0, 1)[0] != 't')) {
		req_ctx_reply_error(ctx, 404, "No such object.", NULL, NULL);
		return;
	}
	if (!w->creating)
		w->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	w->roles = atoi(PQgetvalue(res, 0, 2));
	if (!PQgetisnull(res, 0, 3)) {
		w->event_id = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
		w->event = json_object_new_object();
		json_object_object_add(w->event, "starts-at",
				       json_object_new_string(PQgetvalue(res, 0, 4)));
		json_object_object_add(w->event, "ends-at",
				       json_object_new_string(PQgetvalue(res, 0, 5)));
		json_object_object_add(w->event, "state",
				       json_object_new_string(PQgetvalue(res, 0, 6)));
		json_object_object_add(w->event, "is-sessions-speakers-enabled",
				       json_object_new_boolean(PQgetvalue(res, 0, 7)[0] == 't'));
		json_object_object_add(w->event, "visible",
				       json_object_new_boolean(PQgetvalue(res, 0, 8)[0] == 't'));
	} else if (w->creating && r->event_col && strcmp(r->event_col, "id") != 0) {
		const struct resource_rel *ev = resource_rel_find(r, "event");
		pointer_error(ctx, 404, "The event does not exist.", "relationships",
			      ev ? ev->name : "event");
		return;
	}
	if (w->creating && w->event &&
	    !json_object_get_boolean(json_object_object_get(w->event, "visible"))) {
		pointer_error(ctx, 404, "The event does not exist.", "relationships", "event");
		return;
	}
	ws->trash = PQgetvalue(res, 0, 9)[0] == 't';
	ws->def.on = 0; /* from here on, errors are answered at once */
	int deleting = ws->kind == CRUD_DELETE || ws->kind == CRUD_RESTORE;
	int perm = ws->kind == CRUD_CREATE ? r->perm_create
		   : deleting		   ? r->perm_delete
					   : r->perm_update;
	w->allowed = access_allows(r, perm, &ctx->principal,
				   deleting && r->role_mask_delete
				       ? (w->roles & r->role_mask_delete ? r->role_mask : 0)
				       : w->roles,
				   w->id);
	if (ws->kind == CRUD_DELETE) {
		const char *perm_q = query_get(&ctx->query, "permanent");
		if (perm_q && strcmp(perm_q, "true") == 0 && !ctx->principal.is_admin &&
		    (!(w->roles & ROLE_OWNER) || r->perm_delete == PERM_SELF))
			w->allowed = 0; /* purging: the event's owner and admins (users: admins) */
	}
	if (ws->def.status) {
		/* the document was bad: the caller's rights decide first */
		if (!w->allowed) {
			crud_write_resume(w, 1);
			return;
		}
		req_ctx_reply_error(ctx, ws->def.status, ws->def.detail,
				    ws->def.pointer[0] ? ws->def.pointer : NULL, NULL);
		return;
	}
	if (ws->id_later) {
		char want[24];
		snprintf(want, sizeof(want), "%lld", w->id);
		if (w->allowed && (!ws->data_id || strcmp(ws->data_id, want) != 0)) {
			pointer_error(ctx, 400, "'data.id' must be the id of the URL, as a string.",
				      "id", NULL);
			return;
		}
	}
	int col = LOAD_REL0;
	for (int i = 0; i < r->nrels; i++) {
		if (ws->nrel_ids[i] <= 0)
			continue;
		long have = strtol(PQgetvalue(res, 0, col++), NULL, 10);
		/* distinct ids asked for */
		long want = 0;
		for (int j = 0; j < ws->nrel_ids[i]; j++) {
			int dup = 0;
			for (int k = 0; k < j; k++)
				dup |= ws->rel_ids[i][k] == ws->rel_ids[i][j];
			want += !dup;
		}
		if (have != want) {
			pointer_error(ctx, 404, "A related object does not exist.", "relationships",
				      r->rels[i].name);
			return;
		}
	}
	if (!PQgetisnull(res, 0, col))
		w->row = json_tokener_parse(PQgetvalue(res, 0, col));
	if (ws->kind != CRUD_DELETE && r->before_write) {
		int rc = r->before_write(w);
		if (rc < 0)
			return;
		if (rc > 0)
			return; /* the hook resumes with crud_write_resume */
	}
	crud_write_resume(w, 1);
}

void crud_write_resume(struct write_ctx *w, int ok)
{
	struct write_state *ws = (struct write_state *)w;
	struct req_ctx *ctx = w->ctx;
	if (!ok || !req_ctx_alive(ctx))
		return;
	if (!w->allowed) {
		req_ctx_reply_error(ctx, ctx->principal.user_id ? 403 : 401,
				    ctx->principal.user_id ? "You may not change this object."
							   : "Sign in to change this object.",
				    NULL, NULL);
		return;
	}
	if (ws->kind != CRUD_DELETE && ws->kind != CRUD_RESTORE && validate_attrs(ctx, ws) < 0)
		return;
	if (ws->kind == CRUD_RESTORE || (ws->kind == CRUD_UPDATE && ws->trash)) {
		struct json_object *v = NULL;
		int asked =
		    ws->kind == CRUD_RESTORE ||
		    (w->attrs && json_object_object_get_ex(w->attrs, "deleted-at", &v) && !v);
		if (!ws->trash || !asked) {
			req_ctx_reply_error(ctx, 404,
					    ws->trash
						? "The object is in the trash: restore it first."
						: "The object is not in the trash.",
					    NULL, NULL);
			return;
		}
		ws->restore = 1;
	}
	write_run(ws);
}

static void write_done(struct req_ctx *ctx, PGresult *res, int err, void *arg)
{
	struct write_state *ws = arg;
	struct write_ctx *w = &ws->w;
	const struct resource *r = w->r;
	if (err != PG_OK) {
		db_fail(ctx, res, 0);
		return;
	}
	if (PQntuples(res) == 0) {
		req_ctx_reply_error(ctx, 404, "No such object.", NULL, NULL);
		return;
	}
	int is_event = r->event_col && strcmp(r->event_col, "id") == 0;
	long long row_id =
	    ws->kind == CRUD_DELETE ? w->id : strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	if (crud_on_write) {
		const char *perm_q = query_get(&ctx->query, "permanent");
		int action = ws->kind == CRUD_CREATE   ? CRUD_CREATED
			     : ws->restore	       ? CRUD_RESTORED
			     : ws->kind != CRUD_DELETE ? CRUD_UPDATED
			     : (!crud_soft_delete(r) || (perm_q && !strcmp(perm_q, "true")))
				 ? CRUD_PURGED
				 : CRUD_TRASHED;
		crud_on_write(r, action, row_id, is_event ? row_id : w->event_id);
	}
	if (ws->kind == CRUD_DELETE) {
		if (r->perm_update == PERM_SELF)
			auth_forget_user(w->id);
		struct json_object *meta = json_object_new_object();
		json_object_object_add(meta, "message",
				       json_object_new_string("Object successfully deleted"));
		struct json_object *doc = jsonapi_doc(NULL);
		json_object_object_add(doc, "meta", meta);
		req_ctx_reply_json(ctx, 200, doc, 1);
		return;
	}
	const char *id = PQgetvalue(res, 0, 0);
	if (w->creating && w->r->perm_update == PERM_SELF)
		auth_forget_user(strtoll(id, NULL, 10));
	if (!w->creating && w->r->perm_update == PERM_SELF)
		auth_forget_user(w->id);
	if (w->rel_only) {
		const struct resource_rel *rel = w->rel;
		int fk = resource_fk_col(r, rel);
		struct json_object *doc = jsonapi_doc(NULL);
		json_object_object_add(doc, "data",
				       fk >= 0 && !PQgetisnull(res, 0, fk)
					   ? identifier(rel->target, PQgetvalue(res, 0, fk))
					   : NULL);
		req_ctx_reply_json(ctx, 200, doc, 1);
		return;
	}
	/* the writer sees what the write produced (a new user sees its own email) */
	struct principal self = ctx->principal;
	if (r->perm_update == PERM_SELF)
		self.is_admin = 1;
	struct robj *o = robj_new(r, res, 0, 0, &self, NULL);
	struct jw jw;
	jw_init(&jw);
	char selfpath[128];
	snprintf(selfpath, sizeof(selfpath), "/v1/%s/%s", r->path, id);
	jw_lit(&jw, "{\"data\":");
	if (o)
		robj_write(&jw, o, NULL);
	jw_lit(&jw, ",\"links\":{\"self\":");
	jw_cstr(&jw, selfpath);
	jw_lit(&jw, "},\"jsonapi\":{\"version\":\"1.0\"}}");
	robj_free(o);
	if (!o || jw.failed) {
		jw_free(&jw);
		req_ctx_reply_error(ctx, 503, "Out of memory.", NULL, NULL);
		return;
	}
	if (w->creating)
		req_ctx_add_header(ctx, "Location", selfpath);
	req_ctx_reply(ctx, w->creating ? 201 : 200, JSONAPI_MEDIA_TYPE, jw.s, jw.len, 0);
	jw_free(&jw);
}

/* The text of an attribute value for a parameter; NULL for JSON null. */
static const char *value_text(struct json_object *v)
{
	if (!v)
		return NULL;
	if (json_object_is_type(v, json_type_boolean))
		return json_object_get_boolean(v) ? "true" : "false";
	return json_object_get_string(v);
}

static void id_array(struct sqlbuf *b, const long long *ids, int n)
{
	struct sqlbuf t;
	sqlbuf_init(&t);
	sqlbuf_add(&t, "{");
	for (int i = 0; i < n; i++)
		sqlbuf_add(&t, "%s%lld", i ? "," : "", ids[i]);
	sqlbuf_add(&t, "}");
	sqlbuf_param(b, t.s);
	sqlbuf_add(b, "::bigint[]");
	sqlbuf_free(&t);
}

/* Appends "col = $n" (update) or collects columns and values (insert). */
struct colset {
	int n;		      /* columns */
	const char *cols[96]; /* names (descriptor strings) */
	const char *vals[96]; /* values (borrowed) */
};

static void colset_add(struct colset *c, const char *col, const char *val)
{
	for (int i = 0; i < c->n; i++)
		if (strcmp(c->cols[i], col) == 0) {
			c->vals[i] = val;
			return;
		}
	if (c->n < 96) {
		c->cols[c->n] = col;
		c->vals[c->n++] = val;
	}
}

static void write_run(struct write_state *ws)
{
	struct write_ctx *w = &ws->w;
	struct req_ctx *ctx = w->ctx;
	const struct resource *r = w->r;
	struct sqlbuf b;
	sqlbuf_init(&b);
	char idbuf[48][24];
	int is_event = r->event_col && strcmp(r->event_col, "id") == 0;
	if (ws->kind == CRUD_DELETE) {
		const char *perm_q = query_get(&ctx->query, "permanent");
		int hard = !crud_soft_delete(r) || (perm_q && strcmp(perm_q, "true") == 0);
		if (hard) {
			/* purge: live or trashed; the database cascades */
			sqlbuf_add(&b, "DELETE FROM %s WHERE id = ", r->table);
			sqlbuf_param_int(&b, w->id);
			sqlbuf_add(&b, " RETURNING id");
		} else {
			sqlbuf_add(&b, "WITH t0 AS (UPDATE %s SET deleted_at = now() WHERE id = ",
				   r->table);
			sqlbuf_param_int(&b, w->id);
			sqlbuf_add(&b, " AND deleted_at IS NULL RETURNING id, deleted_at)");
			if (is_event)
				cascade_ctes(&b, 0);
			sqlbuf_add(&b, " SELECT id FROM t0");
		}
		goto send;
	}
	if (ws->restore) {
		sqlbuf_add(&b, "WITH old AS (SELECT id, deleted_at FROM %s WHERE id = ", r->table);
		sqlbuf_param_int(&b, w->id);
		sqlbuf_add(&b,
			   " AND deleted_at IS NOT NULL FOR UPDATE), upd AS (UPDATE %s t SET "
			   "deleted_at = NULL FROM old WHERE t.id = old.id RETURNING t.*)",
			   r->table);
		if (is_event)
			cascade_ctes(&b, 1);
		sqlbuf_add(&b, " SELECT ");
		resource_select_list(r, "upd", &b);
		sqlbuf_add(&b, " FROM upd");
		goto send;
	}
	struct colset cs = {0};
	if (w->attrs) {
		json_object_object_foreach(w->attrs, k, v)
		{
			const struct resource_attr *a = resource_attr_find(r, k);
			if (!a || (a->flags & (ATTR_READONLY | ATTR_WRITEONLY)) ||
			    a->type == ATTR_NULL)
				continue;
			if (strcmp(a->column, "deleted_at") == 0)
				continue; /* trash and restore have their own statements */
			colset_add(&cs, a->column, value_text(v));
		}
	}
	int nid = 0;
	for (int i = 0; i < r->nrels; i++) {
		const struct resource_rel *rel = &r->rels[i];
		if (ws->nrel_ids[i] < 0 || rel->to_many || !rel->fk || rel->sql_target_ids)
			continue;
		if (ws->rel_null[i]) {
			colset_add(&cs, rel->fk, NULL);
		} else if (nid < 48) {
			snprintf(idbuf[nid], sizeof(idbuf[nid]), "%lld", ws->rel_ids[i][0]);
			colset_add(&cs, rel->fk, idbuf[nid++]);
		}
	}
	for (int i = 0; i < w->nextra; i++)
		colset_add(&cs, w->extra_col[i], w->extra_val[i]);
	const char *cte = w->creating ? "ins" : "upd";
	if (w->creating) {
		sqlbuf_add(&b, "WITH ins AS (INSERT INTO %s", r->table);
		if (cs.n == 0) {
			sqlbuf_add(&b, " DEFAULT VALUES");
		} else {
			sqlbuf_add(&b, " (");
			for (int i = 0; i < cs.n; i++)
				sqlbuf_add(&b, "%s%s", i ? ", " : "", cs.cols[i]);
			sqlbuf_add(&b, ") VALUES (");
			for (int i = 0; i < cs.n; i++) {
				sqlbuf_add(&b, i ? ", " : "");
				sqlbuf_param(&b, cs.vals[i]);
			}
			sqlbuf_add(&b, ")");
		}
		sqlbuf_add(&b, " RETURNING *)");
	} else {
		sqlbuf_add(&b, "WITH upd AS (UPDATE %s t SET ", r->table);
		if (cs.n == 0)
			sqlbuf_add(&b, "id = t.id");
		for (int i = 0; i < cs.n; i++) {
			sqlbuf_add(&b, "%s%s = ", i ? ", " : "", cs.cols[i]);
			sqlbuf_param(&b, cs.vals[i]);
		}
		sqlbuf_add(&b, " WHERE t.id = ");
		sqlbuf_param_int(&b, w->id);
		sqlbuf_add(&b, " RETURNING t.*)");
	}
	/* to-many links through join tables */
	for (int i = 0; i < r->nrels; i++) {
		const struct resource_rel *rel = &r->rels[i];
		if (ws->nrel_ids[i] < 0 || !rel->to_many || !rel->join_table)
			continue;
		if (!w->creating) {
			sqlbuf_add(&b, ", d%d AS (DELETE FROM %s WHERE %s = ", i, rel->join_table,
				   rel->join_self);
			sqlbuf_param_int(&b, w->id);
			sqlbuf_add(&b, " AND NOT (%s = ANY(", rel->join_other);
			id_array(&b, ws->rel_ids[i], ws->nrel_ids[i]);
			sqlbuf_add(&b, ")))");
		}
		sqlbuf_add(&b, ", l%d AS (INSERT INTO %s (%s, %s) SELECT %s.id, x FROM %s, unnest(",
			   i, rel->join_table, rel->join_self, rel->join_other, cte, cte);
		id_array(&b, ws->rel_ids[i], ws->nrel_ids[i]);
		sqlbuf_add(&b, ") x ON CONFLICT DO NOTHING)");
	}
	if (w->creating && r->insert_ctes)
		r->insert_ctes(w, &b);
	sqlbuf_add(&b, " SELECT ");
	resource_select_list(r, cte, &b);
	sqlbuf_add(&b, " FROM %s", cte);
send:
	if (sqlbuf_failed(&b))
		req_ctx_reply_error(ctx, 503, "Out of memory.", NULL, NULL);
	else
		req_ctx_query(ctx, PG_WRITE, NULL, b.s, b.nparams, sqlbuf_params(&b), write_done,
			      ws);
	sqlbuf_free(&b);
}

static void do_write(struct req_ctx *ctx, int kind)
{
	const struct crud_route *cr = route_of(ctx);
	const struct resource *r = kind == CRUD_REL_PATCH ? cr->parent : cr->r;
	int perm = kind == CRUD_CREATE				   ? r->perm_create
		   : (kind == CRUD_DELETE || kind == CRUD_RESTORE) ? r->perm_delete
								   : r->perm_update;
	if (perm != PERM_ANYONE && !ctx->principal.user_id) {
		req_ctx_reply_error(ctx, 401, "Sign in to change this object.", NULL, NULL);
		return;
	}
	struct write_state *ws = calloc(1, sizeof(*ws));
	if (!ws) {
		req_ctx_reply_error(ctx, 503, "Out of memory.", NULL, NULL);
		return;
	}
	ctx->hdata = ws;
	ctx->hfree = write_free;
	ws->kind = kind;
	/* the load finds trashed rows when the request is about them */
	const char *perm_q = query_get(&ctx->query, "permanent");
	const char *with_q = query_get(&ctx->query, "with_trashed");
	const char *get_q = query_get(&ctx->query, "get_trashed");
	if (kind == CRUD_RESTORE || (kind == CRUD_DELETE && perm_q && !strcmp(perm_q, "true")) ||
	    (kind == CRUD_UPDATE &&
	     ((with_q && !strcmp(with_q, "true")) || (get_q && !strcmp(get_q, "true")))))
		ws->load_trash = TRASH_WITH;
	struct write_ctx *w = &ws->w;
	w->ctx = ctx;
	w->r = r;
	w->creating = kind == CRUD_CREATE;
	w->id = ctx->match.nparams > 0 ? ctx->match.params[0].id : 0;
	for (int i = 0; i < 16; i++)
		ws->nrel_ids[i] = -1;
	if (perm == PERM_ADMIN && !ctx->principal.is_admin) {
		req_ctx_reply_error(ctx, 403, "Only admins may change these objects.", NULL, NULL);
		return;
	}
	/* a create needs its document to find its event; other writes check
	 * the caller's rights first and answer document errors after */
	ws->def.on = !w->creating;
	if (kind == CRUD_UPDATE || kind == CRUD_CREATE) {
		if (ctx->match.nparams > 0 && ctx->match.params[0].is_ident) {
			w->id = 0; /* known after the load */
			ws->id_later = 1;
		}
		if (!(ws->body = parse_body(ctx)) || validate(ctx, ws) < 0) {
			if (!ws->def.on)
				return;
			for (int i = 0; i < 16; i++)
				ws->nrel_ids[i] = -1;
			w->attrs = w->rels = NULL;
		}
	} else if (kind == CRUD_REL_PATCH) {
		/* document errors are deferred (def.on): go on to the load */
		const struct resource_rel *rel = cr->rel;
		int idx = (int)(rel - r->rels);
		struct json_object *d = NULL;
		w->rel_only = 1;
		w->rel = rel;
		if ((ws->body = parse_body(ctx))) {
			if (!json_object_object_get_ex(ws->body, "data", &d)) {
				pointer_error(ctx, 400, "'data' is required.", NULL, NULL);
			} else if (!d) {
				ws->nrel_ids[idx] = 0;
				ws->rel_null[idx] = 1;
			} else if (json_object_is_type(d, json_type_array)) {
				pointer_error(ctx, 400, "To-one data is an object.", NULL, NULL);
			} else if (read_ident(ctx, rel, d, &ws->rel_ids[idx][0]) == 0) {
				ws->nrel_ids[idx] = 1;
			}
		}
	}
	if (!req_ctx_alive(ctx))
		return;
	/* the load query: the row (or nothing, for a create), its visibility,
	 * the caller's roles on its event, the event, related ids found */
	struct sqlbuf b;
	sqlbuf_init(&b);
	if (w->creating) {
		sqlbuf_add(&b, "SELECT NULL, TRUE, ");
	} else {
		sqlbuf_add(&b, "SELECT t.id, ");
		access_visible(r, "t", &ctx->principal, ws->load_trash, &b);
		sqlbuf_add(&b, ", ");
	}
	struct sqlbuf evx;
	sqlbuf_init(&evx);
	if (r->event_col && strcmp(r->event_col, "id") == 0 && !w->creating)
		sqlbuf_add(&evx, "t.id");
	else
		sqlbuf_add(&evx, "ev.id");
	access_roles_sql(evx.s, &ctx->principal, &b);
	sqlbuf_free(&evx);
	sqlbuf_add(&b, ", ev.id, to_json(ev.starts_at)#>>'{}', to_json(ev.ends_at)#>>'{}', "
		       "ev.state, ev.is_sessions_speakers_enabled, ");
	access_visible(&events_ref, "ev", &ctx->principal, TRASH_HIDE, &b);
	sqlbuf_add(&b, ", %s",
		   w->creating || !r->soft_delete ? "FALSE" : "t.deleted_at IS NOT NULL");
	for (int i = 0; i < r->nrels; i++) {
		const struct resource_rel *rel = &r->rels[i];
		if (ws->nrel_ids[i] <= 0)
			continue;
		sqlbuf_add(&b, ", (SELECT count(DISTINCT x.id) FROM %s x WHERE x.id = ANY(",
			   rel->target->table);
		id_array(&b, ws->rel_ids[i], ws->nrel_ids[i]);
		sqlbuf_add(&b, ") AND ");
		access_visible(rel->target, "x", &ctx->principal, TRASH_HIDE, &b);
		if (rel->target->event_col && strcmp(rel->target->event_col, "event_id") == 0 &&
		    r->event_col)
			sqlbuf_add(&b, " AND x.event_id = ev.id");
		sqlbuf_add(&b, ")");
	}
	if (w->creating) {
		sqlbuf_add(&b, ", NULL FROM (SELECT 1) one LEFT JOIN events ev ON ev.id = ");
		event_expr(ws, &b);
	} else {
		sqlbuf_add(
		    &b, ", to_jsonb(t)::text FROM %s t LEFT JOIN events ev ON ev.id = ", r->table);
		event_expr(ws, &b);
		sqlbuf_add(&b, " WHERE ");
		id_condition(ctx, "t", &b);
	}
	if (sqlbuf_failed(&b))
		req_ctx_reply_error(ctx, 503, "Out of memory.", NULL, NULL);
	else
		req_ctx_query(ctx, PG_READ, NULL, b.s, b.nparams, sqlbuf_params(&b), load_done, ws);
	sqlbuf_free(&b);
}

/* ---- entry points ---- */

static void dispatch(struct req_ctx *ctx)
{
	const struct crud_route *cr = route_of(ctx);
	/* routes under a row: the row's read rules come first */
	if (cr->parent && cr->kind != CRUD_REL_PATCH) {
		if (cr->parent->perm_list == PERM_SIGNED_IN && !ctx->principal.user_id) {
			req_ctx_reply_error(ctx, 401, "Sign in to read these objects.", NULL, NULL);
			return;
		}
		if ((cr->rel->flags & REL_PRIVATE) && !self_read_ok(ctx, cr->parent))
			return;
	}
	switch (cr->kind) {
	case CRUD_LIST:
		do_list(ctx);
		break;
	case CRUD_DETAIL:
		do_detail(ctx);
		break;
	case CRUD_RELATED1:
		do_related_one(ctx);
		break;
	case CRUD_REL_GET:
		do_rel_get(ctx);
		break;
	default:
		do_write(ctx, route_of(ctx)->kind);
		break;
	}
}

static void crud_handler(struct req_ctx *ctx)
{
	auth_resolve(ctx, dispatch);
}

static int add(struct router *rt, int methods, char *pattern, const struct resource *r,
	       const struct resource *parent, const struct resource_rel *rel, int kind)
{
	if (!pattern)
		return -1;
	patterns[npatterns++] = pattern;
	struct crud_route *cr = &route_data[nroute_data++];
	*cr = (struct crud_route){r, parent, rel, kind};
	struct route route = {methods, pattern, crud_handler, cr, ROUTE_JSONAPI};
	return router_add(rt, &route);
}

static char *fmt(const char *f, const char *a, const char *b, const char *c)
{
	size_t n = strlen(f) + strlen(a) + strlen(b) + strlen(c) + 1;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, f, a, b, c);
	return s;
}

int crud_register(struct router *rt, const struct resource *const *types, int ntypes)
{
	all_types = types;
	nall_types = ntypes;
	int max = 0;
	for (int i = 0; i < ntypes; i++)
		max += 9 + 3 * types[i]->nrels;
	route_data = calloc((size_t)max, sizeof(*route_data));
	patterns = calloc((size_t)max, sizeof(*patterns));
	if (!route_data || !patterns)
		return -1;
	for (int i = 0; i < ntypes; i++) {
		const struct resource *r = types[i];
		const char *cap = strcmp(r->type, "event") == 0 ? "{event_id}" : "{id}";
		int rc = 0;
		if (r->list_route)
			rc |= add(rt, ROUTER_GET, fmt("/v1/%s%s%s", r->path, "", ""), r, NULL, NULL,
				  CRUD_LIST);
		if (r->perm_create != PERM_NONE)
			rc |= add(rt, ROUTER_POST, fmt("/v1/%s%s%s", r->path, "", ""), r, NULL,
				  NULL, CRUD_CREATE);
		rc |= add(rt, ROUTER_GET, fmt("/v1/%s/%s%s", r->path, cap, ""), r, NULL, NULL,
			  CRUD_DETAIL);
		if (r->perm_update != PERM_NONE)
			rc |= add(rt, ROUTER_PATCH, fmt("/v1/%s/%s%s", r->path, cap, ""), r, NULL,
				  NULL, CRUD_UPDATE);
		if (r->perm_delete != PERM_NONE)
			rc |= add(rt, ROUTER_DELETE, fmt("/v1/%s/%s%s", r->path, cap, ""), r, NULL,
				  NULL, CRUD_DELETE);
		if (r->perm_delete != PERM_NONE && r->soft_delete)
			rc |= add(rt, ROUTER_POST, fmt("/v1/%s/%s/restore", r->path, cap, ""), r,
				  NULL, NULL, CRUD_RESTORE);
		for (int j = 0; j < r->nrels; j++) {
			const struct resource_rel *rel = &r->rels[j];
			rc |= add(rt, ROUTER_GET, fmt("/v1/%s/%s/%s", r->path, cap, rel->name),
				  rel->target, r, rel, rel->to_many ? CRUD_LIST : CRUD_RELATED1);
			rc |= add(rt, ROUTER_GET,
				  fmt("/v1/%s/%s/relationships/%s", r->path, cap, rel->name),
				  rel->target, r, rel, CRUD_REL_GET);
			if (!rel->to_many && rel->fk && !rel->sql_target_ids &&
			    !(rel->flags & (REL_READONLY | REL_FIXED)) &&
			    r->perm_update != PERM_NONE)
				rc |=
				    add(rt, ROUTER_PATCH,
					fmt("/v1/%s/%s/relationships/%s", r->path, cap, rel->name),
					rel->target, r, rel, CRUD_REL_PATCH);
		}
		if (rc)
			return -1;
	}
	return 0;
}

void crud_cleanup(void)
{
	listcache_clear();
	if (large_resume_ev)
		event_free(large_resume_ev);
	large_resume_ev = NULL;
	for (int i = 0; i < npatterns; i++)
		free(patterns[i]);
	free(patterns);
	free(route_data);
	patterns = NULL;
	route_data = NULL;
	npatterns = nroute_data = 0;
}
