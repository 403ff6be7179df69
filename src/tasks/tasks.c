/*
 * tasks: the registry, enqueueing, dispatch (local queue or Redis), the
 * runner (claim, run, mark, acknowledge) and the task-side helpers.
 *
 * A run's life: claim query -> the task function and its operations (one
 * at a time: a query, a transaction, a storage write) -> the mark (SUCCESS
 * inside the effect transaction, or RETRY/FAILURE) -> acknowledgement ->
 * freed. Every step's callback comes from the pool, the storage or a
 * deferred event of the run, never from the call that started it. A run
 * that outlives TASK_VISIBILITY_TIMEOUT_S is abandoned: its operations are
 * cancelled and the sweeper gives the task to another consumer; the
 * attempt number in every UPDATE keeps the old run from marking it.
 */
#include "tasks/tasks.h"

#include "core/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "core/app.h"
#include "core/config.h"
#include "core/log.h"
#include "core/pg_pool.h"
#include "core/storage.h"
#include "core/workers.h"
#include "tasks/export.h"
#include "tasks/images.h"
#include "tasks/redis_queue.h"
#include "tasks/versions_task.h"

#define REGISTRY_MAX	32
#define RESYNC_DELAY_MS 500 /* after start-up */
/* Task ids waiting in memory for a local run, at most. Beyond, the table
 * is the queue: ids are dropped and read back by local_refill, oldest due
 * first, once the local queue has drained. */
#define LOCAL_QUEUE_MAX 1024

/* ---- SQL ---- */

#define INSERT_HEAD                                                                                \
	"INSERT INTO tasks (name, payload, creator_id, dedupe_key, run_after) "                    \
	"SELECT $1, $2::jsonb, $3::bigint, $4, "                                                   \
	"now() + make_interval(secs => $5::double precision / 1000)"
#define INSERT_TAIL                                                                                \
	" ON CONFLICT (dedupe_key) WHERE state = 'PENDING' AND dedupe_key IS NOT NULL DO NOTHING " \
	"RETURNING id"
static const char insert_sql[] = INSERT_HEAD INSERT_TAIL;
#define COND_PARAMS_MAX 4 /* parameters of a tasks_enqueue_if condition */

/* 100 ms of slack: a timer may fire a little before PostgreSQL's now(). */
static const char claim_sql[] =
    "UPDATE tasks SET state = 'STARTED', attempts = attempts + 1, updated_at = now() "
    "WHERE id = $1::uuid AND state IN ('PENDING', 'RETRY') "
    "AND run_after <= now() + interval '100 milliseconds' "
    "RETURNING name, payload::text, attempts, coalesce(creator_id, 0)";

static const char fence_sql[] = "SELECT 1 FROM tasks WHERE id = $1::uuid AND state = 'STARTED' "
				"AND attempts = $2::int FOR UPDATE";

static const char success_sql[] =
    "UPDATE tasks SET state = 'SUCCESS', result = $3::jsonb, updated_at = now(), "
    "finished_at = now() WHERE id = $1::uuid AND state = 'STARTED' AND attempts = $2::int";

static const char fail_sql[] =
    "UPDATE tasks SET "
    "state = CASE WHEN $3::boolean OR attempts > $4::int THEN 'FAILURE' ELSE 'RETRY' END, "
    "result = jsonb_build_object('error', $5::text), updated_at = now(), "
    "run_after = now() + make_interval(secs => least(power(2, attempts - 1), 300)), "
    "finished_at = CASE WHEN $3::boolean OR attempts > $4::int THEN now() END "
    "WHERE id = $1::uuid AND state = 'STARTED' AND attempts = $2::int "
    "RETURNING state, (least(power(2, attempts - 1), 300) * 1000)::int";

static const char resync_sql[] =
    "WITH l AS (SELECT pg_try_advisory_xact_lock(hashtext('oes:tasks.resync')) AS ok) "
    "UPDATE tasks SET updated_at = now() WHERE id IN ("
    "SELECT id FROM tasks WHERE state IN ('PENDING', 'RETRY') AND run_after <= now() "
    "AND (SELECT ok FROM l) ORDER BY run_after LIMIT 10000 FOR UPDATE SKIP LOCKED) "
    "RETURNING id";

/* Local dispatch: due tasks, oldest first, at most $1 of them, for this
 * loop's queue (the same 100 ms of slack as the claim). Touching
 * updated_at keeps the sweeper off them while they wait here. No advisory
 * lock: another instance taking the same ids loses the claim. */
static const char refill_sql[] = "UPDATE tasks SET updated_at = now() WHERE id IN ("
				 "SELECT id FROM tasks WHERE state IN ('PENDING', 'RETRY') "
				 "AND run_after <= now() + interval '100 milliseconds' "
				 "ORDER BY run_after LIMIT $1::int FOR UPDATE SKIP LOCKED) "
				 "RETURNING id";

/* ids of the processing list whose tasks no consumer holds any more */
static const char tidy_sql[] = "SELECT x FROM unnest($1::text[]) x WHERE CASE WHEN x ~ "
			       "'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' "
			       "THEN NOT EXISTS (SELECT 1 FROM tasks t WHERE t.id = x::uuid "
			       "AND t.state IN ('PENDING', 'RETRY', 'STARTED')) ELSE true END";

/* ---- state ---- */

struct task_def {
	const char *name; /* registered name */
	task_fn fn;	  /* the task */
};

enum later_kind { LATER_NONE, LATER_QUERY, LATER_READY, LATER_STORE, LATER_FETCH, LATER_WORK };

