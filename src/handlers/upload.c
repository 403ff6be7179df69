/*
 * handlers/upload: POST /v1/upload/image, POST /v1/upload/files and
 * GET /static/<key>.
 *
 * A request goes: media type -> auth_resolve -> the body is moved (not
 * copied) out of evhttp into our own evbuffer and parsed on the worker pool
 * (JSON + data URL, or multipart), where libmagic also names each file's
 * type from its first bytes -> back on the loop, the name is sanitised, a
 * key made, and every file handed to storage at once -> the answer when the
 * last one is stored, or 502 at the first failure.
 *
 * Lifetimes: the parse job holds a reference on the context (it cannot be
 * stopped); storage operations do not: they are listed in the upload state
 * (ctx->hdata), whose hfree cancels the ones still running and deletes the
 * files already stored unless the answer was a success. So when the client
 * leaves, the context goes at once and its transfers are stopped.
 *
 * Owns: struct upload (ctx->hdata) and its files until storage takes them.
 * Never: touches the upload state on the loop while the parse job runs.
 */
#include "handlers/upload.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <json-c/json.h>

#include "core/auth.h"
#include "core/config.h"
#include "core/dataurl.h"
#include "core/log.h"
#include "core/mime.h"
#include "core/multipart.h"
#include "core/req_ctx.h"
#include "core/storage.h"
#include "core/workers.h"

enum upload_kind { UPLOAD_IMAGE, UPLOAD_FILES };

struct upload;

struct upload_file {
	struct upload *up;	   /* owner */
	char *name;		   /* the client's file name (files), NUL-terminated */
	unsigned char *data;	   /* content, until storage takes it */
	size_t len, cap;	   /* its length and allocation */
	int single;		   /* the part was `file` (not `files[]`) */
	char type[MIME_TYPE_MAX];  /* detected from the bytes, on the worker */
	char key[STORAGE_KEY_MAX]; /* where it goes */
	char *url;		   /* its public URL once stored */
	struct storage_op *op;	   /* the storage operation in flight */
	int stored;		   /* storage confirmed it */
};

struct upload {
	struct req_ctx *ctx;			   /* the request (not a reference) */
	enum upload_kind kind;			   /* which endpoint */
	struct evbuffer *body;			   /* the request body, moved out of evhttp */
	char boundary[MULTIPART_BOUNDARY_MAX + 2]; /* multipart boundary */
	size_t max_bytes;			   /* UPLOAD_MAX_BYTES */
	/* the parse job's results */
	int status;		   /* 0, or the error status to answer */
	char detail[256];	   /* its detail */
	const char *pointer;	   /* its source pointer (static), or NULL */
	struct upload_file *files; /* files found */
	int nfiles, cap;	   /* their count and allocation */
	struct upload_file *cur;   /* multipart: the part being read (NULL: skipped) */
	int multiple;		   /* answer with a list */
	/* storing */
	int pending;   /* storage operations in flight */
	int failed;    /* one failed */
	int succeeded; /* the answer was 200: keep the files */
};

static void upload_free(void *arg)
{
	struct upload *u = arg;
	if (!u)
		return;
	for (int i = 0; i < u->nfiles; i++) {
		struct upload_file *f = &u->files[i];
		if (f->op)
			storage_cancel(f->op);
		if (f->stored && !u->succeeded)
			storage_delete(f->key); /* nothing half-recorded */
		free(f->name);
		free(f->data);
		free(f->url);
	}
	free(u->files);
	if (u->body)
		evbuffer_free(u->body);
	free(u);
}

/* ---- parsing, on a worker thread: touches nothing but u ---- */

static int set_error(struct upload *u, int status, const char *pointer, const char *detail)
{
	if (!u->status) {
		u->status = status;
		u->pointer = pointer;
		snprintf(u->detail, sizeof(u->detail), "%s", detail);
	}
	return -1;
}

