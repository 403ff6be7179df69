/*
 * ratelimit: see ratelimit.h.
 *
 * Local table: open addressing over RATELIMIT_LOCAL_SLOTS entries, probing
 * at most PROBE slots; a key takes the first empty or expired slot of its
 * run, else the one whose window ends first (under a flood of new keys the
 * table forgets the quietest counters first).
 *
 * Redis: one hiredis async connection on the loop (redisLibeventAttach),
 * connected on first use and again after a failure with backoff. A watchdog
 * timer closes it when a reply is late (hiredis 0.14 has no timeouts):
 * hiredis then calls every pending callback with a NULL reply, and those
 * checks are answered from the local table. The context is freed only from
 * our timer or ratelimit_stop, never inside a hiredis callback.
 */
#include "core/ratelimit.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <sodium.h>

#include "core/log.h"
#include "tasks/redis_queue.h"

#define PROBE	       32
#define TICK_MS	       250
#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 5000
#define MAX_KEYS       4

struct entry {
	char k[48];	  /* the key, "" when the slot is empty */
	int count;	  /* attempts counted in the window */
	long long end_ms; /* when the window ends (monotonic ms) */
};

/* A check waiting for its Redis reply (or its deferred local answer). */
struct op {
	struct op *next, *prev;		     /* pending ops */
	struct ratelimit_key keys[MAX_KEYS]; /* the keys */
	int n;				     /* their number */
	ratelimit_cb cb;		     /* the caller's callback */
	void *arg;			     /* its argument */
	int allowed, retry_after_s;	     /* the local answer, when deferred */
	struct event *ev;		     /* deferred local answer, or NULL */
	int in_redis;			     /* a hiredis callback will come */
};

enum rstate { R_OFF, R_DOWN, R_RESOLVING, R_CONNECTING, R_READY };

static int max_fail = RATELIMIT_DEFAULT_MAX;
static int window_ms = RATELIMIT_DEFAULT_WINDOW_S * 1000;
static unsigned char hkey[crypto_generichash_KEYBYTES];
static int hkey_set;
static struct entry *table;

static struct event_base *base;
static struct evdns_base *dns;
static struct redis_url rurl;
static int rstate = R_OFF;
static redisAsyncContext *ac;
static struct evdns_getaddrinfo_request *resolving;
static struct event *tick;
static long long retry_at_ms, last_progress_ms;
static int backoff_ms = BACKOFF_MIN_MS;
static int pending; /* replies awaited on ac */
static int kill_asked;
static int warned; /* "down" logged since the connection was last ready */
static struct op *ops;

static const char acquire_lua[] =
    "local max = tonumber(ARGV[1]) "
    "for i = 1, #KEYS do "
    "  local n = tonumber(redis.call('GET', KEYS[i]) or '0') "
    "  if n >= max then "
    "    local t = redis.call('PTTL', KEYS[i]) "
    "    if t < 0 then redis.call('PEXPIRE', KEYS[i], ARGV[2]) t = tonumber(ARGV[2]) end "
    "    return {0, t} "
    "  end "
    "end "
    "for i = 1, #KEYS do "
    "  redis.call('INCR', KEYS[i]) "
    "  if redis.call('PTTL', KEYS[i]) < 0 then redis.call('PEXPIRE', KEYS[i], ARGV[2]) end "
    "end "
    "return {1, 0}";

static const char forgive_lua[] = "for i = 1, #KEYS do "
				  "  local n = tonumber(redis.call('GET', KEYS[i]) or '0') "
				  "  if n > 0 then redis.call('DECR', KEYS[i]) end "
				  "end "
				  "return 0";

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- keys ---- */

void ratelimit_configure(int max, int window_s, const char *secret)
{
	max_fail = max > 0 ? max : RATELIMIT_DEFAULT_MAX;
	window_ms = (window_s > 0 ? window_s : RATELIMIT_DEFAULT_WINDOW_S) * 1000;
	if (sodium_init() < 0)
		return;
	if (secret && *secret) {
		static const char ctx[] = "oes ratelimit keys v1";
		crypto_generichash(hkey, sizeof(hkey), (const unsigned char *)ctx, sizeof(ctx) - 1,
				   (const unsigned char *)secret, strlen(secret));
	} else {
		randombytes_buf(hkey, sizeof(hkey));
	}
	hkey_set = 1;
	if (table)
		memset(table, 0, RATELIMIT_LOCAL_SLOTS * sizeof(*table));
}

