/*
 * mail: the `mail.send` task and its SMTP transfer (see mail.h).
 *
 * A run: load the user -> (links) store the hash of a fresh token -> build
 * the message -> SMTP transfer through curlm (or the log) -> succeed. Each
 * step is one operation of the run; the run's state (struct job) is the
 * run's data, so a run the task system drops (deadline, shutdown) frees it
 * through job_free. The message and what curl reads live in a struct send
 * of their own, owned by the transfer until its completion callback: a
 * dropped run detaches itself from it and cancels it, and the callback
 * (which curlm always runs, later) frees it.
 */
#include "core/mail.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <sodium.h>

#include "core/curlm.h"
#include "core/log.h"
#include "core/pg_pool.h"
#include "tasks/tasks.h"

#define MAIL_TIMEOUT_MS	  60000 /* one SMTP transfer, connect included */
#define MAIL_CONNECT_MS	  10000 /* its connect */
#define TOKEN_BYTES	  32	/* random bytes of a link's token (256 bits) */
#define MESSAGE_MAX_BYTES 16384

static const char user_by_id_sql[] =
    "SELECT id, email, is_verified, is_blocked FROM users WHERE id = $1::bigint "
    "AND deleted_at IS NULL";
static const char user_by_email_sql[] =
    "SELECT id, email, is_verified, is_blocked FROM users WHERE lower(email) = lower($1) "
    "AND deleted_at IS NULL LIMIT 1";
/* the user's expired tokens go with each new one */
static const char store_token_sql[] =
    "WITH gone AS (DELETE FROM account_tokens WHERE user_id = $2::bigint "
    "AND expires_at < now()) "
    "INSERT INTO account_tokens (token_hash, user_id, purpose, email, expires_at) "
    "VALUES ($1, $2::bigint, $3, $4, now() + make_interval(secs => $5::int))";

struct kind {
	const char *name;    /* payload "kind" */
	const char *subject; /* Subject: header */
	const char *path;    /* link path, NULL: no link */
	int ttl_s;	     /* link lifetime */
	const char *text;    /* plain-text body: %s is the link (or nothing) */
	const char *html;    /* HTML body: %s is the link (HTML-escaped), twice */
};

static const struct kind kinds[] = {
    {MAIL_VERIFY_EMAIL, "Please verify your email address", "/verify?token=", MAIL_VERIFY_TTL_S,
     "Hello,\r\n\r\nplease confirm that this is your email address by opening this link "
     "within 24 hours:\r\n\r\n%s\r\n\r\nIf you did not sign up, ignore this message.\r\n",
     "<!DOCTYPE html>\r\n<html><body>\r\n<p>Hello,</p>\r\n<p>please confirm that this is your "
     "email address by opening this link within 24 hours:</p>\r\n<p><a href=\"%s\">%s</a></p>"
     "\r\n<p>If you did not sign up, ignore this message.</p>\r\n</body></html>\r\n"},
    {MAIL_RESET_PASSWORD, "Reset your password", "/reset-password?token=", MAIL_RESET_TTL_S,
     "Hello,\r\n\r\nsomeone asked to reset the password of the account with this address. "
     "To choose a new password, open this link within one hour (it works once):\r\n\r\n"
     "%s\r\n\r\nIf you did not ask for it, ignore this message: your password stays as it "
     "is.\r\n",
     "<!DOCTYPE html>\r\n<html><body>\r\n<p>Hello,</p>\r\n<p>someone asked to reset the "
     "password of the account with this address. To choose a new password, open this link "
     "within one hour (it works once):</p>\r\n<p><a href=\"%s\">%s</a></p>\r\n<p>If you did "
     "not ask for it, ignore this message: your password stays as it is.</p>\r\n"
     "</body></html>\r\n"},
    {MAIL_PASSWORD_CHANGED, "Your password was changed", NULL, 0,
     "Hello,\r\n\r\nthe password of your account was just changed, and every session signed "
     "in before was signed out.%s\r\n\r\nIf this was not you, reset your password at once.\r\n",
     "<!DOCTYPE html>\r\n<html><body>\r\n<p>Hello,</p>\r\n<p>the password of your account was "
     "just changed, and every session signed in before was signed out.%s%s</p>\r\n<p>If this "
     "was not you, reset your password at once.</p>\r\n</body></html>\r\n"},
};

