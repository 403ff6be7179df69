/*
 * workers: a small pool of threads for CPU-heavy work that cannot be split
 * (password hashing, image re-encoding). A job's `work` runs on a pool
 * thread; its `done` then runs on the loop thread, posted back through an
 * eventfd watched by a libevent event.
 *
 * Owns: its threads, the job queue and the eventfd. Never: touches libevent,
 * libpq or a request from a pool thread (only `work` runs there, and `work`
 * must touch nothing but its own arg); calls `done` from inside
 * workers_submit.
 *
 * Every job accepted by workers_submit runs `work` exactly once and then
 * `done` exactly once, also across workers_stop (which lets the threads
 * finish the queue, then calls the remaining `done` callbacks itself), so a
 * job's owner can always free its arg in `done`.
 */
#ifndef OES_WORKERS_H
#define OES_WORKERS_H

struct event_base;

#define WORKERS_DEFAULT_THREADS 2
#define WORKERS_QUEUE_MAX	256 /* jobs accepted and not yet done */
#define WORKERS_DEFAULT_BIG_MAX 1   /* big jobs running at once */

typedef void (*workers_fn)(void *arg);

/* Starts n threads (n <= 0: WORKERS_DEFAULT_THREADS) posting to base. Once
 * per process, after any fork. 0/-1. */
int workers_start(struct event_base *base, int n);

/* Queues a job; `work(arg)` runs on a pool thread, then `done(arg)` on the
 * loop. The caller keeps ownership of arg until `done` runs (done frees it).
 * -1 when the pool is not running or WORKERS_QUEUE_MAX jobs are in flight
 * (answer 503); neither callback is called then. Loop thread only. */
int workers_submit(workers_fn work, workers_fn done, void *arg);

/* As workers_submit, for a job that holds much memory while it runs (an
 * argon2id hash: 19 MiB). At most workers_set_big_max of them run at once;
 * the others wait in order, and other jobs pass them meanwhile. So the
 * memory they take is bounded whatever the load. */
int workers_submit_big(workers_fn work, workers_fn done, void *arg);

/* How many big jobs may run at once (n <= 0: WORKERS_DEFAULT_BIG_MAX). */
void workers_set_big_max(int n);

/* Jobs accepted and whose `done` has not run yet. */
int workers_inflight(void);

/* Stops the pool: the threads finish every queued job and are joined, then
 * the `done` callbacks not yet run are called on the caller's thread (the
 * loop thread, after the loop has stopped; the event base must still
 * exist). No-op when not started. */
void workers_stop(void);

#endif