/* A job on the worker pool; outlives its run when the run ends first. */
struct offload {
	struct run *run;	       /* NULL once detached */
	void (*work)(void *data);      /* the task's work (pool thread) */
	void *data;		       /* its data */
	void (*data_free)(void *data); /* frees data of a detached job */
	task_work_done done;	       /* the task's callback (loop) */
};

struct run {
	struct task_run pub;			  /* what the task sees (first member) */
	struct run *next, *prev;		  /* live runs */
	const struct task_def *def;		  /* NULL until claimed */
	int from_redis;				  /* acknowledge through Redis */
	struct pg_query *q;			  /* query in flight */
	struct pg_txn *txn;			  /* effect transaction, once ready */
	int txn_wait;				  /* BEGIN asked, not ready yet */
	struct storage_op *sop;			  /* storage write in flight */
	struct event *deadline;			  /* TASK_VISIBILITY_TIMEOUT_S */
	struct event *later;			  /* deferred error callbacks */
	int later_kind;				  /* enum later_kind */
	task_query_cb qcb;			  /* the task's query callback */
	void (*ready_cb)(struct task_run *, int); /* the task's task_begin callback */
	task_stored_cb scb;			  /* the task's storage callback */
	task_fetched_cb fcb;			  /* the task's fetch callback */
	struct offload *job;			  /* worker pool job in flight */
	void *later_data;			  /* LATER_WORK: the job handed back (or NULL) */
	task_work_done wdone;			  /* the task's task_offload callback */
	int committing;				  /* COMMIT sent: commit_done will run */
	int abandoned; /* deadline passed: in limbo until a callback frees it */
	char *result;  /* result text while marking */
};

struct enqueue {
	struct enqueue *next, *prev; /* pending inserts */
	struct pg_query *q;	     /* the INSERT */
	tasks_enqueued_cb cb;	     /* caller's callback (may be NULL) */
	void *arg;		     /* its argument */
	int delay_ms;		     /* dispatch delay */
	char name[48];		     /* for logs */
};

struct delayed {
	struct delayed *next, *prev; /* pending delayed dispatches */
	struct event *ev;	     /* its timer */
	char id[40];		     /* the task */
};

struct local_job {
	struct local_job *next; /* FIFO */
	char id[40];		/* the task */
};

struct pending_op {
	struct pending_op *next, *prev; /* resync, refill and tidy queries in flight */
	struct pg_query *q;		/* the query */
	char **ids;			/* tidy: the ids asked about */
	int nids;
	int asked; /* refill: the most ids asked for */
};

static struct task_def registry[REGISTRY_MAX];
static int nregistry;
static struct event_base *base;
static int inited, mode, redis_mode, consuming, accepting;
static struct run *runs;  /* runs in progress */
static struct run *limbo; /* abandoned runs waiting for a callback that cannot be cancelled */
static int running;
static struct enqueue *enqueues;
static struct delayed *delays;
static struct local_job *local_head, *local_tail;
static int nlocal;	   /* ids in the local queue */
static int local_overflow; /* ids were left in the table: refill from it once the queue drains */
static int refilling;	   /* a refill query is in flight */
static int refill_drops;   /* ids dropped while it was in flight (maybe not in its snapshot) */
static int overflow_told;  /* the drops were logged: log the catch-up too */
static struct event *pump_ev;
static struct event *resync_ev;
static struct pending_op *ops;

/* metrics */
enum outcome { OUT_SUCCESS, OUT_RETRY, OUT_FAILURE, OUT_DROPPED, NOUTCOMES };
static const char *const outcome_names[NOUTCOMES] = {"success", "retry", "failure", "dropped"};
static long outcomes[NOUTCOMES]; /* runs ended in this process, by outcome */
static const char *const state_names[] = {"PENDING", "STARTED", "SUCCESS", "FAILURE", "RETRY"};
#define NSTATES (sizeof(state_names) / sizeof(state_names[0]))
static long state_counts[NSTATES]; /* rows by state at the last count */
static int counted;		   /* state_counts were set once */

/* ---- registry ---- */

int tasks_register(const char *name, task_fn fn)
{
	for (int i = 0; i < nregistry; i++)
		if (strcmp(registry[i].name, name) == 0) {
			registry[i].fn = fn;
			return 0;
		}
	if (nregistry == REGISTRY_MAX)
		return -1;
	registry[nregistry++] = (struct task_def){name, fn};
	return 0;
}

static const struct task_def *find_def(const char *name)
{
	for (int i = 0; i < nregistry; i++)
		if (strcmp(registry[i].name, name) == 0)
			return &registry[i];
	return NULL;
}

/* ---- runs ---- */

static void pump(void);

static void run_free(struct run *r)
{
	if (r->pub.data_free && r->pub.data)
		r->pub.data_free(r->pub.data);
	json_object_put(r->pub.payload);
	if (r->deadline)
		event_free(r->deadline);
	if (r->later)
		event_free(r->later);
	free(r->result);
	free(r);
}

static void list_add(struct run **head, struct run *r)
{
	r->prev = NULL;
	r->next = *head;
	if (*head)
		(*head)->prev = r;
	*head = r;
}

static void list_remove(struct run **head, struct run *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else if (*head == r)
		*head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->next = r->prev = NULL;
}

static void run_unlink(struct run *r)
{
	list_remove(&runs, r);
	running--;
}

/* A callback without a cancel handle is due for r (BEGIN or COMMIT): keep
 * r in limbo until it comes. */
