/*
 * sessions: the `session` resource. Anonymous callers and strangers see
 * only accepted and confirmed sessions (and their own proposals); the
 * creator is the caller; who may set which state is decided here.
 */
#include <string.h>

#include "core/crud.h"
#include "core/req_ctx.h"
#include "core/sqlbuf.h"
#include "handlers/resources.h"

static const char *const session_states[] = {"draft",	 "pending",  "accepted",  "confirmed",
					     "rejected", "canceled", "withdrawn", NULL};

static const struct resource_attr session_attrs[] = {
    {"title", "title", ATTR_TEXT, ATTR_REQUIRED | ATTR_NONEMPTY},
    {"subtitle", "subtitle", ATTR_TEXT, 0},
    {"level", "level", ATTR_TEXT, 0},
    {"short-abstract", "short_abstract", ATTR_TEXT, 0},
    {"long-abstract", "long_abstract", ATTR_TEXT, 0},
    {"comments", "comments", ATTR_TEXT, 0},
    {"starts-at", "starts_at", ATTR_TIME, 0},
    {"ends-at", "ends_at", ATTR_TIME, 0},
    {"language", "language", ATTR_TEXT, 0},
    {"slides-url", "slides_url", ATTR_TEXT, 0},
    {"video-url", "video_url", ATTR_TEXT, 0},
    {"audio-url", "audio_url", ATTR_TEXT, 0},
    {"signup-url", "signup_url", ATTR_TEXT, 0},
    {"state", "state", ATTR_TEXT, 0, session_states},
    {"is-mail-sent", "is_mail_sent", ATTR_BOOL, ATTR_READONLY},
    {"is-locked", "is_locked", ATTR_BOOL, 0},
    {"average-rating", NULL, ATTR_NULL, ATTR_READONLY},
    {"created-at", "created_at", ATTR_TIME, ATTR_READONLY},
    {"submitted-at", "submitted_at", ATTR_TIME, ATTR_READONLY},
    {"last-modified-at", "last_modified_at", ATTR_TIME, ATTR_READONLY},
    {"deleted-at", "deleted_at", ATTR_TIME, 0},
};

static const struct resource_rel session_rels[] = {
    {"event", 0, &event_resource, "event_id", NULL, NULL, NULL, NULL, REL_REQUIRED | REL_FIXED},
    {"track", 0, &track_resource, "track_id"},
    {"session-type", 0, &session_type_resource, "session_type_id"},
    {"microlocation", 0, &microlocation_resource, "microlocation_id"},
    {"speakers", 1, &speaker_resource, NULL, "sessions_speakers", "session_id", "speaker_id"},
    {"creator", 0, &user_resource, "creator_id", NULL, NULL, NULL, NULL, REL_READONLY},
};

/* Strangers see accepted and confirmed sessions, and their own. */
static void session_public(struct sqlbuf *b, const char *alias, const struct principal *p)
{
	sqlbuf_add(b, "(%s.state IN ('accepted', 'confirmed')", alias);
	if (p->user_id) {
		sqlbuf_add(b, " OR %s.creator_id = ", alias);
		sqlbuf_param_int(b, p->user_id);
	}
	sqlbuf_add(b, ")");
}

static const char *row_text(struct write_ctx *w, const char *key)
{
	struct json_object *v;
	if (w->row && json_object_object_get_ex(w->row, key, &v) && v)
		return json_object_get_string(v);
	return NULL;
}

/* Proposals by signed-in callers on published events with an open call
 * for sessions; state changes by role (spec §5). */
static int session_before_write(struct write_ctx *w)
{
	struct req_ctx *ctx = w->ctx;
	const struct principal *p = &ctx->principal;
	int staff = p->is_admin || (w->roles & (ROLES_ORGANISERS | ROLE_TRACK_ORGANIZER));
	struct json_object *jstate = NULL;
	const char *state = NULL;
	if (w->attrs && json_object_object_get_ex(w->attrs, "state", &jstate) && jstate)
		state = json_object_get_string(jstate);
	if (w->creating) {
		crud_set_column(w, "creator_id", NULL);
		char uid[24];
		snprintf(uid, sizeof(uid), "%lld", p->user_id);
		crud_set_column(w, "creator_id", uid);
		if (!staff) {
			struct json_object *v;
			int open = w->event &&
				   json_object_object_get_ex(w->event,
							     "is-sessions-speakers-enabled", &v) &&
				   json_object_get_boolean(v) &&
				   json_object_object_get_ex(w->event, "state", &v) &&
				   strcmp(json_object_get_string(v), "published") == 0;
			/* a proposal starts as a draft or pending, nothing else */
			w->allowed = open && (!state || strcmp(state, "draft") == 0 ||
					      strcmp(state, "pending") == 0);
		}
		if (!state)
			crud_set_column(w, "state", "pending");
		return 0;
	}
	crud_set_column(w, "last_modified_at", "now");
	if (staff || w->rel_only)
		return 0;
	/* the creator may edit the proposal, move draft -> pending, or withdraw */
	const char *creator = row_text(w, "creator_id");
	char uid[24];
	snprintf(uid, sizeof(uid), "%lld", p->user_id);
	if (!creator || strcmp(creator, uid) != 0)
		return 0;
	const char *cur = row_text(w, "state");
	w->allowed = !state || strcmp(state, "withdrawn") == 0 ||
		     (cur && strcmp(cur, "draft") == 0 && strcmp(state, "pending") == 0) ||
		     (cur && strcmp(cur, state) == 0);
	return 0;
}

const struct resource session_resource = {
    .type = "session",
    .path = "sessions",
    .table = "sessions",
    .attrs = session_attrs,
    .nattrs = sizeof(session_attrs) / sizeof(session_attrs[0]),
    .rels = session_rels,
    .nrels = sizeof(session_rels) / sizeof(session_rels[0]),
    .soft_delete = 1,
    .event_col = "event_id",
    .list_route = 1,
    .perm_list = PERM_ANYONE,
    .perm_create = PERM_EVENT,
    .perm_update = PERM_EVENT,
    .perm_delete = PERM_EVENT,
    .role_mask = ROLES_ORGANISERS | ROLE_TRACK_ORGANIZER,
    .public_filter = session_public,
    .before_write = session_before_write,
};
