/*
 * revocations: see revocations.h.
 *
 * Tables: open addressing with linear probing, never more than half full;
 * no deletion in place: expired entries are dropped when a table is rebuilt
 * (when it grows, and once a minute).
 */
#include "core/revocations.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "core/auth.h"
#include "core/log.h"
#include "core/pg_pool.h"

#define MIN_SLOTS     1024
#define REBUILD_EVERY 60 /* refreshes between rebuilds */

/* Everything revoked or changed since $1 (Unix ms), and the database's now. */
static const char refresh_sql[] =
    "SELECT 'j', jti, (extract(epoch FROM expires_at) * 1000)::bigint FROM token_revocations "
    "WHERE revoked_at >= to_timestamp($1::bigint / 1000.0) AND expires_at > now() "
    "UNION ALL "
    "SELECT 'u', id::text, ceil(extract(epoch FROM tokens_valid_after) * 1000)::bigint FROM users "
    "WHERE tokens_valid_after >= greatest(to_timestamp($1::bigint / 1000.0), "
    "now() - make_interval(secs => $2::int)) "
    "UNION ALL "
    "SELECT 'n', '', (extract(epoch FROM now()) * 1000)::bigint";

struct jent {
	char jti[64];	  /* "" when empty */
	long long exp_ms; /* the token's expiry (Unix ms) */
};

struct uent {
	long long user_id;	  /* 0 when empty */
	long long valid_after_ms; /* tokens issued before are refused (Unix ms) */
	long long keep_ms;	  /* no token issued before is alive after this */
};

static struct jent *jt;
static size_t jcap, jn;
static struct uent *ut;
static size_t ucap, un;