static void run_to_limbo(struct run *r)
{
	r->abandoned = 1;
	if (r->from_redis)
		redis_queue_ack(r->pub.id);
	run_unlink(r);
	list_add(&limbo, r);
	pump();
}

/* A limbo run's late callback came: free it. */
static void limbo_free(struct run *r)
{
	list_remove(&limbo, r);
	run_free(r);
}

/* The end of a run: acknowledge, free, take the next. */
static void run_end(struct run *r, int ack)
{
	if (ack && r->from_redis)
		redis_queue_ack(r->pub.id);
	run_unlink(r);
	run_free(r);
	pump();
}

static void later_cb(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;
	(void)fd, (void)what;
	int kind = r->later_kind;
	r->later_kind = LATER_NONE;
	if (kind == LATER_QUERY)
		r->qcb(&r->pub, NULL, PG_ERR_UNAVAILABLE);
	else if (kind == LATER_READY)
		r->ready_cb(&r->pub, -1);
	else if (kind == LATER_STORE)
		r->scb(&r->pub, -1, NULL);
	else if (kind == LATER_FETCH)
		r->fcb(&r->pub, -1, NULL, 0);
	else if (kind == LATER_WORK) {
		struct offload *j = r->later_data;
		void *data = j ? j->data : NULL;
		r->later_data = NULL;
		free(j);
		r->wdone(&r->pub, data, -1);
	}
}

static void defer_error(struct run *r, int kind)
{
	r->later_kind = kind;
	struct timeval zero = {0, 0};
	evtimer_add(r->later, &zero);
}

/* Cancels what the run has in flight. A BEGIN not yet ready cannot be
 * cancelled: the caller then keeps the run until txn_ready. */
static void cancel_ops(struct run *r)
{
	if (r->q) {
		pg_query_cancel(r->q);
		r->q = NULL;
	}
	if (r->sop) {
		storage_cancel(r->sop);
		r->sop = NULL;
	}
	if (r->txn) {
		pg_txn_end(r->txn, 0, NULL, NULL);
		r->txn = NULL;
	}
	if (r->job) {
		r->job->run = NULL; /* detached: freed when the pool is done with it */
		r->job = NULL;
	}
	if (r->later)
		evtimer_del(r->later);
	if (r->later_kind == LATER_WORK && r->later_data) {
		struct offload *j = r->later_data;
		if (j->data_free && j->data)
			j->data_free(j->data);
		free(j);
	}
	r->later_data = NULL;
	r->later_kind = LATER_NONE;
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;
	(void)fd, (void)what;
	log_warn(NULL, "task %s (%s) still running after %d s: abandoned to the sweeper", r->pub.id,
		 r->pub.name ? r->pub.name : "?", cfg.task_visibility_timeout_s);
	outcomes[OUT_DROPPED]++;
	cancel_ops(r);
	if (r->txn_wait || r->committing) {
		run_to_limbo(r);
		return;
	}
	run_end(r, 1);
}

static void mark_failed(struct run *r, int permanent, const char *why);

static void claim_done(void *arg, PGresult *res, int err)
{
	struct run *r = arg;
	r->q = NULL;
	if (err != PG_OK || PQntuples(res) != 1) {
		if (err == PG_ERR_QUERY)
			log_warn(NULL, "task %s: claim failed: %s", r->pub.id,
				 PQresultErrorMessage(res));
		/* already claimed, finished, not due, unknown or the database is
		 * away: nothing to run here (the sweeper covers the last case) */
		run_end(r, 1);
		return;
	}
	const char *name = PQgetvalue(res, 0, 0);
	r->pub.attempt = atoi(PQgetvalue(res, 0, 2));
	r->pub.creator_id = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
	r->pub.payload = json_tokener_parse(PQgetvalue(res, 0, 1));
	if (!r->pub.payload || !json_object_is_type(r->pub.payload, json_type_object)) {
		json_object_put(r->pub.payload);
		r->pub.payload = json_object_new_object();
	}
	r->def = find_def(name);
	r->pub.name = r->def ? r->def->name : "?";
	struct timeval tv = {cfg.task_visibility_timeout_s, 0};
	evtimer_add(r->deadline, &tv);
	if (!r->def) {
		log_error(NULL, "task %s: no task is called \"%s\"", r->pub.id, name);
		mark_failed(r, 1, "unknown task");
		return;
	}
	log_debug(NULL, "task %s (%s) attempt %d started", r->pub.id, r->pub.name, r->pub.attempt);
	r->def->fn(&r->pub);
}

static void run_start(const char *id, int from_redis)
{
	struct run *r = calloc(1, sizeof(*r));
	if (!r) {
		if (from_redis)
			redis_queue_ack(id);
		return;
	}
	snprintf(r->pub.id, sizeof(r->pub.id), "%s", id);
	r->from_redis = from_redis;
	r->deadline = evtimer_new(base, deadline_cb, r);
	r->later = evtimer_new(base, later_cb, r);
	list_add(&runs, r);
	running++;
	const char *params[1] = {r->pub.id};
	if (r->deadline && r->later)
		r->q = pg_pool_query(app.pg, PG_WRITE, NULL, claim_sql, 1, params, claim_done, r);
	if (!r->q)
		run_end(r, 1); /* the sweeper re-dispatches it */
}

/* ---- marking ---- */

