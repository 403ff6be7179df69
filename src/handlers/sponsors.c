/*
 * sponsors: the `sponsor` resource. A sponsor of an event.
 * Written by the event's organisers; read with the event.
 */
#include "handlers/resources.h"

static const struct resource_attr sponsor_attrs[] = {
    {"name", "name", ATTR_TEXT, ATTR_REQUIRED | ATTR_NONEMPTY},
    {"description", "description", ATTR_TEXT, 0},
    {"url", "url", ATTR_TEXT, ATTR_URL},
    {"level", "level", ATTR_INT, 0},
    {"logo-url", "logo_url", ATTR_TEXT, 0},
    {"type", "type", ATTR_TEXT, 0},
    {"deleted-at", "deleted_at", ATTR_TIME, 0},
};

static const struct resource_rel sponsor_rels[] = {
    {"event", 0, &event_resource, "event_id", NULL, NULL, NULL, NULL, REL_REQUIRED | REL_FIXED},
};

const struct resource sponsor_resource = {
    .type = "sponsor",
    .path = "sponsors",
    .table = "sponsors",
    .attrs = sponsor_attrs,
    .nattrs = sizeof(sponsor_attrs) / sizeof(sponsor_attrs[0]),
    .rels = sponsor_rels,
    .nrels = sizeof(sponsor_rels) / sizeof(sponsor_rels[0]),
    .soft_delete = 1,
    .event_col = "event_id",
    .list_route = 0,
    .perm_list = PERM_ANYONE,
    .perm_create = PERM_EVENT,
    .perm_update = PERM_EVENT,
    .perm_delete = PERM_EVENT,
    .role_mask = ROLES_ORGANISERS,
};
