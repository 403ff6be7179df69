/*
 * main: the command line (serve, migrate, healthcheck, --help), the worker
 * processes and their supervisor, and the one event loop of each worker.
 *
 * Owns: start-up and shutdown order. Never: blocks once the loop runs; the
 * blocking calls here (migration check, healthcheck) run before it or in a
 * command that has no loop.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <libpq-fe.h>
#include <netdb.h>

#include "core/admin.h"
#include "core/app.h"
#include "core/auth.h"
#include "core/config.h"
#include "core/http.h"
#include "core/log.h"
#include "core/mail.h"
#include "core/metrics.h"
#include "core/migrate.h"
#include "core/mime.h"
#include "core/pg_pool.h"
#include "core/ratelimit.h"
#include "core/req_ctx.h"
#include "core/revocations.h"
#include "core/router.h"
#include "core/storage.h"
#include "core/workers.h"
#include "handlers/routes.h"
#include "signals/app_signals.h"
#include "signals/signals.h"
#include "tasks/periodic.h"
#include "tasks/task_worker.h"
#include "tasks/tasks.h"

struct app app;

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: open-event-server [serve] [--workers N]\n"
	    "       open-event-server migrate\n"
	    "       open-event-server healthcheck\n"
	    "       open-event-server create-admin EMAIL\n"
	    "       open-event-server purge-trash\n"
	    "       open-event-server worker\n"
	    "       open-event-server --help\n\n"
	    "  serve        run the HTTP server (the default)\n"
	    "  migrate      apply pending migrations from the embedded sql/ files\n"
	    "  healthcheck  exit 0 when GET /health-check of HOST:PORT answers 200\n"
	    "  create-admin create or promote a super admin (password from ADMIN_PASSWORD\n"
	    "               or one line of standard input)\n"
	    "  purge-trash  delete rows trashed more than TRASH_RETENTION_DAYS ago\n"
	    "  worker       run background tasks from Redis (REDIS_URL) without serving HTTP\n\n");
	config_print_help(out);
}

/* ---- one worker: the loop ---- */

static struct event *grace_timer;

static void stop_loop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
	if (req_ctx_inflight() > 0)
		log_warn(NULL, "shutdown: %ld requests still in flight after the grace period",
			 req_ctx_inflight());
	event_base_loopexit(app.base, NULL);
}

