/*
 * storage: the two backends behind core/storage.h.
 *
 * Local (default): UPLOAD_DIR/<key>, written on the worker pool to a
 * temporary name and renamed into place (an object is either whole or
 * absent), its Content-Type and Content-Disposition in a sidecar
 * "<dir>/.<name>.meta" written first (sanitised names never start with a
 * dot, and /static/ refuses keys with such segments). Public URLs are
 * PUBLIC_URL/static/<key>.
 *
 * S3 (S3_BUCKET and S3_ENDPOINT set): the payload's SHA-256 is computed on
 * the worker pool, then core/s3 PUTs it from the loop. Public URLs are
 * S3_PUBLIC_URL/<key>, or the object's URL on the endpoint.
 *
 * An operation is owned by the worker job running it, then (S3) by its
 * transfer; storage_cancel marks it so that its callback never runs: a
 * worker job still finishes (detached) and frees it; a transfer is
 * cancelled in core/s3 and the operation freed at once.
 *
 * Owns: the backend state and every operation. Never: touches the file
 * system or hashes a payload on the loop thread after start-up; calls a
 * callback from inside storage_put/storage_get.
 */
#include "core/storage.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "core/config.h"
#include "core/log.h"
#include "core/s3.h"
#include "core/workers.h"

#define META_MAX 4096 /* bytes of a sidecar metadata file */

enum backend { BACKEND_NONE, BACKEND_LOCAL, BACKEND_S3 };
enum op_kind { OP_PUT, OP_GET, OP_DELETE };
enum op_stage { STAGE_WORKER, STAGE_S3 };

struct storage_op {
	enum op_kind kind;	  /* what it does */
	enum op_stage stage;	  /* who holds it now */
	int cancelled;		  /* storage_cancel ran: no callback */
	char *key;		  /* object key */
	unsigned char *data;	  /* PUT: the payload (owned until handed to s3) */
	size_t len;		  /* its length */
	char *content_type;	  /* PUT: stored Content-Type */
	char *disposition;	  /* PUT: stored Content-Disposition, or NULL */
	char sha256[65];	  /* S3 PUT: hex SHA-256 of data */
	size_t max_bytes;	  /* GET: largest object read */
	unsigned long tag;	  /* local PUT: unique part of temporary names */
	int errnum;		  /* local: errno of a failure, logged on the loop */
	storage_put_cb put_cb;	  /* PUT callback */
	storage_get_cb get_cb;	  /* storage_get callback */
	storage_object_cb obj_cb; /* storage_get_object callback */
	void *arg;		  /* their argument */
	struct s3_xfer *xfer;	  /* STAGE_S3: the transfer */
	/* results of a worker job */
	int err;     /* enum STORAGE_OK, ... */
	char *rdata; /* GET: the object */
	size_t rlen; /* its length */
	char *rtype; /* GET: stored Content-Type */
	char *rdisp; /* GET: stored Content-Disposition */
};

static struct {
	enum backend backend;	   /* chosen by storage_init */
	struct s3_client *s3;	   /* BACKEND_S3 */
	char *dir;		   /* BACKEND_LOCAL: UPLOAD_DIR without trailing '/' */
	char *url_base;		   /* public base URL, without trailing '/' (NULL: s3 URL) */
	unsigned long tmp_counter; /* temporary file names (loop thread) */
} st;

static int is_set(const char *s)
{
	return s && *s;
}

/* ---- keys and URLs ---- */

static int key_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

int storage_key_valid(const char *key)
{
	if (!key || !*key || strlen(key) >= STORAGE_KEY_MAX)
		return 0;
	int segs = 0;
	const char *p = key;
	for (;;) {
		size_t n = strcspn(p, "/");
		if (n == 0 || p[0] == '.' || ++segs > 8)
			return 0;
		for (size_t i = 0; i < n; i++)
			if (!key_char((unsigned char)p[i]))
				return 0;
		if (!p[n])
			return 1;
		p += n + 1;
	}
}

int storage_make_key(const char *kind, const char *name, char *out, size_t outlen)
{
	unsigned char rnd[16];
	char hex[33];
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
	int n = snprintf(out, outlen, "%s/%s/%s", kind, hex, name);
	if (n < 0 || (size_t)n >= outlen || strchr(kind, '/') || strchr(name, '/') ||
	    !storage_key_valid(out))
		return -1;
	return 0;
}

