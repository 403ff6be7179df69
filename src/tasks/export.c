/*
 * export: see export.h. One state machine for the four tasks: load (one
 * query rendering JSON in PostgreSQL), render, store, and for regenerate
 * the same again per format. The task's state lives in run->data and holds
 * no pointer into anything but itself.
 */
#include "tasks/export.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/config.h"
#include "core/pg_pool.h"
#include "core/storage.h"
#include "tasks/ical.h"
#include "tasks/tasks.h"

/* The whole event as JSON. $2: public content only. Private payment
 * details of the event are never exported. */
static const char json_sql[] =
    "SELECT e.identifier, (e.state = 'published' AND e.privacy = 'public'), "
    "jsonb_build_object("
    "'event', oes_export_row(to_jsonb(e) - ARRAY['paypal_email', 'cheque_details', "
    "'bank_details', 'onsite_details']), "
    "'sessions', coalesce((SELECT jsonb_agg(oes_export_row(to_jsonb(s) || "
    "jsonb_build_object('speaker_ids', coalesce((SELECT jsonb_agg(ss.speaker_id::text "
    "ORDER BY ss.speaker_id) FROM sessions_speakers ss JOIN speakers sp ON sp.id = "
    "ss.speaker_id AND sp.deleted_at IS NULL WHERE ss.session_id = s.id), '[]'::jsonb))) "
    "ORDER BY s.starts_at NULLS LAST, s.id) FROM sessions s WHERE s.event_id = e.id AND "
    "s.deleted_at IS NULL AND (NOT $2::boolean OR s.state IN ('accepted', 'confirmed'))), "
    "'[]'::jsonb), "
    "'speakers', coalesce((SELECT jsonb_agg(oes_export_row(CASE WHEN $2::boolean THEN "
    "to_jsonb(sp) - ARRAY['email', 'mobile'] ELSE to_jsonb(sp) END) ORDER BY sp.id) "
    "FROM speakers sp WHERE sp.event_id = e.id AND sp.deleted_at IS NULL), '[]'::jsonb), "
    "'tracks', coalesce((SELECT jsonb_agg(oes_export_row(to_jsonb(t)) ORDER BY t.position, "
    "t.id) FROM tracks t WHERE t.event_id = e.id AND t.deleted_at IS NULL), '[]'::jsonb), "
    "'microlocations', coalesce((SELECT jsonb_agg(oes_export_row(to_jsonb(m)) ORDER BY "
    "m.position, m.id) FROM microlocations m WHERE m.event_id = e.id AND m.deleted_at IS "
    "NULL), '[]'::jsonb), "
    "'sponsors', coalesce((SELECT jsonb_agg(oes_export_row(to_jsonb(o)) ORDER BY o.level "
    "NULLS LAST, o.id) FROM sponsors o WHERE o.event_id = e.id AND o.deleted_at IS NULL), "
    "'[]'::jsonb))::text "
    "FROM events e WHERE e.id = $1::bigint AND e.deleted_at IS NULL";

#define UTC_STAMP(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYYMMDD\"T\"HH24MISS\"Z\"')"

/* The schedule for ical.c: accepted and confirmed sessions with times. */
static const char cal_sql[] =
    "SELECT e.identifier, json_build_object("
    "'event', json_build_object('name', e.name, 'identifier', e.identifier), "
    "'sessions', coalesce((SELECT json_agg(json_build_object("
    "'id', s.id, 'title', s.title, 'subtitle', s.subtitle, "
    "'abstract', coalesce(s.short_abstract, s.long_abstract), "
    "'start', " UTC_STAMP("s.starts_at") ", 'end', " UTC_STAMP(
	"s.ends_at") ", "
		     "'modified', " UTC_STAMP(
			 "s.last_modified_at") ", "
					       "'location', m.name, 'track', t.name, "
					       "'speakers', (SELECT json_agg(sp.name ORDER BY "
					       "sp.name) FROM sessions_speakers ss "
					       "JOIN speakers sp ON sp.id = ss.speaker_id AND "
					       "sp.deleted_at IS NULL "
					       "WHERE ss.session_id = s.id)) ORDER BY s.starts_at, "
					       "s.id) "
					       "FROM sessions s LEFT JOIN microlocations m ON m.id "
					       "= s.microlocation_id AND "
					       "m.deleted_at IS NULL LEFT JOIN tracks t ON t.id = "
					       "s.track_id AND t.deleted_at IS NULL "
					       "WHERE s.event_id = e.id AND s.deleted_at IS NULL "
					       "AND s.starts_at IS NOT NULL AND "
					       "s.ends_at IS NOT NULL AND s.state IN ('accepted', "
					       "'confirmed')), '[]'::json))::text "
					       "FROM events e WHERE e.id = $1::bigint AND "
					       "e.deleted_at IS NULL";

enum export_fmt { FMT_JSON, FMT_ICAL, FMT_XCAL, FMT_REGEN };

