/*
 * microlocations: the `microlocation` resource. A room or place of an event.
 * Written by the event's organisers; read with the event.
 */
#include "handlers/resources.h"

static const struct resource_attr microlocation_attrs[] = {
    {"name", "name", ATTR_TEXT, ATTR_REQUIRED | ATTR_NONEMPTY},
    {"latitude", "latitude", ATTR_FLOAT, 0},
    {"longitude", "longitude", ATTR_FLOAT, 0},
    {"floor", "floor", ATTR_INT, 0},
    {"room", "room", ATTR_TEXT, 0},
    {"position", "position", ATTR_INT, 0},
    {"deleted-at", "deleted_at", ATTR_TIME, 0},
};

static const struct resource_rel microlocation_rels[] = {
    {"event", 0, &event_resource, "event_id", NULL, NULL, NULL, NULL, REL_REQUIRED | REL_FIXED},
    {"sessions", 1, &session_resource, "microlocation_id"},
};

const struct resource microlocation_resource = {
    .type = "microlocation",
    .path = "microlocations",
    .table = "microlocations",
    .attrs = microlocation_attrs,
    .nattrs = sizeof(microlocation_attrs) / sizeof(microlocation_attrs[0]),
    .rels = microlocation_rels,
    .nrels = sizeof(microlocation_rels) / sizeof(microlocation_rels[0]),
    .soft_delete = 1,
    .event_col = "event_id",
    .list_route = 0,
    .perm_list = PERM_ANYONE,
    .perm_create = PERM_EVENT,
    .perm_update = PERM_EVENT,
    .perm_delete = PERM_EVENT,
    .role_mask = ROLES_ORGANISERS,
};
