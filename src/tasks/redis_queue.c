/*
 * redis_queue: the Redis side of task dispatch (see redis_queue.h).
 *
 * Connection life: DOWN -> (RESOLVING) -> CONNECTING -> HANDSHAKE (AUTH,
 * SELECT, PING) -> READY -> DOWN. Every context is ours until hiredis
 * reports its end: a failed connect (onConnect with an error), a
 * disconnect (onDisconnect), or our own redisAsyncFree from the watchdog
 * timer. Callbacks find their connection through ac->data and ignore a
 * context that is no longer the connection's current one (`c->ac != ac`).
 *
 * Private data of commands: LPUSH carries a copy of the id (put back in the
 * unsent list when the reply is NULL); the other commands carry none or a
 * small request object freed by their callback.
 */
#include "tasks/redis_queue.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "core/log.h"

#define TICK_MS		   250	  /* watchdog period */
#define CONNECT_TIMEOUT_MS 3000	  /* resolve + connect + handshake */
#define REPLY_TIMEOUT_MS   5000	  /* a command's reply */
#define BLOCK_S		   1	  /* BRPOPLPUSH timeout */
#define PING_IDLE_MS	   5000	  /* an idle command connection is pinged */
#define BACKOFF_MIN_MS	   100	  /* first reconnection delay */
#define BACKOFF_MAX_MS	   5000	  /* longest reconnection delay */
#define UNSENT_MAX	   100000 /* ids kept while Redis is down */

enum rconn_state { RC_DOWN, RC_RESOLVING, RC_CONNECTING, RC_HANDSHAKE, RC_READY };

struct rconn {
	const char *role;		       /* "commands" or "consumer", for logs */
	int consumer;			       /* 1: the BRPOPLPUSH connection */
	redisAsyncContext *ac;		       /* current context, NULL when down */
	int state;			       /* enum rconn_state */
	struct event *tick;		       /* watchdog and reconnection timer */
	struct evdns_getaddrinfo_request *dns; /* resolution in flight */
	int backoff_ms;			       /* next reconnection delay */
	struct timeval retry_at;	       /* DOWN: when to connect again */
	struct timeval since;		       /* start of the connect, or last reply */
	int pending;			       /* replies awaited on ac */
	int blocking;			       /* consumer: a BRPOPLPUSH is outstanding */
	int kill;			       /* close at the next tick (asked from a callback) */
	int ever_ready;			       /* was READY once */
	int warned;			       /* "down" already logged since the last READY */
};

static struct event_base *base;
static struct evdns_base *dns;
static struct redis_url url;
static struct redis_queue_handlers handlers;
static struct rconn cmd = {.role = "commands"};
static struct rconn pop = {.role = "consumer", .consumer = 1};
static int started, stopping;
static int capacity; /* jobs the consumer may take */

/* ids waiting for LPUSH: a ring buffer */
static char **unsent;
static int unsent_head, unsent_n, unsent_cap;

/* ---- URL ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes s[0..n) into out (size outlen). 0/-1. */
static int pct_decode(const char *s, size_t n, char *out, size_t outlen)
{
	size_t j = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '%') {
			if (i + 2 >= n)
				return -1;
			int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
			if (h < 0 || l < 0)
				return -1;
			c = (char)(h * 16 + l);
			i += 2;
		}
		if (c == '\0' || j + 1 >= outlen)
			return -1;
		out[j++] = c;
	}
	out[j] = '\0';
	return 0;
}

