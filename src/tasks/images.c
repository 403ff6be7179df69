/*
 * images: see images.h. load row -> fetch the original -> resize three
 * times on the worker pool -> store the three files -> one conditional
 * UPDATE in the task's transaction. Table and column names come from the
 * fixed table below, never from the payload.
 *
 * libvips is loaded with dlopen on the loop thread when the first image is
 * derived, not linked: linking it (and the GLib and codec libraries it
 * brings) adds some 13 MB to the memory of every process, most of which
 * never resize an image. Without libvips (Debian's libvips42) the task
 * fails for good, saying so. Only PNG, JPEG, GIF, WebP and SVG originals
 * (the types /v1/upload/image takes, told by their first bytes) reach
 * libvips; its loadable modules (ImageMagick, PDF, HEIF, ...) are not
 * loaded and its untrusted loaders are blocked: a file uploaded through
 * /v1/upload/files and named as an image is refused, not parsed.
 */
#include "tasks/images.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#include "core/config.h"
#include "core/pg_pool.h"
#include "core/storage.h"
#include "tasks/tasks.h"

#define MAX_PIXELS (100L * 1000L * 1000L) /* larger originals are refused */

/* ---- libvips, loaded on first use ---- */

struct vips_image; /* VipsImage, opaque here */

/* Values of libvips 8 enums (stable ABI). */
#define VIPS_INTERESTING_CENTRE 1 /* crop: keep the middle */
#define VIPS_SIZE_BOTH		0 /* size: up- and downsize */
#define GLIB_TRUE		1

static struct {
	void *lib;			    /* dlopen handle */
	int state;			    /* 0 not tried, 1 ready, -1 failed */
	char why[160];			    /* why it failed */
	int (*init)(const char *argv0);	    /* vips_init */
	void (*concurrency_set)(int n);	    /* vips_concurrency_set */
	void (*cache_set_max)(int n);	    /* vips_cache_set_max */
	void (*vector_set_enabled)(int on); /* vips_vector_set_enabled */
	struct vips_image *(*new_from_buffer)(const void *buf, size_t len, const char *opts,
					      ...);	/* vips_image_new_from_buffer */
	int (*get_width)(const struct vips_image *im);	/* vips_image_get_width */
	int (*get_height)(const struct vips_image *im); /* vips_image_get_height */
	int (*thumbnail_buffer)(void *buf, size_t len, struct vips_image **out, int width,
				...); /* vips_thumbnail_buffer */
	int (*pngsave_buffer)(struct vips_image *in, void **buf, size_t *len,
			      ...); /* vips_pngsave_buffer */
	int (*jpegsave_buffer)(struct vips_image *in, void **buf, size_t *len,
			       ...);	    /* vips_jpegsave_buffer */
	char *(*error_buffer_copy)(void);   /* vips_error_buffer_copy */
	void (*object_unref)(void *object); /* g_object_unref */
	void (*gfree)(void *p);		    /* g_free */
	void (*block_untrusted_set)(int b); /* vips_block_untrusted_set (8.13+), or NULL */
} vips;

/* Where libvips looks for its modules: nowhere (VIPSHOME/lib/vips-modules-*). */
#define VIPS_NO_HOME "/nonexistent/open-event-server/vipshome"

