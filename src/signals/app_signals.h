/*
 * app_signals: the application's named signals (spec §7) and their
 * receivers.
 *
 *   event_json_modified(event_id)                    the event or a sub-resource
 *                                                    other than the three below
 *   sessions_modified(event_id, session_id)
 *   speakers_modified(event_id, speaker_id)
 *   microlocations_modified(event_id, microlocation_id)
 *
 * They are sent from the engine's write hook (crud_on_write) after the
 * write committed: creates, updates, trash, restore and purge alike (kwargs
 * also carry "action" and "type"). The receivers bump the event's version
 * counter (a `versions.bump` task) and enqueue the regeneration of its
 * public exports (`export.regenerate`, coalesced per event over
 * EXPORT_COALESCE_MS). The hook also enqueues `images.derive` for writes of
 * events, speakers and users whose image changed (images_on_write), whether
 * or not SIGNALS is on: derived images are part of the data, not a
 * receiver's business.
 *
 * Never: sends before the commit; runs a receiver on the writer's stack.
 */
#ifndef OES_SIGNALS_APP_SIGNALS_H
#define OES_SIGNALS_APP_SIGNALS_H

#define SIGNAL_EVENT_JSON_MODIFIED     "event_json_modified"
#define SIGNAL_SESSIONS_MODIFIED       "sessions_modified"
#define SIGNAL_SPEAKERS_MODIFIED       "speakers_modified"
#define SIGNAL_MICROLOCATIONS_MODIFIED "microlocations_modified"

/* Changes within this many milliseconds make one export regeneration. */
#define EXPORT_COALESCE_MS 1000
/* Writes of a row within this many milliseconds make one images.derive. */
#define IMAGES_COALESCE_MS 200

/* Connects the receivers and sets crud_on_write. Call after signals_init.
 * 0/-1. */
int app_signals_init(void);
/* Unsets crud_on_write and disconnects the receivers. */
void app_signals_cleanup(void);

/* The write hook (exported for tests): maps a committed write to its
 * signal and sends it. */
struct resource;
void app_signals_on_write(const struct resource *r, int action, long long id, long long event_id);

#endif
