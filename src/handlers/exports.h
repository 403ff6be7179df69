/*
 * exports: the export endpoints of spec §7, plain JSON, for the event's
 * organisers (owner, organizer, coorganizer) and admins:
 *
 *   POST /v1/events/{event_id}/export/json   the event with its sessions,
 *                                            speakers, tracks,
 *                                            microlocations and sponsors
 *   GET  /v1/events/{event_id}/export/ical   the schedule as iCalendar
 *   GET  /v1/events/{event_id}/export/xcal   the schedule as xCal
 *
 * Each enqueues a task (tasks/export.h) and answers 200
 * {"task_url": "/v1/tasks/<uuid>"}; the task's result holds download_url.
 * 401 without a signed-in caller, 403 for callers who see the event but do
 * not organise it, 404 when the event does not exist or is hidden from the
 * caller.
 */
#ifndef OES_HANDLERS_EXPORTS_H
#define OES_HANDLERS_EXPORTS_H

struct req_ctx;

void exports_json(struct req_ctx *ctx);
void exports_ical(struct req_ctx *ctx);
void exports_xcal(struct req_ctx *ctx);

#endif