static void check_drained(void)
{
	if (app.shutting_down && req_ctx_inflight() == 0)
		event_base_loopexit(app.base, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct http_server *srv = arg;
	(void)what;
	if (app.shutting_down) {
		log_warn(NULL, "second signal: stopping now");
		event_base_loopbreak(app.base);
		return;
	}
	log_info(NULL, "%s: no longer accepting, draining %ld requests",
		 sig == SIGTERM ? "SIGTERM" : "SIGINT", req_ctx_inflight());
	app.shutting_down = 1;
	http_server_stop_accepting(srv);
	if (req_ctx_inflight() == 0) {
		event_base_loopexit(app.base, NULL);
		return;
	}
	grace_timer = evtimer_new(app.base, stop_loop, NULL);
	struct timeval tv = {cfg.shutdown_grace_ms / 1000, (cfg.shutdown_grace_ms % 1000) * 1000};
	if (grace_timer)
		evtimer_add(grace_timer, &tv);
}

/* The mail task and its SMTP transfers (also in `worker` processes). */
static int mail_setup(void)
{
	return mail_init(app.base, cfg.smtp_url, cfg.mail_from, cfg.public_url);
}

/*
 * Memory freed in the middle of the heap stays in the RSS: glibc gives back
 * only the top of it. Building lists leaves megabytes free between blocks
 * still in use (18.8 MB of RSS after a minute of list builds, 13.5 once
 * trimmed). Once a second, when at least TRIM_MIN_FREE lies free, the
 * worker hands whole free pages back (malloc_trim: 0.1-0.7 ms measured with
 * 3-6 MB free, on the loop; an allocation on a pool thread meanwhile waits
 * for the arena lock).
 */
#define TRIM_MIN_FREE (1024 * 1024)

static void trim_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
	struct mallinfo2 mi = mallinfo2();
	if (mi.fordblks < TRIM_MIN_FREE)
		return;
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	malloc_trim(0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	log_debug(NULL, "malloc_trim: %zu bytes were free; took %.3f ms", mi.fordblks,
		  (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6);
}

static int run_worker(int reuseport)
{
	int rc = 1;
	struct event *sigterm = NULL, *sigint = NULL, *trim = NULL;
	struct http_server *srv = NULL;
	struct event_config *ec = event_config_new();
	if (ec) {
		event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
		app.base = event_base_new_with_config(ec);
		event_config_free(ec);
	}
	if (!app.base) {
		log_error(NULL, "cannot create the event loop");
		return 1;
	}
	app.dns = evdns_base_new(app.base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
	if (!app.dns)
		app.dns = evdns_base_new(app.base, 0);
	app.router = router_new();
	app.pg = pg_pool_new(app.base, app.dns, cfg.database_url, cfg.pg_pool_size, cfg.pg_pipeline,
			     cfg.pg_queue_max, cfg.pg_statement_timeout_ms);
	if (app.pg)
		pg_pool_generic_plans(app.pg, cfg.pg_generic_plans);
	if (!app.router || !app.pg || routes_init(app.router, app.pg) < 0) {
		log_error(NULL, "cannot set up routes and the database pool");
		goto out;
	}
	srv = http_server_new(app.base, app.router, reuseport);
	workers_set_big_max(cfg.password_hashes_max);
	if (!srv || mime_init() < 0 || storage_init(app.base) < 0 || workers_start(app.base, 0) < 0)
		goto out;
	if (signals_init(app.base, cfg.signals) < 0 || app_signals_init() < 0 ||
	    tasks_init(app.base, app.dns, TASKS_SERVE) < 0 || periodic_start(app.base) < 0)
		goto out;
	ratelimit_configure(cfg.login_max_failures, cfg.login_window_s, cfg.secret_key);
	if (mail_setup() < 0 || revocations_start(app.base, app.pg, cfg.jwt_ttl_s) < 0 ||
	    ratelimit_start(app.base, app.dns, cfg.redis_url) < 0)
		goto out;
	auth_set_cache_ttl_ms(cfg.auth_cache_ttl_ms);
	req_ctx_on_done = check_drained;
	sigterm = evsignal_new(app.base, SIGTERM, on_signal, srv);
	sigint = evsignal_new(app.base, SIGINT, on_signal, srv);
	if (!sigterm || !sigint || evsignal_add(sigterm, NULL) < 0 ||
	    evsignal_add(sigint, NULL) < 0)
		goto out;
	trim = event_new(app.base, -1, EV_PERSIST, trim_cb, NULL);
	struct timeval second = {1, 0};
	if (!trim || event_add(trim, &second) < 0)
		goto out;
	pg_pool_start(app.pg);
	log_info(NULL, "listening on %s:%d (pool %d, pipeline %s)", cfg.host, cfg.port,
		 cfg.pg_pool_size, cfg.pg_pipeline ? "on" : "off");
	event_base_dispatch(app.base);
	rc = 0;
	log_info(NULL, "stopped");
out:
	req_ctx_on_done = NULL;
	http_server_free(srv); /* closes connections: their contexts finish */
	periodic_stop();
	tasks_cleanup(); /* before workers_stop and pg_pool_free: cancels its operations */
	mail_cleanup();
	revocations_stop();
	ratelimit_stop();
	app_signals_cleanup();
	signals_cleanup();
	workers_stop();	   /* runs the last jobs' completions: they find no client */
	storage_cleanup(); /* after workers_stop: aborts transfers still running */
	mime_cleanup();
	if (grace_timer)
		event_free(grace_timer);
	if (sigterm)
		event_free(sigterm);
	if (sigint)
		event_free(sigint);
	if (trim)
		event_free(trim);
	pg_pool_free(app.pg);
	routes_cleanup();
	auth_cleanup();
	router_free(app.router);
	metrics_free();
	if (app.dns)
		evdns_base_free(app.dns, 0);
	event_base_free(app.base);
	memset(&app, 0, sizeof(app));
	return rc;
}

/* ---- several workers: the supervisor ---- */

struct child {
	pid_t pid;	    /* 0 when not running */
	struct timespec at; /* start time */
};

static pid_t spawn(int reuseport)
{
	pid_t pid = fork();
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		int rc = run_worker(reuseport);
		config_free();
		libevent_global_shutdown();
		_exit(rc);
	}
	return pid;
}

static double since(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

static int supervise(int n)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	struct child *kids = calloc((size_t)n, sizeof(*kids));
	if (!kids)
		return 1;
	for (int i = 0; i < n; i++) {
		kids[i].pid = spawn(1);
		clock_gettime(CLOCK_MONOTONIC, &kids[i].at);
	}
	log_info(NULL, "supervising %d workers", n);
	int stopping = 0, fast_failures = 0, rc = 0;
	struct timespec stop_at = {0};
	for (;;) {
		struct timespec tick = {1, 0};
		int sig = sigtimedwait(&set, NULL, &tick);
		if ((sig == SIGTERM || sig == SIGINT) && !stopping) {
			stopping = 1;
			clock_gettime(CLOCK_MONOTONIC, &stop_at);
			for (int i = 0; i < n; i++)
				if (kids[i].pid > 0)
					kill(kids[i].pid, SIGTERM);
		}
		int status;
		pid_t pid;
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			for (int i = 0; i < n; i++) {
				if (kids[i].pid != pid)
					continue;
				kids[i].pid = 0;
				if (stopping)
					break;
				int quick = since(&kids[i].at) < 2.0;
				log_warn(NULL, "worker %d exited (%s %d); starting another",
					 (int)pid, WIFSIGNALED(status) ? "signal" : "status",
					 WIFSIGNALED(status) ? WTERMSIG(status)
							     : WEXITSTATUS(status));
				fast_failures = quick ? fast_failures + 1 : 0;
				if (fast_failures >= 3) {
					log_error(NULL,
						  "workers keep failing at start-up; giving up");
					stopping = 1;
					rc = 1;
					clock_gettime(CLOCK_MONOTONIC, &stop_at);
					for (int j = 0; j < n; j++)
						if (kids[j].pid > 0)
							kill(kids[j].pid, SIGTERM);
					break;
				}
				kids[i].pid = spawn(1);
				clock_gettime(CLOCK_MONOTONIC, &kids[i].at);
				break;
			}
		}
		if (stopping) {
			int alive = 0;
			for (int i = 0; i < n; i++)
				alive += kids[i].pid > 0;
			if (alive == 0)
				break;
			if (since(&stop_at) * 1000 > cfg.shutdown_grace_ms + 5000)
				for (int i = 0; i < n; i++)
					if (kids[i].pid > 0)
						kill(kids[i].pid, SIGKILL);
		}
	}
	free(kids);
	return rc;
}

/* ---- commands ---- */

static int cmd_healthcheck(void)
{
	const char *host = cfg.host;
	if (strcmp(host, "0.0.0.0") == 0)
		host = "127.0.0.1";
	else if (strcmp(host, "::") == 0)
		host = "::1";
	char port[16];
	snprintf(port, sizeof(port), "%d", cfg.port);
	struct addrinfo hints = {0}, *ai = NULL;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai) {
		fprintf(stderr, "healthcheck: cannot resolve %s\n", host);
		return 1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM, 0);
	struct timeval tv = {3, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	int ok = fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0;
	freeaddrinfo(ai);
	if (!ok) {
		fprintf(stderr, "healthcheck: cannot connect to %s:%s: %s\n", host, port,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	const char req[] = "GET /health-check HTTP/1.0\r\nHost: localhost\r\n\r\n";
	char buf[256] = {0};
	ssize_t n = -1;
	if (write(fd, req, sizeof(req) - 1) == (ssize_t)(sizeof(req) - 1))
		n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	int healthy = n >= 12 && strncmp(buf, "HTTP/1.", 7) == 0 && strncmp(buf + 9, "200", 3) == 0;
	if (!healthy)
		fprintf(stderr, "healthcheck: %.*s\n", (int)strcspn(buf, "\r\n"),
			n > 0 ? buf : "no answer");
	return healthy ? 0 : 1;
}

static int cmd_migrate(void)
{
	char err[1024];
	if (migrate_run(cfg.database_url, err, sizeof(err)) < 0) {
		fprintf(stderr, "migrate: %s\n", err);
		return 1;
	}
	fprintf(stderr, "migrate: up to date (%d migrations)\n", nmigrations);
	return 0;
}

/* Deletes rows trashed more than TRASH_RETENTION_DAYS ago (blocking: a
 * command, not the loop). */
static int cmd_purge_trash(void)
{
	PGconn *c = PQconnectdb(cfg.database_url);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "purge-trash: cannot connect: %s", PQerrorMessage(c));
		PQfinish(c);
		return 1;
	}
	char days[16];
	snprintf(days, sizeof(days), "%d", cfg.trash_retention_days);
	const char *params[1] = {days};
	PGresult *r =
	    PQexecParams(c, "SELECT oes_purge_trash($1::int)", 1, NULL, params, NULL, NULL, 0);
	int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
	if (ok)
		printf("purged %s rows trashed more than %d days ago\n", PQgetvalue(r, 0, 0),
		       cfg.trash_retention_days);
	else
		fprintf(stderr, "purge-trash: %s", PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
	return ok ? 0 : 1;
}

static int cmd_serve(void)
{
	char err[1024], names[1024];
	int pending = migrate_pending(cfg.database_url, names, sizeof(names), err, sizeof(err));
	if (pending < 0) {
		fprintf(stderr, "serve: %s\n", err);
		return 1;
	}
	if (pending > 0) {
		fprintf(stderr,
			"serve: %d pending migration%s (%s): run `open-event-server migrate`\n",
			pending, pending > 1 ? "s" : "", names);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	if (cfg.workers > 1)
		return supervise(cfg.workers);
	int rc = run_worker(0);
	return rc;
}

int main(int argc, char **argv)
{
	/* Blocks of 256 KiB and more are mmapped and unmapped when freed: a big
	 * page's document (3 MB), the 19 MiB of an argon2id hash. Left to
	 * itself glibc raises this threshold to the largest block it has
	 * freed (up to 32 MiB), after which such blocks come from the heap
	 * and their memory stays in the worker's RSS after use. */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	const char *cmd = "serve";
	const char *workers = NULL;
	const char *email = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc) {
			workers = argv[++i];
		} else if (strncmp(argv[i], "--workers=", 10) == 0) {
			workers = argv[i] + 10;
		} else if (argv[i][0] != '-' && i == 1) {
			cmd = argv[i];
		} else if (argv[i][0] != '-' && i == 2 && strcmp(cmd, "create-admin") == 0) {
			email = argv[i];
		} else {
			fprintf(stderr, "open-event-server: unknown argument %s (see --help)\n",
				argv[i]);
			return 2;
		}
	}
	int serve = strcmp(cmd, "serve") == 0;
	int admin = strcmp(cmd, "create-admin") == 0;
	int purge = strcmp(cmd, "purge-trash") == 0;
	int worker = strcmp(cmd, "worker") == 0;
	if (admin && !email) {
		fprintf(stderr, "open-event-server: create-admin needs an EMAIL\n");
		return 2;
	}
	if (!serve && !admin && !purge && !worker && strcmp(cmd, "migrate") != 0 &&
	    strcmp(cmd, "healthcheck") != 0) {
		fprintf(stderr, "open-event-server: unknown command %s (see --help)\n", cmd);
		return 2;
	}
	char err[256];
	if (config_load(NULL, serve, err, sizeof(err)) < 0 ||
	    (workers && config_set("WORKERS", workers, err, sizeof(err)) < 0)) {
		fprintf(stderr, "open-event-server: %s\n", err);
		return 2;
	}
	log_setup(cfg.log_level, cfg.log_format == LOG_FORMAT_JSON);
	log_hook_libevent();
	int rc;
	if (strcmp(cmd, "healthcheck") == 0) {
		rc = cmd_healthcheck();
	} else if (!cfg.database_url) {
		fprintf(stderr, "open-event-server: DATABASE_URL is required for %s\n", cmd);
		rc = 2;
	} else if (serve) {
		rc = cmd_serve();
	} else if (admin) {
		rc = admin_create_command(email);
	} else if (purge) {
		rc = cmd_purge_trash();
	} else if (worker) {
		rc = task_worker_main(mail_setup, mail_cleanup); /* mail tasks run in workers too */
	} else {
		rc = cmd_migrate();
	}
	config_free();
	libevent_global_shutdown();
	return rc;
}
