/*
 * config: one table of settings {name, kind, target, default, limits, help},
 * filled from defaults and then the environment, validated at start-up.
 *
 * Owns: `cfg` and the strings in it. Never: exits or logs; the caller prints
 * the one-line error config_load writes.
 */
#include "core/config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

struct config cfg;

enum setting_kind {
	SET_STR,    /* char * */
	SET_INT,    /* int within [min, max] */
	SET_LONG,   /* long within [min, max] */
	SET_BOOL,   /* int: on/off, true/false, 1/0, yes/no */
	SET_LEVEL,  /* int: log level name */
	SET_FORMAT, /* int: text|json */
	SET_CIDRS,  /* struct cidr_list */
};

struct setting {
	const char *name; /* environment variable */
	int kind;	  /* enum setting_kind */
	void *target;	  /* field of cfg */
	const char *def;  /* default as text; NULL: unset */
	long min, max;	  /* bounds for numbers */
	const char *help; /* one line for --help */
};

#define MIB (1024L * 1024L)

static const struct setting settings[] = {
    {"HOST", SET_STR, &cfg.host, "127.0.0.1", 0, 0, "address to listen on"},
    {"PORT", SET_INT, &cfg.port, "8080", 1, 65535, "TCP port to listen on"},
    {"PUBLIC_URL", SET_STR, &cfg.public_url, NULL, 0, 0,
     "absolute base URL of this server (default http://HOST:PORT)"},
    {"DATABASE_URL", SET_STR, &cfg.database_url, NULL, 0, 0,
     "PostgreSQL URL or conninfo (make run starts a private cluster when unset)"},
    {"WORKERS", SET_INT, &cfg.workers, "1", 1, 256,
     "worker processes sharing the port (also --workers N)"},
    {"PG_POOL_SIZE", SET_INT, &cfg.pg_pool_size, "2", 1, 256, "PostgreSQL connections per worker"},
    {"PG_PIPELINE", SET_BOOL, &cfg.pg_pipeline, "on", 0, 0,
     "pipeline mode: batch independent reads on one connection (on|off)"},
    {"PG_QUEUE_MAX", SET_INT, &cfg.pg_queue_max, "4096", 1, 1000000,
     "queries waiting for a connection before new ones get 503"},
    {"PG_STATEMENT_TIMEOUT_MS", SET_INT, &cfg.pg_statement_timeout_ms, "10000", 0, 3600000,
     "statement_timeout of every connection (0: none)"},
    {"PG_GENERIC_PLANS", SET_BOOL, &cfg.pg_generic_plans, "on", 0, 0,
     "plan each prepared statement once, for any parameters (plan_cache_mode)"},
    {"REQUEST_TIMEOUT_MS", SET_INT, &cfg.request_timeout_ms, "30000", 10, 3600000,
     "deadline of a request, then 504"},
    {"SLOW_REQUEST_MS", SET_INT, &cfg.slow_request_ms, "1000", 0, 3600000,
     "requests slower are logged (warn) with their time in the database (0: off)"},
    {"BODY_MAX_BYTES", SET_LONG, &cfg.body_max_bytes, "1048576", 1024, 1024 * MIB,
     "largest request body outside uploads, then 413"},
    {"UPLOAD_MAX_BYTES", SET_LONG, &cfg.upload_max_bytes, "20971520", 1024, 4096 * MIB,
     "largest uploaded file, then 413"},
    {"MAX_PAGE_SIZE", SET_INT, &cfg.max_page_size, "1000", 1, 1000000,
     "largest page[size] of a list"},
    {"LARGE_LIST_ROWS", SET_INT, &cfg.large_list_rows, "100", 1, 1000000,
     "a list page of more rows (or page[size]=0) is large"},
    {"LARGE_LISTS_MAX", SET_INT, &cfg.large_lists_max, "1", 1, 10000,
     "large lists a worker builds at once; more wait their turn"},
    {"LIST_CACHE_BYTES", SET_LONG, &cfg.list_cache_bytes, "4194304", 0, 4096 * MIB,
     "memory per worker for documents of anonymous event lists (0: off)"},
    {"SECRET_KEY", SET_STR, &cfg.secret_key, NULL, 0, 0,
     "key signing tokens, at least 32 bytes (required; make run generates one)"},
    {"JWT_TTL_S", SET_INT, &cfg.jwt_ttl_s, "86400", 60, 365 * 86400,
     "lifetime of access tokens in seconds"},
    {"TRUSTED_PROXIES", SET_CIDRS, &cfg.trusted_proxies, "", 0, 0,
     "comma-separated CIDRs of proxies whose X-Forwarded-For is believed"},
    {"LOG_LEVEL", SET_LEVEL, &cfg.log_level, "info", 0, 0, "debug|info|warn|error"},
    {"LOG_FORMAT", SET_FORMAT, &cfg.log_format, "text", 0, 0, "text|json"},
    {"SHUTDOWN_GRACE_MS", SET_INT, &cfg.shutdown_grace_ms, "10000", 0, 600000,
     "on SIGTERM/SIGINT, time given to requests in flight"},
    {"LISTEN_BACKLOG", SET_INT, &cfg.listen_backlog, "1024", 16, 65535, "listen(2) backlog"},
    {"AUTH_CACHE_TTL_MS", SET_INT, &cfg.auth_cache_ttl_ms, "30000", 0, 30000,
     "how long a user's status (admin, blocked, deleted) is cached per worker"},
    {"SOFT_DELETE", SET_BOOL, &cfg.soft_delete, "on", 0, 0,
     "DELETE trashes rows of soft-deletable types (off: every DELETE purges)"},
    {"SOFT_DELETE_OFF", SET_STR, &cfg.soft_delete_off, "", 0, 0,
     "comma-separated types whose DELETE purges (e.g. sponsor,social-link)"},
    {"TRASH_RETENTION_DAYS", SET_INT, &cfg.trash_retention_days, "30", 1, 36500,
     "rows trashed longer ago are purged by the periodic job"},
    {"UPLOAD_DIR", SET_STR, &cfg.upload_dir, "./var/uploads", 0, 0,
     "directory of uploaded files when S3 is not configured, served under /static/"},
    {"S3_ENDPOINT", SET_STR, &cfg.s3_endpoint, NULL, 0, 0,
     "S3 API base URL, e.g. https://s3.eu-west-1.amazonaws.com (with S3_BUCKET: uploads go to S3)"},
    {"S3_BUCKET", SET_STR, &cfg.s3_bucket, NULL, 0, 0,
     "S3 bucket of uploaded files (unset: the local UPLOAD_DIR)"},
    {"S3_REGION", SET_STR, &cfg.s3_region, "us-east-1", 0, 0, "S3 region, for SigV4 signing"},
    {"S3_ACCESS_KEY", SET_STR, &cfg.s3_access_key, NULL, 0, 0, "S3 access key id"},
    {"S3_SECRET_KEY", SET_STR, &cfg.s3_secret_key, NULL, 0, 0, "S3 secret access key"},
    {"S3_PATH_STYLE", SET_BOOL, &cfg.s3_path_style, "on", 0, 0,
     "S3 URLs ENDPOINT/BUCKET/KEY (on) or BUCKET.ENDPOINT-HOST/KEY (off)"},
    {"S3_ACL", SET_STR, &cfg.s3_acl, NULL, 0, 0,
     "canned ACL sent with stored objects, e.g. public-read (unset: the bucket's default)"},
    {"S3_PUBLIC_URL", SET_STR, &cfg.s3_public_url, NULL, 0, 0,
     "base URL of stored objects in answers, e.g. a CDN (default: the S3 object URL)"},
    {"S3_TIMEOUT_MS", SET_INT, &cfg.s3_timeout_ms, "20000", 100, 3600000,
     "limit of one S3 transfer, then the upload answers 502"},
    {"REDIS_URL", SET_STR, &cfg.redis_url, NULL, 0, 0,
     "redis://[:password@]host[:port][/db] dispatching tasks to every instance and worker "
     "(unset: tasks run on each process's own loop)"},
    {"SIGNALS", SET_BOOL, &cfg.signals, "on", 0, 0,
     "deliver signals (version counters, export regeneration) after writes (on|off)"},
    {"TASK_VISIBILITY_TIMEOUT_S", SET_INT, &cfg.task_visibility_timeout_s, "300", 1, 86400,
     "a task not finished this long after it started (or was due) is dispatched again"},
    {"TASK_MAX_RETRIES", SET_INT, &cfg.task_max_retries, "5", 0, 100,
     "retries of a failed task, with exponential backoff, before FAILURE"},
    {"TASK_RESULT_TTL_S", SET_INT, &cfg.task_result_ttl_s, "86400", 1, 365 * 86400,
     "how long finished tasks and their results are kept"},
    {"TASK_CONSUMER", SET_BOOL, &cfg.task_consumer, "on", 0, 0,
     "serve processes run tasks too (off: only `worker` processes do; needs REDIS_URL)"},
    {"SMTP_URL", SET_STR, &cfg.smtp_url, NULL, 0, 0,
     "smtp://[user:password@]host[:port] or smtps://... for account mails (unset: mails are "
     "logged, their links at debug level only)"},
    {"MAIL_FROM", SET_STR, &cfg.mail_from, NULL, 0, 0,
     "sender of account mails, address or \"Name <address>\" (default noreply@ the host of "
     "PUBLIC_URL)"},
    {"LOGIN_MAX_FAILURES", SET_INT, &cfg.login_max_failures, "10", 1, 1000000,
     "failed sign-ins per email and per client address within LOGIN_WINDOW_S, then 429"},
    {"LOGIN_WINDOW_S", SET_INT, &cfg.login_window_s, "300", 1, 86400,
     "window of LOGIN_MAX_FAILURES in seconds"},
    {"PASSWORD_HASHES_MAX", SET_INT, &cfg.password_hashes_max, "1", 1, 64,
     "argon2id hashes (sign-ins, new passwords) running at once per worker, 19 MiB each; the "
     "others wait their turn"},
    {"DOCS_DIR", SET_STR, &cfg.docs_dir, "docs/api/build", 0, 0,
     "directory of the rendered API documentation served at /docs"},
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

static int parse_long(const char *v, long min, long max, long *out)
{
	char *end;
	errno = 0;
	if (*v == '\0' || *v == ' ')
		return -1;
	long n = strtol(v, &end, 10);
	if (errno || *end != '\0' || n < min || n > max)
		return -1;
	*out = n;
	return 0;
}

static int parse_bool(const char *v)
{
	static const char *const yes[] = {"on", "true", "1", "yes"};
	static const char *const no[] = {"off", "false", "0", "no"};
	for (int i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return 1;
		if (strcasecmp(v, no[i]) == 0)
			return 0;
	}
	return -1;
}

static int apply(const struct setting *s, const char *v, char *err, size_t errlen)
{
	long n;
	int b;
	switch (s->kind) {
	case SET_STR: {
		char **p = s->target;
		free(*p);
		*p = v ? strdup(v) : NULL;
		return 0;
	}
	case SET_INT:
	case SET_LONG:
		if (parse_long(v, s->min, s->max, &n) < 0) {
			snprintf(err, errlen,
				 "invalid %s=\"%.40s\": expected an integer from %ld to %ld",
				 s->name, v, s->min, s->max);
			return -1;
		}
		if (s->kind == SET_INT)
			*(int *)s->target = (int)n;
		else
			*(long *)s->target = n;
		return 0;
	case SET_BOOL:
		if ((b = parse_bool(v)) < 0) {
			snprintf(err, errlen, "invalid %s=\"%.40s\": expected on or off", s->name,
				 v);
			return -1;
		}
		*(int *)s->target = b;
		return 0;
	case SET_LEVEL:
		if ((b = log_level_parse(v)) < 0) {
			snprintf(err, errlen,
				 "invalid %s=\"%.40s\": expected debug, info, warn or error",
				 s->name, v);
			return -1;
		}
		*(int *)s->target = b;
		return 0;
	case SET_FORMAT:
		if (strcmp(v, "text") == 0)
			b = LOG_FORMAT_TEXT;
		else if (strcmp(v, "json") == 0)
			b = LOG_FORMAT_JSON;
		else {
			snprintf(err, errlen, "invalid %s=\"%.40s\": expected text or json",
				 s->name, v);
			return -1;
		}
		*(int *)s->target = b;
		return 0;
	case SET_CIDRS: {
		struct cidr_list l = {0};
		if (cidr_list_parse(&l, v) < 0) {
			snprintf(err, errlen,
				 "invalid %s=\"%.60s\": expected comma-separated CIDRs", s->name,
				 v);
			return -1;
		}
		cidr_list_free(s->target);
		*(struct cidr_list *)s->target = l;
		return 0;
	}
	}
	return -1;
}

int config_set(const char *name, const char *value, char *err, size_t errlen)
{
	for (size_t i = 0; i < NSETTINGS; i++)
		if (strcmp(settings[i].name, name) == 0)
			return apply(&settings[i], value, err, errlen);
	snprintf(err, errlen, "unknown setting %s", name);
	return -1;
}

int config_load(char *(*getenv_fn)(const char *), int need_secret, char *err, size_t errlen)
{
	if (!getenv_fn)
		getenv_fn = getenv;
	config_free();
	for (size_t i = 0; i < NSETTINGS; i++) {
		const struct setting *s = &settings[i];
		const char *v = getenv_fn(s->name);
		if (v && *v == '\0' && s->kind != SET_STR && s->kind != SET_CIDRS)
			v = NULL; /* an empty number means "default" */
		if (!v)
			v = s->def;
		if (!v && s->kind == SET_STR)
			continue;
		if (apply(s, v, err, errlen) < 0)
			return -1;
	}
	if (cfg.redis_url && cfg.redis_url[0] == '\0') {
		free(cfg.redis_url);
		cfg.redis_url = NULL;
	}
	if (cfg.database_url && cfg.database_url[0] == '\0') {
		free(cfg.database_url);
		cfg.database_url = NULL;
	}
	if (need_secret) {
		if (!cfg.secret_key || cfg.secret_key[0] == '\0') {
			snprintf(err, errlen, "SECRET_KEY is required (at least 32 bytes)");
			return -1;
		}
		if (strlen(cfg.secret_key) < 32) {
			snprintf(err, errlen,
				 "SECRET_KEY is too short: %zu bytes, at least 32 needed",
				 strlen(cfg.secret_key));
			return -1;
		}
	}
	if (!cfg.public_url || cfg.public_url[0] == '\0') {
		char buf[512];
		int v6 = strchr(cfg.host, ':') != NULL;
		snprintf(buf, sizeof(buf), "http://%s%s%s:%d", v6 ? "[" : "", cfg.host,
			 v6 ? "]" : "", cfg.port);
		free(cfg.public_url);
		cfg.public_url = strdup(buf);
	} else {
		size_t n = strlen(cfg.public_url);
		while (n > 0 && cfg.public_url[n - 1] == '/')
			cfg.public_url[--n] = '\0';
	}
	return 0;
}

void config_print_help(FILE *out)
{
	fprintf(out, "Settings (environment variables):\n");
	for (size_t i = 0; i < NSETTINGS; i++) {
		const struct setting *s = &settings[i];
		fprintf(out, "  %-24s %s", s->name, s->help);
		if (s->def && *s->def)
			fprintf(out, " [default: %s]", s->def);
		fputc('\n', out);
	}
}

void config_free(void)
{
	for (size_t i = 0; i < NSETTINGS; i++) {
		if (settings[i].kind == SET_STR) {
			char **p = settings[i].target;
			free(*p);
			*p = NULL;
		} else if (settings[i].kind == SET_CIDRS) {
			cidr_list_free(settings[i].target);
		}
	}
}
