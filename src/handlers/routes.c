/*
 * routes: the route table of the server. Adding a resource touches its own
 * file and one line here.
 */
#include "handlers/routes.h"

#include "core/router.h"
#include "handlers/events.h"
#include "handlers/ops.h"

#define J ROUTE_JSONAPI

static const struct route routes[] = {
    {ROUTER_GET, "/health-check", ops_health, NULL, 0},
    {ROUTER_GET, "/metrics", ops_metrics, NULL, 0},
    {ROUTER_GET, "/v1/events", events_list, &event_resource, J},
    {ROUTER_GET, "/v1/events/{event_id}", events_detail, &event_resource, J},
};

int routes_init(struct router *r, struct pg_pool *pg)
{
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (router_add(r, &routes[i]) < 0)
			return -1;
	return events_init(pg);
}

void routes_cleanup(void)
{
	events_cleanup();
}
