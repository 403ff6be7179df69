/*
 * curlm: curl's multi_socket interface on libevent, after curl's
 * docs/examples/hiperfifo.c (see curlm.h).
 *
 * curl tells us which sockets to watch (sock_cb) and when to wake it
 * (timer_cb); libevent tells curl when a socket is ready (event_cb) or the
 * timer fired (timeout_cb). After each curl_multi_socket_action we look for
 * finished transfers (check_multi_info): the only place where an easy
 * handle leaves the multi handle and is cleaned up. A cancelled transfer is
 * reaped there too, from a deferred event (the reaper), never from inside
 * one of curl's callbacks, where curl may still use the handle; its owner
 * hears of it then (CURLE_ABORTED_BY_CALLBACK) and frees its buffers.
 */
#include "core/curlm.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core/log.h"

struct curlm_sock {
	struct curlm_sock *next, *prev; /* in m->socks */
	struct curlm *m;		/* owner */
	curl_socket_t fd;		/* the socket curl uses */
	struct event *ev;		/* libevent watcher of fd */
};

struct curlm_xfer {
	struct curlm_xfer *next, *prev; /* in m->xfers */
	struct curlm *m;		/* owner */
	CURL *easy;			/* the easy handle, in the multi handle */
	curlm_done_fn done;		/* completion callback */
	void *arg;			/* its argument */
	int cancelled;			/* curlm_cancel ran: reap, answer ABORTED */
};

struct curlm {
	struct event_base *base;  /* the loop */
	CURLM *multi;		  /* the one multi handle */
	struct event *timer;	  /* curl's timeout */
	struct event *reaper;	  /* deferred reaping of cancelled transfers */
	struct curlm_xfer *xfers; /* transfers in flight */
	struct curlm_sock *socks; /* sockets watched */
	int nxfers;		  /* length of xfers */
	int freeing;		  /* curlm_free is running: no more reaping */
};

/* ---- transfers ---- */

static void xfer_unlink(struct curlm_xfer *x)
{
	struct curlm *m = x->m;
	if (x->prev)
		x->prev->next = x->next;
	else
		m->xfers = x->next;
	if (x->next)
		x->next->prev = x->prev;
	x->next = x->prev = NULL;
	m->nxfers--;
}

/* A transfer out of the multi handle: calls back, frees. */
static void xfer_finish(struct curlm_xfer *x, CURLcode res)
{
	xfer_unlink(x);
	if (x->cancelled)
		res = CURLE_ABORTED_BY_CALLBACK;
	if (x->done)
		x->done(x->arg, x->easy, res);
	curl_easy_cleanup(x->easy);
	free(x);
}

/* Completes finished transfers and reaps cancelled ones. Runs only after
 * curl_multi_socket_action returned, or from the reaper: never inside a
 * curl callback. */
static void check_multi_info(struct curlm *m)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(m->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		CURL *easy = msg->easy_handle;
		CURLcode res = msg->data.result;
		struct curlm_xfer *x = NULL;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
		/* msg is invalid after this */
		curl_multi_remove_handle(m->multi, easy);
		if (x)
			xfer_finish(x, res);
		else
			curl_easy_cleanup(easy);
	}
	struct curlm_xfer *x = m->xfers;
	while (x) {
		struct curlm_xfer *next = x->next;
		if (x->cancelled) {
			curl_multi_remove_handle(m->multi, x->easy);
			xfer_finish(x, CURLE_ABORTED_BY_CALLBACK);
		}
		x = next;
	}
}

static void reaper_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	check_multi_info(arg);
}

/* ---- curl <-> libevent ---- */

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct curlm *m = arg;
	int running = 0;
	(void)fd, (void)what;
	curl_multi_socket_action(m->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_multi_info(m);
}

static void event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct curlm_sock *sk = arg;
	struct curlm *m = sk->m; /* sk may be freed by the call below */
	int running = 0;
	int action =
	    ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
	curl_multi_socket_action(m->multi, fd, action, &running);
	check_multi_info(m);
	if (running <= 0 && evtimer_pending(m->timer, NULL))
		evtimer_del(m->timer);
}

/* CURLMOPT_TIMERFUNCTION: (re)arms or stops our timer; never calls curl. */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct curlm *m = userp;
	(void)multi;
	if (timeout_ms < 0) {
		evtimer_del(m->timer);
		return 0;
	}
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	return evtimer_add(m->timer, &tv) == 0 ? 0 : -1;
}

