/*
 * tasks: background work. A task is a row of the `tasks` table (UUID,
 * name, payload of ids, state, attempts, result): PostgreSQL is the source
 * of truth. Enqueuing inserts the row and dispatches its id: through Redis
 * (tasks/redis_queue) when REDIS_URL is set, to any instance's loop or
 * `worker` process, else to this process's loop. The local queue holds a
 * bounded number of ids in memory; beyond, ids wait in the table and are
 * read back, oldest due first, as the queue drains (memory stays flat
 * when writes enqueue faster than the runs finish).
 *
 * Running a task: the consumer claims the row with a conditional UPDATE
 * (PENDING|RETRY -> STARTED, attempts + 1); only the claimer runs it, and
 * the claim's attempt number fences every later write of the run, so a run
 * that lost its claim (the sweeper gave the task to another consumer) can
 * no longer mark it or commit effects. A task that changes the database
 * does it in task_begin()'s transaction, which commits together with the
 * SUCCESS mark: its effect is applied once. Files written through storage
 * are idempotent (a run writes the same key again).
 *
 * A task function gets a struct task_run and loads what it needs itself
 * (ids in the payload; never a pointer into a request, a result or a
 * connection). It ends with exactly one task_succeed() or task_fail();
 * failures are retried with exponential backoff up to TASK_MAX_RETRIES.
 *
 * Owns: the registry, the runs, the enqueue operations and the delayed
 * dispatches. Never: calls a task or a callback from inside the call that
 * started it; blocks the loop.
 */
#ifndef OES_TASKS_TASKS_H
#define OES_TASKS_TASKS_H

#include <stddef.h>

#include <json-c/json.h>
#include <libpq-fe.h>

struct event_base;
struct evdns_base;

/* The built-in tasks. */
#define TASK_VERSIONS_BUMP     "versions.bump"	   /* {"event_id", "kind"} */
#define TASK_EXPORT_JSON       "export.json"	   /* {"event_id"} */
#define TASK_EXPORT_ICAL       "export.ical"	   /* {"event_id"} */
#define TASK_EXPORT_XCAL       "export.xcal"	   /* {"event_id"} */
#define TASK_EXPORT_REGENERATE "export.regenerate" /* {"event_id"} */
#define TASK_IMAGES_DERIVE     "images.derive"	   /* {"type", "id"} */

/* Runs at once per process. */
#define TASKS_MAX_RUNNING 4

enum tasks_mode {
	TASKS_SERVE,  /* serve: enqueues; consumes unless TASK_CONSUMER=off with Redis */
	TASKS_WORKER, /* worker: consumes only */
};

/* One execution of a task, as its function sees it. */
struct task_run {
	char id[40];		       /* the task's UUID */
	const char *name;	       /* its registered name */
	struct json_object *payload;   /* its payload (owned by the run) */
	int attempt;		       /* 1 on the first execution */
	long long creator_id;	       /* who enqueued it (0: the system) */
	void *data;		       /* the task's own state */
	void (*data_free)(void *data); /* frees data when the run ends (may be NULL) */
};

/* A task: must end, now or in a later callback, with task_succeed or
 * task_fail (unless the run is dropped: then it gets no more callbacks and
 * data_free runs). */
typedef void (*task_fn)(struct task_run *run);

/* Adds a task to the registry (name static). 0/-1. */
int tasks_register(const char *name, task_fn fn);

/* Starts dispatch (Redis or local) and, for serve, the start-up re-dispatch
 * of due tasks. After pg_pool_new and storage_init. 0/-1. */
int tasks_init(struct event_base *base, struct evdns_base *dns, int mode);
/* Takes no new tasks (runs in progress go on). */
void tasks_stop_consuming(void);
/* Runs in progress. */
int tasks_running(void);
/* Frees everything: runs in progress are dropped (their rows stay STARTED
 * and the sweeper re-dispatches them), enqueue callbacks get err -1. Call
 * after the loop stopped and before pg_pool_free and storage_cleanup, with
 * no loop turn in between. */
void tasks_cleanup(void);

/* "off" (no REDIS_URL), "ok" or "unavailable": for /health-check. */
const char *tasks_redis_health(void);

/* Appends the task metrics to buf (Prometheus text): oes_tasks{state} (rows
 * by state at the last count of the periodic job), oes_tasks_running,
 * oes_tasks_local_queued (ids waiting in memory for a local run) and
 * oes_task_runs_total{outcome} of this process. */
struct evbuffer;
void tasks_metrics_render(struct evbuffer *buf);
/* Sets the counts by state (from the periodic job): res has rows (state,
 * count). */
void tasks_set_counts(const PGresult *res);

/* ---- enqueue and dispatch ---- */

