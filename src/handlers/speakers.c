/*
 * speakers: the `speaker` resource. Signed-in callers may propose a
 * speaker (themselves) on a published event with an open call; the
 * speaker's user may edit it.
 */
#include <string.h>

#include "core/crud.h"
#include "core/req_ctx.h"
#include "handlers/resources.h"

static const struct resource_attr speaker_attrs[] = {
    {"name", "name", ATTR_TEXT, ATTR_REQUIRED | ATTR_NONEMPTY},
    {"email", "email", ATTR_TEXT, 0},
    {"photo-url", "photo_url", ATTR_TEXT, 0},
    {"thumbnail-image-url", "thumbnail_image_url", ATTR_TEXT, ATTR_READONLY},
    {"small-image-url", "small_image_url", ATTR_TEXT, ATTR_READONLY},
    {"icon-image-url", "icon_image_url", ATTR_TEXT, ATTR_READONLY},
    {"short-biography", "short_biography", ATTR_TEXT, 0},
    {"long-biography", "long_biography", ATTR_TEXT, 0},
    {"speaking-experience", "speaking_experience", ATTR_TEXT, 0},
    {"mobile", "mobile", ATTR_TEXT, 0},
    {"website", "website", ATTR_TEXT, 0},
    {"twitter", "twitter", ATTR_TEXT, 0},
    {"facebook", "facebook", ATTR_TEXT, 0},
    {"github", "github", ATTR_TEXT, 0},
    {"linkedin", "linkedin", ATTR_TEXT, 0},
    {"instagram", "instagram", ATTR_TEXT, 0},
    {"organisation", "organisation", ATTR_TEXT, 0},
    {"is-featured", "is_featured", ATTR_BOOL, 0},
    {"is-email-overridden", "is_email_overridden", ATTR_BOOL, 0},
    {"position", "position", ATTR_TEXT, 0},
    {"country", "country", ATTR_TEXT, 0},
    {"city", "city", ATTR_TEXT, 0},
    {"gender", "gender", ATTR_TEXT, 0},
    {"heard-from", "heard_from", ATTR_TEXT, 0},
    {"sponsorship-required", "sponsorship_required", ATTR_TEXT, 0},
    {"deleted-at", "deleted_at", ATTR_TIME, 0},
};

static const struct resource_rel speaker_rels[] = {
    {"event", 0, &event_resource, "event_id", NULL, NULL, NULL, NULL, REL_REQUIRED | REL_FIXED},
    {"user", 0, &user_resource, "user_id"},
    {"sessions", 1, &session_resource, NULL, "sessions_speakers", "speaker_id", "session_id"},
};

static int speaker_before_write(struct write_ctx *w)
{
	const struct principal *p = &w->ctx->principal;
	int staff = p->is_admin || (w->roles & ROLES_ORGANISERS);
	if (staff)
		return 0;
	char uid[24];
	snprintf(uid, sizeof(uid), "%lld", p->user_id);
	if (w->creating) {
		struct json_object *v;
		w->allowed =
		    w->event &&
		    json_object_object_get_ex(w->event, "is-sessions-speakers-enabled", &v) &&
		    json_object_get_boolean(v) &&
		    json_object_object_get_ex(w->event, "state", &v) &&
		    strcmp(json_object_get_string(v), "published") == 0;
		crud_set_column(w, "user_id", uid); /* a proposal is about oneself */
		return 0;
	}
	struct json_object *owner;
	w->allowed = w->row && json_object_object_get_ex(w->row, "user_id", &owner) && owner &&
		     strcmp(json_object_get_string(owner), uid) == 0;
	if (w->allowed)
		crud_set_column(w, "user_id", uid); /* and stays about oneself */
	return 0;
}

const struct resource speaker_resource = {
    .type = "speaker",
    .path = "speakers",
    .table = "speakers",
    .attrs = speaker_attrs,
    .nattrs = sizeof(speaker_attrs) / sizeof(speaker_attrs[0]),
    .rels = speaker_rels,
    .nrels = sizeof(speaker_rels) / sizeof(speaker_rels[0]),
    .soft_delete = 1,
    .event_col = "event_id",
    .perm_list = PERM_ANYONE,
    .perm_create = PERM_EVENT,
    .perm_update = PERM_EVENT,
    .perm_delete = PERM_EVENT,
    .role_mask = ROLES_ORGANISERS,
    .before_write = speaker_before_write,
};