int redis_queue_parse_url(const char *s, struct redis_url *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	out->port = 6379;
	if (!s || strncmp(s, "redis://", 8) != 0) {
		snprintf(err, errlen, "REDIS_URL must start with redis://");
		return -1;
	}
	const char *p = s + 8;
	const char *end = p + strcspn(p, "/?#");
	const char *at = NULL;
	for (const char *q = p; q < end; q++)
		if (*q == '@')
			at = q;
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		const char *pw = colon ? colon + 1 : p;
		if (pct_decode(pw, (size_t)(at - pw), out->password, sizeof(out->password)) < 0) {
			snprintf(err, errlen, "REDIS_URL: bad password");
			return -1;
		}
		p = at + 1;
	}
	const char *host_end;
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(end - p));
		if (!rb) {
			snprintf(err, errlen, "REDIS_URL: unterminated [IPv6] host");
			return -1;
		}
		if ((size_t)(rb - p - 1) >= sizeof(out->host) || rb == p + 1) {
			snprintf(err, errlen, "REDIS_URL: bad host");
			return -1;
		}
		memcpy(out->host, p + 1, (size_t)(rb - p - 1));
		host_end = rb + 1;
		if (host_end < end && *host_end != ':') {
			snprintf(err, errlen, "REDIS_URL: bad host");
			return -1;
		}
	} else {
		host_end = p;
		while (host_end < end && *host_end != ':')
			host_end++;
		size_t n = (size_t)(host_end - p);
		if (n == 0 || n >= sizeof(out->host)) {
			snprintf(err, errlen, "REDIS_URL: missing or too long host");
			return -1;
		}
		memcpy(out->host, p, n);
	}
	if (host_end < end && *host_end == ':') {
		const char *d = host_end + 1;
		long port = 0;
		if (d == end) {
			snprintf(err, errlen, "REDIS_URL: empty port");
			return -1;
		}
		for (; d < end; d++) {
			if (*d < '0' || *d > '9' || port > 65535) {
				snprintf(err, errlen, "REDIS_URL: bad port");
				return -1;
			}
			port = port * 10 + (*d - '0');
		}
		if (port < 1 || port > 65535) {
			snprintf(err, errlen, "REDIS_URL: bad port");
			return -1;
		}
		out->port = (int)port;
	}
	if (*end == '/') {
		const char *d = end + 1;
		long db = 0;
		int digits = 0;
		for (; *d >= '0' && *d <= '9' && db < 100000; d++, digits++)
			db = db * 10 + (*d - '0');
		if (*d != '\0' || (digits == 0 && d != end + 1) || db >= 100000) {
			snprintf(err, errlen, "REDIS_URL: bad database number");
			return -1;
		}
		out->db = (int)db;
	} else if (*end != '\0') {
		snprintf(err, errlen, "REDIS_URL: query strings and fragments are not supported");
		return -1;
	}
	return 0;
}

/* ---- time ---- */

static long ms_since(const struct timeval *t)
{
	struct timeval now, d;
	gettimeofday(&now, NULL);
	timersub(&now, t, &d);
	return (long)d.tv_sec * 1000 + d.tv_usec / 1000;
}

static void touch(struct rconn *c)
{
	gettimeofday(&c->since, NULL);
}

/* ---- unsent ids ---- */

static int unsent_add(char *id)
{
	if (unsent_n == unsent_cap) {
		if (unsent_cap >= UNSENT_MAX)
			return -1;
		int ncap = unsent_cap ? unsent_cap * 2 : 64;
		char **n = malloc((size_t)ncap * sizeof(*n));
		if (!n)
			return -1;
		for (int i = 0; i < unsent_n; i++)
			n[i] = unsent[(unsent_head + i) % unsent_cap];
		free(unsent);
		unsent = n;
		unsent_cap = ncap;
		unsent_head = 0;
	}
	unsent[(unsent_head + unsent_n) % unsent_cap] = id;
	unsent_n++;
	return 0;
}

static char *unsent_take(void)
{
	if (unsent_n == 0)
		return NULL;
	char *id = unsent[unsent_head];
	unsent_head = (unsent_head + 1) % unsent_cap;
	unsent_n--;
	return id;
}

/* ---- connections ---- */

static void connect_now(struct rconn *c);
static void pop_next(void);
static void flush_unsent(void);

