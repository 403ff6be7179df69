/*
 * task_worker: see task_worker.h. Sets up the process-wide `app` objects
 * the tasks use (loop, resolver, pool), then only tasks run on the loop.
 */
#include "tasks/task_worker.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "core/app.h"
#include "core/config.h"
#include "core/log.h"
#include "core/migrate.h"
#include "core/pg_pool.h"
#include "core/storage.h"
#include "core/workers.h"
#include "tasks/tasks.h"

#define DRAIN_CHECK_MS 100

static struct event *drain_timer; /* checks whether the runs are over */
static struct timeval stop_at;	  /* first signal */

static void drain_check(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
	struct timeval now, d;
	gettimeofday(&now, NULL);
	timersub(&now, &stop_at, &d);
	long ms = (long)d.tv_sec * 1000 + d.tv_usec / 1000;
	if (tasks_running() == 0) {
		event_base_loopexit(app.base, NULL);
	} else if (ms > cfg.shutdown_grace_ms) {
		log_warn(NULL,
			 "worker: %d tasks still running after the grace period; they will "
			 "be swept back",
			 tasks_running());
		event_base_loopexit(app.base, NULL);
	}
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what, (void)arg;
	if (app.shutting_down) {
		log_warn(NULL, "second signal: stopping now");
		event_base_loopbreak(app.base);
		return;
	}
	app.shutting_down = 1;
	log_info(NULL, "%s: taking no more tasks, waiting for %d running",
		 sig == SIGTERM ? "SIGTERM" : "SIGINT", tasks_running());
	tasks_stop_consuming();
	gettimeofday(&stop_at, NULL);
	drain_timer = event_new(app.base, -1, EV_PERSIST, drain_check, NULL);
	struct timeval tv = {0, DRAIN_CHECK_MS * 1000};
	if (drain_timer)
		event_add(drain_timer, &tv);
	else
		event_base_loopexit(app.base, NULL);
}

int task_worker_main(int (*setup)(void), void (*teardown)(void))
{
	if (!cfg.redis_url || !cfg.redis_url[0]) {
		fprintf(stderr, "worker: REDIS_URL is required (without it, serve processes run "
				"the tasks)\n");
		return 2;
	}
	char err[1024], names[1024];
	int pending = migrate_pending(cfg.database_url, names, sizeof(names), err, sizeof(err));
	if (pending != 0) {
		if (pending < 0)
			fprintf(stderr, "worker: %s\n", err);
		else
			fprintf(stderr,
				"worker: %d pending migrations (%s): run `open-event-server "
				"migrate`\n",
				pending, names);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	int rc = 1, storage = 0, tasks = 0, pool_threads = 0, set_up = 0;
	struct event *sigterm = NULL, *sigint = NULL;
	memset(&app, 0, sizeof(app));
	app.base = event_base_new();
	if (!app.base) {
		log_error(NULL, "worker: cannot create the event loop");
		return 1;
	}
	app.dns = evdns_base_new(app.base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
	if (!app.dns)
		app.dns = evdns_base_new(app.base, 0);
	app.pg = pg_pool_new(app.base, app.dns, cfg.database_url, cfg.pg_pool_size, cfg.pg_pipeline,
			     cfg.pg_queue_max, cfg.pg_statement_timeout_ms);
	if (!app.pg)
		goto out;
	if (workers_start(app.base, 0) < 0)
		goto out;
	pool_threads = 1;
	if (storage_init(app.base) < 0)
		goto out;
	storage = 1;
	if (tasks_init(app.base, app.dns, TASKS_WORKER) < 0)
		goto out;
	tasks = 1;
	if (setup && setup() < 0)
		goto out;
	set_up = 1;
	sigterm = evsignal_new(app.base, SIGTERM, on_signal, NULL);
	sigint = evsignal_new(app.base, SIGINT, on_signal, NULL);
	if (!sigterm || !sigint || evsignal_add(sigterm, NULL) < 0 ||
	    evsignal_add(sigint, NULL) < 0)
		goto out;
	pg_pool_start(app.pg);
	log_info(NULL, "worker: consuming tasks (pool %d, %d at once)", cfg.pg_pool_size,
		 TASKS_MAX_RUNNING);
	event_base_dispatch(app.base);
	log_info(NULL, "worker: stopped");
	rc = 0;
out:
	if (tasks)
		tasks_cleanup();
	if (set_up && teardown)
		teardown();
	if (pool_threads)
		workers_stop();
	if (storage)
		storage_cleanup();
	if (drain_timer)
		event_free(drain_timer);
	drain_timer = NULL;
	if (sigterm)
		event_free(sigterm);
	if (sigint)
		event_free(sigint);
	pg_pool_free(app.pg);
	if (app.dns)
		evdns_base_free(app.dns, 0);
	event_base_free(app.base);
	memset(&app, 0, sizeof(app));
	return rc;
}