char *storage_url_of_key(const char *key)
{
	if (st.backend == BACKEND_S3 && !st.url_base)
		return s3_object_url(st.s3, key);
	const char *base = st.url_base ? st.url_base : "";
	size_t n = strlen(base) + strlen(key) + 2;
	char *url = malloc(n);
	if (url)
		snprintf(url, n, "%s/%s", base, key);
	return url;
}

char *storage_key_of_url(const char *url)
{
	if (!url || st.backend == BACKEND_NONE)
		return NULL;
	char *base = NULL;
	if (st.url_base) {
		size_t n = strlen(st.url_base) + 2;
		base = malloc(n);
		if (base)
			snprintf(base, n, "%s/", st.url_base);
	} else {
		base = s3_object_url(st.s3, "");
	}
	if (!base)
		return NULL;
	size_t blen = strlen(base);
	char *key = NULL;
	if (strncmp(url, base, blen) == 0 && storage_key_valid(url + blen))
		key = strdup(url + blen);
	free(base);
	return key;
}

int storage_is_s3(void)
{
	return st.backend == BACKEND_S3;
}

/* ---- operations ---- */

static void op_free(struct storage_op *op)
{
	if (!op)
		return;
	free(op->key);
	free(op->data);
	free(op->content_type);
	free(op->disposition);
	free(op->rdata);
	free(op->rtype);
	free(op->rdisp);
	free(op);
}

static struct storage_op *op_new(enum op_kind kind, const char *key)
{
	struct storage_op *op = calloc(1, sizeof(*op));
	if (!op)
		return NULL;
	op->kind = kind;
	op->key = strdup(key);
	if (!op->key) {
		free(op);
		return NULL;
	}
	return op;
}

/* Delivers a GET result to whichever callback the caller gave. */
static void deliver_get(struct storage_op *op, int err, const char *data, size_t len,
			const char *type, const char *disp)
{
	if (op->cancelled)
		return;
	if (op->obj_cb) {
		struct storage_object obj = {data, len, type, disp};
		op->obj_cb(op->arg, err, err == STORAGE_OK ? &obj : NULL);
	} else if (op->get_cb) {
		if (err == STORAGE_OK)
			op->get_cb(op->arg, 0, data, len, type);
		else
			op->get_cb(op->arg, -1, NULL, 0, NULL);
	}
}

static void deliver_put(struct storage_op *op, int err)
{
	if (op->cancelled || !op->put_cb)
		return;
	if (err) {
		op->put_cb(op->arg, -1, NULL);
		return;
	}
	char *url = storage_url_of_key(op->key);
	if (!url) {
		op->put_cb(op->arg, -1, NULL);
		return;
	}
	op->put_cb(op->arg, 0, url);
	free(url);
}

/* ---- local backend: worker jobs (touch nothing but the op) ---- */

static char *local_path(const char *key, int meta)
{
	size_t n = strlen(st.dir) + strlen(key) + 16;
	char *p = malloc(n);
	if (!p)
		return NULL;
	if (!meta) {
		snprintf(p, n, "%s/%s", st.dir, key);
		return p;
	}
	const char *slash = strrchr(key, '/');
	if (slash)
		snprintf(p, n, "%s/%.*s/.%s.meta", st.dir, (int)(slash - key), key, slash + 1);
	else
		snprintf(p, n, "%s/.%s.meta", st.dir, key);
	return p;
}

static int mkdirs_for(const char *path)
{
	char *d = strdup(path);
	if (!d)
		return -1;
	char *slash = strrchr(d, '/');
	if (slash)
		*slash = '\0';
	for (char *p = d + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(d, 0755) < 0 && errno != EEXIST) {
			free(d);
			return -1;
		}
		*p = '/';
	}
	int rc = (mkdir(d, 0755) < 0 && errno != EEXIST) ? -1 : 0;
	free(d);
	return rc;
}

/* Writes data to path through a temporary file renamed into place. */
static int write_atomic(const char *path, const void *data, size_t len, unsigned long tag)
{
	size_t n = strlen(path) + 48;
	char *tmp = malloc(n);
	if (!tmp)
		return -1;
	const char *slash = strrchr(path, '/');
	int dlen = slash ? (int)(slash - path) : 0;
	snprintf(tmp, n, "%.*s/.tmp-%ld-%lu", dlen, path, (long)getpid(), tag);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		free(tmp);
		return -1;
	}
	const char *p = data;
	size_t left = len;
	while (left > 0) {
		ssize_t w = write(fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		p += w;
		left -= (size_t)w;
	}
	int rc = (left == 0 && close(fd) == 0) ? 0 : -1;
	if (left != 0)
		close(fd);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -1;
	if (rc < 0) {
		int e = errno;
		unlink(tmp);
		errno = e;
	}
	free(tmp);
	return rc;
}

