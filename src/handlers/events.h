/*
 * events: the `event` resource: its descriptor and its read routes.
 */
#ifndef OES_HANDLERS_EVENTS_H
#define OES_HANDLERS_EVENTS_H

#include "core/resource.h"
#include "core/router.h"

struct pg_pool;

extern const struct resource event_resource;

/* Builds the SQL and registers the prepared statements. 0/-1. */
int events_init(struct pg_pool *pg);
void events_cleanup(void);
void events_list(struct req_ctx *ctx);
void events_detail(struct req_ctx *ctx);

#endif