static void fail_done(void *arg, PGresult *res, int err)
{
	struct run *r = arg;
	r->q = NULL;
	if (err == PG_OK && PQntuples(res) == 1) {
		const char *state = PQgetvalue(res, 0, 0);
		int delay = atoi(PQgetvalue(res, 0, 1));
		if (strcmp(state, "RETRY") == 0) {
			log_info(NULL, "task %s (%s) attempt %d failed; retry in %d ms", r->pub.id,
				 r->pub.name, r->pub.attempt, delay);
			outcomes[OUT_RETRY]++;
			tasks_dispatch(r->pub.id, delay);
		} else {
			log_warn(NULL, "task %s (%s) failed after %d attempts", r->pub.id,
				 r->pub.name, r->pub.attempt);
			outcomes[OUT_FAILURE]++;
		}
	} else if (err == PG_ERR_QUERY) {
		log_error(NULL, "task %s: cannot mark the failure: %s", r->pub.id,
			  PQresultErrorMessage(res));
	}
	run_end(r, 1);
}

static void mark_failed(struct run *r, int permanent, const char *why)
{
	cancel_ops(r);
	char attempt[16], max[16];
	snprintf(attempt, sizeof(attempt), "%d", r->pub.attempt);
	snprintf(max, sizeof(max), "%d", cfg.task_max_retries);
	const char *params[5] = {r->pub.id, attempt, permanent ? "true" : "false", max,
				 why ? why : "failed"};
	r->q = pg_pool_query(app.pg, PG_WRITE, NULL, fail_sql, 5, params, fail_done, r);
	if (!r->q)
		run_end(r, 1); /* stays STARTED: the sweeper retries it */
}

void task_fail(struct task_run *run, int permanent, const char *why)
{
	struct run *r = (struct run *)run;
	log_info(NULL, "task %s (%s) attempt %d: %s", r->pub.id, r->pub.name, r->pub.attempt,
		 why ? why : "failed");
	mark_failed(r, permanent, why);
}

static void success_done(void *arg, PGresult *res, int err)
{
	struct run *r = arg;
	r->q = NULL;
	if (err != PG_OK) {
		mark_failed(r, 0, "could not record the result");
		return;
	}
	if (strcmp(PQcmdTuples(res), "1") != 0) {
		log_warn(NULL, "task %s: no longer ours when done (claimed again)", r->pub.id);
		outcomes[OUT_DROPPED]++;
	} else {
		log_debug(NULL, "task %s (%s) done", r->pub.id, r->pub.name);
		outcomes[OUT_SUCCESS]++;
	}
	run_end(r, 1);
}

static void commit_done(void *arg, PGresult *res, int err)
{
	struct run *r = arg;
	r->committing = 0;
	if (r->abandoned) {
		limbo_free(r);
		return;
	}
	if (err != PG_OK || PQresultStatus(res) != PGRES_COMMAND_OK ||
	    strcmp(PQcmdStatus(res), "COMMIT") != 0) {
		mark_failed(r, 0, "the transaction did not commit");
		return;
	}
	log_debug(NULL, "task %s (%s) done", r->pub.id, r->pub.name);
	outcomes[OUT_SUCCESS]++;
	run_end(r, 1);
}

static void success_in_txn(void *arg, PGresult *res, int err)
{
	struct run *r = arg;
	r->q = NULL;
	if (err != PG_OK || strcmp(PQcmdTuples(res), "1") != 0) {
		mark_failed(r, 0, "could not record the result");
		return;
	}
	struct pg_txn *t = r->txn;
	r->txn = NULL;
	/* the COMMIT's callback cannot be cancelled: an abandoned run waits for
	 * it in limbo */
	r->committing = 1;
	if (pg_txn_end(t, 1, commit_done, r) < 0) {
		r->committing = 0;
		mark_failed(r, 0, "the database connection was lost");
	}
}

void task_succeed(struct task_run *run, struct json_object *result)
{
	struct run *r = (struct run *)run;
	if (!result)
		result = json_object_new_object();
	const char *s = json_object_to_json_string_ext(result, JSON_C_TO_STRING_PLAIN |
								   JSON_C_TO_STRING_NOSLASHESCAPE);
	r->result = strdup(s ? s : "{}");
	json_object_put(result);
	if (!r->result) {
		mark_failed(r, 0, "out of memory");
		return;
	}
	char attempt[16];
	snprintf(attempt, sizeof(attempt), "%d", r->pub.attempt);
	const char *params[3] = {r->pub.id, attempt, r->result};
	if (r->txn) {
		r->q = pg_txn_query(r->txn, NULL, success_sql, 3, params, success_in_txn, r);
		if (!r->q) {
			pg_txn_end(r->txn, 0, NULL, NULL);
			r->txn = NULL;
			mark_failed(r, 0, "the database connection was lost");
		}
		return;
	}
	r->q = pg_pool_query(app.pg, PG_WRITE, NULL, success_sql, 3, params, success_done, r);
	if (!r->q)
		run_end(r, 1); /* stays STARTED: the sweeper runs it again */
}

/* ---- task-side helpers ---- */

static void query_done(void *arg, PGresult *res, int err)
{
	struct run *r = arg;
	r->q = NULL;
	r->qcb(&r->pub, res, err);
}

void task_query(struct task_run *run, const char *sql, int nparams, const char *const *params,
		task_query_cb cb)
{
	struct run *r = (struct run *)run;
	r->qcb = cb;
	if (r->txn)
		r->q = pg_txn_query(r->txn, NULL, sql, nparams, params, query_done, r);
	else
		r->q = pg_pool_query(app.pg, PG_WRITE, NULL, sql, nparams, params, query_done, r);
	if (!r->q)
		defer_error(r, LATER_QUERY);
}

