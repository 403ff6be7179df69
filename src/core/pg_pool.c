/*
 * pg_pool: asynchronous PostgreSQL connections on the event loop.
 *
 * Each connection is non-blocking and, once set up, in pipeline mode (or in
 * plain mode when pipelining is off: one query at a time). Queries wait in
 * the pool's queue; a deferred "dispatch" event hands them to connections:
 * consecutive reads go out together followed by one sync, a write goes out
 * alone with its own sync. Results are matched to queries in order.
 *
 * Owns: connections, queries (until their callback returns), transactions.
 * Never: blocks, sends from inside pg_pool_query (only from dispatch), or
 * calls a cancelled query's callback.
 */
#include "core/pg_pool.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <sys/time.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "core/hash.h"
#include "core/log.h"

#define PIPELINE_DEPTH_MAX 512 /* queries in flight on one connection */
#define BATCH_MAX	   128 /* reads sharing one sync */
#define BACKOFF_MIN_MS	   100
#define BACKOFF_MAX_MS	   2000
#define STMT_CACHE_SLOTS   1024 /* per connection, power of 2 */
#define STMT_CACHE_MAX	   512	/* statements prepared per connection at most */

/* Ad-hoc SQL prepared once per connection and then executed by name: the
 * engine builds the same few shapes of statement again and again, and
 * parsing and planning them each time costs more than the query. */
struct stmt_entry {
	unsigned long long hash; /* FNV-1a of sql */
	char *sql;		 /* owned copy; NULL: empty slot */
	int ready;		 /* 0: prepare sent, 1: prepared */
	char name[24];		 /* "c<generation>_<slot>" */
};

enum pg_conn_state {
	PG_CONN_DOWN,	    /* waiting for the reconnect timer */
	PG_CONN_RESOLVING,  /* host name lookup in flight */
	PG_CONN_CONNECTING, /* PQconnectPoll in progress */
	PG_CONN_SETUP,	    /* preparing statements */
	PG_CONN_READY,	    /* serving queries */
};

enum pg_query_kind { Q_PREPARED, Q_SQL, Q_PREPARE };

struct pg_query {
	TAILQ_ENTRY(pg_query) link; /* in the pool queue, or a connection's lists */
	struct pg_pool *pool;	    /* owner */
	struct pg_txn *txn;	    /* transaction it belongs to, or NULL */
	int kind;		    /* enum pg_query_kind */
	const char *stmt;	    /* statement name (Q_PREPARED, Q_PREPARE) */
	char *sql;		    /* owned ad-hoc SQL (Q_SQL) */
	const char *prep_sql;	    /* SQL of a Q_PREPARE */
	int flags;		    /* enum pg_query_flags */
	int nparams;		    /* number of params */
	char **params;		    /* owned copies; NULL entries are SQL NULL */
	pg_result_cb cb;	    /* NULL once cancelled */
	void *arg;		    /* callback argument */
	int sent;		    /* 1 once handed to libpq */
	int sync_after;		    /* a pipeline sync follows it */
	int retried;		    /* re-queued once after an aborted pipeline */
	PGresult *res;		    /* first result received */
	int internal;		    /* setup/BEGIN/COMMIT query of the pool itself */
	int cache_slot;		    /* Q_PREPARE of the statement cache: its slot + 1 */
	struct timeval queued_at;   /* when it was asked for */
	struct timeval sent_at;	    /* when it was handed to libpq (last time) */
};

TAILQ_HEAD(query_list, pg_query);

struct pg_conn {
	struct pg_pool *pool;			   /* owner */
	int index;				   /* position in the pool, for logs */
	PGconn *pg;				   /* libpq connection, NULL when down */
	int state;				   /* enum pg_conn_state */
	struct event *rev;			   /* readable (persistent) once connected */
	struct event *wev;			   /* writable, armed when libpq has output left */
	struct event *timer;			   /* reconnect backoff */
	int fd;					   /* socket the events watch */
	int backoff_ms;				   /* next reconnect delay */
	struct query_list pending;		   /* assigned to this connection, not yet sent */
	struct query_list inflight;		   /* sent, in order of their results */
	int ninflight;				   /* length of inflight */
	int syncs;				   /* pipeline syncs sent, not yet received */
	struct pg_txn *pinned;			   /* transaction owning this connection */
	struct evdns_getaddrinfo_request *dns_req; /* lookup in flight */
	char hostaddr[64];			   /* resolved address for libpq */
	struct stmt_entry *cache;		   /* STMT_CACHE_SLOTS entries, or NULL */
	int ncached;				   /* slots used */
	unsigned cache_gen;			   /* bumped when the cache is dropped: names of
						      statements prepared before never come back */
};