void ratelimit_key(struct ratelimit_key *out, const char *scope, const char *value, size_t len)
{
	if (!hkey_set)
		ratelimit_configure(max_fail, window_ms / 1000, NULL);
	unsigned char h[16];
	crypto_generichash_state st;
	crypto_generichash_init(&st, hkey, sizeof(hkey), sizeof(h));
	crypto_generichash_update(&st, (const unsigned char *)scope, strlen(scope) + 1);
	crypto_generichash_update(&st, (const unsigned char *)value, len);
	crypto_generichash_final(&st, h, sizeof(h));
	memcpy(out->k, "oes:rl:", 7);
	sodium_bin2hex(out->k + 7, sizeof(out->k) - 7, h, sizeof(h));
}

/* ---- the local table ---- */

static size_t slot_of(const char *k)
{
	uint64_t h = 0;
	for (int i = 7; i < 23 && k[i]; i++)
		h = h * 16 + (uint64_t)(k[i] <= '9' ? k[i] - '0' : k[i] - 'a' + 10);
	return (size_t)(h & (RATELIMIT_LOCAL_SLOTS - 1));
}

/* The entry of k (created when missing and create); its window restarted
 * when over. NULL when the table cannot be allocated. */
static struct entry *find(const char *k, long long now, int create)
{
	if (!table) {
		if (!create)
			return NULL;
		table = calloc(RATELIMIT_LOCAL_SLOTS, sizeof(*table));
		if (!table)
			return NULL;
	}
	size_t s = slot_of(k);
	struct entry *free_e = NULL, *oldest = NULL;
	for (int i = 0; i < PROBE; i++) {
		struct entry *e = &table[(s + (size_t)i) & (RATELIMIT_LOCAL_SLOTS - 1)];
		if (e->k[0] && strcmp(e->k, k) == 0) {
			if (e->end_ms <= now)
				e->count = 0;
			return e;
		}
		if (!free_e && (!e->k[0] || e->end_ms <= now))
			free_e = e;
		if (!oldest || e->end_ms < oldest->end_ms)
			oldest = e;
	}
	if (!create)
		return NULL;
	struct entry *e = free_e ? free_e : oldest;
	snprintf(e->k, sizeof(e->k), "%s", k);
	e->count = 0;
	e->end_ms = now;
	return e;
}

int ratelimit_local_acquire(const struct ratelimit_key *keys, int n, long long now_ms,
			    int *retry_after_s)
{
	*retry_after_s = 0;
	struct entry *es[MAX_KEYS];
	if (n > MAX_KEYS)
		n = MAX_KEYS;
	for (int i = 0; i < n; i++) {
		es[i] = find(keys[i].k, now_ms, 1);
		if (!es[i])
			return 1; /* no memory for counters: let it through */
	}
	/* entries made for later keys may have evicted earlier ones: look again */
	for (int i = 0; i < n; i++)
		es[i] = find(keys[i].k, now_ms, 1);
	for (int i = 0; i < n; i++) {
		if (es[i]->count >= max_fail) {
			long long left = es[i]->end_ms - now_ms;
			*retry_after_s = (int)((left + 999) / 1000);
			if (*retry_after_s < 1)
				*retry_after_s = 1;
			return 0;
		}
	}
	for (int i = 0; i < n; i++) {
		if (es[i]->count == 0)
			es[i]->end_ms = now_ms + window_ms;
		es[i]->count++;
	}
	return 1;
}

void ratelimit_local_forgive(const struct ratelimit_key *keys, int n, long long now_ms)
{
	for (int i = 0; i < n && i < MAX_KEYS; i++) {
		struct entry *e = find(keys[i].k, now_ms, 0);
		if (e && e->count > 0)
			e->count--;
	}
}

void ratelimit_local_reset(const struct ratelimit_key *key)
{
	struct entry *e = find(key->k, mono_ms(), 0);
	if (e)
		e->count = 0;
}

int ratelimit_local_count(long long now_ms)
{
	int n = 0;
	for (size_t i = 0; table && i < RATELIMIT_LOCAL_SLOTS; i++)
		n += table[i].k[0] && table[i].end_ms > now_ms && table[i].count > 0;
	return n;
}

/* ---- ops ---- */

static void op_unlink(struct op *o)
{
	if (o->prev)
		o->prev->next = o->next;
	else
		ops = o->next;
	if (o->next)
		o->next->prev = o->prev;
	o->next = o->prev = NULL;
}

static void op_free(struct op *o)
{
	if (o->ev)
		event_free(o->ev);
	free(o);
}

/* Answers o from the local table now and frees it. */
static void answer_locally(struct op *o)
{
	int retry = 0;
	int ok = ratelimit_local_acquire(o->keys, o->n, mono_ms(), &retry);
	ratelimit_cb cb = o->cb;
	void *arg = o->arg;
	op_unlink(o);
	op_free(o);
	cb(arg, ok, retry);
}

