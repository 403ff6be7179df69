/*
 * social_links: the `social-link` resource. A link to the event's page on another site.
 * Written by the event's organisers; read with the event.
 */
#include "handlers/resources.h"

static const struct resource_attr social_link_attrs[] = {
    {"name", "name", ATTR_TEXT, ATTR_REQUIRED | ATTR_NONEMPTY},
    {"link", "link", ATTR_TEXT, ATTR_REQUIRED | ATTR_URL},
    {"identifier", "identifier", ATTR_TEXT, 0},
    {"deleted-at", "deleted_at", ATTR_TIME, 0},
};

static const struct resource_rel social_link_rels[] = {
    {"event", 0, &event_resource, "event_id", NULL, NULL, NULL, NULL, REL_REQUIRED | REL_FIXED},
};

const struct resource social_link_resource = {
    .type = "social-link",
    .path = "social-links",
    .table = "social_links",
    .attrs = social_link_attrs,
    .nattrs = sizeof(social_link_attrs) / sizeof(social_link_attrs[0]),
    .rels = social_link_rels,
    .nrels = sizeof(social_link_rels) / sizeof(social_link_rels[0]),
    .soft_delete = 1,
    .event_col = "event_id",
    .list_route = 0,
    .perm_list = PERM_ANYONE,
    .perm_create = PERM_EVENT,
    .perm_update = PERM_EVENT,
    .perm_delete = PERM_EVENT,
    .role_mask = ROLES_ORGANISERS,
};