static struct upload_file *add_file(struct upload *u)
{
	if (u->nfiles == UPLOAD_FILES_MAX) {
		char d[96];
		snprintf(d, sizeof(d), "At most %d files can be uploaded at once.",
			 UPLOAD_FILES_MAX);
		set_error(u, 422, NULL, d);
		return NULL;
	}
	if (u->nfiles == u->cap) {
		int cap = u->cap ? u->cap * 2 : 4;
		struct upload_file *fs = realloc(u->files, (size_t)cap * sizeof(*fs));
		if (!fs) {
			set_error(u, 503, NULL, "Out of memory.");
			return NULL;
		}
		u->files = fs;
		u->cap = cap;
	}
	struct upload_file *f = &u->files[u->nfiles++];
	memset(f, 0, sizeof(*f));
	f->up = u;
	return f;
}

static void too_big(struct upload *u, const char *pointer)
{
	char d[128];
	snprintf(d, sizeof(d), "A file is larger than UPLOAD_MAX_BYTES (%zu bytes).", u->max_bytes);
	set_error(u, 413, pointer, d);
}

static int part_begin(void *arg, const struct multipart_part *p)
{
	struct upload *u = arg;
	u->cur = NULL;
	if (!p->has_name || !p->has_filename)
		return 0; /* not a file field */
	int single = strcmp(p->name, "file") == 0;
	if (!single && strcmp(p->name, "files[]") != 0)
		return 0;
	struct upload_file *f = add_file(u);
	if (!f)
		return 1;
	f->single = single;
	f->name = strdup(p->filename);
	if (!f->name) {
		set_error(u, 503, NULL, "Out of memory.");
		return 1;
	}
	u->cur = f;
	return 0;
}

static int file_append(struct upload *u, struct upload_file *f, const void *data, size_t len)
{
	if (f->len + len > u->max_bytes) {
		too_big(u, NULL);
		return -1;
	}
	if (f->len + len > f->cap) {
		size_t cap = f->cap ? f->cap : 64 * 1024;
		while (cap < f->len + len)
			cap *= 2;
		if (cap > u->max_bytes)
			cap = u->max_bytes;
		unsigned char *p = realloc(f->data, cap);
		if (!p) {
			set_error(u, 503, NULL, "Out of memory.");
			return -1;
		}
		f->data = p;
		f->cap = cap;
	}
	memcpy(f->data + f->len, data, len);
	f->len += len;
	return 0;
}

static int part_data(void *arg, const char *data, size_t len)
{
	struct upload *u = arg;
	if (!u->cur)
		return 0;
	return file_append(u, u->cur, data, len) < 0 ? 1 : 0;
}

static int part_end(void *arg)
{
	struct upload *u = arg;
	struct upload_file *f = u->cur;
	/* an empty file input of a browser form: filename="" and no content */
	if (f && f == &u->files[u->nfiles - 1] && f->name && !f->name[0] && f->len == 0) {
		free(f->name);
		free(f->data);
		u->nfiles--;
	}
	u->cur = NULL;
	return 0;
}

static void parse_multipart(struct upload *u)
{
	static const struct multipart_callbacks cbs = {part_begin, part_data, part_end};
	struct multipart *m = multipart_new(u->boundary, &cbs, u);
	if (!m) {
		set_error(u, 400, NULL, "The multipart boundary is invalid.");
		return;
	}
	/* the body's chunks as evhttp read them: the parser takes any split */
	int rc = 0;
	size_t total = evbuffer_get_length(u->body);
	int n = total ? evbuffer_peek(u->body, (ev_ssize_t)total, NULL, NULL, 0) : 0;
	struct evbuffer_iovec *v = n > 0 ? calloc((size_t)n, sizeof(*v)) : NULL;
	if (n > 0 && !v) {
		multipart_free(m);
		set_error(u, 503, NULL, "Out of memory.");
		return;
	}
	if (n > 0)
		n = evbuffer_peek(u->body, (ev_ssize_t)total, NULL, v, n);
	for (int i = 0; i < n && rc == 0; i++)
		rc = multipart_feed(m, v[i].iov_base, v[i].iov_len);
	free(v);
	if (rc == 0)
		rc = multipart_finish(m);
	if (rc != 0 && !u->status) {
		char d[160];
		snprintf(d, sizeof(d), "The multipart body is malformed: %s.", multipart_error(m));
		set_error(u, 400, NULL, d);
	}
	multipart_free(m);
	if (u->status)
		return;
	/* `file` wins (as in the original); else every `files[]` */
	int single = -1;
	for (int i = 0; i < u->nfiles && single < 0; i++)
		if (u->files[i].single)
			single = i;
	if (single >= 0) {
		for (int i = 0; i < u->nfiles; i++) {
			if (i == single)
				continue;
			free(u->files[i].name);
			free(u->files[i].data);
		}
		if (single != 0)
			u->files[0] = u->files[single];
		u->nfiles = 1;
		u->multiple = 0;
	} else if (u->nfiles > 0) {
		u->multiple = 1;
	} else {
		set_error(u, 400, NULL,
			  "No file in the body: send a multipart part named file or files[] "
			  "with a filename.");
	}
}