struct pg_txn {
	TAILQ_ENTRY(pg_txn) link; /* in the pool's waiters until it has a connection */
	struct pg_pool *pool;	  /* owner */
	struct pg_conn *conn;	  /* pinned connection; NULL while waiting or once lost */
	pg_txn_cb ready;	  /* called when BEGIN has run */
	void *arg;		  /* argument of ready */
	int lost;		  /* its connection was lost */
	int ending;		  /* COMMIT/ROLLBACK queued */
	pg_result_cb end_cb;	  /* caller's callback for the end */
	void *end_arg;		  /* its argument */
};

TAILQ_HEAD(txn_list, pg_txn);

struct prepared {
	const char *name; /* statement name */
	const char *sql;  /* its SQL */
};

struct pg_pool {
	struct event_base *base;   /* the loop */
	struct evdns_base *dns;	   /* resolver for host names */
	char *conninfo;		   /* as configured */
	char *host;		   /* host to resolve, or NULL when libpq needs no lookup */
	char options[192];	   /* -c settings for every connection */
	int size;		   /* connections */
	int pipeline;		   /* pipeline mode after setup */
	int queue_max;		   /* bound of queue */
	struct pg_conn *conns;	   /* array of size */
	struct query_list queue;   /* waiting for a connection */
	int nqueued;		   /* length of queue */
	struct txn_list txn_wait;  /* transactions waiting for a connection */
	struct event *dispatch_ev; /* deferred sender */
	struct prepared *stmts;	   /* statements prepared on connect */
	int nstmts;		   /* their number */
	int ever_ready;		   /* a connection was ready once */
	int down;		   /* no ready connection after a failure: refuse */
	long failures, errors, unavailable; /* counters for /metrics */
};

static void conn_connect(struct pg_conn *c);
static void conn_fail(struct pg_conn *c, const char *why);
static void conn_read_cb(evutil_socket_t fd, short what, void *arg);

const char *pg_sqlstate(const PGresult *res)
{
	const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	return s ? s : "";
}

static void schedule_dispatch(struct pg_pool *p)
{
	if (!event_pending(p->dispatch_ev, EV_TIMEOUT, NULL))
		event_active(p->dispatch_ev, EV_TIMEOUT, 0);
}

static void query_free(struct pg_query *q)
{
	if (q->res)
		PQclear(q->res);
	for (int i = 0; i < q->nparams; i++)
		free(q->params[i]);
	free(q->params);
	free(q->sql);
	free(q);
}

/* Runs the callback (unless cancelled) and frees the query. */
static void query_finish(struct pg_query *q, int err)
{
	if (q->cb)
		q->cb(q->arg, err == PG_ERR_UNAVAILABLE ? NULL : q->res, err);
	query_free(q);
}

static struct pg_query *query_new(struct pg_pool *p, int kind, int flags, const char *stmt,
				  const char *sql, int nparams, const char *const *params,
				  pg_result_cb cb, void *arg)
{
	struct pg_query *q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->pool = p;
	q->kind = kind;
	q->flags = flags;
	gettimeofday(&q->queued_at, NULL);
	q->stmt = stmt;
	q->cb = cb;
	q->arg = arg;
	if (kind == Q_SQL && !(q->sql = strdup(sql)))
		goto fail;
	if (kind == Q_PREPARE)
		q->prep_sql = sql;
	if (nparams > 0) {
		if (!(q->params = calloc((size_t)nparams, sizeof(char *))))
			goto fail;
		q->nparams = nparams;
		for (int i = 0; i < nparams; i++)
			if (params[i] && !(q->params[i] = strdup(params[i])))
				goto fail;
	}
	return q;
fail:
	query_free(q);
	return NULL;
}

/* Fails every query waiting in the pool queue (a 503 for their requests). */
static void fail_queue(struct pg_pool *p)
{
	struct pg_query *q;
	while ((q = TAILQ_FIRST(&p->queue))) {
		TAILQ_REMOVE(&p->queue, q, link);
		p->nqueued--;
		p->unavailable++;
		query_finish(q, PG_ERR_UNAVAILABLE);
	}
	struct pg_txn *t;
	while ((t = TAILQ_FIRST(&p->txn_wait))) {
		TAILQ_REMOVE(&p->txn_wait, t, link);
		p->unavailable++;
		pg_txn_cb ready = t->ready;
		void *arg = t->arg;
		free(t);
		if (ready)
			ready(arg, NULL, PG_ERR_UNAVAILABLE);
	}
}

static int ready_count(const struct pg_pool *p)
{
	int n = 0;
	for (int i = 0; i < p->size; i++)
		n += p->conns[i].state == PG_CONN_READY;
	return n;
}

/* ---- sending ---- */

static void cache_clear(struct pg_conn *c)
{
	if (!c->cache)
		return;
	for (int i = 0; i < STMT_CACHE_SLOTS; i++)
		free(c->cache[i].sql);
	free(c->cache);
	c->cache = NULL;
	c->ncached = 0;
}

