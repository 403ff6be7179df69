/*
 * handlers/tasks: `GET /v1/tasks/{uuid}` -> 200 {"state", "result"} (plain
 * JSON) for the task's creator and admins; 401 anonymous, 403 others, 404
 * unknown (or expired after TASK_RESULT_TTL_S). result is null until the
 * task has one.
 */
#ifndef OES_HANDLERS_TASKS_H
#define OES_HANDLERS_TASKS_H

struct req_ctx;

void task_status(struct req_ctx *ctx);

#endif
