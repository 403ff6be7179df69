/*
 * roles: the static `role` resource (owner, organizer, coorganizer,
 * track_organizer, moderator, registrar), seeded by the migrations; read
 * only.
 */
#include "handlers/resources.h"

static const struct resource_attr role_attrs[] = {
    {"name", "name", ATTR_TEXT, ATTR_READONLY},
    {"title-name", "title_name", ATTR_TEXT, ATTR_READONLY},
};

const struct resource role_resource = {
    .type = "role",
    .path = "roles",
    .table = "roles",
    .attrs = role_attrs,
    .nattrs = sizeof(role_attrs) / sizeof(role_attrs[0]),
    .list_route = 1,
    .perm_list = PERM_ANYONE,
    .perm_create = PERM_NONE,
    .perm_update = PERM_NONE,
    .perm_delete = PERM_NONE,
};