static void local_put_work(void *arg)
{
	struct storage_op *op = arg;
	char *path = local_path(op->key, 0), *meta = local_path(op->key, 1);
	char *m = NULL;
	op->err = STORAGE_ERR;
	if (!path || !meta || mkdirs_for(path) < 0)
		goto out;
	size_t mlen =
	    strlen(op->content_type) + (op->disposition ? strlen(op->disposition) : 0) + 64;
	m = malloc(mlen);
	if (!m)
		goto out;
	int k = snprintf(m, mlen, "Content-Type: %s\n", op->content_type);
	if (op->disposition)
		k +=
		    snprintf(m + k, mlen - (size_t)k, "Content-Disposition: %s\n", op->disposition);
	/* the metadata first: an object that exists always has it */
	if (write_atomic(meta, m, (size_t)k, op->tag * 2) < 0 ||
	    write_atomic(path, op->data, op->len, op->tag * 2 + 1) < 0)
		goto out;
	op->err = STORAGE_OK;
out:
	if (op->err != STORAGE_OK)
		op->errnum = errno ? errno : EIO;
	free(m);
	free(path);
	free(meta);
}

static void local_put_done(void *arg)
{
	struct storage_op *op = arg;
	if (op->err != STORAGE_OK)
		log_error(NULL, "storage: cannot write %s/%s: %s", st.dir, op->key,
			  strerror(op->errnum));
	deliver_put(op, op->err);
	op_free(op);
}

/* Reads at most max bytes of path into a malloc'd buffer. -1 with errno;
 * EFBIG when larger. */
static int read_file(const char *path, size_t max, char **out, size_t *outlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	struct stat sb;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		errno = ENOENT;
		return -1;
	}
	if ((unsigned long long)sb.st_size > max) {
		close(fd);
		errno = EFBIG;
		return -1;
	}
	size_t size = (size_t)sb.st_size;
	char *buf = malloc(size + 1);
	size_t got = 0;
	while (buf && got < size) {
		ssize_t r = read(fd, buf + got, size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (!buf || got != size) {
		free(buf);
		errno = EIO;
		return -1;
	}
	buf[size] = '\0';
	*out = buf;
	*outlen = size;
	return 0;
}

/* The value of "Name: value" in a metadata file, or NULL. Caller frees. */
static char *meta_value(const char *meta, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = meta; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len > n + 2 && strncmp(p, name, n) == 0 && p[n] == ':' && p[n + 1] == ' ')
			return strndup(p + n + 2, len - n - 2);
		p = nl ? nl + 1 : NULL;
	}
	return NULL;
}

static void local_get_work(void *arg)
{
	struct storage_op *op = arg;
	char *path = local_path(op->key, 0), *meta = local_path(op->key, 1);
	char *m = NULL;
	size_t mlen = 0;
	op->err = STORAGE_ERR;
	if (!path || !meta)
		goto out;
	if (read_file(path, op->max_bytes, &op->rdata, &op->rlen) < 0) {
		op->errnum = errno;
		op->err = (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) ? STORAGE_MISSING
										  : STORAGE_ERR;
		goto out;
	}
	if (read_file(meta, META_MAX, &m, &mlen) == 0) {
		op->rtype = meta_value(m, "Content-Type");
		op->rdisp = meta_value(m, "Content-Disposition");
	}
	op->err = STORAGE_OK;
out:
	free(m);
	free(path);
	free(meta);
}

static void local_get_done(void *arg)
{
	struct storage_op *op = arg;
	if (op->err == STORAGE_ERR)
		log_error(NULL, "storage: cannot read %s/%s: %s", st.dir, op->key,
			  strerror(op->errnum));
	deliver_get(op, op->err, op->rdata, op->rlen, op->rtype, op->rdisp);
	op_free(op);
}

static void local_delete_work(void *arg)
{
	struct storage_op *op = arg;
	char *path = local_path(op->key, 0), *meta = local_path(op->key, 1);
	if (path && meta) {
		unlink(path);
		unlink(meta);
		char *slash = strrchr(path, '/');
		if (slash) {
			*slash = '\0';
			rmdir(path); /* the key's own directory, when empty */
		}
	}
	free(path);
	free(meta);
}

static void free_done(void *arg)
{
	op_free(arg);
}

/* ---- S3 backend ---- */

static void hash_work(void *arg)
{
	struct storage_op *op = arg;
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, op->data, op->len);
	sodium_bin2hex(op->sha256, sizeof(op->sha256), h, sizeof(h));
}