/* The cache entry for sql on c: existing, or new (then *fresh = 1), or NULL
 * when the cache is full. */
static struct stmt_entry *cache_lookup(struct pg_conn *c, const char *sql, int *fresh)
{
	*fresh = 0;
	if (!c->cache && !(c->cache = calloc(STMT_CACHE_SLOTS, sizeof(*c->cache))))
		return NULL;
	unsigned long long h = hash64(sql, strlen(sql));
	for (size_t i = h & (STMT_CACHE_SLOTS - 1);; i = (i + 1) & (STMT_CACHE_SLOTS - 1)) {
		struct stmt_entry *e = &c->cache[i];
		if (!e->sql) {
			if (c->ncached >= STMT_CACHE_MAX || !(e->sql = strdup(sql)))
				return NULL;
			e->hash = h;
			e->ready = 0;
			snprintf(e->name, sizeof(e->name), "c%u_%zu", c->cache_gen, i);
			c->ncached++;
			*fresh = 1;
			return e;
		}
		if (e->hash == h && strcmp(e->sql, sql) == 0)
			return e;
	}
}

/* Sends the Q_PREPARE of a fresh cache entry ahead of the query using it. */
static int cache_prepare(struct pg_conn *c, struct stmt_entry *e)
{
	struct pg_query *pq =
	    query_new(c->pool, Q_PREPARE, PG_WRITE, e->name, e->sql, 0, NULL, NULL, NULL);
	if (!pq)
		return -1;
	pq->internal = 1;
	pq->sent = 1;
	pq->cache_slot = (int)(e - c->cache) + 1;
	TAILQ_INSERT_TAIL(&c->inflight, pq, link);
	c->ninflight++;
	return PQsendPrepare(c->pg, e->name, e->sql, 0, NULL) ? 0 : -1;
}

static int send_one(struct pg_conn *c, struct pg_query *q)
{
	const char *const *params = (const char *const *)q->params;
	int ok;
	switch (q->kind) {
	case Q_PREPARE:
		ok = PQsendPrepare(c->pg, q->stmt, q->prep_sql, 0, NULL);
		break;
	case Q_PREPARED:
		ok = PQsendQueryPrepared(c->pg, q->stmt, q->nparams, params, NULL, NULL, 0);
		break;
	default:
		ok = PQsendQueryParams(c->pg, q->sql, q->nparams, NULL, params, NULL, NULL, 0);
		break;
	}
	if (ok && q->sync_after && PQpipelineStatus(c->pg) != PQ_PIPELINE_OFF) {
		ok = PQpipelineSync(c->pg);
		if (ok)
			c->syncs++;
	}
	return ok ? 0 : -1;
}

static void conn_flush(struct pg_conn *c)
{
	int r = PQflush(c->pg);
	if (r < 0)
		conn_fail(c, PQerrorMessage(c->pg));
	else if (r > 0)
		event_add(c->wev, NULL);
}

/* Sends what this connection has pending (one query at a time in plain
 * mode). Returns -1 if the connection failed (and was torn down). */
static int conn_send_pending(struct pg_conn *c)
{
	int plain = PQpipelineStatus(c->pg) == PQ_PIPELINE_OFF;
	int sent = 0;
	struct pg_query *q;
	while ((q = TAILQ_FIRST(&c->pending))) {
		if (plain && c->ninflight > 0)
			break;
		TAILQ_REMOVE(&c->pending, q, link);
		struct stmt_entry *e = NULL;
		int fresh = 0;
		if (!plain && q->kind == Q_SQL && c->state == PG_CONN_READY)
			e = cache_lookup(c, q->sql, &fresh);
		if (e && fresh && cache_prepare(c, e) < 0) {
			TAILQ_INSERT_HEAD(&c->pending, q, link);
			conn_fail(c, PQerrorMessage(c->pg));
			return -1;
		}
		TAILQ_INSERT_TAIL(&c->inflight, q, link);
		c->ninflight++;
		q->sent = 1;
		gettimeofday(&q->sent_at, NULL);
		int rc;
		if (e) {
			/* executed by name; the prepare (if fresh) went just before */
			q->kind = Q_PREPARED;
			q->stmt = e->name;
			rc = send_one(c, q);
			q->kind = Q_SQL;
			q->stmt = NULL;
		} else {
			rc = send_one(c, q);
		}
		if (rc < 0) {
			conn_fail(c, PQerrorMessage(c->pg));
			return -1;
		}
		sent = 1;
	}
	if (sent) {
		conn_flush(c);
		if (!c->pg)
			return -1;
	}
	return 0;
}

/* The ready connection with the fewest queries in flight that can take
 * more, not pinned by a transaction; NULL if none. */
