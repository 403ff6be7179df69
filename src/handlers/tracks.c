/*
 * tracks: the `track` resource. The font colour is derived from the colour by the database (black
 * on light colours, white on dark ones). Written by the event's organisers; read with the event.
 */
#include "handlers/resources.h"

static const struct resource_attr track_attrs[] = {
    {"name", "name", ATTR_TEXT, ATTR_REQUIRED | ATTR_NONEMPTY},
    {"description", "description", ATTR_TEXT, 0},
    {"color", "color", ATTR_TEXT, ATTR_REQUIRED},
    {"font-color", "font_color", ATTR_TEXT, ATTR_READONLY},
    {"position", "position", ATTR_INT, 0},
    {"deleted-at", "deleted_at", ATTR_TIME, 0},
};

static const struct resource_rel track_rels[] = {
    {"event", 0, &event_resource, "event_id", NULL, NULL, NULL, NULL, REL_REQUIRED | REL_FIXED},
    {"sessions", 1, &session_resource, "track_id"},
};

const struct resource track_resource = {
    .type = "track",
    .path = "tracks",
    .table = "tracks",
    .attrs = track_attrs,
    .nattrs = sizeof(track_attrs) / sizeof(track_attrs[0]),
    .rels = track_rels,
    .nrels = sizeof(track_rels) / sizeof(track_rels[0]),
    .soft_delete = 1,
    .event_col = "event_id",
    .list_route = 1,
    .perm_list = PERM_ANYONE,
    .perm_create = PERM_EVENT,
    .perm_update = PERM_EVENT,
    .perm_delete = PERM_EVENT,
    .role_mask = ROLES_ORGANISERS,
};
