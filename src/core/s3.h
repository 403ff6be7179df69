/*
 * s3: an S3 API client on the loop: one curl multi handle driven by
 * libevent socket and timer callbacks (curl's "multi_socket" interface),
 * requests signed by curl itself (CURLOPT_AWS_SIGV4 "aws:amz:REGION:s3")
 * with the payload's SHA-256 in x-amz-content-sha256, a time limit per
 * transfer, and connections reused across transfers.
 *
 * Owns: the multi handle, every easy handle and its transfer state, and the
 * body of each PUT (taken from the caller). Never: blocks the loop (host
 * names go to curl's threaded resolver; see s3_client_new); removes or
 * cleans up an easy handle inside one of curl's callbacks (only in
 * check_multi_info, after curl_multi_socket_action returned); calls a
 * transfer's callback after s3_cancel or from inside s3_put/s3_get.
 */
#ifndef OES_S3_H
#define OES_S3_H

#include <stddef.h>

struct event_base;
struct s3_client;
struct s3_xfer;

struct s3_config {
	const char *endpoint;	/* "http(s)://host[:port]" (a path prefix is kept) */
	const char *bucket;	/* bucket name */
	const char *region;	/* signing region, e.g. us-east-1 */
	const char *access_key; /* access key id */
	const char *secret_key; /* secret access key */
	const char *acl;	/* x-amz-acl of PUTs, or NULL */
	int path_style;		/* 1: ENDPOINT/BUCKET/KEY; 0: BUCKET.HOST/KEY */
	long timeout_ms;	/* limit of one transfer (connect included) */
};

/* A transfer's end, on the loop. err 0: the server answered 2xx; -1: a
 * transport error, a timeout, or another status (status then holds it, else
 * 0). body/len: the response body (GET: the object), valid during the call;
 * content_type: its Content-Type or NULL. */
typedef void (*s3_cb)(void *arg, int err, long status, const char *body, size_t len,
		      const char *content_type);

/* Copies the configuration. NULL (logged) on a bad endpoint or when curl
 * cannot be set up. Caller frees with s3_client_free. */
struct s3_client *s3_client_new(struct event_base *base, const struct s3_config *cfg);
/* Stops every transfer; their callbacks run with err -1 (status 0) so that
 * owners can free their state; then frees the client. */
void s3_client_free(struct s3_client *c);

/* PUT of data[0..len) (takes ownership of data, a malloc'd buffer, even on
 * failure) at key with its hex SHA-256 (64 characters), Content-Type and
 * optional Content-Disposition. NULL when the transfer cannot start (cb not
 * called). */
struct s3_xfer *s3_put(struct s3_client *c, const char *key, void *data, size_t len,
		       const char *sha256_hex, const char *content_type, const char *disposition,
		       s3_cb cb, void *arg);
/* GET of key; at most max_bytes of body (more: err -1). */
struct s3_xfer *s3_get(struct s3_client *c, const char *key, size_t max_bytes, s3_cb cb, void *arg);
/* DELETE of key. */
struct s3_xfer *s3_delete(struct s3_client *c, const char *key, s3_cb cb, void *arg);
/* The callback will not run; the transfer is aborted by curl at its next
 * progress check and cleaned up in check_multi_info. */
void s3_cancel(struct s3_xfer *x);

/* The URL of key on the endpoint (path-style or virtual-hosted, key
 * percent-encoded except '/'). Caller frees. */
char *s3_object_url(const struct s3_client *c, const char *key);

/* Transfers in flight (for metrics and tests). */
int s3_inflight(const struct s3_client *c);

#endif
