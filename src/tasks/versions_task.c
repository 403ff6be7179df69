/*
 * versions_task: see versions_task.h. The counter's column comes from a
 * fixed table by kind, never from the payload's text.
 */
#include "tasks/versions_task.h"

#include <stdio.h>
#include <string.h>

#include "core/pg_pool.h"
#include "tasks/tasks.h"

static const struct {
	const char *kind; /* payload "kind" */
	const char *sql;  /* the bump of its column */
} bumps[] = {
#define BUMP(col)                                                                                  \
	"INSERT INTO event_versions (event_id, " col ") SELECT id, 1 FROM events WHERE id = "      \
	"$1::bigint ON CONFLICT (event_id) DO UPDATE SET " col " = event_versions." col " + 1"
    {"event", BUMP("event_ver")},
    {"sessions", BUMP("sessions_ver")},
    {"speakers", BUMP("speakers_ver")},
    {"microlocations", BUMP("microlocations_ver")},
#undef BUMP
};

static const char *bump_sql(const char *kind)
{
	for (size_t i = 0; kind && i < sizeof(bumps) / sizeof(bumps[0]); i++)
		if (strcmp(bumps[i].kind, kind) == 0)
			return bumps[i].sql;
	return NULL;
}

static void bumped(struct task_run *run, PGresult *res, int err)
{
	if (err != PG_OK) {
		task_fail(run, 0,
			  err == PG_ERR_QUERY ? PQresultErrorMessage(res) : "database unavailable");
		return;
	}
	struct json_object *r = json_object_new_object();
	json_object_object_add(r, "event_id",
			       json_object_new_int64(task_payload_id(run, "event_id")));
	json_object_object_add(r, "kind", json_object_new_string(task_payload_str(run, "kind")));
	json_object_object_add(r, "bumped",
			       json_object_new_boolean(strcmp(PQcmdTuples(res), "1") == 0));
	task_succeed(run, r);
}

static void in_txn(struct task_run *run, int err)
{
	if (err) {
		task_fail(run, 0, "database unavailable");
		return;
	}
	char id[24];
	snprintf(id, sizeof(id), "%lld", task_payload_id(run, "event_id"));
	const char *params[1] = {id};
	task_query(run, bump_sql(task_payload_str(run, "kind")), 1, params, bumped);
}

void versions_task_bump(struct task_run *run)
{
	if (task_payload_id(run, "event_id") == 0 || !bump_sql(task_payload_str(run, "kind"))) {
		task_fail(run, 1, "payload needs event_id and a known kind");
		return;
	}
	task_begin(run, in_txn);
}
