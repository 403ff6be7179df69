/*
 * routes: the one place where every handler file's routes are registered
 * and its start-up work (prepared statements) is done.
 */
#ifndef OES_HANDLERS_ROUTES_H
#define OES_HANDLERS_ROUTES_H

struct router;
struct pg_pool;

/* Fills the router and prepares statements on the pool. 0/-1. */
int routes_init(struct router *r, struct pg_pool *pg);
void routes_cleanup(void);

#endif