/* Loads and starts libvips once, on the loop thread. 0/-1 (vips.why). */
static int vips_load(void)
{
	if (vips.state)
		return vips.state > 0 ? 0 : -1;
	vips.state = -1;
	static const char *const names[] = {"libvips.so.42", "libvips.so"};
	for (size_t i = 0; i < 2 && !vips.lib; i++)
		vips.lib = dlopen(names[i], RTLD_NOW | RTLD_GLOBAL);
	if (!vips.lib) {
		snprintf(vips.why, sizeof(vips.why), "libvips is not installed (%.100s)",
			 dlerror());
		return -1;
	}
	struct {
		const char *name; /* symbol */
		void **slot;	  /* where it goes */
	} syms[] = {
	    {"vips_init", (void **)&vips.init},
	    {"vips_concurrency_set", (void **)&vips.concurrency_set},
	    {"vips_cache_set_max", (void **)&vips.cache_set_max},
	    {"vips_vector_set_enabled", (void **)&vips.vector_set_enabled},
	    {"vips_image_new_from_buffer", (void **)&vips.new_from_buffer},
	    {"vips_image_get_width", (void **)&vips.get_width},
	    {"vips_image_get_height", (void **)&vips.get_height},
	    {"vips_thumbnail_buffer", (void **)&vips.thumbnail_buffer},
	    {"vips_pngsave_buffer", (void **)&vips.pngsave_buffer},
	    {"vips_jpegsave_buffer", (void **)&vips.jpegsave_buffer},
	    {"vips_error_buffer_copy", (void **)&vips.error_buffer_copy},
	    {"g_object_unref", (void **)&vips.object_unref},
	    {"g_free", (void **)&vips.gfree},
	};
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		if (!(*syms[i].slot = dlsym(vips.lib, syms[i].name))) {
			snprintf(vips.why, sizeof(vips.why), "libvips lacks %s", syms[i].name);
			return -1;
		}
	}
	vips.block_untrusted_set = dlsym(vips.lib, "vips_block_untrusted_set");
	/* no modules: libvips finds them under VIPSHOME, set before its first
	 * use (the loop thread is the only one that changes the environment) */
	if (!getenv("VIPSHOME"))
		setenv("VIPSHOME", VIPS_NO_HOME, 0);
	if (vips.init("open-event-server") != 0) {
		snprintf(vips.why, sizeof(vips.why), "libvips did not start");
		return -1;
	}
	vips.concurrency_set(1);
	vips.cache_set_max(0);
	if (vips.block_untrusted_set)
		vips.block_untrusted_set(GLIB_TRUE);
	/* valgrind cannot follow the code liborc generates at run time */
	if (RUNNING_ON_VALGRIND)
		vips.vector_set_enabled(0);
	vips.state = 1;
	return 0;
}

struct size_spec {
	const char *col;  /* column of the derived URL */
	const char *name; /* file name stem and result key */
	int w, h;	  /* exact size */
};

static const struct image_kind {
	const char *type;	 /* JSON:API type */
	const char *table;	 /* its table */
	const char *src;	 /* column of the original's URL */
	struct size_spec out[3]; /* the derived images */
} kinds[] = {
    {"event",
     "events",
     "original_image_url",
     {{"large_image_url", "large", 1300, 500},
      {"thumbnail_image_url", "thumbnail", 500, 200},
      {"icon_image_url", "icon", 75, 30}}},
    {"speaker",
     "speakers",
     "photo_url",
     {{"thumbnail_image_url", "thumbnail", 500, 500},
      {"small_image_url", "small", 50, 50},
      {"icon_image_url", "icon", 35, 35}}},
    {"user",
     "users",
     "avatar_url",
     {{"thumbnail_image_url", "thumbnail", 500, 500},
      {"small_image_url", "small", 50, 50},
      {"icon_image_url", "icon", 35, 35}}},
};

static const struct image_kind *kind_of(const char *type)
{
	for (size_t i = 0; type && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(kinds[i].type, type) == 0)
			return &kinds[i];
	return NULL;
}

void images_on_write(const char *type, long long id, int delay_ms)
{
	const struct image_kind *k = kind_of(type);
	if (!k || id <= 0)
		return;
	char cond[256], ids[24], key[64];
	snprintf(cond, sizeof(cond),
		 "EXISTS (SELECT 1 FROM %s WHERE id = $6::bigint AND %s IS NOT NULL AND %s <> '' "
		 "AND %s IS DISTINCT FROM images_source)",
		 k->table, k->src, k->src, k->src);
	snprintf(ids, sizeof(ids), "%lld", id);
	snprintf(key, sizeof(key), "%s:%s:%lld", TASK_IMAGES_DERIVE, type, id);
	struct json_object *payload = json_object_new_object();
	if (!payload)
		return;
	json_object_object_add(payload, "type", json_object_new_string(type));
	json_object_object_add(payload, "id", json_object_new_int64(id));
	struct task_opts o = {.dedupe_key = key, .delay_ms = delay_ms};
	const char *cp[1] = {ids};
	tasks_enqueue_if(cond, 1, cp, TASK_IMAGES_DERIVE, payload, &o, NULL, NULL);
	json_object_put(payload);
}

