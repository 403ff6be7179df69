/*
 * s3: S3 requests as transfers of core/curlm (curl's multi_socket interface
 * on the loop), one curlm per client.
 *
 * Signing: CURLOPT_AWS_SIGV4 signs the method, path, every header we set
 * (Content-Type, Content-Disposition, x-amz-acl, x-amz-content-sha256) and
 * the host and date it adds; curl 7.88 takes the payload hash from our
 * x-amz-content-sha256 header (it cannot hash a body it reads through a
 * callback), so callers pass the SHA-256 they computed off the loop.
 *
 * Owns: its curlm, a struct s3_xfer per transfer (headers, request and
 * response bodies; the easy handle until curlm takes it). Never: calls a transfer's callback after
 * s3_cancel, or from inside s3_put/s3_get/s3_delete; lets curl raise signals (CURLOPT_NOSIGNAL).
 */
#include "core/s3.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "core/curlm.h"
#include "core/log.h"

#define S3_ERROR_BODY_MAX 4096 /* response body kept for logging a failed PUT/DELETE */
#define EMPTY_SHA256	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct s3_xfer {
	struct s3_client *c;	      /* owner */
	CURL *easy;		      /* the easy handle, ours until started */
	struct curlm_xfer *cx;	      /* the transfer once started (curlm owns easy) */
	struct curl_slist *headers;   /* request headers */
	const char *method;	      /* "PUT", "GET", "DELETE" (for logs) */
	char *key;		      /* object key (for logs) */
	s3_cb cb;		      /* NULL once cancelled */
	void *arg;		      /* its argument */
	int cancelled;		      /* s3_cancel ran: reap without calling back */
	char *data;		      /* PUT body (owned) */
	size_t len, off;	      /* its size and the read position */
	char *resp;		      /* response body */
	size_t rlen, rcap, rmax;      /* its length, allocation and limit */
	int too_big;		      /* the response went over rmax */
	char errbuf[CURL_ERROR_SIZE]; /* curl's message */
};

struct s3_client {
	struct curlm *m;  /* the transfers */
	int freeing;	  /* s3_client_free is running */
	char *scheme;	  /* "http" or "https" */
	char *hostport;	  /* "host[:port]" of the endpoint */
	char *prefix;	  /* the endpoint's path, without a trailing '/' ("" if none) */
	char *bucket;	  /* bucket */
	char *sigv4;	  /* "aws:amz:REGION:s3" */
	char *access_key; /* credentials */
	char *secret_key;
	char *acl; /* x-amz-acl, or NULL */
	int path_style;
	long timeout_ms;
};

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* ---- URLs ---- */

static int unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}

char *s3_object_url(const struct s3_client *c, const char *key)
{
	size_t klen = strlen(key);
	size_t n = strlen(c->scheme) + strlen(c->hostport) + strlen(c->prefix) + strlen(c->bucket) +
		   3 * klen + 16;
	char *url = malloc(n);
	if (!url)
		return NULL;
	int w;
	if (c->path_style)
		w = snprintf(url, n, "%s://%s%s/%s/", c->scheme, c->hostport, c->prefix, c->bucket);
	else
		w = snprintf(url, n, "%s://%s.%s%s/", c->scheme, c->bucket, c->hostport, c->prefix);
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < klen; i++) {
		unsigned char ch = (unsigned char)key[i];
		if (unreserved(ch) || ch == '/') {
			url[w++] = (char)ch;
		} else {
			url[w++] = '%';
			url[w++] = hex[ch >> 4];
			url[w++] = hex[ch & 15];
		}
	}
	url[w] = '\0';
	return url;
}

int s3_inflight(const struct s3_client *c)
{
	return c ? curlm_inflight(c->m) : 0;
}

/* ---- transfers ---- */

static void xfer_free(struct s3_xfer *x)
{
	if (x->easy && !x->cx)
		curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->headers);
	free(x->key);
	free(x->data);
	free(x->resp);
	free(x);
}

