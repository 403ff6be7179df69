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

#endif
