/*
 * versions_task: the `versions.bump` task, which adds one to an event's
 * version counter (event_versions: event_ver, sessions_ver, speakers_ver,
 * microlocations_ver) inside the task's transaction, so that the bump is
 * applied once however often the task is dispatched.
 */
#ifndef OES_TASKS_VERSIONS_TASK_H
#define OES_TASKS_VERSIONS_TASK_H

struct task_run;

/* Payload {"event_id": N, "kind": "event"|"sessions"|"speakers"|
 * "microlocations"}; result {"event_id", "kind", "bumped": bool} (false
 * when the event is gone). An unknown kind fails for good. */
void versions_task_bump(struct task_run *run);

#endif