static void parse_image(struct upload *u)
{
	size_t n = evbuffer_get_length(u->body);
	const char *text = n ? (const char *)evbuffer_pullup(u->body, -1) : NULL;
	if (!text || n > (size_t)INT32_MAX) {
		set_error(u, 400, NULL, "The body must be a JSON object.");
		return;
	}
	struct json_tokener *tok = json_tokener_new();
	if (!tok) {
		set_error(u, 503, NULL, "Out of memory.");
		return;
	}
	struct json_object *doc = json_tokener_parse_ex(tok, text, (int)n);
	size_t used = (size_t)json_tokener_get_parse_end(tok);
	int ok = doc && json_tokener_get_error(tok) == json_tokener_success;
	json_tokener_free(tok);
	while (ok && used < n && strchr(" \t\r\n", text[used]))
		used++;
	if (!ok || used != n || !json_object_is_type(doc, json_type_object)) {
		json_object_put(doc);
		set_error(u, 400, NULL, "The body must be a JSON object.");
		return;
	}
	struct json_object *data = NULL;
	if (!json_object_object_get_ex(doc, "data", &data) ||
	    !json_object_is_type(data, json_type_string)) {
		json_object_put(doc);
		set_error(u, 422, "/data", "data must be a string: data:<type>;base64,<payload>.");
		return;
	}
	struct dataurl d;
	int rc = dataurl_decode(json_object_get_string(data),
				(size_t)json_object_get_string_len(data), u->max_bytes, &d);
	json_object_put(doc);
	if (rc == DATAURL_ERR_TOO_BIG) {
		too_big(u, "/data");
		return;
	}
	if (rc == DATAURL_ERR_NOMEM) {
		set_error(u, 503, NULL, "Out of memory.");
		return;
	}
	if (rc != DATAURL_OK) {
		set_error(u, 422, "/data",
			  "data is not a valid data URL (data:<type>;base64,<payload>).");
		return;
	}
	struct upload_file *f = add_file(u);
	if (!f) {
		dataurl_free(&d);
		return;
	}
	f->data = d.data;
	f->len = f->cap = d.len;
	f->single = 1;
}

static void parse_work(void *arg)
{
	struct upload *u = arg;
	if (u->kind == UPLOAD_IMAGE)
		parse_image(u);
	else
		parse_multipart(u);
	/* libmagic here too: ~0.3 ms a binary file, not the loop's to spend */
	for (int i = 0; !u->status && i < u->nfiles; i++)
		mime_detect(u->files[i].data, u->files[i].len, u->files[i].type,
			    sizeof(u->files[i].type));
	/* the body is not needed any more: free it here, off the loop */
	evbuffer_free(u->body);
	u->body = NULL;
}

/* ---- storing, on the loop ---- */

static void reply_urls(struct upload *u)
{
	struct json_object *doc = json_object_new_object();
	if (u->multiple) {
		struct json_object *list = json_object_new_array();
		for (int i = 0; i < u->nfiles; i++)
			json_object_array_add(list, json_object_new_string(u->files[i].url));
		json_object_object_add(doc, "url", list);
	} else {
		json_object_object_add(doc, "url", json_object_new_string(u->files[0].url));
	}
	u->succeeded = 1;
	req_ctx_reply_json(u->ctx, 200, doc, 0);
}

/* Stops the operations still running (their files are deleted with the
 * upload state if they get stored). */
static void cancel_pending(struct upload *u)
{
	for (int i = 0; i < u->nfiles; i++) {
		if (u->files[i].op) {
			storage_cancel(u->files[i].op);
			u->files[i].op = NULL;
			u->pending--;
		}
	}
}