static void deferred_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	answer_locally(arg);
}

/* ---- Redis ---- */

static void close_redis(void)
{
	if (resolving) {
		struct evdns_getaddrinfo_request *r = resolving;
		resolving = NULL;
		evdns_getaddrinfo_cancel(r);
	}
	if (ac) {
		redisAsyncContext *c = ac;
		ac = NULL;
		redisAsyncFree(c); /* pending callbacks run with NULL replies */
	}
	pending = 0;
	kill_asked = 0;
}

static void went_down(const char *why)
{
	if (!warned)
		log_warn(NULL, "ratelimit: Redis %s: counting per worker until it is back", why);
	warned = 1;
	rstate = R_DOWN;
	retry_at_ms = mono_ms() + backoff_ms;
	backoff_ms = backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff_ms * 2;
}

static void on_connect(const redisAsyncContext *c, int status)
{
	if (c != ac)
		return;
	if (status != REDIS_OK) {
		ac = NULL; /* hiredis frees it after this callback */
		pending = 0;
		went_down("unreachable");
		return;
	}
	rstate = R_READY;
	backoff_ms = BACKOFF_MIN_MS;
	if (warned)
		log_info(NULL, "ratelimit: Redis is back: counters are shared again");
	warned = 0;
	last_progress_ms = mono_ms();
}

static void on_disconnect(const redisAsyncContext *c, int status)
{
	(void)status;
	if (c != ac)
		return;
	ac = NULL; /* hiredis frees it */
	pending = 0;
	went_down("disconnected");
}

static void reply_cb(redisAsyncContext *c, void *r, void *privdata)
{
	redisReply *reply = r;
	struct op *o = privdata;
	if (c == ac) {
		pending--;
		last_progress_ms = mono_ms();
	}
	if (!o)
		return; /* forgive/reset/AUTH/SELECT: nothing waits */
	o->in_redis = 0;
	if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
	    reply->element[0]->type != REDIS_REPLY_INTEGER ||
	    reply->element[1]->type != REDIS_REPLY_INTEGER) {
		if (reply && reply->type == REDIS_REPLY_ERROR)
			log_warn(NULL, "ratelimit: Redis refused the check: %s", reply->str);
		answer_locally(o);
		return;
	}
	int ok = reply->element[0]->integer == 1;
	long long ms = reply->element[1]->integer;
	int retry = ok ? 0 : (int)((ms + 999) / 1000);
	if (!ok && retry < 1)
		retry = 1;
	ratelimit_cb cb = o->cb;
	void *arg = o->arg;
	op_unlink(o);
	op_free(o);
	cb(arg, ok, retry);
}

static void connect_to(const char *ip)
{
	ac = redisAsyncConnect(ip, rurl.port);
	if (!ac || ac->err) {
		if (ac)
			redisAsyncFree(ac);
		ac = NULL;
		went_down("unreachable");
		return;
	}
	ac->data = NULL;
	if (redisLibeventAttach(ac, base) != REDIS_OK) {
		redisAsyncFree(ac);
		ac = NULL;
		went_down("cannot be watched");
		return;
	}
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	rstate = R_CONNECTING;
	last_progress_ms = mono_ms();
	/* queued: written once connected */
	if (rurl.password[0] &&
	    redisAsyncCommand(ac, reply_cb, NULL, "AUTH %s", rurl.password) == REDIS_OK)
		pending++;
	if (rurl.db && redisAsyncCommand(ac, reply_cb, NULL, "SELECT %d", rurl.db) == REDIS_OK)
		pending++;
}

static void resolved(int err, struct evutil_addrinfo *res, void *arg)
{
	(void)arg;
	if (err == EVUTIL_EAI_CANCEL)
		return;
	resolving = NULL;
	char ip[INET6_ADDRSTRLEN] = "";
	if (!err && res) {
		if (res->ai_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, ip,
				  sizeof(ip));
		else if (res->ai_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, ip,
				  sizeof(ip));
	}
	if (res)
		evutil_freeaddrinfo(res);
	if (!ip[0]) {
		went_down("host name does not resolve");
		return;
	}
	connect_to(ip);
}