static void schedule_retry(struct rconn *c)
{
	c->state = RC_DOWN;
	c->pending = 0;
	c->blocking = 0;
	c->kill = 0;
	gettimeofday(&c->retry_at, NULL);
	struct timeval d = {c->backoff_ms / 1000, (c->backoff_ms % 1000) * 1000};
	timeradd(&c->retry_at, &d, &c->retry_at);
	c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
}

/* The connection is gone (hiredis freed, or frees right after, the
 * context): forget it and plan the next attempt. */
static void lost(struct rconn *c, const char *why)
{
	c->ac = NULL;
	if (stopping)
		return;
	if (!c->warned)
		log_warn(NULL, "redis %s connection to %s:%d: %s; reconnecting", c->role, url.host,
			 url.port, why);
	c->warned = 1;
	schedule_retry(c);
}

/* Closes the current context from our own timer (never inside a hiredis
 * callback): pending callbacks get NULL replies and see a stale context. */
static void force_close(struct rconn *c, const char *why)
{
	redisAsyncContext *ac = c->ac;
	lost(c, why);
	if (ac)
		redisAsyncFree(ac);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
	struct rconn *c = ac->data;
	if (c->ac != ac)
		return;
	if (status != REDIS_OK) {
		/* hiredis frees the context after this callback */
		lost(c, ac->errstr[0] ? ac->errstr : "connect failed");
		return;
	}
	touch(c);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct rconn *c = ac->data;
	(void)status;
	if (c->ac != ac)
		return;
	lost(c, ac->err ? ac->errstr : "disconnected");
}

/* The PING that ends the handshake. */
static void handshake_cb(redisAsyncContext *ac, void *r, void *priv)
{
	redisReply *reply = r;
	struct rconn *c = ac->data;
	(void)priv;
	if (c->ac != ac || stopping)
		return;
	c->pending--;
	touch(c);
	if (!reply)
		return; /* the disconnect callback follows */
	if (reply->type == REDIS_REPLY_ERROR) {
		log_error(NULL, "redis %s connection: %s", c->role, reply->str);
		c->kill = 1;
		return;
	}
	if (c->state != RC_HANDSHAKE)
		return;
	c->state = RC_READY;
	c->backoff_ms = BACKOFF_MIN_MS;
	int first = !c->ever_ready;
	c->ever_ready = 1;
	if (c->warned || first)
		log_info(NULL, "redis %s connection to %s:%d ready", c->role, url.host, url.port);
	c->warned = 0;
	if (c->consumer) {
		pop_next();
	} else {
		flush_unsent();
		if (handlers.ready)
			handlers.ready(first);
	}
}

/* Replies to AUTH and SELECT: an error closes the connection. */
static void setup_cb(redisAsyncContext *ac, void *r, void *priv)
{
	redisReply *reply = r;
	struct rconn *c = ac->data;
	(void)priv;
	if (c->ac != ac || stopping)
		return;
	c->pending--;
	touch(c);
	if (reply && reply->type == REDIS_REPLY_ERROR) {
		log_error(NULL, "redis %s connection: %s", c->role, reply->str);
		c->kill = 1;
	}
}

static void connect_addr(struct rconn *c, const char *ip)
{
	redisAsyncContext *ac = redisAsyncConnect(ip, url.port);
	if (!ac || ac->err) {
		if (!c->warned)
			log_warn(NULL, "redis %s connection to %s:%d: %s", c->role, url.host,
				 url.port, ac ? ac->errstr : "out of memory");
		c->warned = 1;
		if (ac)
			redisAsyncFree(ac);
		schedule_retry(c);
		return;
	}
	ac->data = c;
	if (redisLibeventAttach(ac, base) != REDIS_OK) {
		redisAsyncFree(ac);
		schedule_retry(c);
		return;
	}
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	c->ac = ac;
	c->state = RC_HANDSHAKE;
	c->pending = 0;
	c->blocking = 0;
	touch(c);
	/* commands are buffered until the socket connects */
	if (url.password[0]) {
		if (redisAsyncCommand(ac, setup_cb, NULL, "AUTH %s", url.password) == REDIS_OK)
			c->pending++;
	}
	if (url.db) {
		if (redisAsyncCommand(ac, setup_cb, NULL, "SELECT %d", url.db) == REDIS_OK)
			c->pending++;
	}
	if (redisAsyncCommand(ac, handshake_cb, NULL, "PING") == REDIS_OK)
		c->pending++;
}