/* The S3 error code of an XML error body, for the log. */
static void error_code(const char *body, size_t len, char *out, size_t outlen)
{
	out[0] = '\0';
	if (!body || len == 0)
		return;
	const char *end = body + len;
	static const char open_tag[] = "<Code>";
	for (const char *p = body; p + sizeof(open_tag) - 1 < end; p++) {
		if (memcmp(p, open_tag, sizeof(open_tag) - 1) != 0)
			continue;
		p += sizeof(open_tag) - 1;
		size_t n = 0;
		while (p + n < end && p[n] != '<' && n + 1 < outlen)
			n++;
		memcpy(out, p, n);
		out[n] = '\0';
		return;
	}
}

/* A finished (or stopped) transfer: calls back unless cancelled, frees. */
static void xfer_finish(struct s3_xfer *x, CURLcode res, long status, const char *ctype)
{
	int err = (res != CURLE_OK || status < 200 || status > 299 || x->too_big) ? -1 : 0;
	if (err && !x->cancelled) {
		char code[64];
		if (res != CURLE_OK) {
			log_warn(NULL, "s3: %s %s: %s", x->method, x->key,
				 x->errbuf[0] ? x->errbuf : curl_easy_strerror(res));
		} else if (x->too_big) {
			log_warn(NULL, "s3: %s %s: the response is over %zu bytes", x->method,
				 x->key, x->rmax);
		} else if (!(status == 404 && strcmp(x->method, "GET") == 0)) {
			error_code(x->resp, x->rlen, code, sizeof(code));
			log_warn(NULL, "s3: %s %s: status %ld%s%s", x->method, x->key, status,
				 code[0] ? " " : "", code);
		}
	}
	if (!x->cancelled && x->cb)
		x->cb(x->arg, err, res == CURLE_OK ? status : 0, x->resp ? x->resp : "", x->rlen,
		      ctype);
	xfer_free(x);
}

/* curlm's completion of x (easy is valid during the call). */
static void xfer_done(void *arg, CURL *easy, CURLcode res)
{
	struct s3_xfer *x = arg;
	long status = 0;
	char *ct = NULL, ctype[256] = "";
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	if (curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
		snprintf(ctype, sizeof(ctype), "%s", ct);
	if (x->c->freeing && !x->cancelled)
		snprintf(x->errbuf, sizeof(x->errbuf), "stopped: the server is shutting down");
	xfer_finish(x, res, status, ctype[0] ? ctype : NULL);
}

static size_t read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct s3_xfer *x = arg;
	size_t n = size * nitems, left = x->len - x->off;
	if (n > left)
		n = left;
	if (n == 0)
		return 0;
	memcpy(buf, x->data + x->off, n);
	x->off += n;
	return n;
}

static int seek_cb(void *arg, curl_off_t offset, int origin)
{
	struct s3_xfer *x = arg;
	if (origin != SEEK_SET || offset < 0 || (size_t)offset > x->len)
		return CURL_SEEKFUNC_CANTSEEK;
	x->off = (size_t)offset;
	return CURL_SEEKFUNC_OK;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct s3_xfer *x = arg;
	size_t n = size * nmemb;
	if (x->rlen + n > x->rmax) {
		if (strcmp(x->method, "GET") != 0)
			return n; /* an error body kept for the log only: drop the rest */
		x->too_big = 1;
		return 0; /* a GET stops */
	}
	if (x->rlen + n + 1 > x->rcap) {
		size_t cap = x->rcap ? x->rcap : 4096;
		while (cap < x->rlen + n + 1)
			cap *= 2;
		char *p = realloc(x->resp, cap);
		if (!p)
			return 0;
		x->resp = p;
		x->rcap = cap;
	}
	memcpy(x->resp + x->rlen, data, n);
	x->rlen += n;
	x->resp[x->rlen] = '\0';
	return n;
}

