/*
 * periodic: the periodic jobs of a serve process, on one timer. Each job
 * runs in a transaction that first takes a PostgreSQL advisory lock (one
 * instance at a time) and then its row of `periodic_jobs` (once per
 * interval among all instances):
 *
 *   tasks.sweep     every TASK_VISIBILITY_TIMEOUT_S / 2 (1..60 s): tasks
 *                   STARTED longer than the timeout go back to RETRY (or
 *                   FAILURE when out of retries), due tasks nobody picked
 *                   up within the timeout are dispatched again; then the
 *                   Redis processing list is tidied
 *   tasks.expire    finished tasks older than TASK_RESULT_TTL_S are deleted
 *   trash.purge     hourly: oes_purge_trash(TRASH_RETENTION_DAYS)
 *   tokens.expire   every 10 minutes: expired token revocations go
 *   tasks.count     every 15 s in every instance, without lock or gate:
 *                   tasks by state for /metrics (tasks_metrics_render)
 *
 * Jobs run one after the other, so they pin at most one connection.
 * Never: blocks the loop; runs a job twice at once across instances.
 */
#ifndef OES_TASKS_PERIODIC_H
#define OES_TASKS_PERIODIC_H

struct event_base;

/* Starts the timer (after tasks_init). 0/-1. */
int periodic_start(struct event_base *base);
/* Stops it. Call after the loop stopped, before pg_pool_free. */
void periodic_stop(void);

#endif