static struct pg_conn *pick_conn(struct pg_pool *p)
{
	struct pg_conn *best = NULL;
	for (int i = 0; i < p->size; i++) {
		struct pg_conn *c = &p->conns[i];
		if (c->state != PG_CONN_READY || c->pinned || !TAILQ_EMPTY(&c->pending))
			continue;
		int limit = p->pipeline ? PIPELINE_DEPTH_MAX : 1;
		if (c->ninflight >= limit)
			continue;
		if (!best || c->ninflight < best->ninflight)
			best = c;
	}
	return best;
}

static struct pg_conn *pick_idle_conn(struct pg_pool *p)
{
	for (int i = 0; i < p->size; i++) {
		struct pg_conn *c = &p->conns[i];
		if (c->state == PG_CONN_READY && !c->pinned && c->ninflight == 0 &&
		    TAILQ_EMPTY(&c->pending))
			return c;
	}
	return NULL;
}

static void txn_begin_done(void *arg, PGresult *res, int err);

static void dispatch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pg_pool *p = arg;
	(void)fd, (void)what;

	/* transactions first: each needs an idle connection of its own */
	struct pg_txn *t;
	struct pg_conn *c;
	while ((t = TAILQ_FIRST(&p->txn_wait)) && (c = pick_idle_conn(p))) {
		TAILQ_REMOVE(&p->txn_wait, t, link);
		struct pg_query *b =
		    query_new(p, Q_SQL, PG_WRITE, NULL, "BEGIN", 0, NULL, txn_begin_done, t);
		if (!b) {
			pg_txn_cb ready = t->ready;
			void *rarg = t->arg;
			free(t);
			ready(rarg, NULL, PG_ERR_UNAVAILABLE);
			continue;
		}
		b->internal = 1;
		b->txn = t;
		b->sync_after = 1;
		t->conn = c;
		c->pinned = t;
		TAILQ_INSERT_TAIL(&c->pending, b, link);
	}

	/* then the shared queue */
	struct pg_query *q;
	while ((q = TAILQ_FIRST(&p->queue)) && (c = pick_conn(p))) {
		int limit = p->pipeline ? PIPELINE_DEPTH_MAX - c->ninflight : 1;
		int batch = 0;
		while ((q = TAILQ_FIRST(&p->queue)) && batch < limit && batch < BATCH_MAX) {
			if ((q->flags & PG_WRITE) && batch > 0)
				break; /* a write goes alone */
			TAILQ_REMOVE(&p->queue, q, link);
			p->nqueued--;
			TAILQ_INSERT_TAIL(&c->pending, q, link);
			batch++;
			if (q->flags & PG_WRITE)
				break;
		}
		TAILQ_LAST(&c->pending, query_list)->sync_after = 1;
	}

	/* send everything assigned, connection by connection */
	for (int i = 0; i < p->size; i++) {
		c = &p->conns[i];
		if (c->pg && c->state >= PG_CONN_SETUP && !TAILQ_EMPTY(&c->pending))
			conn_send_pending(c);
	}
	if (p->down)
		fail_queue(p);
}

/* ---- results ---- */

static void requeue_or_fail(struct pg_pool *p, struct pg_query *q)
{
	if (q->cb && !q->txn && !(q->flags & PG_WRITE) && !q->retried && !q->internal && !p->down) {
		q->retried = 1;
		q->sent = 0;
		q->sync_after = 0;
		if (q->res) {
			PQclear(q->res);
			q->res = NULL;
		}
		TAILQ_INSERT_HEAD(&p->queue, q, link);
		p->nqueued++;
		schedule_dispatch(p);
		return;
	}
	p->unavailable++;
	query_finish(q, PG_ERR_UNAVAILABLE);
}