static struct {
	struct event_base *base;
	struct curlm *multi; /* NULL when SMTP_URL is unset */
	char *smtp_url;	     /* NULL: log instead */
	char *from_header;   /* From: as configured */
	char *from_addr;     /* the envelope sender */
	char *from_domain;   /* for Message-ID */
	char *link_base;     /* links start with it, no trailing '/' */
	int ready;	     /* mail_init ran */
} m;

struct send;

/* One run's state (the run's data). */
struct job {
	struct task_run *run;		  /* the run */
	const struct kind *kind;	  /* what to send */
	long long user_id;		  /* the recipient */
	char email[MAIL_ADDRESS_MAX + 1]; /* their address */
	char token[64];			  /* the link's token ("" when none), wiped when freed */
	char *msg;			  /* the message, until handed to a send */
	size_t len;			  /* its length */
	struct send *send;		  /* the transfer in flight, or NULL */
};

/* One SMTP transfer: what curl reads and writes, owned by the transfer. */
struct send {
	struct job *job;	      /* NULL once the run was dropped */
	struct curlm_xfer *xfer;      /* the transfer */
	char *msg;		      /* the message (wiped when freed) */
	size_t len, off;	      /* its length, and what curl has read */
	struct curl_slist *rcpt;      /* the envelope recipient */
	char errbuf[CURL_ERROR_SIZE]; /* curl's message */
};

static void send_free(struct send *s)
{
	if (s->msg) {
		sodium_memzero(s->msg, s->len);
		free(s->msg);
	}
	curl_slist_free_all(s->rcpt);
	free(s);
}

static void job_free(void *p)
{
	struct job *j = p;
	if (!j)
		return;
	if (j->send) { /* the run was dropped mid-transfer: sent() frees it */
		j->send->job = NULL;
		curlm_cancel(j->send->xfer);
	}
	if (j->msg) {
		sodium_memzero(j->msg, j->len);
		free(j->msg);
	}
	sodium_memzero(j->token, sizeof(j->token));
	free(j);
}

/* ---- pure helpers ---- */

void mail_token_hash(const char *token, size_t len, char out[65])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, (const unsigned char *)token, len);
	sodium_bin2hex(out, 65, h, sizeof(h));
}

static const struct kind *find_kind(const char *name)
{
	for (size_t i = 0; name && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(kinds[i].name, name) == 0)
			return &kinds[i];
	return NULL;
}

/* Appends to a growing buffer; -1 when it would pass MESSAGE_MAX_BYTES. */
struct buf {
	char *p;
	size_t len, cap;
};

static int put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->cap - b->len)
		return -1;
	b->len += (size_t)n;
	return 0;
}

