/*
 * ops: operational routes: /health-check and /metrics.
 */
#ifndef OES_HANDLERS_OPS_H
#define OES_HANDLERS_OPS_H

struct req_ctx;

void ops_health(struct req_ctx *ctx);
void ops_metrics(struct req_ctx *ctx);

#endif
