/*
 * pg_pool: PG_POOL_SIZE non-blocking libpq connections driven by the event
 * loop, with pipeline mode, prepared statements, a bounded queue,
 * transactions that pin a connection, and reconnection with backoff.
 *
 * Owns: its connections and every query object until the query's callback
 * has returned. Never: blocks the loop (no PQexec, PQconnectdb, PQcancel,
 * getaddrinfo), calls a callback from inside pg_pool_query/pg_txn_query
 * (all sending happens on a later loop turn), or lets two requests' writes
 * share a pipeline sync.
 */
#ifndef OES_PG_POOL_H
#define OES_PG_POOL_H

#include <libpq-fe.h>

struct event_base;
struct evdns_base;
struct pg_pool;
struct pg_query;
struct pg_txn;

enum pg_err {
	PG_OK = 0,	    /* res holds the rows or the command status */
	PG_ERR_QUERY,	    /* res holds the error (PQresultErrorField for SQLSTATE) */
	PG_ERR_UNAVAILABLE, /* no connection, queue full, or connection lost: res NULL */
};

enum pg_query_flags {
	PG_READ = 0,	  /* may share a sync with other requests' reads */
	PG_WRITE = 1 << 0 /* sent with a sync of its own */
};

/* Called once per query on the loop, unless the query was cancelled. res is
 * owned by the pool and freed when the callback returns. */
typedef void (*pg_result_cb)(void *arg, PGresult *res, int err);
/* Called when a transaction has its connection and BEGIN ran (err PG_OK), or
 * could not start (err != PG_OK; the txn is already freed then). */
typedef void (*pg_txn_cb)(void *arg, struct pg_txn *txn, int err);

struct pg_pool_stats {
	int size;	  /* connections configured */
	int ready;	  /* connections ready for queries */
	int busy;	  /* connections with queries in flight */
	int queued;	  /* queries waiting for a connection */
	int inflight;	  /* queries sent, results pending */
	long failures;	  /* connection failures since start */
	long errors;	  /* queries answered with an error */
	long unavailable; /* queries refused or failed for lack of a connection */
};

/* conninfo: a libpq URL or key=value string. Caller frees with pg_pool_free. */
struct pg_pool *pg_pool_new(struct event_base *base, struct evdns_base *dns, const char *conninfo,
			    int size, int pipeline, int queue_max, int statement_timeout_ms);
/* With on, every connection plans its prepared statements once, for any
 * parameters (plan_cache_mode=force_generic_plan); before pg_pool_start. */
void pg_pool_generic_plans(struct pg_pool *p, int on);
/* Registers a statement prepared on every connection; before pg_pool_start.
 * name and sql must stay valid (static strings). 0/-1. */
int pg_pool_prepare(struct pg_pool *p, const char *name, const char *sql);
/* Starts connecting. 0/-1. */
int pg_pool_start(struct pg_pool *p);
/* Frees everything; pending callbacks are not called. */
void pg_pool_free(struct pg_pool *p);
void pg_pool_stats(const struct pg_pool *p, struct pg_pool_stats *out);

/* Queues a query: a prepared statement by name (sql NULL) or ad-hoc sql
 * (stmt NULL; copied). params are copied (NULL entries are SQL NULL).
 * Returns a handle valid until the callback returns or pg_query_cancel; NULL
 * when refused at once (database down or queue full: a 503), with no
 * callback. */
struct pg_query *pg_pool_query(struct pg_pool *p, int flags, const char *stmt, const char *sql,
			       int nparams, const char *const *params, pg_result_cb cb, void *arg);
/* Milliseconds since q was asked for; *queued_ms: of which it waited in the
 * pool before it was sent (0 if never sent). Valid in q's callback. */
double pg_query_elapsed_ms(const struct pg_query *q, double *queued_ms);
/* The callback will not be called; a query not yet sent is dropped, one
 * already sent is drained and discarded (bounded by statement_timeout). */
void pg_query_cancel(struct pg_query *q);

/* Asks for a connection of its own; `ready` runs when BEGIN has run. NULL
 * when refused at once (no callback then). */
struct pg_txn *pg_pool_txn_begin(struct pg_pool *p, pg_txn_cb ready, void *arg);
/* A statement inside the transaction, in order; NULL when its connection is
 * lost (the transaction is then over: end it). */
struct pg_query *pg_txn_query(struct pg_txn *t, const char *stmt, const char *sql, int nparams,
			      const char *const *params, pg_result_cb cb, void *arg);
/* COMMIT (commit != 0) or ROLLBACK, then frees the txn and releases the
 * connection; cb (may be NULL) gets the COMMIT's result. A txn whose
 * connection was lost is freed at once and cb is not called: returns -1. */
int pg_txn_end(struct pg_txn *t, int commit, pg_result_cb cb, void *arg);

/* The SQLSTATE of an error result, or "" */
const char *pg_sqlstate(const PGresult *res);

#endif
