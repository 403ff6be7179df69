/*
 * periodic: see periodic.h. One job at a time: BEGIN -> lock and gate ->
 * the job's statement -> COMMIT -> its follow-up (dispatching the swept
 * ids); a local job is one plain query. A job that fails or finds the gate
 * closed tries again at its next interval.
 */
#include "tasks/periodic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <event2/event.h>

#include "core/app.h"
#include "core/config.h"
#include "core/log.h"
#include "core/pg_pool.h"
#include "tasks/tasks.h"

#define TICK_MS	       1000 /* the one timer */
#define FIRST_DELAY_MS 2000 /* before the first round after start-up */

/* The advisory lock (per job name) and the interval gate. */
static const char gate_sql[] =
    "WITH l AS (SELECT pg_try_advisory_xact_lock(hashtext('oes:periodic:' || $1)) AS ok) "
    "INSERT INTO periodic_jobs AS p (name, last_run_at) SELECT $1, now() FROM l WHERE l.ok "
    "ON CONFLICT (name) DO UPDATE SET last_run_at = now() "
    "WHERE p.last_run_at <= now() - make_interval(secs => $2::double precision - 0.5) "
    "RETURNING 1";

static const char sweep_sql[] =
    "WITH stale AS (UPDATE tasks SET "
    "state = CASE WHEN attempts > $2::int THEN 'FAILURE' ELSE 'RETRY' END, "
    "result = CASE WHEN attempts > $2::int THEN jsonb_build_object('error', "
    "'no result within the visibility timeout') ELSE result END, "
    "finished_at = CASE WHEN attempts > $2::int THEN now() END, "
    "run_after = now(), updated_at = now() "
    "WHERE id IN (SELECT id FROM tasks WHERE state = 'STARTED' AND updated_at < now() - "
    "make_interval(secs => $1::int) LIMIT 1000 FOR UPDATE SKIP LOCKED) "
    "RETURNING id, state), "
    "due AS (UPDATE tasks SET updated_at = now() "
    "WHERE id IN (SELECT id FROM tasks WHERE state IN ('PENDING', 'RETRY') AND run_after < "
    "now() - make_interval(secs => $1::int) AND updated_at < now() - make_interval(secs => "
    "$1::int) LIMIT 1000 FOR UPDATE SKIP LOCKED) RETURNING id) "
    "SELECT id::text FROM stale WHERE state = 'RETRY' UNION ALL SELECT id::text FROM due";

static const char expire_sql[] =
    "DELETE FROM tasks WHERE finished_at < now() - make_interval(secs => $1::int)";
static const char purge_sql[] = "SELECT oes_purge_trash($1::int)";
static const char tokens_sql[] = "DELETE FROM token_revocations WHERE expires_at < now()";
static const char count_sql[] = "SELECT state, count(*) FROM tasks GROUP BY state";

