/*
 * resources: the descriptor of every JSON:API type (one file each in
 * src/handlers/), declared together because relationships refer to each
 * other, and the list the route table registers.
 */
#ifndef OES_HANDLERS_RESOURCES_H
#define OES_HANDLERS_RESOURCES_H

#include "core/resource.h"

extern const struct resource event_resource;
extern const struct resource session_resource;
extern const struct resource speaker_resource;
extern const struct resource track_resource;
extern const struct resource microlocation_resource;
extern const struct resource sponsor_resource;
extern const struct resource session_type_resource;
extern const struct resource social_link_resource;
extern const struct resource ticket_resource;
extern const struct resource event_topic_resource;
extern const struct resource user_resource;
extern const struct resource role_resource;
extern const struct resource users_events_role_resource;

/* Every type, in registration order. */
extern const struct resource *const all_resources[];
extern const int nall_resources;

#endif