static void s3_put_done(void *arg, int err, long status, const char *body, size_t len,
			const char *ctype)
{
	struct storage_op *op = arg;
	(void)status, (void)body, (void)len, (void)ctype;
	op->xfer = NULL;
	deliver_put(op, err ? STORAGE_ERR : STORAGE_OK);
	op_free(op);
}

static void hash_done(void *arg)
{
	struct storage_op *op = arg;
	if (op->cancelled || !st.s3) {
		if (!op->cancelled)
			deliver_put(op, STORAGE_ERR);
		op_free(op);
		return;
	}
	unsigned char *data = op->data;
	op->data = NULL; /* s3_put takes it */
	op->stage = STAGE_S3;
	op->xfer = s3_put(st.s3, op->key, data, op->len, op->sha256, op->content_type,
			  op->disposition, s3_put_done, op);
	if (!op->xfer) {
		deliver_put(op, STORAGE_ERR);
		op_free(op);
	}
}

static void s3_get_done(void *arg, int err, long status, const char *body, size_t len,
			const char *ctype)
{
	struct storage_op *op = arg;
	op->xfer = NULL;
	int e = !err ? STORAGE_OK : status == 404 ? STORAGE_MISSING : STORAGE_ERR;
	deliver_get(op, e, body, len, ctype, NULL);
	op_free(op);
}

static void s3_delete_done(void *arg, int err, long status, const char *body, size_t len,
			   const char *ctype)
{
	(void)err, (void)status, (void)body, (void)len, (void)ctype;
	op_free(arg);
}

/* ---- the interface ---- */

struct storage_op *storage_put_owned(const char *key, void *data, size_t len,
				     const char *content_type, const char *disposition,
				     storage_put_cb cb, void *arg)
{
	if (st.backend == BACKEND_NONE || !storage_key_valid(key)) {
		free(data);
		return NULL;
	}
	if (!data && !(data = malloc(1)))
		return NULL;
	struct storage_op *op = op_new(OP_PUT, key);
	if (!op) {
		free(data);
		return NULL;
	}
	op->data = data;
	op->len = len;
	op->put_cb = cb;
	op->arg = arg;
	op->content_type = strdup(content_type ? content_type : "application/octet-stream");
	op->disposition = disposition ? strdup(disposition) : NULL;
	op->tag = ++st.tmp_counter;
	if (!op->content_type || (disposition && !op->disposition))
		goto fail;
	int rc = st.backend == BACKEND_S3 ? workers_submit(hash_work, hash_done, op)
					  : workers_submit(local_put_work, local_put_done, op);
	if (rc < 0) {
		log_warn(NULL, "storage: the worker pool is full; cannot store %s", key);
		goto fail;
	}
	return op;
fail:
	op_free(op);
	return NULL;
}

struct storage_op *storage_put(const char *key, const void *data, size_t len,
			       const char *content_type, const char *disposition, storage_put_cb cb,
			       void *arg)
{
	void *copy = malloc(len ? len : 1);
	if (!copy)
		return NULL;
	if (len)
		memcpy(copy, data, len);
	return storage_put_owned(key, copy, len, content_type, disposition, cb, arg);
}

static struct storage_op *get_start(struct storage_op *op)
{
	if (st.backend == BACKEND_S3) {
		op->stage = STAGE_S3;
		op->xfer = s3_get(st.s3, op->key, op->max_bytes, s3_get_done, op);
		if (op->xfer)
			return op;
	} else if (workers_submit(local_get_work, local_get_done, op) == 0) {
		return op;
	}
	op_free(op);
	return NULL;
}

struct storage_op *storage_get(const char *key, storage_get_cb cb, void *arg)
{
	if (st.backend == BACKEND_NONE || !storage_key_valid(key))
		return NULL;
	struct storage_op *op = op_new(OP_GET, key);
	if (!op)
		return NULL;
	op->get_cb = cb;
	op->arg = arg;
	op->max_bytes = STORAGE_GET_MAX;
	return get_start(op);
}

struct storage_op *storage_get_object(const char *key, size_t max_bytes, storage_object_cb cb,
				      void *arg)
{
	if (st.backend == BACKEND_NONE || !storage_key_valid(key))
		return NULL;
	struct storage_op *op = op_new(OP_GET, key);
	if (!op)
		return NULL;
	op->obj_cb = cb;
	op->arg = arg;
	op->max_bytes =
	    max_bytes && max_bytes < (size_t)STORAGE_GET_MAX ? max_bytes : (size_t)STORAGE_GET_MAX;
	return get_start(op);
}