/* s with & < > " escaped (for the HTML body). Caller frees. */
static char *html_escape(const char *s)
{
	size_t n = 1;
	for (const char *p = s; *p; p++)
		n += (*p == '&' || *p == '<' || *p == '>' || *p == '"') ? 6 : 1;
	char *out = malloc(n), *o = out;
	if (!out)
		return NULL;
	for (const char *p = s; *p; p++) {
		const char *e = *p == '&'   ? "&amp;"
				: *p == '<' ? "&lt;"
				: *p == '>' ? "&gt;"
				: *p == '"' ? "&quot;"
					    : NULL;
		if (e) {
			size_t k = strlen(e);
			memcpy(o, e, k);
			o += k;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return out;
}

/* Builds the message of j into j->msg. 0/-1. */
static int build_message(struct job *j)
{
	char link[1024] = "";
	if (j->kind->path) {
		int n =
		    snprintf(link, sizeof(link), "%s%s%s", m.link_base, j->kind->path, j->token);
		if (n < 0 || (size_t)n >= sizeof(link))
			return -1;
	}
	char *hlink = html_escape(link);
	struct buf b = {malloc(MESSAGE_MAX_BYTES), 0, MESSAGE_MAX_BYTES};
	if (!hlink || !b.p) {
		free(hlink);
		free(b.p);
		return -1;
	}
	unsigned char rnd[16];
	char boundary[40], msgid[40], date[64];
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(msgid, sizeof(msgid), rnd, sizeof(rnd));
	randombytes_buf(rnd, 12);
	memcpy(boundary, "=_", 2);
	sodium_bin2hex(boundary + 2, sizeof(boundary) - 2, rnd, 12);
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	int bad = 0;
	bad |= put(&b,
		   "Date: %s\r\nFrom: %s\r\nTo: <%s>\r\nSubject: %s\r\n"
		   "Message-ID: <%s@%s>\r\nMIME-Version: 1.0\r\nAuto-Submitted: auto-generated\r\n"
		   "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n"
		   "This is a message in MIME format.\r\n\r\n",
		   date, m.from_header, j->email, j->kind->subject, msgid, m.from_domain, boundary);
	bad |= put(&b,
		   "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n"
		   "Content-Transfer-Encoding: 8bit\r\n\r\n",
		   boundary);
	bad |= put(&b, j->kind->text, link);
	bad |= put(&b,
		   "\r\n--%s\r\nContent-Type: text/html; charset=utf-8\r\n"
		   "Content-Transfer-Encoding: 8bit\r\n\r\n",
		   boundary);
	bad |= put(&b, j->kind->html, hlink, hlink);
	bad |= put(&b, "\r\n--%s--\r\n", boundary);
	sodium_memzero(link, sizeof(link));
	sodium_memzero(hlink, strlen(hlink));
	free(hlink);
	if (bad) {
		sodium_memzero(b.p, b.cap);
		free(b.p);
		return -1;
	}
	j->msg = b.p;
	j->len = b.len;
	return 0;
}

/* ---- the run ---- */

static void finish(struct job *j, int sent)
{
	struct json_object *r = json_object_new_object();
	json_object_object_add(r, "kind", json_object_new_string(j->kind->name));
	json_object_object_add(r, "sent", json_object_new_boolean(sent));
	if (j->user_id > 0)
		json_object_object_add(r, "user_id", json_object_new_int64(j->user_id));
	task_succeed(j->run, r);
}

static size_t read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct send *s = arg;
	size_t n = size * nitems, left = s->len - s->off;
	if (n > left)
		n = left;
	memcpy(buf, s->msg + s->off, n);
	s->off += n;
	return n;
}

/* curlm's completion callback: always runs, once. */
static void sent(void *arg, CURL *easy, CURLcode res)
{
	struct send *s = arg;
	struct job *j = s->job;
	/* the handle is out of the multi handle: detach our buffers before
	 * freeing them */
	char errbuf[CURL_ERROR_SIZE];
	memcpy(errbuf, s->errbuf, sizeof(errbuf));
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(easy, CURLOPT_READDATA, NULL);
	if (!j) { /* the run is gone */
		send_free(s);
		return;
	}
	j->send = NULL;
	long code = 0;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
	char why[CURL_ERROR_SIZE + 64];
	snprintf(why, sizeof(why), "SMTP: %s (last reply %ld)",
		 errbuf[0] ? errbuf : curl_easy_strerror(res), code);
	send_free(s);
	if (res == CURLE_OK) {
		log_info(NULL, "mail: %s mail to user %lld sent (task %s)", j->kind->name,
			 j->user_id, j->run->id);
		finish(j, 1);
		return;
	}
	log_warn(NULL, "mail: %s mail to user %lld not sent: %s", j->kind->name, j->user_id, why);
	/* 5xx: the server refuses this mail for good (a 4xx or no answer: retry) */
	task_fail(j->run, code >= 500 && code < 600, why);
}

static void transfer(struct job *j)
{
	if (!m.multi) {
		log_info(NULL,
			 "mail: %s mail to user %lld not sent: SMTP_URL is unset (the message is "
			 "logged at debug level only, since its link is a secret)",
			 j->kind->name, j->user_id);
		if (j->kind->path)
			log_debug(NULL,
				  "mail: [debug only, the link is a secret] to <%s>: %s: %s%s%s",
				  j->email, j->kind->subject, m.link_base, j->kind->path, j->token);
		else
			log_debug(NULL, "mail: [debug only] to <%s>: %s", j->email,
				  j->kind->subject);
		finish(j, 0);
		return;
	}
	char rcpt[MAIL_ADDRESS_MAX + 3], from[MAIL_ADDRESS_MAX + 3];
	snprintf(rcpt, sizeof(rcpt), "<%s>", j->email);
	snprintf(from, sizeof(from), "<%s>", m.from_addr);
	struct send *s = calloc(1, sizeof(*s));
	if (!s) {
		task_fail(j->run, 0, "out of memory");
		return;
	}
	s->msg = j->msg;
	s->len = j->len;
	j->msg = NULL;
	s->rcpt = curl_slist_append(NULL, rcpt);
	CURL *e = curl_easy_init();
	int bad = !s->rcpt || !e;
	if (e) {
		bad |= curl_easy_setopt(e, CURLOPT_URL, m.smtp_url) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps") != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_MAIL_FROM, from) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_MAIL_RCPT, s->rcpt) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_UPLOAD, 1L) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_READDATA, s) != CURLE_OK;
		bad |=
		    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)s->len) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)MAIL_TIMEOUT_MS) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)MAIL_CONNECT_MS) !=
		       CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf) != CURLE_OK;
		/* STARTTLS when the server offers it (smtps:// is TLS from the start) */
		bad |= curl_easy_setopt(e, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY) != CURLE_OK;
	}
	if (bad) {
		if (e)
			curl_easy_cleanup(e);
		send_free(s);
		task_fail(j->run, 0, "cannot set up the SMTP transfer");
		return;
	}
	s->job = j;
	s->xfer = curlm_add(m.multi, e, sent, s); /* takes e */
	if (!s->xfer) {
		send_free(s);
		task_fail(j->run, 0, "cannot start the SMTP transfer");
		return;
	}
	j->send = s;
}

