/*
 * storage: where uploaded and generated files go: a local directory
 * (UPLOAD_DIR, served under /static/) or S3 (S3_* settings) through one
 * curl multi handle on the loop. Every call is asynchronous and never
 * blocks the loop (local files are written on the worker pool).
 *
 * Owns: the backend's state and each operation until its callback returns.
 */
#ifndef OES_STORAGE_H
#define OES_STORAGE_H

#include <stddef.h>

struct event_base;
struct storage_op;

/* err 0: stored, url is the absolute public URL (valid during the call).
 * err -1: the backend failed (S3: answer 502); url NULL. */
typedef void (*storage_put_cb)(void *arg, int err, const char *url);
/* err 0: data/len hold the object (valid during the call); -1: failed or
 * missing. content_type may be NULL. */
typedef void (*storage_get_cb)(void *arg, int err, const void *data, size_t len,
			       const char *content_type);

/* Chooses the backend from cfg (S3 when S3_BUCKET and S3_ENDPOINT are set).
 * 0/-1 (logged). */
int storage_init(struct event_base *base);
void storage_cleanup(void);
/* 1 when storing to S3. */
int storage_is_s3(void);

/* Stores len bytes (copied) at key ("<kind>/<hex>/<name>") with the given
 * Content-Type and Content-Disposition (may be NULL). cb runs later on the
 * loop unless cancelled. Returns NULL when it cannot start (cb not called). */
struct storage_op *storage_put(const char *key, const void *data, size_t len,
			       const char *content_type, const char *disposition, storage_put_cb cb,
			       void *arg);
/* Reads an object back (for derived images, exports). */
struct storage_op *storage_get(const char *key, storage_get_cb cb, void *arg);
/* The callback will not run; the transfer is stopped or detached. */
void storage_cancel(struct storage_op *op);
/* The key of a public URL of this storage, or NULL when the URL is not ours.
 * Caller frees. */
char *storage_key_of_url(const char *url);

/* ---- additions ---- */

/* storage_cleanup must run after workers_stop (operations waiting for a
 * worker finish there) and before the event base is freed; operations still
 * running then end with err -1. */

/* The longest key, with its NUL. */
#define STORAGE_KEY_MAX 512

/* A fresh key "<kind>/<random 128-bit hex>/<name>" into out (name: a key
 * name from mime_sanitise_filename). 0, or -1 when it does not fit or kind
 * or name is not key-safe. */
int storage_make_key(const char *kind, const char *name, char *out, size_t outlen);
/* Whether key is one this storage accepts: 1-8 segments of [A-Za-z0-9._-],
 * none starting with '.', shorter than STORAGE_KEY_MAX. */
int storage_key_valid(const char *key);

/* storage_put taking ownership of data (a malloc'd buffer, freed by storage
 * even when NULL is returned): no copy of large files on the loop. */
struct storage_op *storage_put_owned(const char *key, void *data, size_t len,
				     const char *content_type, const char *disposition,
				     storage_put_cb cb, void *arg);

/* An object with its stored metadata (valid during the callback). */
struct storage_object {
	const void *data;	  /* the bytes */
	size_t len;		  /* their length */
	const char *content_type; /* stored Content-Type, or NULL */
	const char *disposition;  /* stored Content-Disposition, or NULL */
};
enum { STORAGE_OK = 0, STORAGE_ERR = -1, STORAGE_MISSING = -2 };
/* err: STORAGE_OK (obj set), STORAGE_MISSING (no such object) or
 * STORAGE_ERR (the backend failed); obj NULL unless OK. */
typedef void (*storage_object_cb)(void *arg, int err, const struct storage_object *obj);
/* Reads an object and its metadata (at most max_bytes of it; 0: no limit
 * beyond STORAGE_GET_MAX); what /static/ serves. */
#define STORAGE_GET_MAX (1024L * 1024L * 1024L)
struct storage_op *storage_get_object(const char *key, size_t max_bytes, storage_object_cb cb,
				      void *arg);
/* Deletes an object, best effort, in the background (no callback): for
 * files stored by a request that failed later. 0, or -1 when it cannot
 * start. */
int storage_delete(const char *key);
/* The public URL of key. Caller frees. */
char *storage_url_of_key(const char *key);

#endif