static int clamp(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static int sweep_interval(void)
{
	return clamp(cfg.task_visibility_timeout_s / 2, 1, 60);
}

static int expire_interval(void)
{
	return clamp(cfg.task_result_ttl_s / 10, 1, 600);
}

static int hourly(void)
{
	return 3600;
}

static int ten_minutes(void)
{
	return 600;
}

static int fifteen_seconds(void)
{
	return 15;
}

static int sweep_params(const char **p, char (*buf)[24])
{
	snprintf(buf[0], 24, "%d", cfg.task_visibility_timeout_s);
	snprintf(buf[1], 24, "%d", cfg.task_max_retries);
	p[0] = buf[0];
	p[1] = buf[1];
	return 2;
}

static int expire_params(const char **p, char (*buf)[24])
{
	snprintf(buf[0], 24, "%d", cfg.task_result_ttl_s);
	p[0] = buf[0];
	return 1;
}

static int purge_params(const char **p, char (*buf)[24])
{
	snprintf(buf[0], 24, "%d", cfg.trash_retention_days);
	p[0] = buf[0];
	return 1;
}

static int no_params(const char **p, char (*buf)[24])
{
	(void)p, (void)buf;
	return 0;
}

struct job {
	const char *name;				/* lock and gate name */
	const char *sql;				/* the job's statement */
	int (*interval)(void);				/* seconds between runs */
	int (*params)(const char **p, char (*buf)[24]); /* its parameters */
	int dispatch;					/* rows are task ids to dispatch */
	int local;					/* every instance: no lock, no txn */
	struct timeval next;				/* when this process tries next */
};

static struct job jobs[] = {
    {"tasks.sweep", sweep_sql, sweep_interval, sweep_params, 1},
    {"tasks.expire", expire_sql, expire_interval, expire_params, 0},
    {"trash.purge", purge_sql, hourly, purge_params, 0},
    {"tokens.expire", tokens_sql, ten_minutes, no_params, 0},
    {"tasks.count", count_sql, fifteen_seconds, no_params, 0, 1},
};
#define NJOBS (sizeof(jobs) / sizeof(jobs[0]))

static struct event *timer;
static struct job *current; /* the job in progress, or NULL */
static struct pg_txn *txn;  /* its transaction */
static struct pg_query *q;  /* its query in flight */
static char **ids;	    /* swept ids, dispatched after COMMIT */
static int nids;

static void free_ids(void)
{
	for (int i = 0; i < nids; i++)
		free(ids[i]);
	free(ids);
	ids = NULL;
	nids = 0;
}

static void plan(struct job *j, int secs)
{
	gettimeofday(&j->next, NULL);
	j->next.tv_sec += secs;
}

/* The end of the current job. */
static void done(void)
{
	if (current)
		plan(current, current->interval());
	current = NULL;
	txn = NULL;
	q = NULL;
	free_ids();
}

static void committed(void *arg, PGresult *res, int err)
{
	(void)arg;
	int ok = err == PG_OK && strcmp(PQcmdStatus(res), "COMMIT") == 0;
	if (ok && current && current->dispatch) {
		if (nids > 0)
			log_info(NULL, "periodic %s: dispatching %d tasks again", current->name,
				 nids);
		for (int i = 0; i < nids; i++)
			tasks_dispatch(ids[i], 0);
		tasks_tidy_processing();
	}
	txn = NULL; /* freed by the pool */
	done();
}

static void end_txn(int commit)
{
	struct pg_txn *t = txn;
	txn = NULL;
	if (!t || pg_txn_end(t, commit, commit ? committed : NULL, NULL) < 0 || !commit)
		done();
}

static void ran(void *arg, PGresult *res, int err)
{
	(void)arg;
	q = NULL;
	if (err != PG_OK) {
		log_warn(NULL, "periodic %s failed: %s", current->name,
			 err == PG_ERR_QUERY ? PQresultErrorMessage(res) : "database unavailable");
		end_txn(0);
		return;
	}
	if (current->dispatch && PQntuples(res) > 0) {
		ids = calloc((size_t)PQntuples(res), sizeof(char *));
		for (int i = 0; ids && i < PQntuples(res); i++)
			if ((ids[nids] = strdup(PQgetvalue(res, i, 0))))
				nids++;
	} else if (!current->dispatch) {
		const char *n = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1
				    ? PQgetvalue(res, 0, 0)
				    : PQcmdTuples(res);
		if (n[0] && strcmp(n, "0") != 0)
			log_info(NULL, "periodic %s: %s rows", current->name, n);
	}
	end_txn(1);
}

static void gated(void *arg, PGresult *res, int err)
{
	(void)arg;
	q = NULL;
	if (err != PG_OK || PQntuples(res) != 1) {
		if (err == PG_ERR_QUERY)
			log_warn(NULL, "periodic %s: %s", current->name, PQresultErrorMessage(res));
		end_txn(0); /* another instance has it, or ran it lately */
		return;
	}
	const char *p[4];
	char buf[4][24];
	int n = current->params(p, buf);
	q = pg_txn_query(txn, NULL, current->sql, n, p, ran, NULL);
	if (!q)
		end_txn(0);
}

static void began(void *arg, struct pg_txn *t, int err)
{
	(void)arg;
	if (err != PG_OK) {
		done();
		return;
	}
	txn = t;
	char interval[24];
	snprintf(interval, sizeof(interval), "%d", current->interval());
	const char *p[2] = {current->name, interval};
	q = pg_txn_query(txn, NULL, gate_sql, 2, p, gated, NULL);
	if (!q)
		end_txn(0);
}

/* A local job's result (no transaction). */
static void counted(void *arg, PGresult *res, int err)
{
	(void)arg;
	q = NULL;
	if (err == PG_OK)
		tasks_set_counts(res);
	done();
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
	if (current || app.shutting_down)
		return;
	struct timeval now;
	gettimeofday(&now, NULL);
	for (size_t i = 0; i < NJOBS; i++) {
		if (timercmp(&now, &jobs[i].next, <))
			continue;
		current = &jobs[i];
		if (current->local) {
			q = pg_pool_query(app.pg, PG_READ, NULL, current->sql, 0, NULL, counted,
					  NULL);
			if (!q)
				done();
			return;
		}
		if (!pg_pool_txn_begin(app.pg, began, NULL))
			done();
		return;
	}
}

int periodic_start(struct event_base *base)
{
	for (size_t i = 0; i < NJOBS; i++) {
		gettimeofday(&jobs[i].next, NULL);
		jobs[i].next.tv_usec += FIRST_DELAY_MS * 1000;
		while (jobs[i].next.tv_usec >= 1000000) {
			jobs[i].next.tv_sec++;
			jobs[i].next.tv_usec -= 1000000;
		}
	}
	timer = event_new(base, -1, EV_PERSIST, tick, NULL);
	if (!timer)
		return -1;
	struct timeval tv = {TICK_MS / 1000, (TICK_MS % 1000) * 1000};
	return event_add(timer, &tv);
}

void periodic_stop(void)
{
	if (timer)
		event_free(timer);
	timer = NULL;
	/* no loop turn runs before pg_pool_free: callbacks in flight never come */
	if (q)
		pg_query_cancel(q);
	if (txn)
		pg_txn_end(txn, 0, NULL, NULL);
	current = NULL;
	txn = NULL;
	q = NULL;
	free_ids();
}