static int add_header(struct s3_xfer *x, const char *name, const char *value)
{
	char line[1024];
	int n = snprintf(line, sizeof(line), "%s: %s", name, value);
	if (n < 0 || (size_t)n >= sizeof(line) || strpbrk(value, "\r\n"))
		return -1;
	struct curl_slist *l = curl_slist_append(x->headers, line);
	if (!l)
		return -1;
	x->headers = l;
	return 0;
}

/* A transfer of method on key, set up but not started. */
static struct s3_xfer *xfer_new(struct s3_client *c, const char *method, const char *key,
				const char *sha256_hex, s3_cb cb, void *arg)
{
	struct s3_xfer *x = calloc(1, sizeof(*x));
	char *url = NULL;
	if (!x)
		return NULL;
	x->c = c;
	x->method = method;
	x->cb = cb;
	x->arg = arg;
	x->rmax = S3_ERROR_BODY_MAX;
	x->key = strdup(key);
	x->easy = curl_easy_init();
	url = s3_object_url(c, key);
	if (!x->key || !x->easy || !url)
		goto fail;
	CURL *e = x->easy;
	int bad = 0;
	bad |= curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->timeout_ms) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
				c->timeout_ms < 10000 ? c->timeout_ms : 10000L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_AWS_SIGV4, c->sigv4) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_USERNAME, c->access_key) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_PASSWORD, c->secret_key) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, x) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf) != CURLE_OK;
	bad |= add_header(x, "x-amz-content-sha256", sha256_hex) < 0;
	free(url);
	url = NULL;
	if (bad)
		goto fail;
	return x;
fail:
	free(url);
	xfer_free(x);
	return NULL;
}

/* Hands x to curlm (the transfer starts from the loop). */
static struct s3_xfer *xfer_start(struct s3_client *c, struct s3_xfer *x)
{
	if (curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers) != CURLE_OK) {
		log_error(NULL, "s3: cannot start %s %s", x->method, x->key);
		xfer_free(x);
		return NULL;
	}
	/* curlm takes the easy handle, also when it fails (cleaned up then) */
	x->cx = curlm_add(c->m, x->easy, xfer_done, x);
	if (!x->cx) {
		log_error(NULL, "s3: cannot start %s %s", x->method, x->key);
		x->easy = NULL;
		xfer_free(x);
		return NULL;
	}
	return x;
}

static int valid_sha256_hex(const char *s)
{
	if (!s || strlen(s) != 64)
		return 0;
	for (int i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

struct s3_xfer *s3_put(struct s3_client *c, const char *key, void *data, size_t len,
		       const char *sha256_hex, const char *content_type, const char *disposition,
		       s3_cb cb, void *arg)
{
	if (!c || !key || !valid_sha256_hex(sha256_hex)) {
		free(data);
		return NULL;
	}
	struct s3_xfer *x = xfer_new(c, "PUT", key, sha256_hex, cb, arg);
	if (!x) {
		free(data);
		return NULL;
	}
	x->data = data;
	x->len = len;
	CURL *e = x->easy;
	int bad = 0;
	bad |= add_header(x, "Content-Type",
			  content_type ? content_type : "application/octet-stream") < 0;
	if (disposition)
		bad |= add_header(x, "Content-Disposition", disposition) < 0;
	if (c->acl)
		bad |= add_header(x, "x-amz-acl", c->acl) < 0;
	bad |= curl_easy_setopt(e, CURLOPT_UPLOAD, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_READDATA, x) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, seek_cb) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_SEEKDATA, x) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len) != CURLE_OK;
	if (bad) {
		log_error(NULL, "s3: cannot set up PUT %s", key);
		xfer_free(x);
		return NULL;
	}
	return xfer_start(c, x);
}

struct s3_xfer *s3_get(struct s3_client *c, const char *key, size_t max_bytes, s3_cb cb, void *arg)
{
	if (!c || !key)
		return NULL;
	struct s3_xfer *x = xfer_new(c, "GET", key, EMPTY_SHA256, cb, arg);
	if (!x)
		return NULL;
	x->rmax = max_bytes;
	if (curl_easy_setopt(x->easy, CURLOPT_HTTPGET, 1L) != CURLE_OK) {
		xfer_free(x);
		return NULL;
	}
	return xfer_start(c, x);
}