static void token_stored(struct task_run *run, PGresult *res, int err)
{
	struct job *j = run->data;
	if (err != PG_OK) {
		task_fail(run, 0,
			  err == PG_ERR_QUERY ? PQresultErrorMessage(res) : "database unavailable");
		return;
	}
	if (build_message(j) < 0) {
		task_fail(run, 0, "cannot build the message");
		return;
	}
	transfer(j);
}

static void user_loaded(struct task_run *run, PGresult *res, int err)
{
	struct job *j = run->data;
	if (err != PG_OK) {
		task_fail(run, 0,
			  err == PG_ERR_QUERY ? PQresultErrorMessage(res) : "database unavailable");
		return;
	}
	if (PQntuples(res) != 1) {
		log_info(NULL, "mail: %s mail not sent: no such live user (task %s)", j->kind->name,
			 run->id);
		finish(j, 0);
		return;
	}
	j->user_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	const char *email = PQgetvalue(res, 0, 1);
	int verified = PQgetvalue(res, 0, 2)[0] == 't';
	int blocked = PQgetvalue(res, 0, 3)[0] == 't';
	if (blocked || (verified && strcmp(j->kind->name, MAIL_VERIFY_EMAIL) == 0)) {
		log_info(NULL, "mail: %s mail to user %lld not sent: the user is %s", j->kind->name,
			 j->user_id, blocked ? "blocked" : "verified already");
		finish(j, 0);
		return;
	}
	size_t len = (size_t)PQgetlength(res, 0, 1);
	if (!mail_address_ok(email, len)) {
		log_warn(NULL, "mail: %s mail to user %lld not sent: the address is not usable",
			 j->kind->name, j->user_id);
		task_fail(run, 1, "the user's address is not usable");
		return;
	}
	memcpy(j->email, email, len + 1);
	if (!j->kind->path) {
		token_stored(run, NULL, PG_OK);
		return;
	}
	unsigned char raw[TOKEN_BYTES];
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(j->token, sizeof(j->token), raw, sizeof(raw),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
	char hash[65], uid[24], ttl[16];
	mail_token_hash(j->token, strlen(j->token), hash);
	snprintf(uid, sizeof(uid), "%lld", j->user_id);
	snprintf(ttl, sizeof(ttl), "%d", j->kind->ttl_s);
	const char *params[5] = {hash, uid, j->kind->name, j->email, ttl};
	task_query(run, store_token_sql, 5, params, token_stored);
}

static void mail_task(struct task_run *run)
{
	const struct kind *k = find_kind(task_payload_str(run, "kind"));
	long long uid = task_payload_id(run, "user_id");
	const char *email = task_payload_str(run, "email");
	if (!k || (uid <= 0 && !email) || (uid <= 0 && strcmp(k->name, MAIL_RESET_PASSWORD) != 0)) {
		task_fail(run, 1, "payload needs a known kind and a user_id (or an email)");
		return;
	}
	if (uid <= 0 && !mail_address_ok(email, strlen(email))) {
		task_fail(run, 1, "the address is not usable");
		return;
	}
	struct job *j = calloc(1, sizeof(*j));
	if (!j) {
		task_fail(run, 0, "out of memory");
		return;
	}
	j->run = run;
	j->kind = k;
	run->data = j;
	run->data_free = job_free;
	char id[24];
	snprintf(id, sizeof(id), "%lld", uid);
	const char *params[1] = {uid > 0 ? id : email};
	task_query(run, uid > 0 ? user_by_id_sql : user_by_email_sql, 1, params, user_loaded);
}

/* ---- enqueueing ---- */

int mail_enqueue(const char *kind, long long user_id, const char *email, long long creator_id)
{
	if (!find_kind(kind))
		return -1;
	struct json_object *p = json_object_new_object();
	json_object_object_add(p, "kind", json_object_new_string(kind));
	if (user_id > 0)
		json_object_object_add(p, "user_id", json_object_new_int64(user_id));
	else if (email)
		json_object_object_add(p, "email", json_object_new_string(email));
	struct task_opts opts = {.creator_id = creator_id};
	int rc = tasks_enqueue(MAIL_TASK, p, &opts, NULL, NULL);
	json_object_put(p);
	if (rc < 0)
		log_warn(NULL, "mail: %s mail not enqueued", kind);
	return rc;
}

/* ---- life ---- */

/* The address inside "Name <addr>", or the whole value. Caller frees. */
static char *envelope_of(const char *from)
{
	const char *lt = strrchr(from, '<');
	if (!lt)
		return strdup(from);
	const char *gt = strchr(lt, '>');
	if (!gt || gt[1] != '\0')
		return NULL;
	return strndup(lt + 1, (size_t)(gt - lt - 1));
}

int mail_init(struct event_base *base, const char *smtp_url, const char *mail_from,
	      const char *link_base)
{
	mail_cleanup();
	m.base = base;
	const char *lb = link_base && *link_base ? link_base : "http://localhost";
	m.link_base = strdup(lb);
	if (!m.link_base)
		return -1;
	for (size_t n = strlen(m.link_base); n > 0 && m.link_base[n - 1] == '/'; n--)
		m.link_base[n - 1] = '\0';
	for (const char *p = m.link_base; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
			log_error(NULL, "mail: the base URL of links has control characters");
			return -1;
		}
	/* the domain of the links names the default sender and the Message-IDs */
	const char *host = strstr(m.link_base, "://");
	host = host ? host + 3 : m.link_base;
	size_t hlen = strcspn(host, ":/?#");
	m.from_domain = hlen ? strndup(host, hlen) : strdup("localhost");
	if (!m.from_domain)
		return -1;
	if (mail_from && *mail_from) {
		m.from_header = strdup(mail_from);
	} else {
		size_t n = strlen(m.from_domain) + 16;
		m.from_header = malloc(n);
		if (m.from_header)
			snprintf(m.from_header, n, "noreply@%s", m.from_domain);
	}
	if (!m.from_header)
		return -1;
	for (const char *p = m.from_header; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			log_error(NULL, "mail: MAIL_FROM has control characters");
			return -1;
		}
	m.from_addr = envelope_of(m.from_header);
	if (!m.from_addr || !mail_address_ok(m.from_addr, strlen(m.from_addr))) {
		log_error(NULL, "mail: MAIL_FROM must be an address or \"Name <address>\"");
		return -1;
	}
	if (smtp_url && *smtp_url) {
		if (strncasecmp(smtp_url, "smtp://", 7) != 0 &&
		    strncasecmp(smtp_url, "smtps://", 8) != 0) {
			log_error(NULL, "mail: SMTP_URL must start with smtp:// or smtps://");
			return -1;
		}
		m.smtp_url = strdup(smtp_url);
		m.multi = m.smtp_url ? curlm_new(base, 16) : NULL;
		if (!m.multi)
			return -1;
	}
	if (tasks_register(MAIL_TASK, mail_task) < 0)
		return -1;
	m.ready = 1;
	log_info(NULL, "mail: %s",
		 m.multi ? "sending through SMTP_URL"
			 : "SMTP_URL unset: mails are logged, not sent");
	return 0;
}

void mail_cleanup(void)
{
	curlm_free(m.multi);
	free(m.smtp_url);
	free(m.from_header);
	free(m.from_addr);
	free(m.from_domain);
	free(m.link_base);
	memset(&m, 0, sizeof(m));
}