static void fence_done(void *arg, PGresult *res, int err)
{
	struct run *r = arg;
	r->q = NULL;
	if (err != PG_OK) {
		pg_txn_end(r->txn, 0, NULL, NULL);
		r->txn = NULL;
		r->ready_cb(&r->pub, -1);
		return;
	}
	if (PQntuples(res) != 1) {
		log_warn(NULL, "task %s: claimed again by another consumer; this run stops",
			 r->pub.id);
		pg_txn_end(r->txn, 0, NULL, NULL);
		r->txn = NULL;
		run_end(r, 1);
		return;
	}
	r->ready_cb(&r->pub, 0);
}

static void txn_ready(void *arg, struct pg_txn *txn, int err)
{
	struct run *r = arg;
	r->txn_wait = 0;
	if (r->abandoned) {
		if (txn)
			pg_txn_end(txn, 0, NULL, NULL);
		limbo_free(r);
		return;
	}
	if (err != PG_OK) {
		r->ready_cb(&r->pub, -1);
		return;
	}
	r->txn = txn;
	char attempt[16];
	snprintf(attempt, sizeof(attempt), "%d", r->pub.attempt);
	const char *params[2] = {r->pub.id, attempt};
	r->q = pg_txn_query(txn, NULL, fence_sql, 2, params, fence_done, r);
	if (!r->q) {
		pg_txn_end(txn, 0, NULL, NULL);
		r->txn = NULL;
		defer_error(r, LATER_READY);
	}
}

void task_begin(struct task_run *run, void (*ready)(struct task_run *run, int err))
{
	struct run *r = (struct run *)run;
	r->ready_cb = ready;
	if (pg_pool_txn_begin(app.pg, txn_ready, r))
		r->txn_wait = 1;
	else
		defer_error(r, LATER_READY);
}

static void store_done(void *arg, int err, const char *url)
{
	struct run *r = arg;
	r->sop = NULL;
	r->scb(&r->pub, err, url);
}

void task_store(struct task_run *run, const char *key, const void *data, size_t len,
		const char *content_type, const char *disposition, task_stored_cb cb)
{
	struct run *r = (struct run *)run;
	r->scb = cb;
	r->sop = storage_put(key, data, len, content_type, disposition, store_done, r);
	if (!r->sop)
		defer_error(r, LATER_STORE);
}

static void fetch_done(void *arg, int err, const struct storage_object *obj)
{
	struct run *r = arg;
	r->sop = NULL;
	if (err != STORAGE_OK || !obj)
		r->fcb(&r->pub, -1, NULL, 0);
	else
		r->fcb(&r->pub, 0, obj->data, obj->len);
}

void task_fetch(struct task_run *run, const char *key, size_t max_bytes, task_fetched_cb cb)
{
	struct run *r = (struct run *)run;
	r->fcb = cb;
	r->sop = storage_get_object(key, max_bytes, fetch_done, r);
	if (!r->sop)
		defer_error(r, LATER_FETCH);
}

static void offload_work(void *arg)
{
	struct offload *j = arg;
	j->work(j->data);
}

static void offload_done(void *arg)
{
	struct offload *j = arg;
	struct run *r = j->run;
	if (!r) {
		if (j->data_free)
			j->data_free(j->data);
		free(j);
		return;
	}
	r->job = NULL;
	void *data = j->data;
	task_work_done done = j->done;
	free(j);
	done(&r->pub, data, 0);
}

void task_offload(struct task_run *run, void (*work)(void *data), void *data,
		  void (*data_free)(void *data), task_work_done done)
{
	struct run *r = (struct run *)run;
	struct offload *j = calloc(1, sizeof(*j));
	r->wdone = done;
	if (!j) {
		if (data_free && data)
			data_free(data);
		r->later_data = NULL;
		defer_error(r, LATER_WORK);
		return;
	}
	j->run = r;
	j->work = work;
	j->data = data;
	j->data_free = data_free;
	j->done = done;
	if (workers_submit(offload_work, offload_done, j) == 0) {
		r->job = j;
		return;
	}
	r->later_data = j; /* the pool is full: data comes back with err -1 */
	defer_error(r, LATER_WORK);
}

long long task_payload_id(const struct task_run *run, const char *key)
{
	struct json_object *v;
	if (!run->payload || !json_object_object_get_ex(run->payload, key, &v) || !v)
		return 0;
	long long n = 0;
	if (json_object_is_type(v, json_type_int)) {
		n = json_object_get_int64(v);
	} else if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);
		char *end;
		if (*s < '1' || *s > '9')
			return 0;
		n = strtoll(s, &end, 10);
		if (*end)
			return 0;
	}
	return n > 0 ? n : 0;
}

