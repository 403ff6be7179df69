/*
 * app_signals: maps committed writes to the four named signals and
 * connects their receivers (version counters, export regeneration).
 *
 * Owns: nothing beyond the connections. Never: holds a pointer into the
 * request that wrote; the kwargs carry ids only.
 */
#include "signals/app_signals.h"

#include "handlers/account.h"
#include "handlers/resources.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "core/crud.h"
#include "core/log.h"
#include "core/resource.h"
#include "signals/signals.h"
#include "tasks/images.h"
#include "tasks/tasks.h"

/* The signal of each type; the rest of the event's types send
 * event_json_modified. */
static const struct {
	const char *type;   /* JSON:API type */
	const char *signal; /* signal name */
	const char *key;    /* kwarg holding the row's id */
} signal_of_type[] = {
    {"session", SIGNAL_SESSIONS_MODIFIED, "session_id"},
    {"speaker", SIGNAL_SPEAKERS_MODIFIED, "speaker_id"},
    {"microlocation", SIGNAL_MICROLOCATIONS_MODIFIED, "microlocation_id"},
};

/* Each signal and the version counter its receiver bumps. */
static const struct {
	const char *signal; /* signal name */
	const char *kind;   /* versions.bump kind */
} counters[] = {
    {SIGNAL_EVENT_JSON_MODIFIED, "event"},
    {SIGNAL_SESSIONS_MODIFIED, "sessions"},
    {SIGNAL_SPEAKERS_MODIFIED, "speakers"},
    {SIGNAL_MICROLOCATIONS_MODIFIED, "microlocations"},
};
#define NCOUNTERS (sizeof(counters) / sizeof(counters[0]))

static const char *const action_names[] = {"created", "updated", "trashed", "restored", "purged"};

void app_signals_on_write(const struct resource *r, int action, long long id, long long event_id)
{
	if (!r)
		return;
	/* a new account gets its verification mail, whatever SIGNALS says */
	if (r == &user_resource && action == CRUD_CREATED)
		account_send_verification(id);
	/* events, speakers and users may point at an uploaded image */
	if (action != CRUD_TRASHED && action != CRUD_PURGED)
		images_on_write(r->type, id, IMAGES_COALESCE_MS);
	if (event_id <= 0)
		return; /* users, topics, roles: no event to tell about */
	const char *signal = SIGNAL_EVENT_JSON_MODIFIED, *key = NULL;
	for (size_t i = 0; i < sizeof(signal_of_type) / sizeof(signal_of_type[0]); i++)
		if (strcmp(r->type, signal_of_type[i].type) == 0) {
			signal = signal_of_type[i].signal;
			key = signal_of_type[i].key;
		}
	struct json_object *kw = json_object_new_object();
	if (!kw)
		return;
	json_object_object_add(kw, "event_id", json_object_new_int64(event_id));
	if (key)
		json_object_object_add(kw, key, json_object_new_int64(id));
	json_object_object_add(kw, "type", json_object_new_string(r->type));
	if (action >= 0 && action < (int)(sizeof(action_names) / sizeof(action_names[0])))
		json_object_object_add(kw, "action", json_object_new_string(action_names[action]));
	signals_send(signal, r->type, kw);
	json_object_put(kw);
}

/* Whether kwargs tell that the event itself was purged (nothing left to
 * count or export). */
static int event_purged(struct json_object *kw)
{
	struct json_object *t, *a;
	return json_object_object_get_ex(kw, "type", &t) &&
	       json_object_object_get_ex(kw, "action", &a) &&
	       strcmp(json_object_get_string(t), "event") == 0 &&
	       strcmp(json_object_get_string(a), "purged") == 0;
}

/* Receiver: bumps the counter named by udata through a task (its effect
 * is applied once, in the task's transaction). */
static int bump_receiver(void *udata, const char *signal, const char *sender,
			 struct json_object *kw)
{
	(void)sender;
	long long event_id;
	if (signals_kwarg_id(kw, "event_id", &event_id) < 0) {
		log_warn(NULL, "signal %s: no event_id", signal);
		return -1;
	}
	if (event_purged(kw))
		return 0;
	struct json_object *payload = json_object_new_object();
	if (!payload)
		return -1;
	json_object_object_add(payload, "event_id", json_object_new_int64(event_id));
	json_object_object_add(payload, "kind", json_object_new_string(udata));
	int rc = tasks_enqueue(TASK_VERSIONS_BUMP, payload, NULL, NULL, NULL);
	json_object_put(payload);
	return rc;
}

/* Receiver: regenerates the event's public exports, once per event for
 * every change within EXPORT_COALESCE_MS. */
static int export_receiver(void *udata, const char *signal, const char *sender,
			   struct json_object *kw)
{
	(void)udata, (void)sender;
	long long event_id;
	if (signals_kwarg_id(kw, "event_id", &event_id) < 0) {
		log_warn(NULL, "signal %s: no event_id", signal);
		return -1;
	}
	if (event_purged(kw))
		return 0;
	char key[64];
	snprintf(key, sizeof(key), "%s:%lld", TASK_EXPORT_REGENERATE, event_id);
	struct json_object *payload = json_object_new_object();
	if (!payload)
		return -1;
	json_object_object_add(payload, "event_id", json_object_new_int64(event_id));
	struct task_opts o = {.dedupe_key = key, .delay_ms = EXPORT_COALESCE_MS};
	int rc = tasks_enqueue(TASK_EXPORT_REGENERATE, payload, &o, NULL, NULL);
	json_object_put(payload);
	return rc;
}

int app_signals_init(void)
{
	for (size_t i = 0; i < NCOUNTERS; i++)
		if (signals_connect(counters[i].signal, bump_receiver, (void *)counters[i].kind) <
			0 ||
		    signals_connect(counters[i].signal, export_receiver, NULL) < 0)
			return -1;
	crud_on_write = app_signals_on_write;
	return 0;
}

void app_signals_cleanup(void)
{
	if (crud_on_write == app_signals_on_write)
		crud_on_write = NULL;
	for (size_t i = 0; i < NCOUNTERS; i++) {
		signals_disconnect(counters[i].signal, bump_receiver, (void *)counters[i].kind);
		signals_disconnect(counters[i].signal, export_receiver, NULL);
	}
}