static void resolved(int result, struct evutil_addrinfo *res, void *arg)
{
	struct rconn *c = arg;
	c->dns = NULL;
	if (result == EVUTIL_EAI_CANCEL || stopping) {
		if (res)
			evutil_freeaddrinfo(res);
		return;
	}
	if (result != 0 || !res) {
		if (!c->warned)
			log_warn(NULL, "redis: cannot resolve %s: %s", url.host,
				 evutil_gai_strerror(result));
		c->warned = 1;
		if (res)
			evutil_freeaddrinfo(res);
		schedule_retry(c);
		return;
	}
	/* IPv4 first: "localhost" often resolves to ::1 as well, and Redis
	 * binds 127.0.0.1 by default */
	struct evutil_addrinfo *pick = NULL;
	for (struct evutil_addrinfo *a = res; a && !pick; a = a->ai_next)
		if (a->ai_family == AF_INET)
			pick = a;
	for (struct evutil_addrinfo *a = res; a && !pick; a = a->ai_next)
		if (a->ai_family == AF_INET6)
			pick = a;
	char ip[INET6_ADDRSTRLEN] = "";
	if (pick && pick->ai_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)pick->ai_addr)->sin_addr, ip,
			  sizeof(ip));
	else if (pick)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)pick->ai_addr)->sin6_addr, ip,
			  sizeof(ip));
	evutil_freeaddrinfo(res);
	if (!ip[0]) {
		schedule_retry(c);
		return;
	}
	connect_addr(c, ip);
}