static void conn_became_ready(struct pg_conn *c)
{
	struct pg_pool *p = c->pool;
	if (!p->pipeline && PQexitPipelineMode(c->pg) != 1) {
		conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	c->state = PG_CONN_READY;
	c->backoff_ms = BACKOFF_MIN_MS;
	if (p->down || !p->ever_ready)
		log_info(NULL, "database connection %d ready", c->index);
	p->ever_ready = 1;
	p->down = 0;
	schedule_dispatch(p);
}

/* One query's results are complete. */
static void query_done(struct pg_conn *c, struct pg_query *q)
{
	struct pg_pool *p = c->pool;
	TAILQ_REMOVE(&c->inflight, q, link);
	c->ninflight--;
	ExecStatusType st = q->res ? PQresultStatus(q->res) : PGRES_FATAL_ERROR;
	if (st == PGRES_PIPELINE_ABORTED) {
		requeue_or_fail(p, q);
		return;
	}
	if (q->cache_slot && c->cache) {
		struct stmt_entry *e = &c->cache[q->cache_slot - 1];
		if (st == PGRES_COMMAND_OK) {
			e->ready = 1;
		} else {
			/* forget it: the next use prepares again (and reports) */
			log_warn(NULL, "preparing a statement failed: %s",
				 q->res ? PQresultErrorMessage(q->res) : "no result");
			free(e->sql);
			memset(e, 0, sizeof(*e));
			/* keep the probe chain intact: mark as a tombstone-free rebuild */
			struct stmt_entry *old = c->cache;
			c->cache = NULL;
			c->ncached = 0;
			c->cache_gen++;
			for (int i = 0; i < STMT_CACHE_SLOTS; i++)
				free(old[i].sql);
			free(old);
		}
		query_free(q);
		return;
	}
	if (q->kind == Q_PREPARE && st != PGRES_COMMAND_OK) {
		log_error(NULL, "preparing %s failed: %s", q->stmt,
			  q->res ? PQresultErrorMessage(q->res) : "no result");
	}
	int err = (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) ? PG_OK : PG_ERR_QUERY;
	if (err == PG_ERR_QUERY && !q->internal) {
		p->errors++;
		log_debug(NULL, "query failed: %s", q->res ? PQresultErrorMessage(q->res) : "?");
	}
	query_finish(q, err);
}

static void conn_read_results(struct pg_conn *c)
{
	while (c->pg) {
		if (PQisBusy(c->pg))
			break;
		struct pg_query *q = TAILQ_FIRST(&c->inflight);
		PGresult *r = PQgetResult(c->pg);
		if (r == NULL) {
			if (q && q->res) {
				query_done(c, q);
				continue;
			}
			break;
		}
		ExecStatusType st = PQresultStatus(r);
		if (st == PGRES_PIPELINE_SYNC) {
			PQclear(r);
			c->syncs--;
			if (c->state == PG_CONN_SETUP && c->syncs == 0 && TAILQ_EMPTY(&c->inflight))
				conn_became_ready(c);
			continue;
		}
		if (!q) {
			PQclear(r);
			continue;
		}
		if (q->res)
			PQclear(r); /* only the first result of a query is kept */
		else
			q->res = r;
		if (PQpipelineStatus(c->pg) == PQ_PIPELINE_OFF && st != PGRES_COPY_IN &&
		    st != PGRES_COPY_OUT)
			continue; /* plain mode: NULL follows */
	}
}

static void conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pg_conn *c = arg;
	(void)fd, (void)what;
	if (!PQconsumeInput(c->pg)) {
		conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	conn_read_results(c);
	if (c->pg && PQstatus(c->pg) == CONNECTION_BAD) {
		conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	if (c->pg && c->state == PG_CONN_READY && !TAILQ_EMPTY(&c->pending))
		conn_send_pending(c);
	if (c->pg && (!TAILQ_EMPTY(&c->pool->queue) || !TAILQ_EMPTY(&c->pool->txn_wait)))
		schedule_dispatch(c->pool);
}

static void conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pg_conn *c = arg;
	(void)fd, (void)what;
	conn_flush(c);
}

/* ---- connecting ---- */

static void notice_cb(void *arg, const char *msg)
{
	struct pg_conn *c = arg;
	log_info(NULL, "postgres notice (connection %d): %s", c->index, msg);
}

static void conn_clear_events(struct pg_conn *c)
{
	if (c->rev) {
		event_free(c->rev);
		c->rev = NULL;
	}
	if (c->wev) {
		event_free(c->wev);
		c->wev = NULL;
	}
}

static int conn_start_setup(struct pg_conn *c)
{
	struct pg_pool *p = c->pool;
	conn_clear_events(c);
	c->fd = PQsocket(c->pg);
	if (PQsetnonblocking(c->pg, 1) != 0 || PQenterPipelineMode(c->pg) != 1)
		return -1;
	PQsetNoticeProcessor(c->pg, notice_cb, c);
	c->rev = event_new(p->base, c->fd, EV_READ | EV_PERSIST, conn_read_cb, c);
	c->wev = event_new(p->base, c->fd, EV_WRITE, conn_write_cb, c);
	if (!c->rev || !c->wev || event_add(c->rev, NULL) < 0)
		return -1;
	c->state = PG_CONN_SETUP;
	c->syncs = 0;
	/* prepare every statement, then one sync: READY when it arrives */
	for (int i = 0; i < p->nstmts; i++) {
		struct pg_query *q = query_new(p, Q_PREPARE, PG_WRITE, p->stmts[i].name,
					       p->stmts[i].sql, 0, NULL, NULL, NULL);
		if (!q)
			return -1;
		q->internal = 1;
		TAILQ_INSERT_TAIL(&c->pending, q, link);
	}
	struct pg_query *last = TAILQ_LAST(&c->pending, query_list);
	if (!last) {
		/* nothing to prepare: one empty sync keeps the path the same */
		if (!PQpipelineSync(c->pg))
			return -1;
		c->syncs++;
		conn_flush(c);
		return c->pg ? 0 : -1;
	}
	last->sync_after = 1;
	return conn_send_pending(c) < 0 ? 1 : 0;
}

static void conn_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pg_conn *c = arg;
	(void)fd, (void)what;
	PostgresPollingStatusType st = PQconnectPoll(c->pg);
	if (st == PGRES_POLLING_FAILED) {
		conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	if (st == PGRES_POLLING_OK) {
		int r = conn_start_setup(c);
		if (r < 0)
			conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	/* the socket may change between attempts: re-arm on the current one */
	conn_clear_events(c);
	c->fd = PQsocket(c->pg);
	short ev = st == PGRES_POLLING_READING ? EV_READ : EV_WRITE;
	c->rev = event_new(c->pool->base, c->fd, ev, conn_poll_cb, c);
	if (!c->rev || event_add(c->rev, NULL) < 0)
		conn_fail(c, "cannot watch the connection socket");
}

static void conn_open(struct pg_conn *c)
{
	struct pg_pool *p = c->pool;
	const char *keys[5] = {"dbname", "options", "application_name", NULL, NULL};
	const char *vals[5] = {p->conninfo, p->options, "open-event-server", NULL, NULL};
	if (c->hostaddr[0]) {
		keys[3] = "hostaddr";
		vals[3] = c->hostaddr;
	}
	c->state = PG_CONN_CONNECTING;
	c->pg = PQconnectStartParams(keys, vals, 1);
	if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
		conn_fail(c, c->pg ? PQerrorMessage(c->pg) : "out of memory");
		return;
	}
	conn_poll_cb(-1, EV_WRITE, c);
}

static void dns_cb(int result, struct evutil_addrinfo *res, void *arg)
{
	struct pg_conn *c = arg;
	c->dns_req = NULL;
	if (result == EVUTIL_EAI_CANCEL)
		return;
	if (result != 0 || !res) {
		log_warn(NULL, "cannot resolve database host %s: %s", c->pool->host,
			 evutil_gai_strerror(result));
		if (res)
			evutil_freeaddrinfo(res);
		c->pool->failures++;
		conn_fail(c, NULL);
		return;
	}
	const void *a = res->ai_family == AF_INET
			    ? (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr
			    : (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr;
	evutil_inet_ntop(res->ai_family, a, c->hostaddr, sizeof(c->hostaddr));
	evutil_freeaddrinfo(res);
	conn_open(c);
}

static void conn_connect(struct pg_conn *c)
{
	struct pg_pool *p = c->pool;
	c->hostaddr[0] = '\0';
	if (p->host && p->dns) {
		struct evutil_addrinfo hints = {0};
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		c->state = PG_CONN_RESOLVING;
		c->dns_req = evdns_getaddrinfo(p->dns, p->host, NULL, &hints, dns_cb, c);
		return;
	}
	conn_open(c);
}

static void reconnect_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	conn_connect(arg);
}

/* Tears the connection down, fails or re-queues its queries, and schedules
 * a reconnection. why NULL: already logged. */
static void conn_fail(struct pg_conn *c, const char *why)
{
	struct pg_pool *p = c->pool;
	int was_ready = c->state == PG_CONN_READY;
	if (why) {
		char msg[256];
		snprintf(msg, sizeof(msg), "%s", why);
		size_t n = strlen(msg);
		while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
			msg[--n] = '\0';
		log_warn(NULL, "database connection %d %s: %s", c->index,
			 was_ready ? "lost" : "failed", msg);
		p->failures++;
	}
	conn_clear_events(c);
	if (c->pg) {
		PQfinish(c->pg);
		c->pg = NULL;
	}
	cache_clear(c);
	c->state = PG_CONN_DOWN;
	c->syncs = 0;
	if (ready_count(p) == 0 && p->ever_ready)
		p->down = 1;
	if (ready_count(p) == 0 && !p->ever_ready) {
		int connecting = 0;
		for (int i = 0; i < p->size; i++)
			connecting |= p->conns[i].state != PG_CONN_DOWN;
		if (!connecting)
			p->down = 1;
	}
	/* the transaction pinned here is over */
	struct pg_txn *t = c->pinned;
	if (t) {
		t->conn = NULL;
		t->lost = 1;
		c->pinned = NULL;
	}
	/* sent queries: reads may go elsewhere once, the rest fail */
	struct query_list moved;
	TAILQ_INIT(&moved);
	TAILQ_CONCAT(&moved, &c->inflight, link);
	TAILQ_CONCAT(&moved, &c->pending, link);
	c->ninflight = 0;
	struct pg_query *q;
	while ((q = TAILQ_FIRST(&moved))) {
		TAILQ_REMOVE(&moved, q, link);
		if (q->internal && q->txn && q->cb == txn_begin_done) {
			/* BEGIN never ran: the waiting transaction fails */
			query_finish(q, PG_ERR_UNAVAILABLE);
			continue;
		}
		if (q->internal && !q->cb) {
			query_free(q);
			continue;
		}
		requeue_or_fail(p, q);
	}
	if (p->down)
		fail_queue(p);
	/* back off and try again */
	int delay = c->backoff_ms;
	c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
	delay += rand() % (delay / 4 + 1);
	struct timeval tv = {delay / 1000, (delay % 1000) * 1000};
	event_add(c->timer, &tv);
}

/* ---- public ---- */

/* The host libpq would look up, when it is a name and not an address or a
 * socket directory; NULL otherwise. Caller frees. */
static char *host_to_resolve(const char *conninfo)
{
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
	if (!opts) {
		PQfreemem(err);
		return NULL;
	}
	const char *host = NULL, *hostaddr = NULL;
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "hostaddr") == 0)
			hostaddr = o->val;
	}
	char *out = NULL;
	unsigned char buf[16];
	if (host && *host && !(hostaddr && *hostaddr) && host[0] != '/' && host[0] != '@' &&
	    !strchr(host, ',') && inet_pton(AF_INET, host, buf) != 1 &&
	    inet_pton(AF_INET6, host, buf) != 1)
		out = strdup(host);
	PQconninfoFree(opts);
	return out;
}

