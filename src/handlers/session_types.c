/*
 * session_types: the `session-type` resource. A kind of session (talk, workshop) with its length
 * "HH:MM". Written by the event's organisers; read with the event.
 */
#include "handlers/resources.h"

static const struct resource_attr session_type_attrs[] = {
    {"name", "name", ATTR_TEXT, ATTR_REQUIRED | ATTR_NONEMPTY},
    {"length", "length", ATTR_TEXT, ATTR_REQUIRED},
    {"position", "position", ATTR_INT, 0},
    {"deleted-at", "deleted_at", ATTR_TIME, 0},
};

static const struct resource_rel session_type_rels[] = {
    {"event", 0, &event_resource, "event_id", NULL, NULL, NULL, NULL, REL_REQUIRED | REL_FIXED},
    {"sessions", 1, &session_resource, "session_type_id"},
};

const struct resource session_type_resource = {
    .type = "session-type",
    .path = "session-types",
    .table = "session_types",
    .attrs = session_type_attrs,
    .nattrs = sizeof(session_type_attrs) / sizeof(session_type_attrs[0]),
    .rels = session_type_rels,
    .nrels = sizeof(session_type_rels) / sizeof(session_type_rels[0]),
    .soft_delete = 1,
    .event_col = "event_id",
    .list_route = 0,
    .perm_list = PERM_ANYONE,
    .perm_create = PERM_EVENT,
    .perm_update = PERM_EVENT,
    .perm_delete = PERM_EVENT,
    .role_mask = ROLES_ORGANISERS,
};
