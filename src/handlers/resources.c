/*
 * resources: the list of every JSON:API type, in the order its routes are
 * registered. Adding a type: its own file, a line in resources.h, a line
 * here.
 */
#include "handlers/resources.h"

const struct resource *const all_resources[] = {
    &event_resource,
    &session_resource,
    &speaker_resource,
    &track_resource,
    &microlocation_resource,
    &sponsor_resource,
    &session_type_resource,
    &social_link_resource,
    &ticket_resource,
    &event_topic_resource,
    &user_resource,
    &role_resource,
    &users_events_role_resource,
};

const int nall_resources = sizeof(all_resources) / sizeof(all_resources[0]);