static void stored(void *arg, int err, const char *url)
{
	struct upload_file *f = arg;
	struct upload *u = f->up;
	struct req_ctx *ctx = u->ctx;
	f->op = NULL;
	u->pending--;
	if (err) {
		u->failed = 1;
	} else {
		f->stored = 1;
		f->url = strdup(url);
		if (!f->url)
			u->failed = 1;
	}
	req_ctx_ref(ctx); /* the answer may free ctx (and u) */
	if (req_ctx_alive(ctx)) {
		if (u->failed) {
			cancel_pending(u);
			log_warn(ctx->id, "upload: storing %s failed", f->key);
			req_ctx_reply_error(
			    ctx, 502, "The file storage failed; nothing was stored.", NULL, NULL);
		} else if (u->pending == 0) {
			reply_urls(u);
		}
	}
	req_ctx_unref(ctx);
}

static void store_all(struct req_ctx *ctx, struct upload *u)
{
	for (int i = 0; i < u->nfiles; i++) {
		struct upload_file *f = &u->files[i];
		if (u->kind == UPLOAD_IMAGE && !mime_is_upload_image(f->type)) {
			char d[256];
			snprintf(d, sizeof(d),
				 "The data is %s; images must be PNG, JPEG, GIF, WebP or SVG.",
				 f->type);
			req_ctx_reply_error(ctx, 422, d, "/data", NULL);
			return;
		}
	}
	for (int i = 0; i < u->nfiles; i++) {
		struct upload_file *f = &u->files[i];
		char display[MIME_NAME_MAX + 1], keyname[MIME_NAME_MAX + 1];
		if (u->kind == UPLOAD_IMAGE) {
			char name[32];
			const char *ext = mime_extension(f->type);
			snprintf(name, sizeof(name), "image.%s", ext ? ext : "bin");
			mime_sanitise_filename(name, strlen(name), "image", display,
					       sizeof(display), keyname, sizeof(keyname));
		} else {
			mime_sanitise_filename(f->name, f->name ? strlen(f->name) : 0, "file",
					       display, sizeof(display), keyname, sizeof(keyname));
		}
		char *disp = mime_content_disposition(display);
		if (!disp || storage_make_key(u->kind == UPLOAD_IMAGE ? "images" : "files", keyname,
					      f->key, sizeof(f->key)) < 0) {
			free(disp);
			cancel_pending(u);
			req_ctx_reply_error(ctx, 500, "Cannot name the stored file.", NULL, NULL);
			return;
		}
		log_debug(ctx->id, "upload: %s (%zu bytes, %s)", f->key, f->len, f->type);
		unsigned char *data = f->data;
		f->data = NULL; /* storage takes it */
		f->cap = 0;
		f->op = storage_put_owned(f->key, data, f->len, f->type, disp, stored, f);
		free(disp);
		if (!f->op) {
			cancel_pending(u);
			req_ctx_add_header(ctx, "Retry-After", "1");
			req_ctx_reply_error(ctx, 503, "The server is busy; try again shortly.",
					    NULL, NULL);
			return;
		}
		u->pending++;
	}
}

static void parse_done(void *arg)
{
	struct upload *u = arg;
	struct req_ctx *ctx = u->ctx;
	if (req_ctx_alive(ctx)) {
		if (u->status)
			req_ctx_reply_error(ctx, u->status, u->detail, u->pointer, NULL);
		else
			store_all(ctx, u);
	}
	req_ctx_unref(ctx); /* the job's reference; may free ctx and u */
}

/* ---- the endpoints ---- */

static void authed(struct req_ctx *ctx, enum upload_kind kind)
{
	if (ctx->principal.user_id <= 0) {
		auth_reply_unauthorized(ctx, "Uploading needs a signed-in user.");
		return;
	}
	struct upload *u = calloc(1, sizeof(*u));
	if (!u || !(u->body = evbuffer_new())) {
		free(u);
		req_ctx_reply_error(ctx, 503, "Out of memory.", NULL, NULL);
		return;
	}
	u->ctx = ctx;
	u->kind = kind;
	u->max_bytes = (size_t)cfg.upload_max_bytes;
	ctx->hdata = u;
	ctx->hfree = upload_free;
	if (kind == UPLOAD_FILES)
		multipart_boundary(req_ctx_header(ctx, "Content-Type"), u->boundary,
				   sizeof(u->boundary));
	/* move the body's chunks (no copy) to a buffer only the job touches */
	if (evbuffer_add_buffer(u->body, evhttp_request_get_input_buffer(ctx->req)) < 0) {
		req_ctx_reply_error(ctx, 503, "Out of memory.", NULL, NULL);
		return;
	}
	req_ctx_ref(ctx);
	if (workers_submit(parse_work, parse_done, u) < 0) {
		req_ctx_unref(ctx); /* never the last: the HTTP side holds one */
		log_warn(ctx->id, "upload: the worker pool is full");
		req_ctx_add_header(ctx, "Retry-After", "1");
		req_ctx_reply_error(ctx, 503, "The server is busy; try again shortly.", NULL, NULL);
	}
}