void pg_pool_generic_plans(struct pg_pool *p, int on)
{
	static const char opt[] = " -c plan_cache_mode=force_generic_plan";
	size_t len = strlen(p->options);
	if (on && !strstr(p->options, opt) && len + sizeof(opt) <= sizeof(p->options))
		memcpy(p->options + len, opt, sizeof(opt));
}

struct pg_pool *pg_pool_new(struct event_base *base, struct evdns_base *dns, const char *conninfo,
			    int size, int pipeline, int queue_max, int statement_timeout_ms)
{
	struct pg_pool *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->base = base;
	p->dns = dns;
	p->size = size;
	p->pipeline = pipeline;
	p->queue_max = queue_max;
	TAILQ_INIT(&p->queue);
	TAILQ_INIT(&p->txn_wait);
	snprintf(p->options, sizeof(p->options),
		 "-c statement_timeout=%d -c TimeZone=UTC -c DateStyle=ISO,YMD",
		 statement_timeout_ms);
	p->conninfo = strdup(conninfo);
	p->host = host_to_resolve(conninfo);
	p->conns = calloc((size_t)size, sizeof(*p->conns));
	p->dispatch_ev = event_new(base, -1, 0, dispatch_cb, p);
	if (!p->conninfo || !p->conns || !p->dispatch_ev) {
		pg_pool_free(p);
		return NULL;
	}
	for (int i = 0; i < size; i++) {
		struct pg_conn *c = &p->conns[i];
		c->pool = p;
		c->index = i;
		c->fd = -1;
		c->backoff_ms = BACKOFF_MIN_MS;
		TAILQ_INIT(&c->pending);
		TAILQ_INIT(&c->inflight);
		if (!(c->timer = evtimer_new(base, reconnect_cb, c))) {
			pg_pool_free(p);
			return NULL;
		}
	}
	return p;
}