const char *task_payload_str(const struct task_run *run, const char *key)
{
	struct json_object *v;
	if (!run->payload || !json_object_object_get_ex(run->payload, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* ---- dispatch ---- */

/* Appends id to the local queue; 0/-1 (out of memory). */
static int local_append(const char *id)
{
	struct local_job *j = calloc(1, sizeof(*j));
	if (!j)
		return -1;
	snprintf(j->id, sizeof(j->id), "%s", id);
	if (local_tail)
		local_tail->next = j;
	else
		local_head = j;
	local_tail = j;
	nlocal++;
	return 0;
}

static void local_refill(void);
static struct pending_op *op_new(void);
static void op_unlink_free(struct pending_op *o);

/* The local queue is full, or ids already wait in the table: id (a
 * committed row) waits there too, and is read back in its turn. */
static void local_drop(void)
{
	if (!overflow_told)
		log_warn(NULL,
			 "tasks: %d task ids wait to run here already; later ones wait in the "
			 "database and are read back as runs free up",
			 nlocal);
	overflow_told = 1;
	local_overflow = 1;
	if (refilling)
		refill_drops++;
	local_refill();
}

static void local_push(const char *id)
{
	/* once ids wait in the table, new ones queue behind them there */
	if (local_overflow || nlocal >= LOCAL_QUEUE_MAX || local_append(id) < 0) {
		local_drop();
		return;
	}
	pump();
}

static void refill_done(void *arg, PGresult *res, int err)
{
	struct pending_op *o = arg;
	o->q = NULL;
	refilling = 0;
	if (err == PG_OK) {
		int n = PQntuples(res);
		for (int i = 0; i < n; i++)
			if (local_append(PQgetvalue(res, i, 0)) < 0)
				refill_drops++; /* stays in the table: the next refill */
		if (n < o->asked && refill_drops == 0) {
			if (overflow_told)
				log_info(NULL,
					 "tasks: the local queue caught up with the database");
			local_overflow = overflow_told = 0;
		}
	} else if (err == PG_ERR_QUERY) {
		log_warn(NULL, "tasks: reading due tasks back failed: %s",
			 PQresultErrorMessage(res));
	}
	refill_drops = 0;
	op_unlink_free(o);
	pump();
}

/* Reads due ids back from the table into the empty local queue, when some
 * were left there (the next drop or drain tries again after a failure). */
static void local_refill(void)
{
	if (!inited || redis_mode || !accepting || !local_overflow || refilling || local_head ||
	    !app.pg)
		return;
	struct pending_op *o = op_new();
	if (!o)
		return;
	char lim[16];
	snprintf(lim, sizeof(lim), "%d", LOCAL_QUEUE_MAX);
	const char *params[1] = {lim};
	o->asked = LOCAL_QUEUE_MAX;
	refilling = 1;
	refill_drops = 0;
	o->q = pg_pool_query(app.pg, PG_WRITE, NULL, refill_sql, 1, params, refill_done, o);
	if (!o->q) {
		refilling = 0;
		op_unlink_free(o);
	}
}

static void dispatch_now(const char *id)
{
	if (redis_mode)
		redis_queue_push(id);
	else
		local_push(id);
}

static void delayed_cb(evutil_socket_t fd, short what, void *arg)
{
	struct delayed *d = arg;
	(void)fd, (void)what;
	if (d->prev)
		d->prev->next = d->next;
	else
		delays = d->next;
	if (d->next)
		d->next->prev = d->prev;
	dispatch_now(d->id);
	event_free(d->ev);
	free(d);
}

void tasks_dispatch(const char *id, int delay_ms)
{
	if (!inited)
		return;
	if (delay_ms <= 0) {
		dispatch_now(id);
		return;
	}
	struct delayed *d = calloc(1, sizeof(*d));
	if (!d)
		return; /* the sweeper re-dispatches it */
	snprintf(d->id, sizeof(d->id), "%s", id);
	d->ev = evtimer_new(base, delayed_cb, d);
	if (!d->ev) {
		free(d);
		return;
	}
	struct timeval tv = {delay_ms / 1000, (delay_ms % 1000) * 1000};
	evtimer_add(d->ev, &tv);
	d->next = delays;
	if (delays)
		delays->prev = d;
	delays = d;
}

/* Local runs: start what fits. */
static void pump_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
	while (accepting && running < TASKS_MAX_RUNNING && local_head) {
		struct local_job *j = local_head;
		local_head = j->next;
		if (!local_head)
			local_tail = NULL;
		nlocal--;
		char id[40];
		memcpy(id, j->id, sizeof(id));
		free(j);
		run_start(id, 0);
	}
	if (!local_head)
		local_refill();
}

static void pump(void)
{
	if (!inited)
		return;
	if (redis_mode) {
		if (consuming)
			redis_queue_capacity(accepting ? TASKS_MAX_RUNNING - running : 0);
		return;
	}
	if (accepting && local_head && running < TASKS_MAX_RUNNING && pump_ev)
		event_active(pump_ev, EV_TIMEOUT, 1);
}

/* A job from Redis (already in the processing list). */
static void redis_job(const char *id)
{
	if (!accepting) {
		/* hand it back for another consumer */
		redis_queue_push(id);
		redis_queue_ack(id);
		return;
	}
	run_start(id, 1);
	pump();
}

static void redis_ready(int first)
{
	(void)first;
	if (mode == TASKS_SERVE)
		tasks_resync();
}

/* ---- enqueue ---- */

static void enqueue_unlink(struct enqueue *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		enqueues = e->next;
	if (e->next)
		e->next->prev = e->prev;
}

static void enqueue_done(void *arg, PGresult *res, int err)
{
	struct enqueue *e = arg;
	enqueue_unlink(e);
	const char *id = NULL;
	int rc = 0;
	if (err != PG_OK) {
		log_error(NULL, "task %s: cannot enqueue: %s", e->name,
			  err == PG_ERR_QUERY ? PQresultErrorMessage(res) : "database unavailable");
		rc = -1;
	} else if (PQntuples(res) == 1) {
		id = PQgetvalue(res, 0, 0);
		tasks_dispatch(id, e->delay_ms);
	}
	if (e->cb)
		e->cb(e->arg, rc, id);
	free(e);
}

int tasks_enqueue(const char *name, struct json_object *payload, const struct task_opts *opts,
		  tasks_enqueued_cb cb, void *arg)
{
	return tasks_enqueue_if(NULL, 0, NULL, name, payload, opts, cb, arg);
}

int tasks_enqueue_if(const char *cond, int ncond, const char *const *cond_params, const char *name,
		     struct json_object *payload, const struct task_opts *opts,
		     tasks_enqueued_cb cb, void *arg)
{
	static const struct task_opts none;
	if (!opts)
		opts = &none;
	if (!inited || !app.pg || ncond < 0 || ncond > COND_PARAMS_MAX)
		return -1;
	const char *pl =
	    payload ? json_object_to_json_string_ext(payload, JSON_C_TO_STRING_PLAIN) : "{}";
	char creator[24], delay[16];
	snprintf(creator, sizeof(creator), "%lld", opts->creator_id);
	snprintf(delay, sizeof(delay), "%d", opts->delay_ms > 0 ? opts->delay_ms : 0);
	const char *params[5 + COND_PARAMS_MAX] = {name, pl, opts->creator_id > 0 ? creator : NULL,
						   opts->dedupe_key, delay};
	for (int i = 0; i < ncond; i++)
		params[5 + i] = cond_params[i];
	char *sql = NULL;
	if (cond) {
		size_t n = strlen(INSERT_HEAD INSERT_TAIL) + strlen(cond) + 16;
		if (!(sql = malloc(n)))
			return -1;
		snprintf(sql, n, "%s WHERE %s%s", INSERT_HEAD, cond, INSERT_TAIL);
	}
	struct enqueue *e = calloc(1, sizeof(*e));
	if (!e) {
		free(sql);
		return -1;
	}
	e->cb = cb;
	e->arg = arg;
	e->delay_ms = opts->delay_ms > 0 ? opts->delay_ms : 0;
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->q = pg_pool_query(app.pg, PG_WRITE, NULL, sql ? sql : insert_sql, 5 + ncond, params,
			     enqueue_done, e);
	free(sql); /* copied by the pool */
	if (!e->q) {
		free(e);
		log_warn(NULL, "task %s: not enqueued: the database is unavailable", name);
		return -1;
	}
	e->next = enqueues;
	if (enqueues)
		enqueues->prev = e;
	enqueues = e;
	return 0;
}

/* ---- resync and tidy ---- */

static void op_unlink_free(struct pending_op *o)
{
	if (o->prev)
		o->prev->next = o->next;
	else
		ops = o->next;
	if (o->next)
		o->next->prev = o->prev;
	for (int i = 0; i < o->nids; i++)
		free(o->ids[i]);
	free(o->ids);
	free(o);
}

static struct pending_op *op_new(void)
{
	struct pending_op *o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->next = ops;
	if (ops)
		ops->prev = o;
	ops = o;
	return o;
}

static void resync_done(void *arg, PGresult *res, int err)
{
	struct pending_op *o = arg;
	o->q = NULL;
	if (err == PG_OK) {
		int n = PQntuples(res);
		if (n > 0)
			log_info(NULL, "tasks: re-dispatching %d due tasks", n);
		for (int i = 0; i < n; i++)
			dispatch_now(PQgetvalue(res, i, 0));
	} else if (err == PG_ERR_QUERY) {
		log_warn(NULL, "tasks: re-dispatch failed: %s", PQresultErrorMessage(res));
	}
	op_unlink_free(o);
}

void tasks_resync(void)
{
	if (!inited)
		return;
	if (!redis_mode) {
		/* the local queue reads them back in batches as it drains */
		local_overflow = 1;
		local_refill();
		return;
	}
	struct pending_op *o = op_new();
	if (!o)
		return;
	o->q = pg_pool_query(app.pg, PG_WRITE, NULL, resync_sql, 0, NULL, resync_done, o);
	if (!o->q)
		op_unlink_free(o);
}

static void resync_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
	tasks_resync();
}

static void tidy_done(void *arg, PGresult *res, int err)
{
	struct pending_op *o = arg;
	o->q = NULL;
	if (err == PG_OK) {
		for (int i = 0; i < PQntuples(res); i++)
			redis_queue_ack(PQgetvalue(res, i, 0));
		if (PQntuples(res) > 0)
			log_info(NULL, "tasks: removed %d finished ids from the processing list",
				 PQntuples(res));
	}
	op_unlink_free(o);
}

/* Builds a PostgreSQL text[] literal of ids (which Redis gave: quoted). */
static char *text_array(char **ids, int n)
{
	size_t len = 3;
	for (int i = 0; i < n; i++)
		len += 2 * strlen(ids[i]) + 3;
	char *s = malloc(len), *p = s;
	if (!s)
		return NULL;
	*p++ = '{';
	for (int i = 0; i < n; i++) {
		if (i)
			*p++ = ',';
		*p++ = '"';
		for (const char *c = ids[i]; *c; c++) {
			if (*c == '"' || *c == '\\')
				*p++ = '\\';
			*p++ = *c;
		}
		*p++ = '"';
	}
	*p++ = '}';
	*p = '\0';
	return s;
}

static void tidy_got(void *arg, char **ids, int n)
{
	(void)arg;
	if (n <= 0 || !inited)
		return;
	char *arr = text_array(ids, n);
	if (!arr)
		return;
	struct pending_op *o = op_new();
	if (o) {
		const char *params[1] = {arr};
		o->q = pg_pool_query(app.pg, PG_READ, NULL, tidy_sql, 1, params, tidy_done, o);
		if (!o->q)
			op_unlink_free(o);
	}
	free(arr);
}

void tasks_tidy_processing(void)
{
	if (inited && redis_mode)
		redis_queue_processing(1000, tidy_got, NULL);
}

/* ---- metrics ---- */

void tasks_set_counts(const PGresult *res)
{
	memset(state_counts, 0, sizeof(state_counts));
	for (int i = 0; i < PQntuples(res); i++)
		for (size_t s = 0; s < NSTATES; s++)
			if (strcmp(PQgetvalue(res, i, 0), state_names[s]) == 0)
				state_counts[s] = strtol(PQgetvalue(res, i, 1), NULL, 10);
	counted = 1;
}

void tasks_metrics_render(struct evbuffer *buf)
{
	if (counted) {
		evbuffer_add_printf(buf, "# HELP oes_tasks Tasks in the database by state.\n"
					 "# TYPE oes_tasks gauge\n");
		for (size_t s = 0; s < NSTATES; s++)
			evbuffer_add_printf(buf, "oes_tasks{state=\"%s\"} %ld\n", state_names[s],
					    state_counts[s]);
	}
	evbuffer_add_printf(
	    buf,
	    "# HELP oes_tasks_running Tasks running in this process.\n"
	    "# TYPE oes_tasks_running gauge\noes_tasks_running %d\n"
	    "# HELP oes_tasks_local_queued Task ids waiting in this process's memory "
	    "for a local run (more wait in the database when it is full).\n"
	    "# TYPE oes_tasks_local_queued gauge\noes_tasks_local_queued %d\n"
	    "# HELP oes_task_runs_total Task runs ended in this process.\n"
	    "# TYPE oes_task_runs_total counter\n",
	    running, nlocal);
	for (int o = 0; o < NOUTCOMES; o++)
		evbuffer_add_printf(buf, "oes_task_runs_total{outcome=\"%s\"} %ld\n",
				    outcome_names[o], outcomes[o]);
}

/* ---- life ---- */

const char *tasks_redis_health(void)
{
	if (!redis_mode)
		return "off";
	return redis_queue_up() ? "ok" : "unavailable";
}

int tasks_running(void)
{
	return running;
}

void tasks_stop_consuming(void)
{
	accepting = 0;
	pump();
}

int tasks_init(struct event_base *b, struct evdns_base *dns, int m)
{
	metrics_render_extra = tasks_metrics_render;
	base = b;
	mode = m;
	if (tasks_register(TASK_VERSIONS_BUMP, versions_task_bump) < 0 ||
	    tasks_register(TASK_EXPORT_JSON, export_task_json) < 0 ||
	    tasks_register(TASK_EXPORT_ICAL, export_task_ical) < 0 ||
	    tasks_register(TASK_EXPORT_XCAL, export_task_xcal) < 0 ||
	    tasks_register(TASK_EXPORT_REGENERATE, export_task_regenerate) < 0 ||
	    tasks_register(TASK_IMAGES_DERIVE, images_task_derive) < 0)
		return -1;
	redis_mode = cfg.redis_url && cfg.redis_url[0];
	consuming = m == TASKS_WORKER || !redis_mode || cfg.task_consumer;
	accepting = consuming;
	pump_ev = event_new(base, -1, 0, pump_cb, NULL);
	if (!pump_ev)
		return -1;
	inited = 1;
	if (redis_mode) {
		static const struct redis_queue_handlers h = {redis_job, redis_ready};
		if (redis_queue_start(base, dns, cfg.redis_url, consuming, &h) < 0) {
			tasks_cleanup();
			return -1;
		}
		pump();
	} else if (m == TASKS_SERVE) {
		resync_ev = evtimer_new(base, resync_timer, NULL);
		struct timeval tv = {0, RESYNC_DELAY_MS * 1000};
		if (resync_ev)
			evtimer_add(resync_ev, &tv);
	}
	log_info(NULL, "tasks: dispatch %s, %s", redis_mode ? "through Redis" : "on this loop",
		 consuming ? "running tasks here" : "not running tasks here");
	return 0;
}

void tasks_cleanup(void)
{
	if (!inited)
		return;
	inited = 0;
	accepting = 0;
	if (redis_mode)
		redis_queue_stop();
	/* no loop turn runs before pg_pool_free: pending BEGIN and COMMIT
	 * callbacks never come, so every run can go now */
	while (runs) {
		struct run *r = runs;
		cancel_ops(r);
		run_unlink(r);
		run_free(r);
	}
	while (limbo) {
		struct run *r = limbo;
		list_remove(&limbo, r);
		run_free(r);
	}
	running = 0;
	while (enqueues) {
		struct enqueue *e = enqueues;
		enqueue_unlink(e);
		pg_query_cancel(e->q);
		if (e->cb)
			e->cb(e->arg, -1, NULL);
		free(e);
	}
	while (delays) {
		struct delayed *d = delays;
		delays = d->next;
		event_free(d->ev);
		free(d);
	}
	while (local_head) {
		struct local_job *j = local_head;
		local_head = j->next;
		free(j);
	}
	local_tail = NULL;
	nlocal = 0;
	local_overflow = refilling = refill_drops = overflow_told = 0;
	while (ops) {
		pg_query_cancel(ops->q);
		op_unlink_free(ops);
	}
	if (pump_ev)
		event_free(pump_ev);
	pump_ev = NULL;
	if (resync_ev)
		event_free(resync_ev);
	resync_ev = NULL;
	redis_mode = 0;
}
