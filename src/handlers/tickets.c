/*
 * tickets: the `ticket` resource. A ticket class of an event (sales are out of scope).
 * Written by the event's organisers; read with the event.
 */
#include "handlers/resources.h"

static const char *const ticket_types[] = {"free", "paid", "donation", NULL};

static const struct resource_attr ticket_attrs[] = {
    {"name", "name", ATTR_TEXT, ATTR_REQUIRED | ATTR_NONEMPTY},
    {"description", "description", ATTR_TEXT, 0},
    {"is-description-visible", "is_description_visible", ATTR_BOOL, 0},
    {"type", "type", ATTR_TEXT, ATTR_REQUIRED, ticket_types},
    {"price", "price", ATTR_FLOAT, 0},
    {"min-price", "min_price", ATTR_FLOAT, 0},
    {"max-price", "max_price", ATTR_FLOAT, 0},
    {"quantity", "quantity", ATTR_INT, ATTR_REQUIRED},
    {"position", "position", ATTR_INT, 0},
    {"is-fee-absorbed", "is_fee_absorbed", ATTR_BOOL, 0},
    {"sales-starts-at", "sales_starts_at", ATTR_TIME, ATTR_REQUIRED},
    {"sales-ends-at", "sales_ends_at", ATTR_TIME, ATTR_REQUIRED},
    {"is-hidden", "is_hidden", ATTR_BOOL, 0},
    {"min-order", "min_order", ATTR_INT, 0},
    {"max-order", "max_order", ATTR_INT, 0},
    {"is-checkin-restricted", "is_checkin_restricted", ATTR_BOOL, 0},
    {"auto-checkin-enabled", "auto_checkin_enabled", ATTR_BOOL, 0},
    {"deleted-at", "deleted_at", ATTR_TIME, 0},
};

static const struct resource_rel ticket_rels[] = {
    {"event", 0, &event_resource, "event_id", NULL, NULL, NULL, NULL, REL_REQUIRED | REL_FIXED},
};

const struct resource ticket_resource = {
    .type = "ticket",
    .path = "tickets",
    .table = "tickets",
    .attrs = ticket_attrs,
    .nattrs = sizeof(ticket_attrs) / sizeof(ticket_attrs[0]),
    .rels = ticket_rels,
    .nrels = sizeof(ticket_rels) / sizeof(ticket_rels[0]),
    .soft_delete = 1,
    .event_col = "event_id",
    .list_route = 0,
    .perm_list = PERM_ANYONE,
    .perm_create = PERM_EVENT,
    .perm_update = PERM_EVENT,
    .perm_delete = PERM_EVENT,
    .role_mask = ROLES_ORGANISERS,
};
