/*
 * config: the one table of settings, read from the environment (and a few
 * command-line flags), validated once at start-up.
 *
 * Owns: the global `struct config` filled by config_load().
 * Never: reads the environment after start-up, or exits by itself (callers
 * decide; config_load reports the first bad setting in one line).
 */
#ifndef OES_CONFIG_H
#define OES_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "core/cidr.h"

enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

struct config {
	char *host;			  /* HOST: address to bind */
	int port;			  /* PORT */
	char *public_url;		  /* PUBLIC_URL: absolute base for stored files */
	char *database_url;		  /* DATABASE_URL: libpq URL or conninfo */
	int workers;			  /* --workers / WORKERS: forked processes */
	int pg_pool_size;		  /* PG_POOL_SIZE: connections per worker */
	int pg_pipeline;		  /* PG_PIPELINE: 1 = pipeline mode */
	int pg_queue_max;		  /* PG_QUEUE_MAX: queued queries before 503 */
	int pg_statement_timeout_ms;	  /* PG_STATEMENT_TIMEOUT_MS */
	int pg_generic_plans;		  /* PG_GENERIC_PLANS: plan_cache_mode */
	int request_timeout_ms;		  /* REQUEST_TIMEOUT_MS: deadline, then 504 */
	int slow_request_ms;		  /* SLOW_REQUEST_MS: log requests slower (0: off) */
	long body_max_bytes;		  /* BODY_MAX_BYTES */
	long upload_max_bytes;		  /* UPLOAD_MAX_BYTES */
	int max_page_size;		  /* MAX_PAGE_SIZE */
	int large_list_rows;		  /* LARGE_LIST_ROWS: a list larger is "large" */
	int large_lists_max;		  /* LARGE_LISTS_MAX: large lists built at once */
	long list_cache_bytes;		  /* LIST_CACHE_BYTES: budget of core/listcache */
	char *secret_key;		  /* SECRET_KEY: >= 32 bytes */
	int jwt_ttl_s;			  /* JWT_TTL_S */
	struct cidr_list trusted_proxies; /* TRUSTED_PROXIES */
	int log_level;			  /* LOG_LEVEL as enum log_level */
	int log_format;			  /* LOG_FORMAT as enum log_format */
	int shutdown_grace_ms;		  /* SHUTDOWN_GRACE_MS: drain limit on SIGTERM */
	int listen_backlog;		  /* LISTEN_BACKLOG */
	char *docs_dir;			  /* DOCS_DIR: rendered API docs served at /docs */
	int auth_cache_ttl_ms;		  /* AUTH_CACHE_TTL_MS: users' status cached per worker */
	int soft_delete;		  /* SOFT_DELETE: DELETE trashes soft-deletable types */
	char *soft_delete_off;		  /* SOFT_DELETE_OFF: types whose DELETE purges */
	int trash_retention_days;	  /* TRASH_RETENTION_DAYS: purge older trash */
	char *
	    smtp_url; /* SMTP_URL: smtp(s)://[user:password@]host[:port] (NULL: mails are logged) */
	char *mail_from;	/* MAIL_FROM: sender of account mails */
	int login_max_failures; /* LOGIN_MAX_FAILURES: failed sign-ins per email and per address per
				   window */
	int login_window_s;	/* LOGIN_WINDOW_S: that window in seconds */
	int password_hashes_max;       /* PASSWORD_HASHES_MAX: argon2id hashes at once */
	char *redis_url;	       /* REDIS_URL: task dispatch through Redis (NULL: local) */
	int signals;		       /* SIGNALS: deliver signals to their receivers */
	int task_visibility_timeout_s; /* TASK_VISIBILITY_TIMEOUT_S: sweep unfinished tasks */
	int task_max_retries;	       /* TASK_MAX_RETRIES: retries after a failure */
	int task_result_ttl_s;	       /* TASK_RESULT_TTL_S: finished tasks kept */
	int task_consumer;	       /* TASK_CONSUMER: serve processes run tasks too */
	char *upload_dir;	       /* UPLOAD_DIR: local storage, served under /static/ */
	char *s3_endpoint;	       /* S3_ENDPOINT: S3 API base URL */
	char *s3_bucket;	       /* S3_BUCKET: with S3_ENDPOINT, store in S3 */
	char *s3_region;	       /* S3_REGION: SigV4 signing region */
	char *s3_access_key;	       /* S3_ACCESS_KEY */
	char *s3_secret_key;	       /* S3_SECRET_KEY */
	int s3_path_style;	       /* S3_PATH_STYLE: endpoint/bucket/key URLs */
	char *s3_acl;		       /* S3_ACL: canned ACL of stored objects */
	char *s3_public_url;	       /* S3_PUBLIC_URL: base URL of stored objects */
	int s3_timeout_ms;	       /* S3_TIMEOUT_MS: limit of one S3 transfer */
};

extern struct config cfg;

/*
 * Fills `cfg` from defaults, then the environment, through getenv_fn (NULL:
 * getenv). need_secret: whether SECRET_KEY is required (serve). On error
 * writes one line naming the setting into err and returns -1.
 */
int config_load(char *(*getenv_fn)(const char *), int need_secret, char *err, size_t errlen);

/* Sets one setting by its name, as from the environment. 0 or -1 + err. */
int config_set(const char *name, const char *value, char *err, size_t errlen);

/* Prints every setting with its default and help text. */
void config_print_help(FILE *out);

/* Frees the strings config_load allocated. */
void config_free(void);

#endif