static struct event_base *base;
static struct pg_pool *pool;
static struct event *timer;
static struct pg_query *inflight;
static long long sent_mono;  /* when the refresh in flight was sent */
static long long fresh_mono; /* when the last good refresh was sent */
static long long since_ms;   /* next refresh asks for changes since (DB clock) */
static int loaded;	     /* one refresh succeeded */
static int ttl_s = 86400;    /* JWT_TTL_S */
static int refreshes;	     /* since the last rebuild */
static int warned;	     /* a failure was logged since the last success */

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t hash_str(const char *s)
{
	size_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static size_t hash_id(long long id)
{
	return (size_t)(((unsigned long long)id * 0x9E3779B97F4A7C15ULL) >> 17);
}

/* ---- jti table ---- */

static struct jent *jfind(const char *jti)
{
	if (!jt)
		return NULL;
	for (size_t i = hash_str(jti) & (jcap - 1);; i = (i + 1) & (jcap - 1)) {
		if (!jt[i].jti[0])
			return NULL;
		if (strcmp(jt[i].jti, jti) == 0)
			return &jt[i];
	}
}

static void jput_raw(struct jent *t, size_t cap, const char *jti, long long exp_ms)
{
	for (size_t i = hash_str(jti) & (cap - 1);; i = (i + 1) & (cap - 1)) {
		if (!t[i].jti[0]) {
			snprintf(t[i].jti, sizeof(t[i].jti), "%s", jti);
			t[i].exp_ms = exp_ms;
			return;
		}
	}
}

/* Rebuilds the jti table without expired entries, with room for `more`. */
static int jrebuild(size_t more)
{
	long long now = wall_ms();
	size_t live = 0;
	for (size_t i = 0; i < jcap; i++)
		live += jt[i].jti[0] && jt[i].exp_ms > now;
	size_t cap = MIN_SLOTS;
	while (cap < 2 * (live + more) + 2)
		cap *= 2;
	struct jent *t = calloc(cap, sizeof(*t));
	if (!t)
		return -1;
	for (size_t i = 0; i < jcap; i++)
		if (jt[i].jti[0] && jt[i].exp_ms > now)
			jput_raw(t, cap, jt[i].jti, jt[i].exp_ms);
	free(jt);
	jt = t;
	jcap = cap;
	jn = live;
	return 0;
}

void revocations_add_jti(const char *jti, long long exp_ms)
{
	if (!jti || !jti[0] || strlen(jti) >= sizeof(jt[0].jti))
		return;
	struct jent *e = jfind(jti);
	if (e) {
		if (exp_ms > e->exp_ms)
			e->exp_ms = exp_ms;
		return;
	}
	if (2 * (jn + 1) > jcap && jrebuild(1) < 0) {
		log_error(NULL, "revocations: out of memory");
		return;
	}
	jput_raw(jt, jcap, jti, exp_ms);
	jn++;
}

/* ---- users table ---- */

static struct uent *ufind(long long user_id)
{
	if (!ut)
		return NULL;
	for (size_t i = hash_id(user_id) & (ucap - 1);; i = (i + 1) & (ucap - 1)) {
		if (!ut[i].user_id)
			return NULL;
		if (ut[i].user_id == user_id)
			return &ut[i];
	}
}

static void uput_raw(struct uent *t, size_t cap, const struct uent *e)
{
	for (size_t i = hash_id(e->user_id) & (cap - 1);; i = (i + 1) & (cap - 1)) {
		if (!t[i].user_id) {
			t[i] = *e;
			return;
		}
	}
}

static int urebuild(size_t more)
{
	long long now = wall_ms();
	size_t live = 0;
	for (size_t i = 0; i < ucap; i++)
		live += ut[i].user_id && ut[i].keep_ms > now;
	size_t cap = MIN_SLOTS;
	while (cap < 2 * (live + more) + 2)
		cap *= 2;
	struct uent *t = calloc(cap, sizeof(*t));
	if (!t)
		return -1;
	for (size_t i = 0; i < ucap; i++)
		if (ut[i].user_id && ut[i].keep_ms > now)
			uput_raw(t, cap, &ut[i]);
	free(ut);
	ut = t;
	ucap = cap;
	un = live;
	return 0;
}

void revocations_set_user(long long user_id, long long valid_after_ms)
{
	if (user_id <= 0)
		return;
	struct uent *e = ufind(user_id);
	long long keep = valid_after_ms + (long long)ttl_s * 1000 + 1000;
	if (e) {
		if (valid_after_ms > e->valid_after_ms) {
			e->valid_after_ms = valid_after_ms;
			e->keep_ms = keep;
		}
		return;
	}
	if (2 * (un + 1) > ucap && urebuild(1) < 0) {
		log_error(NULL, "revocations: out of memory");
		return;
	}
	struct uent n = {user_id, valid_after_ms, keep};
	uput_raw(ut, ucap, &n);
	un++;
}

/* ---- the check ---- */

int revocations_check(const struct principal *p)
{
	if (!loaded || mono_ms() - fresh_mono > REVOCATIONS_STALE_MS)
		return -1;
	const struct uent *u = ufind(p->user_id);
	if (u && p->iat_ms < u->valid_after_ms)
		return 1;
	if (p->jti[0] && jfind(p->jti))
		return 1;
	return 0;
}

void revocations_counts(long *jtis, long *users)
{
	*jtis = (long)jn;
	*users = (long)un;
}

/* ---- refresh ---- */

static void refreshed(void *arg, PGresult *res, int err)
{
	(void)arg;
	inflight = NULL;
	if (err != PG_OK) {
		if (!warned)
			log_warn(NULL,
				 "revocations: refresh failed (%s); tokens are checked in the "
				 "database while this lasts",
				 res ? pg_sqlstate(res) : "database unavailable");
		warned = 1;
		return;
	}
	int n = PQntuples(res);
	for (int i = 0; i < n; i++) {
		const char *kind = PQgetvalue(res, i, 0);
		const char *key = PQgetvalue(res, i, 1);
		long long ms = strtoll(PQgetvalue(res, i, 2), NULL, 10);
		if (kind[0] == 'j')
			revocations_add_jti(key, ms);
		else if (kind[0] == 'u')
			revocations_set_user(strtoll(key, NULL, 10), ms);
		else if (kind[0] == 'n')
			since_ms = ms - REVOCATIONS_OVERLAP_MS;
	}
	if (!loaded)
		log_info(NULL, "revocations: loaded (%zu token ids, %zu users)", jn, un);
	else if (warned)
		log_info(NULL, "revocations: refreshing again");
	warned = 0;
	loaded = 1;
	fresh_mono = sent_mono;
	if (++refreshes >= REBUILD_EVERY) {
		refreshes = 0;
		if (jt)
			jrebuild(0);
		if (ut)
			urebuild(0);
	}
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
	if (inflight || !pool)
		return;
	char since[24], ttl[16];
	snprintf(since, sizeof(since), "%lld", loaded ? since_ms : 0LL);
	snprintf(ttl, sizeof(ttl), "%d", ttl_s);
	const char *params[2] = {since, ttl};
	sent_mono = mono_ms();
	inflight = pg_pool_query(pool, PG_READ, NULL, refresh_sql, 2, params, refreshed, NULL);
}

int revocations_start(struct event_base *b, struct pg_pool *pg, int jwt_ttl_s)
{
	base = b;
	pool = pg;
	ttl_s = jwt_ttl_s > 0 ? jwt_ttl_s : 86400;
	timer = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	struct timeval tv = {REVOCATIONS_REFRESH_MS / 1000, (REVOCATIONS_REFRESH_MS % 1000) * 1000};
	if (!timer || event_add(timer, &tv) < 0)
		return -1;
	/* the first load as soon as the pool takes queries (they wait for a
	 * connection in its queue) */
	struct timeval zero = {0, 0};
	event_base_once(base, -1, EV_TIMEOUT, tick_cb, NULL, &zero);
	auth_revocation_check = revocations_check;
	return 0;
}

void revocations_stop(void)
{
	if (auth_revocation_check == revocations_check)
		auth_revocation_check = NULL;
	if (inflight)
		pg_query_cancel(inflight);
	inflight = NULL;
	if (timer)
		event_free(timer);
	timer = NULL;
	free(jt);
	free(ut);
	jt = NULL;
	ut = NULL;
	jcap = jn = ucap = un = 0;
	loaded = 0;
	pool = NULL;
	base = NULL;
}