int pg_pool_prepare(struct pg_pool *p, const char *name, const char *sql)
{
	struct prepared *s = realloc(p->stmts, (size_t)(p->nstmts + 1) * sizeof(*s));
	if (!s)
		return -1;
	p->stmts = s;
	s[p->nstmts].name = name;
	s[p->nstmts].sql = sql;
	p->nstmts++;
	return 0;
}

int pg_pool_start(struct pg_pool *p)
{
	for (int i = 0; i < p->size; i++)
		conn_connect(&p->conns[i]);
	return 0;
}

static void drop_list(struct query_list *l)
{
	struct pg_query *q;
	while ((q = TAILQ_FIRST(l))) {
		TAILQ_REMOVE(l, q, link);
		query_free(q);
	}
}

void pg_pool_free(struct pg_pool *p)
{
	if (!p)
		return;
	for (int i = 0; p->conns && i < p->size; i++) {
		struct pg_conn *c = &p->conns[i];
		if (c->dns_req)
			evdns_getaddrinfo_cancel(c->dns_req);
		conn_clear_events(c);
		if (c->timer)
			event_free(c->timer);
		if (c->pg)
			PQfinish(c->pg);
		if (c->pinned)
			free(c->pinned);
		cache_clear(c);
		drop_list(&c->pending);
		drop_list(&c->inflight);
	}
	drop_list(&p->queue);
	struct pg_txn *t;
	while ((t = TAILQ_FIRST(&p->txn_wait))) {
		TAILQ_REMOVE(&p->txn_wait, t, link);
		free(t);
	}
	if (p->dispatch_ev)
		event_free(p->dispatch_ev);
	free(p->conns);
	free(p->stmts);
	free(p->conninfo);
	free(p->host);
	free(p);
}