static void image_authed(struct req_ctx *ctx)
{
	authed(ctx, UPLOAD_IMAGE);
}

static void files_authed(struct req_ctx *ctx)
{
	authed(ctx, UPLOAD_FILES);
}

/* Whether a Content-Type's media type (parameters aside) is one of JSON's. */
static int is_json(const char *ct)
{
	if (!ct)
		return 0;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	size_t n = strcspn(ct, "; \t");
	return (n == 16 && strncasecmp(ct, "application/json", n) == 0) ||
	       (n == 24 && strncasecmp(ct, "application/vnd.api+json", n) == 0);
}

void upload_image(struct req_ctx *ctx)
{
	if (!is_json(req_ctx_header(ctx, "Content-Type"))) {
		req_ctx_reply_error(ctx, 415,
				    "Content-Type must be application/json: "
				    "{\"data\": \"data:<type>;base64,<payload>\"}.",
				    NULL, NULL);
		return;
	}
	auth_resolve(ctx, image_authed);
}

void upload_files(struct req_ctx *ctx)
{
	char boundary[MULTIPART_BOUNDARY_MAX + 2];
	int rc =
	    multipart_boundary(req_ctx_header(ctx, "Content-Type"), boundary, sizeof(boundary));
	if (rc == -1) {
		req_ctx_reply_error(ctx, 415, "Content-Type must be multipart/form-data.", NULL,
				    NULL);
		return;
	}
	if (rc < 0) {
		req_ctx_reply_error(ctx, 400,
				    "The multipart/form-data Content-Type has no valid boundary.",
				    NULL, NULL);
		return;
	}
	auth_resolve(ctx, files_authed);
}

/* ---- /static/<key> ---- */

static void static_done(void *arg, int err, const struct storage_object *obj)
{
	struct req_ctx *ctx = arg;
	if (req_ctx_alive(ctx)) {
		if (err == STORAGE_OK) {
			req_ctx_add_header(
			    ctx, "Content-Security-Policy",
			    "default-src 'none'; style-src 'unsafe-inline'; sandbox");
			req_ctx_add_header(ctx, "Cache-Control",
					   "public, max-age=31536000, immutable");
			if (obj->disposition)
				req_ctx_add_header(ctx, "Content-Disposition", obj->disposition);
			req_ctx_reply(ctx, 200,
				      obj->content_type ? obj->content_type
							: "application/octet-stream",
				      obj->data, obj->len, 0);
		} else if (err == STORAGE_MISSING) {
			req_ctx_reply_error(ctx, 404, "No such file.", NULL, NULL);
		} else {
			req_ctx_reply_error(ctx, 500, "The file cannot be read.", NULL, NULL);
		}
	}
	req_ctx_unref(ctx); /* the operation's reference */
}

void upload_static(struct req_ctx *ctx)
{
	static const char prefix[] = "/static/";
	const char *key = ctx->path && strncmp(ctx->path, prefix, sizeof(prefix) - 1) == 0
			      ? ctx->path + sizeof(prefix) - 1
			      : NULL;
	if (storage_is_s3() || !key || !storage_key_valid(key)) {
		req_ctx_reply_error(ctx, 404, "The requested URL was not found on this server.",
				    NULL, NULL);
		return;
	}
	req_ctx_ref(ctx);
	if (!storage_get_object(key, 0, static_done, ctx)) {
		req_ctx_unref(ctx); /* never the last: the HTTP side holds one */
		req_ctx_add_header(ctx, "Retry-After", "1");
		req_ctx_reply_error(ctx, 503, "The server is busy; try again shortly.", NULL, NULL);
	}
}