static const struct {
	const char *name;	  /* "format" of the result */
	const char *ext;	  /* file extension */
	const char *content_type; /* stored Content-Type */
	const char *stable;	  /* regenerate: file name under exports/<identifier>/ */
} formats[] = {
    {"json", "json", "application/json", "event.json"},
    {"ical", "ics", "text/calendar; charset=utf-8", "calendar.ics"},
    {"xcal", "xcs", "application/calendar+xml; charset=utf-8", "calendar.xcs"},
};

struct export_state {
	int fmt;	    /* enum export_fmt */
	char ident[16];	    /* the event's identifier */
	char *urls[3];	    /* regenerate: stored URLs by format */
	char *pending;	    /* regenerate: the xCal text waiting for its turn */
	size_t pending_len; /* its length */
};

static void state_free(void *p)
{
	struct export_state *st = p;
	for (int i = 0; i < 3; i++)
		free(st->urls[i]);
	free(st->pending);
	free(st);
}

/* The host of PUBLIC_URL, for UIDs. */
static void uid_domain(char *out, size_t len)
{
	const char *u = cfg.public_url ? cfg.public_url : "";
	const char *p = strstr(u, "://");
	p = p ? p + 3 : u;
	size_t n = strcspn(p, ":/");
	if (*p == '[')
		n = strcspn(p, "]") + 1;
	if (n == 0 || n >= len)
		snprintf(out, len, "open-event-server");
	else
		snprintf(out, len, "%.*s", (int)n, p);
}

static void db_error(struct task_run *run, PGresult *res, int err)
{
	task_fail(run, 0, err == PG_ERR_QUERY ? PQresultErrorMessage(res) : "database unavailable");
}

static void store(struct task_run *run, int fmt, const char *data, size_t len, task_stored_cb cb)
{
	struct export_state *st = run->data;
	char key[128], disp[128];
	if (st->fmt == FMT_REGEN) {
		snprintf(key, sizeof(key), "exports/%s/%s", st->ident, formats[fmt].stable);
		snprintf(disp, sizeof(disp), "attachment; filename=\"%s-%s\"", st->ident,
			 formats[fmt].stable);
	} else {
		unsigned char rnd[16];
		char hex[33];
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
			task_fail(run, 0, "no randomness for the file name");
			return;
		}
		for (int i = 0; i < 16; i++)
			snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
		snprintf(key, sizeof(key), "exports/%s/%s.%s", hex, st->ident, formats[fmt].ext);
		snprintf(disp, sizeof(disp), "attachment; filename=\"%s.%s\"", st->ident,
			 formats[fmt].ext);
	}
	task_store(run, key, data, len, formats[fmt].content_type, disp, cb);
}

/* ---- one format ---- */

static void stored_one(struct task_run *run, int err, const char *url)
{
	struct export_state *st = run->data;
	if (err) {
		task_fail(run, 0, "the storage did not take the file");
		return;
	}
	struct json_object *r = json_object_new_object();
	json_object_object_add(r, "download_url", json_object_new_string(url));
	json_object_object_add(r, "format", json_object_new_string(formats[st->fmt].name));
	task_succeed(run, r);
}

/* Renders the calendar document of a cal_sql row as fmt. */
static char *render_cal(const char *doc, int fmt, size_t *len)
{
	struct json_object *cal = json_tokener_parse(doc);
	char domain[256];
	uid_domain(domain, sizeof(domain));
	char *out =
	    fmt == FMT_ICAL ? ical_render(cal, domain, len) : ical_render_xcal(cal, domain, len);
	json_object_put(cal);
	return out;
}

static void loaded_one(struct task_run *run, PGresult *res, int err)
{
	struct export_state *st = run->data;
	if (err != PG_OK) {
		db_error(run, res, err);
		return;
	}
	if (PQntuples(res) != 1) {
		task_fail(run, 1, "the event does not exist");
		return;
	}
	snprintf(st->ident, sizeof(st->ident), "%s", PQgetvalue(res, 0, 0));
	if (st->fmt == FMT_JSON) {
		store(run, FMT_JSON, PQgetvalue(res, 0, 2), (size_t)PQgetlength(res, 0, 2),
		      stored_one);
		return;
	}
	size_t len = 0;
	char *text = render_cal(PQgetvalue(res, 0, 1), st->fmt, &len);
	if (!text) {
		task_fail(run, 0, "cannot render the calendar");
		return;
	}
	store(run, st->fmt, text, len, stored_one);
	free(text);
}

/* The export state of a run, or NULL after failing the run. */
static struct export_state *state_new(struct task_run *run, int fmt)
{
	if (task_payload_id(run, "event_id") == 0) {
		task_fail(run, 1, "payload needs event_id");
		return NULL;
	}
	struct export_state *st = calloc(1, sizeof(*st));
	if (!st) {
		task_fail(run, 0, "out of memory");
		return NULL;
	}
	st->fmt = fmt;
	run->data = st;
	run->data_free = state_free;
	return st;
}

