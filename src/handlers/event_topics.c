/*
 * event_topics: the `event-topic` resource: a global list written by
 * admins; the slug is derived from the name by the database.
 */
#include "handlers/resources.h"

static const struct resource_attr event_topic_attrs[] = {
    {"name", "name", ATTR_TEXT, ATTR_REQUIRED | ATTR_NONEMPTY},
    {"slug", "slug", ATTR_TEXT, ATTR_READONLY},
    {"system-image-url", "system_image_url", ATTR_TEXT, 0},
    {"deleted-at", "deleted_at", ATTR_TIME, 0},
};

static const struct resource_rel event_topic_rels[] = {
    {"events", 1, &event_resource, "event_topic_id", NULL, NULL, NULL, NULL, REL_READONLY},
};

const struct resource event_topic_resource = {
    .type = "event-topic",
    .path = "event-topics",
    .table = "event_topics",
    .attrs = event_topic_attrs,
    .nattrs = sizeof(event_topic_attrs) / sizeof(event_topic_attrs[0]),
    .rels = event_topic_rels,
    .nrels = sizeof(event_topic_rels) / sizeof(event_topic_rels[0]),
    .soft_delete = 1,
    .list_route = 1,
    .perm_list = PERM_ANYONE,
    .perm_create = PERM_ADMIN,
    .perm_update = PERM_ADMIN,
    .perm_delete = PERM_ADMIN,
};