struct task_opts {
	long long creator_id;	/* users.id of who asked (0: none) */
	const char *dedupe_key; /* coalesce with a PENDING task of the same key (NULL: no) */
	int delay_ms;		/* run no sooner than this (coalescing window) */
};

/* err 0: id is the new task's UUID (valid during the call), or NULL when it
 * was coalesced into a pending task; err -1: not enqueued. */
typedef void (*tasks_enqueued_cb)(void *arg, int err, const char *id);

/* Inserts a task (payload borrowed, serialised now; opts may be NULL) and
 * dispatches it once inserted. cb (may be NULL) runs exactly once, later
 * on the loop (at the latest from tasks_cleanup, with err -1). Returns -1
 * when refused at once (database down or queue full): cb is not called. */
int tasks_enqueue(const char *name, struct json_object *payload, const struct task_opts *opts,
		  tasks_enqueued_cb cb, void *arg);
/* The same, only when cond (a boolean SQL expression from the code, its
 * parameters numbered from $6, ncond of them in cond_params) is true when
 * the row would be inserted: one statement, no task row otherwise (then
 * cb gets err 0 and id NULL, as for a coalesced task). */
int tasks_enqueue_if(const char *cond, int ncond, const char *const *cond_params, const char *name,
		     struct json_object *payload, const struct task_opts *opts,
		     tasks_enqueued_cb cb, void *arg);
/* Sends a task id to a consumer now, or after delay_ms. */
void tasks_dispatch(const char *id, int delay_ms);
/* Re-dispatches every due PENDING/RETRY task: at start-up and after Redis
 * came back. To Redis: once among instances, under an advisory lock. To
 * the local queue: read back in batches of at most its size as it drains. */
void tasks_resync(void);
/* Removes from Redis's processing list the ids whose tasks are over or
 * gone (acknowledgements lost while Redis was down). */
void tasks_tidy_processing(void);

/* ---- for task functions ---- */

/* A payload member as a positive id; 0 when missing or invalid. */
long long task_payload_id(const struct task_run *run, const char *key);
/* A payload member as a string, or NULL. */
const char *task_payload_str(const struct task_run *run, const char *key);

/* Callback of task_query: res is owned by the pool (valid during the
 * call); err is enum pg_err. */
typedef void (*task_query_cb)(struct task_run *run, PGresult *res, int err);
/* One query of the run (copied), inside its transaction when task_begin
 * made one. cb always runs later (with PG_ERR_UNAVAILABLE when the query
 * could not be sent). One operation at a time per run. */
void task_query(struct task_run *run, const char *sql, int nparams, const char *const *params,
		task_query_cb cb);

/* Opens the transaction in which the task's effects are applied once: the
 * task's row is locked and checked to still belong to this run (else the
 * run is dropped). ready gets err 0 (task_query now runs in it; it commits
 * with task_succeed, rolls back with task_fail), or -1 (the database is
 * unavailable: call task_fail). */
void task_begin(struct task_run *run, void (*ready)(struct task_run *run, int err));

/* err 0: url is the stored object's public URL (valid during the call). */
typedef void (*task_stored_cb)(struct task_run *run, int err, const char *url);
/* Writes through the storage interface (data copied). cb always runs later. */
void task_store(struct task_run *run, const char *key, const void *data, size_t len,
		const char *content_type, const char *disposition, task_stored_cb cb);

/* err 0: data/len hold the object (valid during the call); -1: it is
 * missing, larger than max_bytes or the storage failed. */
typedef void (*task_fetched_cb)(struct task_run *run, int err, const void *data, size_t len);
/* Reads an object back through the storage interface. cb always runs later. */
void task_fetch(struct task_run *run, const char *key, size_t max_bytes, task_fetched_cb cb);

/* CPU-heavy work on the worker pool (core/workers): work(data) runs on a
 * pool thread and touches nothing but data; then done runs on the loop
 * with err 0, or -1 when the pool could not take the job. data belongs to
 * the job until done (then to the task); if the run ends first, the job
 * is detached and data_free(data) runs when it finishes. */
typedef void (*task_work_done)(struct task_run *run, void *data, int err);
void task_offload(struct task_run *run, void (*work)(void *data), void *data,
		  void (*data_free)(void *data), task_work_done done);

/* Marks the task SUCCESS with result (owned; NULL: {}), committing the
 * run's transaction if any. Ends the run. */
void task_succeed(struct task_run *run, struct json_object *result);
/* Rolls the transaction back and marks the task RETRY (due after a backoff
 * of 2^(attempt-1) s, at most 300 s) or, when permanent or out of retries,
 * FAILURE with result {"error": why}. Ends the run. */
void task_fail(struct task_run *run, int permanent, const char *why);

#endif