void pg_pool_stats(const struct pg_pool *p, struct pg_pool_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->size = p->size;
	for (int i = 0; i < p->size; i++) {
		const struct pg_conn *c = &p->conns[i];
		out->ready += c->state == PG_CONN_READY;
		out->busy += c->ninflight > 0 || c->pinned;
		out->inflight += c->ninflight;
	}
	out->queued = p->nqueued;
	out->failures = p->failures;
	out->errors = p->errors;
	out->unavailable = p->unavailable;
}

struct pg_query *pg_pool_query(struct pg_pool *p, int flags, const char *stmt, const char *sql,
			       int nparams, const char *const *params, pg_result_cb cb, void *arg)
{
	if (p->down || p->nqueued >= p->queue_max) {
		p->unavailable++;
		return NULL;
	}
	struct pg_query *q =
	    query_new(p, stmt ? Q_PREPARED : Q_SQL, flags, stmt, sql, nparams, params, cb, arg);
	if (!q)
		return NULL;
	TAILQ_INSERT_TAIL(&p->queue, q, link);
	p->nqueued++;
	schedule_dispatch(p);
	return q;
}

void pg_query_cancel(struct pg_query *q)
{
	if (!q)
		return;
	if (!q->sent && !q->txn) {
		struct pg_pool *p = q->pool;
		/* still in the pool queue, or in a connection's pending list */
		int in_queue = 0;
		struct pg_query *it;
		TAILQ_FOREACH(it, &p->queue, link)
		if (it == q) {
			in_queue = 1;
			break;
		}
		if (in_queue) {
			TAILQ_REMOVE(&p->queue, q, link);
			p->nqueued--;
			query_free(q);
			return;
		}
	}
	q->cb = NULL;
}

/* ---- transactions ---- */

static void txn_begin_done(void *arg, PGresult *res, int err)
{
	struct pg_txn *t = arg;
	pg_txn_cb ready = t->ready;
	void *rarg = t->arg;
	if (err != PG_OK) {
		if (t->conn)
			t->conn->pinned = NULL;
		if (t->conn)
			schedule_dispatch(t->pool);
		free(t);
		ready(rarg, NULL, err == PG_ERR_QUERY ? PG_ERR_QUERY : PG_ERR_UNAVAILABLE);
		return;
	}
	(void)res;
	ready(rarg, t, PG_OK);
}

struct pg_txn *pg_pool_txn_begin(struct pg_pool *p, pg_txn_cb ready, void *arg)
{
	if (p->down) {
		p->unavailable++;
		return NULL;
	}
	struct pg_txn *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->pool = p;
	t->ready = ready;
	t->arg = arg;
	TAILQ_INSERT_TAIL(&p->txn_wait, t, link);
	schedule_dispatch(p);
	return t;
}

struct pg_query *pg_txn_query(struct pg_txn *t, const char *stmt, const char *sql, int nparams,
			      const char *const *params, pg_result_cb cb, void *arg)
{
	if (t->lost || !t->conn || t->ending)
		return NULL;
	struct pg_query *q = query_new(t->pool, stmt ? Q_PREPARED : Q_SQL, PG_WRITE, stmt, sql,
				       nparams, params, cb, arg);
	if (!q)
		return NULL;
	q->txn = t;
	q->sync_after = 1;
	TAILQ_INSERT_TAIL(&t->conn->pending, q, link);
	schedule_dispatch(t->pool);
	return q;
}

static void txn_end_done(void *arg, PGresult *res, int err)
{
	struct pg_txn *t = arg;
	pg_result_cb cb = t->end_cb;
	void *cb_arg = t->end_arg;
	if (t->conn)
		t->conn->pinned = NULL;
	schedule_dispatch(t->pool);
	free(t);
	if (cb)
		cb(cb_arg, res, err);
}

int pg_txn_end(struct pg_txn *t, int commit, pg_result_cb cb, void *arg)
{
	if (t->lost || !t->conn) {
		free(t);
		return -1;
	}
	struct pg_query *q = query_new(t->pool, Q_SQL, PG_WRITE, NULL,
				       commit ? "COMMIT" : "ROLLBACK", 0, NULL, txn_end_done, t);
	if (!q)
		return -1;
	t->ending = 1;
	t->end_cb = cb;
	t->end_arg = arg;
	q->txn = t;
	q->internal = 1;
	q->sync_after = 1;
	TAILQ_INSERT_TAIL(&t->conn->pending, q, link);
	schedule_dispatch(t->pool);
	return 0;
}

static double ms_between(const struct timeval *a, const struct timeval *b)
{
	struct timeval d;
	timersub(b, a, &d);
	return (double)d.tv_sec * 1000.0 + (double)d.tv_usec / 1000.0;
}

double pg_query_elapsed_ms(const struct pg_query *q, double *queued_ms)
{
	struct timeval now;
	gettimeofday(&now, NULL);
	*queued_ms = q->sent ? ms_between(&q->queued_at, &q->sent_at) : 0;
	return ms_between(&q->queued_at, &now);
}
