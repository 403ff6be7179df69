/*
 * ops: operational routes: /health-check and /metrics.
 */
#ifndef OES_HANDLERS_OPS_H
#define OES_HANDLERS_OPS_H

struct req_ctx;

void ops_health(struct req_ctx *ctx);
void ops_metrics(struct req_ctx *ctx);
/* GET /docs: DOCS_DIR/index.html, read once by ops_docs_load at start-up. */
void ops_docs(struct req_ctx *ctx);
void ops_docs_load(const char *dir);
void ops_docs_free(void);

#endif