static void sock_free(struct curlm_sock *sk)
{
	struct curlm *m = sk->m;
	if (sk->prev)
		sk->prev->next = sk->next;
	else
		m->socks = sk->next;
	if (sk->next)
		sk->next->prev = sk->prev;
	if (sk->ev)
		event_free(sk->ev);
	free(sk);
}

/* CURLMOPT_SOCKETFUNCTION: what to watch on a socket. */
static int sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct curlm *m = userp;
	struct curlm_sock *sk = socketp;
	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (sk)
			sock_free(sk);
		return 0;
	}
	if (!sk) {
		sk = calloc(1, sizeof(*sk));
		if (!sk)
			return -1;
		sk->m = m;
		sk->fd = fd;
		sk->next = m->socks;
		if (m->socks)
			m->socks->prev = sk;
		m->socks = sk;
		curl_multi_assign(m->multi, fd, sk);
	}
	short kind = (short)(((what & CURL_POLL_IN) ? EV_READ : 0) |
			     ((what & CURL_POLL_OUT) ? EV_WRITE : 0) | EV_PERSIST);
	if (sk->ev) {
		event_del(sk->ev);
		if (event_assign(sk->ev, m->base, fd, kind, event_cb, sk) < 0)
			return -1;
	} else {
		sk->ev = event_new(m->base, fd, kind, event_cb, sk);
		if (!sk->ev)
			return -1;
	}
	return event_add(sk->ev, NULL) == 0 ? 0 : -1;
}

/* ---- the interface ---- */

struct curlm_xfer *curlm_add(struct curlm *m, CURL *easy, curlm_done_fn done, void *arg)
{
	if (!easy)
		return NULL;
	struct curlm_xfer *x = m && !m->freeing ? calloc(1, sizeof(*x)) : NULL;
	if (!x) {
		curl_easy_cleanup(easy);
		return NULL;
	}
	x->m = m;
	x->easy = easy;
	x->done = done;
	x->arg = arg;
	if (curl_easy_setopt(easy, CURLOPT_PRIVATE, x) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_multi_add_handle(m->multi, easy) != CURLM_OK) {
		log_warn(NULL, "curlm: cannot start a transfer");
		curl_easy_cleanup(easy);
		free(x);
		return NULL;
	}
	x->next = m->xfers;
	if (m->xfers)
		m->xfers->prev = x;
	m->xfers = x;
	m->nxfers++;
	return x;
}

void curlm_cancel(struct curlm_xfer *x)
{
	if (!x || x->cancelled)
		return;
	x->cancelled = 1;
	/* reaped on a later loop turn, outside any curl callback */
	if (!x->m->freeing)
		event_active(x->m->reaper, EV_TIMEOUT, 0);
}

int curlm_inflight(const struct curlm *m)
{
	return m ? m->nxfers : 0;
}

struct curlm *curlm_new(struct event_base *base, long max_connects)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error(NULL, "curlm: curl_global_init failed");
		return NULL;
	}
	struct curlm *m = calloc(1, sizeof(*m));
	if (!m) {
		curl_global_cleanup();
		return NULL;
	}
	m->base = base;
	m->timer = evtimer_new(base, timeout_cb, m);
	m->reaper = event_new(base, -1, 0, reaper_cb, m);
	m->multi = curl_multi_init();
	if (!m->timer || !m->reaper || !m->multi) {
		curlm_free(m);
		return NULL;
	}
	curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m);
	curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(m->multi, CURLMOPT_TIMERDATA, m);
	curl_multi_setopt(m->multi, CURLMOPT_MAXCONNECTS, max_connects);
	const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
	if (!(v->features & CURL_VERSION_ASYNCHDNS))
		log_warn(NULL,
			 "curlm: libcurl %s resolves host names synchronously: use IP addresses",
			 v->version);
	return m;
}

void curlm_free(struct curlm *m)
{
	if (!m)
		return;
	m->freeing = 1;
	/* transfers still in flight end now: their owners hear of it */
	while (m->xfers) {
		struct curlm_xfer *x = m->xfers;
		curl_multi_remove_handle(m->multi, x->easy);
		xfer_finish(x, CURLE_ABORTED_BY_CALLBACK);
	}
	if (m->multi)
		curl_multi_cleanup(m->multi); /* may close sockets through sock_cb */
	while (m->socks)
		sock_free(m->socks);
	if (m->timer)
		event_free(m->timer);
	if (m->reaper)
		event_free(m->reaper);
	free(m);
	curl_global_cleanup();
}