/* ---- formats ---- */

enum image_fmt { FMT_OTHER, FMT_PNG, FMT_JPEG, FMT_GIF, FMT_WEBP, FMT_SVG };

/* The format of an original by its first bytes. Pure. */
static int image_format(const unsigned char *d, size_t n)
{
	if (n >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0)
		return FMT_PNG;
	if (n >= 3 && memcmp(d, "\xff\xd8\xff", 3) == 0)
		return FMT_JPEG;
	if (n >= 6 && (memcmp(d, "GIF87a", 6) == 0 || memcmp(d, "GIF89a", 6) == 0))
		return FMT_GIF;
	if (n >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0)
		return FMT_WEBP;
	/* SVG: XML text whose first element is <svg (after a prolog) */
	size_t i = 0;
	if (n >= 3 && memcmp(d, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	while (i < n && (d[i] == ' ' || d[i] == '\t' || d[i] == '\r' || d[i] == '\n'))
		i++;
	if (i < n && d[i] == '<') {
		size_t lim = n < 4096 ? n : 4096;
		for (size_t k = i; k + 4 <= lim; k++)
			if (memcmp(d + k, "<svg", 4) == 0)
				return FMT_SVG;
	}
	return FMT_OTHER;
}

/* ---- the pool side ---- */

struct derive_job {
	unsigned char *in; /* the original (owned) */
	size_t inlen;	   /* its length */
	int png;	   /* 1: write PNG, 0: JPEG (for JPEG originals) */
	int w[3], h[3];	   /* sizes */
	void *out[3];	   /* results (g_malloc'd) */
	size_t outlen[3];  /* their lengths */
	char error[200];   /* "" when all went well */
};

static void job_free(void *p)
{
	struct derive_job *j = p;
	if (!j)
		return;
	free(j->in);
	for (int i = 0; i < 3; i++)
		if (j->out[i])
			vips.gfree(j->out[i]);
	free(j);
}

static void vips_failed(struct derive_job *j, const char *what)
{
	char *e = vips.error_buffer_copy();
	snprintf(j->error, sizeof(j->error), "%s: %.*s", what, 120, e ? e : "");
	vips.gfree(e);
	size_t n = strlen(j->error);
	while (n > 0 && (j->error[n - 1] == '\n' || j->error[n - 1] == ' '))
		j->error[--n] = '\0';
}

/* On a pool thread: touches only j. */
static void derive_work(void *arg)
{
	struct derive_job *j = arg;
	struct vips_image *hdr = vips.new_from_buffer(j->in, j->inlen, "", NULL);
	if (!hdr) {
		vips_failed(j, "not an image libvips can read");
		return;
	}
	long px = (long)vips.get_width(hdr) * (long)vips.get_height(hdr);
	vips.object_unref(hdr);
	if (px <= 0 || px > MAX_PIXELS) {
		snprintf(j->error, sizeof(j->error), "the image has too many pixels (%ld)", px);
		return;
	}
	for (int i = 0; i < 3; i++) {
		struct vips_image *t = NULL;
		if (vips.thumbnail_buffer(j->in, j->inlen, &t, j->w[i], "height", j->h[i], "crop",
					  VIPS_INTERESTING_CENTRE, "size", VIPS_SIZE_BOTH, NULL)) {
			vips_failed(j, "resizing failed");
			return;
		}
		int rc = j->png ? vips.pngsave_buffer(t, &j->out[i], &j->outlen[i], NULL)
				: vips.jpegsave_buffer(t, &j->out[i], &j->outlen[i], "Q", 85,
						       "strip", GLIB_TRUE, NULL);
		vips.object_unref(t);
		if (rc) {
			vips_failed(j, "encoding failed");
			return;
		}
	}
}

/* ---- the loop side ---- */

struct derive_state {
	const struct image_kind *kind; /* what is derived */
	long long id;		       /* the row */
	char *src;		       /* the original's URL */
	char hex[33];		       /* random directory of the files */
	struct derive_job *job;	       /* results, once resized */
	int stored;		       /* files stored so far */
	char *urls[3];		       /* their URLs */
};

static void state_free(void *p)
{
	struct derive_state *st = p;
	free(st->src);
	job_free(st->job);
	for (int i = 0; i < 3; i++)
		free(st->urls[i]);
	free(st);
}

static void skip(struct task_run *run, const char *why)
{
	struct json_object *r = json_object_new_object();
	json_object_object_add(r, "skipped", json_object_new_string(why));
	task_succeed(run, r);
}

static void db_error(struct task_run *run, PGresult *res, int err)
{
	task_fail(run, 0, err == PG_ERR_QUERY ? PQresultErrorMessage(res) : "database unavailable");
}

static void updated(struct task_run *run, PGresult *res, int err)
{
	struct derive_state *st = run->data;
	if (err != PG_OK) {
		db_error(run, res, err);
		return;
	}
	if (strcmp(PQcmdTuples(res), "1") != 0) {
		skip(run, "the original changed meanwhile");
		return;
	}
	struct json_object *urls = json_object_new_object();
	for (int i = 0; i < 3; i++)
		json_object_object_add(urls, st->kind->out[i].name,
				       json_object_new_string(st->urls[i]));
	struct json_object *r = json_object_new_object();
	json_object_object_add(r, "urls", urls);
	task_succeed(run, r);
}

static void in_txn(struct task_run *run, int err)
{
	struct derive_state *st = run->data;
	if (err) {
		task_fail(run, 0, "database unavailable");
		return;
	}
	const struct image_kind *k = st->kind;
	char sql[512], id[24];
	snprintf(sql, sizeof(sql),
		 "UPDATE %s SET %s = $2, %s = $3, %s = $4, images_source = $5 WHERE id = "
		 "$1::bigint AND %s = $5",
		 k->table, k->out[0].col, k->out[1].col, k->out[2].col, k->src);
	snprintf(id, sizeof(id), "%lld", st->id);
	const char *params[5] = {id, st->urls[0], st->urls[1], st->urls[2], st->src};
	task_query(run, sql, 5, params, updated);
}

static void remembered(struct task_run *run, PGresult *res, int err)
{
	if (err != PG_OK) {
		db_error(run, res, err);
		return;
	}
	skip(run, "not an image of this server's storage");
}

static void remember_foreign(struct task_run *run, int err)
{
	struct derive_state *st = run->data;
	if (err) {
		task_fail(run, 0, "database unavailable");
		return;
	}
	char sql[256], id[24];
	snprintf(sql, sizeof(sql),
		 "UPDATE %s SET images_source = $2 WHERE id = $1::bigint AND %s = $2",
		 st->kind->table, st->kind->src);
	snprintf(id, sizeof(id), "%lld", st->id);
	const char *params[2] = {id, st->src};
	task_query(run, sql, 2, params, remembered);
}

static void store_next(struct task_run *run);

static void stored(struct task_run *run, int err, const char *url)
{
	struct derive_state *st = run->data;
	if (err || !(st->urls[st->stored] = strdup(url))) {
		task_fail(run, 0, "the storage did not take a derived image");
		return;
	}
	st->stored++;
	store_next(run);
}

static void store_next(struct task_run *run)
{
	struct derive_state *st = run->data;
	if (st->stored == 3) {
		task_begin(run, in_txn);
		return;
	}
	const struct size_spec *s = &st->kind->out[st->stored];
	const char *ext = st->job->png ? "png" : "jpg";
	char key[128];
	snprintf(key, sizeof(key), "images/%s/%s.%s", st->hex, s->name, ext);
	task_store(run, key, st->job->out[st->stored], st->job->outlen[st->stored],
		   st->job->png ? "image/png" : "image/jpeg", NULL, stored);
}

static void derived(struct task_run *run, void *data, int err)
{
	struct derive_state *st = run->data;
	struct derive_job *j = data;
	if (err) {
		job_free(j);
		task_fail(run, 0, "the worker pool is full");
		return;
	}
	st->job = j;
	if (j->error[0]) {
		task_fail(run, 1, j->error);
		return;
	}
	store_next(run);
}

static void fetched(struct task_run *run, int err, const void *data, size_t len)
{
	struct derive_state *st = run->data;
	if (err) {
		task_fail(run, 1, "the original image cannot be read from the storage");
		return;
	}
	int kind = image_format(data, len);
	if (kind == FMT_OTHER) {
		task_fail(run, 1, "the original is not a PNG, JPEG, GIF, WebP or SVG image");
		return;
	}
	if (vips_load() < 0) {
		task_fail(run, 1, vips.why);
		return;
	}
	struct derive_job *j = calloc(1, sizeof(*j));
	if (!j || !(j->in = malloc(len ? len : 1))) {
		free(j);
		task_fail(run, 0, "out of memory");
		return;
	}
	memcpy(j->in, data, len);
	j->inlen = len;
	j->png = kind != FMT_JPEG;
	for (int i = 0; i < 3; i++) {
		j->w[i] = st->kind->out[i].w;
		j->h[i] = st->kind->out[i].h;
	}
	task_offload(run, derive_work, j, job_free, derived);
}

static void loaded(struct task_run *run, PGresult *res, int err)
{
	struct derive_state *st = run->data;
	if (err != PG_OK) {
		db_error(run, res, err);
		return;
	}
	if (PQntuples(res) != 1) {
		skip(run, "the row is gone");
		return;
	}
	if (PQgetisnull(res, 0, 0) || !*PQgetvalue(res, 0, 0)) {
		skip(run, "no image");
		return;
	}
	const char *src = PQgetvalue(res, 0, 0);
	if (!PQgetisnull(res, 0, 1) && strcmp(src, PQgetvalue(res, 0, 1)) == 0) {
		skip(run, "already derived from this image");
		return;
	}
	st->src = strdup(src);
	if (!st->src) {
		task_fail(run, 0, "out of memory");
		return;
	}
	char *key = storage_key_of_url(src);
	if (!key) {
		/* remembered, so that later writes of the row enqueue nothing */
		task_begin(run, remember_foreign);
		return;
	}
	task_fetch(run, key, (size_t)cfg.upload_max_bytes, fetched);
	free(key);
}

void images_task_derive(struct task_run *run)
{
	const struct image_kind *k = kind_of(task_payload_str(run, "type"));
	long long id = task_payload_id(run, "id");
	if (!k || id == 0) {
		task_fail(run, 1, "payload needs a type with images and an id");
		return;
	}
	struct derive_state *st = calloc(1, sizeof(*st));
	unsigned char rnd[16];
	if (!st || getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		free(st);
		task_fail(run, 0, "out of memory or randomness");
		return;
	}
	for (int i = 0; i < 16; i++)
		snprintf(st->hex + 2 * i, 3, "%02x", rnd[i]);
	st->kind = k;
	st->id = id;
	run->data = st;
	run->data_free = state_free;
	char sql[256], ids[24];
	snprintf(sql, sizeof(sql),
		 "SELECT %s, images_source FROM %s WHERE id = $1::bigint AND deleted_at IS NULL",
		 k->src, k->table);
	snprintf(ids, sizeof(ids), "%lld", id);
	const char *params[1] = {ids};
	task_query(run, sql, 1, params, loaded);
}