int storage_delete(const char *key)
{
	if (st.backend == BACKEND_NONE || !storage_key_valid(key))
		return -1;
	struct storage_op *op = op_new(OP_DELETE, key);
	if (!op)
		return -1;
	op->cancelled = 1; /* nobody to call back */
	if (st.backend == BACKEND_S3) {
		op->stage = STAGE_S3;
		op->xfer = s3_delete(st.s3, key, s3_delete_done, op);
		if (op->xfer)
			return 0;
	} else if (workers_submit(local_delete_work, free_done, op) == 0) {
		return 0;
	}
	op_free(op);
	return -1;
}

void storage_cancel(struct storage_op *op)
{
	if (!op || op->cancelled)
		return;
	op->cancelled = 1;
	if (op->stage == STAGE_S3 && op->xfer) {
		s3_cancel(op->xfer); /* its callback will not run: the op is ours to free */
		op->xfer = NULL;
		op_free(op);
	}
	/* STAGE_WORKER: the job finishes and frees it */
}

/* ---- set-up ---- */

static char *trimmed_url(const char *u)
{
	char *s = strdup(u);
	if (!s)
		return NULL;
	size_t n = strlen(s);
	while (n > 0 && s[n - 1] == '/')
		s[--n] = '\0';
	return s;
}

int storage_init(struct event_base *base)
{
	if (st.backend != BACKEND_NONE)
		return 0;
	if (sodium_init() < 0) {
		log_error(NULL, "storage: sodium_init failed");
		return -1;
	}
	if (is_set(cfg.s3_bucket) || is_set(cfg.s3_endpoint)) {
		if (!is_set(cfg.s3_bucket) || !is_set(cfg.s3_endpoint)) {
			log_error(NULL, "storage: S3 needs both S3_BUCKET and S3_ENDPOINT");
			return -1;
		}
		if (!is_set(cfg.s3_access_key) || !is_set(cfg.s3_secret_key)) {
			log_error(NULL, "storage: S3 needs S3_ACCESS_KEY and S3_SECRET_KEY");
			return -1;
		}
		struct s3_config sc = {
		    .endpoint = cfg.s3_endpoint,
		    .bucket = cfg.s3_bucket,
		    .region = is_set(cfg.s3_region) ? cfg.s3_region : "us-east-1",
		    .access_key = cfg.s3_access_key,
		    .secret_key = cfg.s3_secret_key,
		    .acl = is_set(cfg.s3_acl) ? cfg.s3_acl : NULL,
		    .path_style = cfg.s3_path_style,
		    .timeout_ms = cfg.s3_timeout_ms,
		};
		st.s3 = s3_client_new(base, &sc);
		if (!st.s3)
			return -1;
		if (is_set(cfg.s3_public_url) && !(st.url_base = trimmed_url(cfg.s3_public_url))) {
			storage_cleanup();
			return -1;
		}
		st.backend = BACKEND_S3;
		log_info(NULL, "storage: S3 bucket %s at %s", cfg.s3_bucket, cfg.s3_endpoint);
		return 0;
	}
	const char *dir = is_set(cfg.upload_dir) ? cfg.upload_dir : "./var/uploads";
	st.dir = trimmed_url(dir);
	if (!st.dir || !*st.dir) {
		free(st.dir);
		st.dir = strdup("/");
	}
	size_t n = strlen(cfg.public_url ? cfg.public_url : "") + 16;
	st.url_base = malloc(n);
	if (!st.dir || !st.url_base) {
		storage_cleanup();
		return -1;
	}
	snprintf(st.url_base, n, "%s/static", cfg.public_url ? cfg.public_url : "");
	/* start-up: creating the directory here may block, briefly */
	char probe[8192];
	snprintf(probe, sizeof(probe), "%s/.probe", st.dir);
	if (mkdirs_for(probe) < 0 || access(st.dir, W_OK) < 0) {
		log_error(NULL, "storage: UPLOAD_DIR %s is not a writable directory: %s", st.dir,
			  strerror(errno));
		storage_cleanup();
		return -1;
	}
	st.backend = BACKEND_LOCAL;
	log_info(NULL, "storage: local directory %s served under /static/", st.dir);
	return 0;
}

void storage_cleanup(void)
{
	s3_client_free(st.s3); /* transfers still running end with err -1 */
	st.s3 = NULL;
	free(st.dir);
	free(st.url_base);
	memset(&st, 0, sizeof(st));
}
