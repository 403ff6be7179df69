/*
 * versions: `GET /v1/events/{event_id}/versions`, the event's version
 * counters (spec §7) as a JSON:API document of type `event-version` whose
 * id is the event's, with attributes event-ver, sessions-ver, speakers-ver
 * and microlocations-ver (0 until the first bump). Visible to whoever may
 * see the event (else 404).
 */
#ifndef OES_HANDLERS_VERSIONS_H
#define OES_HANDLERS_VERSIONS_H

struct req_ctx;

void versions_get(struct req_ctx *ctx);

#endif