struct s3_xfer *s3_delete(struct s3_client *c, const char *key, s3_cb cb, void *arg)
{
	if (!c || !key)
		return NULL;
	struct s3_xfer *x = xfer_new(c, "DELETE", key, EMPTY_SHA256, cb, arg);
	if (!x)
		return NULL;
	if (curl_easy_setopt(x->easy, CURLOPT_CUSTOMREQUEST, "DELETE") != CURLE_OK) {
		xfer_free(x);
		return NULL;
	}
	return xfer_start(c, x);
}

void s3_cancel(struct s3_xfer *x)
{
	if (!x || x->cancelled)
		return;
	x->cancelled = 1;
	x->cb = NULL;
	x->arg = NULL;
	curlm_cancel(x->cx); /* its done frees x on a later loop turn */
}

/* ---- the client ---- */

/* Splits "scheme://hostport/prefix" into the client's fields. */
static int parse_endpoint(struct s3_client *c, const char *endpoint)
{
	const char *sep = strstr(endpoint, "://");
	if (!sep)
		return -1;
	size_t slen = (size_t)(sep - endpoint);
	if (!((slen == 4 && strncasecmp(endpoint, "http", 4) == 0) ||
	      (slen == 5 && strncasecmp(endpoint, "https", 5) == 0)))
		return -1;
	c->scheme = strndup(endpoint, slen);
	const char *host = sep + 3;
	size_t hlen = strcspn(host, "/?#");
	if (hlen == 0 || memchr(host, '@', hlen))
		return -1;
	c->hostport = strndup(host, hlen);
	const char *path = host + hlen;
	if (*path == '?' || *path == '#')
		return -1;
	size_t plen = strlen(path);
	while (plen > 0 && path[plen - 1] == '/')
		plen--;
	c->prefix = strndup(path, plen);
	if (!c->scheme || !c->hostport || !c->prefix)
		return -1;
	for (char *p = c->scheme; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	return 0;
}

struct s3_client *s3_client_new(struct event_base *base, const struct s3_config *cfg)
{
	if (!cfg->endpoint || !cfg->bucket || !*cfg->bucket || !cfg->access_key ||
	    !cfg->secret_key || !cfg->region || !*cfg->region) {
		log_error(NULL, "s3: endpoint, bucket, region and keys are required");
		return NULL;
	}
	struct s3_client *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->path_style = cfg->path_style;
	c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 20000;
	if (parse_endpoint(c, cfg->endpoint) < 0) {
		log_error(NULL, "s3: S3_ENDPOINT must be http(s)://host[:port][/path], got %s",
			  cfg->endpoint);
		goto fail;
	}
	size_t n = strlen(cfg->region) + 16;
	c->sigv4 = malloc(n);
	c->bucket = xstrdup(cfg->bucket);
	c->access_key = xstrdup(cfg->access_key);
	c->secret_key = xstrdup(cfg->secret_key);
	c->acl = cfg->acl && *cfg->acl ? xstrdup(cfg->acl) : NULL;
	if (!c->sigv4 || !c->bucket || !c->access_key || !c->secret_key ||
	    (cfg->acl && *cfg->acl && !c->acl))
		goto fail;
	snprintf(c->sigv4, n, "aws:amz:%s:s3", cfg->region);
	c->m = curlm_new(base, 64);
	if (!c->m)
		goto fail;
	return c;
fail:
	s3_client_free(c);
	return NULL;
}

void s3_client_free(struct s3_client *c)
{
	if (!c)
		return;
	/* transfers still in flight end now: their owners hear of it */
	c->freeing = 1;
	curlm_free(c->m);
	free(c->scheme);
	free(c->hostport);
	free(c->prefix);
	free(c->bucket);
	free(c->sigv4);
	free(c->access_key);
	if (c->secret_key)
		memset(c->secret_key, 0, strlen(c->secret_key));
	free(c->secret_key);
	free(c->acl);
	free(c);
}