static int is_address(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static void connect_now(struct rconn *c)
{
	touch(c);
	if (is_address(url.host)) {
		c->state = RC_CONNECTING;
		connect_addr(c, url.host);
		return;
	}
	struct evutil_addrinfo hints;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	c->state = RC_RESOLVING;
	c->dns = evdns_getaddrinfo(dns, url.host, NULL, &hints, resolved, c);
	/* NULL: answered at once (the callback already ran) or failed */
}

static void ping_cb(redisAsyncContext *ac, void *r, void *priv)
{
	struct rconn *c = ac->data;
	(void)r, (void)priv;
	if (c->ac != ac || stopping)
		return;
	c->pending--;
	touch(c);
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
	struct rconn *c = arg;
	(void)fd, (void)what;
	if (stopping)
		return;
	switch (c->state) {
	case RC_DOWN: {
		struct timeval now;
		gettimeofday(&now, NULL);
		if (!timercmp(&now, &c->retry_at, <))
			connect_now(c);
		break;
	}
	case RC_RESOLVING:
		if (ms_since(&c->since) > CONNECT_TIMEOUT_MS) {
			if (c->dns) {
				struct evdns_getaddrinfo_request *r = c->dns;
				c->dns = NULL;
				evdns_getaddrinfo_cancel(r);
			}
			lost(c, "name resolution timed out");
		}
		break;
	case RC_CONNECTING:
	case RC_HANDSHAKE:
		if (c->kill)
			force_close(c, "handshake failed");
		else if (ms_since(&c->since) > CONNECT_TIMEOUT_MS)
			force_close(c, "connect timed out");
		break;
	case RC_READY: {
		long limit = REPLY_TIMEOUT_MS + (c->blocking ? BLOCK_S * 1000 : 0);
		if (c->kill)
			force_close(c, "closed after an error");
		else if (c->pending > 0 && ms_since(&c->since) > limit)
			force_close(c, "no reply in time");
		else if (!c->consumer && c->pending == 0 && ms_since(&c->since) > PING_IDLE_MS) {
			if (redisAsyncCommand(c->ac, ping_cb, NULL, "PING") == REDIS_OK) {
				c->pending++;
				touch(c);
			}
		}
		break;
	}
	}
}

static int conn_start(struct rconn *c)
{
	c->backoff_ms = BACKOFF_MIN_MS;
	c->state = RC_DOWN;
	c->tick = event_new(base, -1, EV_PERSIST, tick, c);
	if (!c->tick)
		return -1;
	struct timeval tv = {0, TICK_MS * 1000};
	event_add(c->tick, &tv);
	connect_now(c);
	return 0;
}

static void conn_stop(struct rconn *c)
{
	if (c->tick)
		event_free(c->tick);
	c->tick = NULL;
	if (c->dns) {
		struct evdns_getaddrinfo_request *r = c->dns;
		c->dns = NULL;
		evdns_getaddrinfo_cancel(r);
	}
	redisAsyncContext *ac = c->ac;
	c->ac = NULL;
	c->state = RC_DOWN;
	if (ac)
		redisAsyncFree(ac);
}

/* ---- commands ---- */

static void push_cb(redisAsyncContext *ac, void *r, void *priv)
{
	redisReply *reply = r;
	struct rconn *c = ac->data;
	char *id = priv;
	if (stopping) {
		free(id);
		return;
	}
	if (c->ac == ac) {
		c->pending--;
		touch(c);
	}
	if (!reply || reply->type == REDIS_REPLY_ERROR) {
		if (reply)
			log_warn(NULL, "redis LPUSH: %s", reply->str);
		if (unsent_add(id) < 0)
			free(id); /* the sweeper re-dispatches it */
		return;
	}
	free(id);
}

static int send_push(char *id)
{
	if (redisAsyncCommand(cmd.ac, push_cb, id, "LPUSH %s %s", REDIS_QUEUE_KEY, id) != REDIS_OK)
		return -1;
	cmd.pending++;
	return 0;
}

static void flush_unsent(void)
{
	char *id;
	while (cmd.state == RC_READY && (id = unsent_take())) {
		if (send_push(id) < 0) {
			unsent_add(id);
			break;
		}
	}
}

void redis_queue_push(const char *id)
{
	char *copy = strdup(id);
	if (!copy)
		return;
	if (!started || stopping) {
		free(copy);
		return;
	}
	if (cmd.state == RC_READY && unsent_n == 0 && send_push(copy) == 0)
		return;
	if (unsent_add(copy) < 0) {
		free(copy);
		log_warn(NULL, "redis: %d task ids waiting already; %s is left to the sweeper",
			 UNSENT_MAX, id);
	}
}

static void ack_cb(redisAsyncContext *ac, void *r, void *priv)
{
	struct rconn *c = ac->data;
	(void)r, (void)priv;
	if (stopping || c->ac != ac)
		return;
	c->pending--;
	touch(c);
}

void redis_queue_ack(const char *id)
{
	if (!started || stopping || cmd.state != RC_READY)
		return;
	if (redisAsyncCommand(cmd.ac, ack_cb, NULL, "LREM %s 1 %s", REDIS_PROCESSING_KEY, id) ==
	    REDIS_OK)
		cmd.pending++;
}

static void pop_cb(redisAsyncContext *ac, void *r, void *priv)
{
	redisReply *reply = r;
	struct rconn *c = ac->data;
	(void)priv;
	if (stopping || c->ac != ac)
		return;
	c->pending--;
	c->blocking = 0;
	touch(c);
	if (!reply)
		return;
	if (reply->type == REDIS_REPLY_STRING && reply->len > 0 && reply->len < 64) {
		char id[64];
		memcpy(id, reply->str, reply->len);
		id[reply->len] = '\0';
		if (capacity > 0)
			capacity--;
		if (handlers.job)
			handlers.job(id);
	} else if (reply->type == REDIS_REPLY_ERROR) {
		log_warn(NULL, "redis BRPOPLPUSH: %s", reply->str);
		c->kill = 1;
		return;
	}
	pop_next();
}

static void pop_next(void)
{
	if (stopping || pop.state != RC_READY || pop.blocking || pop.kill || capacity <= 0)
		return;
	if (redisAsyncCommand(pop.ac, pop_cb, NULL, "BRPOPLPUSH %s %s %d", REDIS_QUEUE_KEY,
			      REDIS_PROCESSING_KEY, BLOCK_S) == REDIS_OK) {
		pop.pending++;
		pop.blocking = 1;
		touch(&pop);
	}
}

void redis_queue_capacity(int n)
{
	capacity = n;
	pop_next();
}

int redis_queue_up(void)
{
	return started && cmd.state == RC_READY;
}

struct lrange_req {
	void (*cb)(void *arg, char **ids, int n); /* the caller's callback */
	void *arg;				  /* its argument */
};

static void lrange_cb(redisAsyncContext *ac, void *r, void *priv)
{
	redisReply *reply = r;
	struct rconn *c = ac->data;
	struct lrange_req *q = priv;
	if (stopping) {
		free(q);
		return;
	}
	if (c->ac == ac) {
		c->pending--;
		touch(c);
	}
	if (!reply || reply->type != REDIS_REPLY_ARRAY) {
		q->cb(q->arg, NULL, -1);
		free(q);
		return;
	}
	char **ids = calloc(reply->elements + 1, sizeof(char *));
	int n = 0;
	for (size_t i = 0; ids && i < reply->elements; i++) {
		redisReply *e = reply->element[i];
		if (e->type == REDIS_REPLY_STRING && (ids[n] = strndup(e->str, e->len)))
			n++;
	}
	q->cb(q->arg, ids, ids ? n : -1);
	for (int i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	free(q);
}

int redis_queue_processing(int max, void (*cb)(void *arg, char **ids, int n), void *arg)
{
	if (!redis_queue_up() || max <= 0)
		return -1;
	struct lrange_req *q = malloc(sizeof(*q));
	if (!q)
		return -1;
	q->cb = cb;
	q->arg = arg;
	if (redisAsyncCommand(cmd.ac, lrange_cb, q, "LRANGE %s 0 %d", REDIS_PROCESSING_KEY,
			      max - 1) != REDIS_OK) {
		free(q);
		return -1;
	}
	cmd.pending++;
	return 0;
}

/* ---- start and stop ---- */

int redis_queue_start(struct event_base *b, struct evdns_base *d, const char *u, int consume,
		      const struct redis_queue_handlers *h)
{
	char err[160];
	if (redis_queue_parse_url(u, &url, err, sizeof(err)) < 0) {
		log_error(NULL, "%s", err);
		return -1;
	}
	base = b;
	dns = d;
	handlers = *h;
	stopping = 0;
	started = 1;
	capacity = 0;
	if (conn_start(&cmd) < 0 || (consume && conn_start(&pop) < 0)) {
		redis_queue_stop();
		return -1;
	}
	return 0;
}

void redis_queue_stop(void)
{
	if (!started)
		return;
	stopping = 1;
	conn_stop(&pop);
	conn_stop(&cmd);
	char *id;
	while ((id = unsent_take()))
		free(id);
	free(unsent);
	unsent = NULL;
	unsent_head = unsent_n = unsent_cap = 0;
	started = 0;
	struct rconn fresh_cmd = {.role = "commands"},
		     fresh_pop = {.role = "consumer", .consumer = 1};
	cmd = fresh_cmd;
	pop = fresh_pop;
}