static void try_connect(void)
{
	if (rstate != R_DOWN || mono_ms() < retry_at_ms)
		return;
	unsigned char buf[sizeof(struct in6_addr)];
	if (inet_pton(AF_INET, rurl.host, buf) == 1 || inet_pton(AF_INET6, rurl.host, buf) == 1) {
		connect_to(rurl.host);
		return;
	}
	if (!dns) {
		went_down("host name cannot be resolved (no resolver)");
		return;
	}
	struct evutil_addrinfo hints;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rstate = R_RESOLVING;
	last_progress_ms = mono_ms();
	struct evdns_getaddrinfo_request *r =
	    evdns_getaddrinfo(dns, rurl.host, NULL, &hints, resolved, NULL);
	if (r && rstate == R_RESOLVING)
		resolving = r;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
	long long now = mono_ms();
	int stuck = (rstate == R_CONNECTING || rstate == R_RESOLVING ||
		     (rstate == R_READY && pending > 0)) &&
		    now - last_progress_ms > RATELIMIT_REDIS_TIMEOUT_MS;
	if (stuck || kill_asked) {
		close_redis();
		went_down(stuck ? "did not answer in time" : "failed");
	}
}

int ratelimit_start(struct event_base *b, struct evdns_base *d, const char *redis_url)
{
	base = b;
	dns = d;
	if (!hkey_set)
		ratelimit_configure(max_fail, window_ms / 1000, NULL);
	if (!redis_url || !*redis_url) {
		rstate = R_OFF;
		return 0;
	}
	char err[160];
	if (redis_queue_parse_url(redis_url, &rurl, err, sizeof(err)) < 0) {
		log_error(NULL, "ratelimit: %s", err);
		return -1;
	}
	tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	struct timeval tv = {0, TICK_MS * 1000};
	if (!tick || event_add(tick, &tv) < 0)
		return -1;
	rstate = R_DOWN;
	retry_at_ms = 0;
	try_connect();
	return 0;
}

void ratelimit_stop(void)
{
	close_redis();
	rstate = R_OFF;
	while (ops) {
		struct op *o = ops;
		if (o->ev)
			event_del(o->ev);
		answer_locally(o);
	}
	if (tick)
		event_free(tick);
	tick = NULL;
	free(table);
	table = NULL;
	base = NULL;
	dns = NULL;
}

/* Sends an EVAL of script over keys; privdata o (NULL: fire and forget).
 * 0 sent, -1 not (Redis is down). */
static int eval(const char *script, const struct ratelimit_key *keys, int n, struct op *o)
{
	try_connect();
	if (!ac || (rstate != R_READY && rstate != R_CONNECTING))
		return -1;
	const char *argv[4 + MAX_KEYS + 2];
	size_t lens[4 + MAX_KEYS + 2];
	char nk[8], maxs[16], win[24];
	snprintf(nk, sizeof(nk), "%d", n);
	snprintf(maxs, sizeof(maxs), "%d", max_fail);
	snprintf(win, sizeof(win), "%d", window_ms);
	int argc = 0;
	argv[argc++] = "EVAL";
	argv[argc++] = script;
	argv[argc++] = nk;
	for (int i = 0; i < n; i++)
		argv[argc++] = keys[i].k;
	argv[argc++] = maxs;
	argv[argc++] = win;
	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	if (redisAsyncCommandArgv(ac, reply_cb, o, argc, argv, lens) != REDIS_OK) {
		kill_asked = 1;
		return -1;
	}
	if (pending++ == 0)
		last_progress_ms = mono_ms();
	return 0;
}

int ratelimit_acquire(const struct ratelimit_key *keys, int n, ratelimit_cb cb, void *arg)
{
	if (n < 1 || n > MAX_KEYS || !cb)
		return -1;
	struct op *o = calloc(1, sizeof(*o));
	if (!o)
		return -1;
	memcpy(o->keys, keys, (size_t)n * sizeof(*keys));
	o->n = n;
	o->cb = cb;
	o->arg = arg;
	o->next = ops;
	if (ops)
		ops->prev = o;
	ops = o;
	if (rstate != R_OFF && eval(acquire_lua, keys, n, o) == 0) {
		o->in_redis = 1;
		return 0;
	}
	/* local: answered on the next loop turn */
	o->ev = base ? event_new(base, -1, 0, deferred_cb, o) : NULL;
	if (!o->ev) {
		op_unlink(o);
		free(o);
		return -1;
	}
	event_active(o->ev, EV_TIMEOUT, 0);
	return 0;
}

void ratelimit_forgive(const struct ratelimit_key *keys, int n)
{
	if (n < 1 || n > MAX_KEYS)
		return;
	ratelimit_local_forgive(keys, n, mono_ms());
	if (rstate != R_OFF)
		eval(forgive_lua, keys, n, NULL);
}

void ratelimit_reset(const struct ratelimit_key *key)
{
	ratelimit_local_reset(key);
	if (rstate == R_OFF)
		return;
	try_connect();
	if (ac && (rstate == R_READY || rstate == R_CONNECTING) &&
	    redisAsyncCommand(ac, reply_cb, NULL, "DEL %s", key->k) == REDIS_OK) {
		if (pending++ == 0)
			last_progress_ms = mono_ms();
	}
}
