/*
 * task_worker: the `open-event-server worker` command: a process whose
 * loop only consumes tasks from Redis (REDIS_URL is required), with its
 * own database pool and storage. SIGTERM/SIGINT stop taking tasks and let
 * the runs in progress finish within SHUTDOWN_GRACE_MS; a second signal
 * stops at once (unfinished tasks are swept back by serve processes).
 */
#ifndef OES_TASKS_TASK_WORKER_H
#define OES_TASKS_TASK_WORKER_H

/* Runs the worker until stopped; the process exit status. After
 * config_load and log_setup. setup (may be NULL) runs after tasks_init,
 * before the loop: other modules that register tasks do it there (e.g.
 * mail_init); 0/-1. teardown (may be NULL) runs after tasks_cleanup and
 * before the worker pool and storage stop, when setup returned 0. */
int task_worker_main(int (*setup)(void), void (*teardown)(void));

#endif