static void start(struct task_run *run, int fmt)
{
	if (!state_new(run, fmt))
		return;
	char id[24];
	snprintf(id, sizeof(id), "%lld", task_payload_id(run, "event_id"));
	if (fmt == FMT_JSON) {
		const char *params[2] = {id, "false"};
		task_query(run, json_sql, 2, params, loaded_one);
	} else {
		const char *params[1] = {id};
		task_query(run, cal_sql, 1, params, loaded_one);
	}
}

void export_task_json(struct task_run *run)
{
	start(run, FMT_JSON);
}

void export_task_ical(struct task_run *run)
{
	start(run, FMT_ICAL);
}

void export_task_xcal(struct task_run *run)
{
	start(run, FMT_XCAL);
}

/* ---- regenerate: json, then ical, then xcal ---- */

static void regen_done(struct task_run *run)
{
	struct export_state *st = run->data;
	struct json_object *r = json_object_new_object();
	json_object_object_add(r, "json_url", json_object_new_string(st->urls[FMT_JSON]));
	json_object_object_add(r, "ical_url", json_object_new_string(st->urls[FMT_ICAL]));
	json_object_object_add(r, "xcal_url", json_object_new_string(st->urls[FMT_XCAL]));
	task_succeed(run, r);
}

static void regen_stored_xcal(struct task_run *run, int err, const char *url)
{
	struct export_state *st = run->data;
	if (err || !(st->urls[FMT_XCAL] = strdup(url))) {
		task_fail(run, 0, "the storage did not take the xCal file");
		return;
	}
	regen_done(run);
}

static void regen_stored_ical(struct task_run *run, int err, const char *url)
{
	struct export_state *st = run->data;
	if (err || !(st->urls[FMT_ICAL] = strdup(url))) {
		task_fail(run, 0, "the storage did not take the iCal file");
		return;
	}
	store(run, FMT_XCAL, st->pending, st->pending_len, regen_stored_xcal);
}

static void regen_loaded_cal(struct task_run *run, PGresult *res, int err)
{
	struct export_state *st = run->data;
	if (err != PG_OK) {
		db_error(run, res, err);
		return;
	}
	if (PQntuples(res) != 1) {
		struct json_object *r = json_object_new_object();
		json_object_object_add(r, "skipped", json_object_new_string("the event is gone"));
		task_succeed(run, r);
		return;
	}
	size_t ilen = 0;
	char *ics = render_cal(PQgetvalue(res, 0, 1), FMT_ICAL, &ilen);
	st->pending = render_cal(PQgetvalue(res, 0, 1), FMT_XCAL, &st->pending_len);
	if (!ics || !st->pending) {
		free(ics);
		task_fail(run, 0, "cannot render the calendar");
		return;
	}
	store(run, FMT_ICAL, ics, ilen, regen_stored_ical);
	free(ics);
}

static void regen_stored_json(struct task_run *run, int err, const char *url)
{
	struct export_state *st = run->data;
	if (err || !(st->urls[FMT_JSON] = strdup(url))) {
		task_fail(run, 0, "the storage did not take the JSON file");
		return;
	}
	char id[24];
	snprintf(id, sizeof(id), "%lld", task_payload_id(run, "event_id"));
	const char *params[1] = {id};
	task_query(run, cal_sql, 1, params, regen_loaded_cal);
}

static void regen_loaded_json(struct task_run *run, PGresult *res, int err)
{
	struct export_state *st = run->data;
	if (err != PG_OK) {
		db_error(run, res, err);
		return;
	}
	struct json_object *skip = NULL;
	if (PQntuples(res) != 1) {
		skip = json_object_new_string("the event is gone");
	} else if (strcmp(PQgetvalue(res, 0, 1), "t") != 0) {
		/* no longer public: its public files go (best effort) */
		for (int f = FMT_JSON; f <= FMT_XCAL; f++) {
			char key[128];
			snprintf(key, sizeof(key), "exports/%s/%s", PQgetvalue(res, 0, 0),
				 formats[f].stable);
			storage_delete(key);
		}
		skip = json_object_new_string("the event is not published and public");
	}
	if (skip) {
		struct json_object *r = json_object_new_object();
		json_object_object_add(r, "skipped", skip);
		task_succeed(run, r);
		return;
	}
	snprintf(st->ident, sizeof(st->ident), "%s", PQgetvalue(res, 0, 0));
	store(run, FMT_JSON, PQgetvalue(res, 0, 2), (size_t)PQgetlength(res, 0, 2),
	      regen_stored_json);
}

void export_task_regenerate(struct task_run *run)
{
	if (!state_new(run, FMT_REGEN))
		return;
	char id[24];
	snprintf(id, sizeof(id), "%lld", task_payload_id(run, "event_id"));
	const char *params[2] = {id, "true"};
	task_query(run, json_sql, 2, params, regen_loaded_json);
}
