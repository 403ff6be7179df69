/*
 * signals: the namespace (a table of receivers by signal name) and the
 * deferred delivery queue.
 *
 * A send copies its kwargs into a delivery at the tail of one FIFO and
 * activates a deferred event; the event's callback takes the deliveries
 * queued so far and runs their receivers in connection order. Deliveries
 * sent by receivers go to the next round (a later callback), so a chain of
 * signals never grows the stack and never starves the loop.
 *
 * Receivers may connect and disconnect while deliveries run: a disconnected
 * entry is only marked and the table compacted after the round.
 */
#include "signals/signals.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core/log.h"

struct receiver {
	const char *name;    /* signal name (static) */
	signals_receiver fn; /* NULL once disconnected during a round */
	void *udata;	     /* the receiver's data */
};

struct delivery {
	struct delivery *next;	    /* FIFO link */
	const char *name;	    /* signal name (the sender's static string) */
	char *sender;		    /* copy of the sender's name */
	struct json_object *kwargs; /* deep copy made at send time */
};

static struct event_base *base;	   /* the loop */
static struct event *deliver_ev;   /* deferred delivery callback */
static int enabled;		   /* SIGNALS: 0 drops every send */
static struct receiver *receivers; /* connected receivers */
static int nreceivers, capreceivers;
static int delivering;		     /* a round is running: disconnect only marks */
static struct delivery *head, *tail; /* queued deliveries */
static int npending;		     /* their number */

static void free_delivery(struct delivery *d)
{
	json_object_put(d->kwargs);
	free(d->sender);
	free(d);
}

static void compact(void)
{
	int j = 0;
	for (int i = 0; i < nreceivers; i++)
		if (receivers[i].fn)
			receivers[j++] = receivers[i];
	nreceivers = j;
}

static void deliver(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
	struct delivery *batch = head;
	head = tail = NULL;
	delivering = 1;
	while (batch) {
		struct delivery *d = batch;
		batch = d->next;
		npending--;
		/* receivers connected during the round are seen by later rounds */
		int n = nreceivers;
		for (int i = 0; i < n; i++) {
			struct receiver *r = &receivers[i];
			if (!r->fn || strcmp(r->name, d->name) != 0)
				continue;
			if (r->fn(r->udata, d->name, d->sender, d->kwargs) < 0)
				log_warn(NULL,
					 "signal %s from %s: a receiver failed; the others ran",
					 d->name, d->sender);
		}
		free_delivery(d);
	}
	delivering = 0;
	compact();
	if (head && deliver_ev)
		event_active(deliver_ev, EV_TIMEOUT, 1);
}

int signals_init(struct event_base *b, int on)
{
	base = b;
	enabled = on;
	if (!deliver_ev)
		deliver_ev = event_new(base, -1, 0, deliver, NULL);
	if (!deliver_ev) {
		log_error(NULL, "signals: cannot create the delivery event");
		return -1;
	}
	return 0;
}

void signals_cleanup(void)
{
	while (head) {
		struct delivery *d = head;
		head = d->next;
		free_delivery(d);
	}
	tail = NULL;
	npending = 0;
	if (deliver_ev)
		event_free(deliver_ev);
	deliver_ev = NULL;
	free(receivers);
	receivers = NULL;
	nreceivers = capreceivers = 0;
	base = NULL;
}

int signals_connect(const char *name, signals_receiver fn, void *udata)
{
	if (!name || !fn)
		return -1;
	for (int i = 0; i < nreceivers; i++)
		if (receivers[i].fn == fn && receivers[i].udata == udata &&
		    strcmp(receivers[i].name, name) == 0)
			return 0;
	if (nreceivers == capreceivers) {
		int ncap = capreceivers ? capreceivers * 2 : 16;
		struct receiver *r = realloc(receivers, (size_t)ncap * sizeof(*r));
		if (!r)
			return -1;
		receivers = r;
		capreceivers = ncap;
	}
	receivers[nreceivers++] = (struct receiver){name, fn, udata};
	return 0;
}

int signals_disconnect(const char *name, signals_receiver fn, void *udata)
{
	for (int i = 0; i < nreceivers; i++) {
		struct receiver *r = &receivers[i];
		if (r->fn != fn || r->udata != udata || strcmp(r->name, name) != 0)
			continue;
		r->fn = NULL;
		if (!delivering)
			compact();
		return 0;
	}
	return -1;
}

int signals_send(const char *name, const char *sender, struct json_object *kwargs)
{
	if (!enabled || !deliver_ev || !name)
		return 0;
	int listeners = 0;
	for (int i = 0; i < nreceivers; i++)
		if (receivers[i].fn && strcmp(receivers[i].name, name) == 0)
			listeners++;
	if (listeners == 0)
		return 0;
	struct delivery *d = calloc(1, sizeof(*d));
	if (!d)
		goto fail;
	d->name = name;
	d->sender = strdup(sender ? sender : "-");
	if (kwargs) {
		if (!json_object_is_type(kwargs, json_type_object) ||
		    json_object_deep_copy(kwargs, &d->kwargs, NULL) != 0)
			d->kwargs = NULL;
	} else {
		d->kwargs = json_object_new_object();
	}
	if (!d->sender || !d->kwargs) {
		if (d->kwargs)
			json_object_put(d->kwargs);
		free(d->sender);
		free(d);
		goto fail;
	}
	if (tail)
		tail->next = d;
	else
		head = d;
	tail = d;
	npending++;
	event_active(deliver_ev, EV_TIMEOUT, 1);
	return listeners;
fail:
	log_error(NULL, "signal %s: cannot queue the delivery (bad kwargs or out of memory)", name);
	return -1;
}

int signals_pending(void)
{
	return npending;
}

int signals_kwarg_id(struct json_object *kwargs, const char *key, long long *out)
{
	struct json_object *v;
	if (!kwargs || !json_object_object_get_ex(kwargs, key, &v) || !v)
		return -1;
	long long n;
	if (json_object_is_type(v, json_type_int)) {
		n = json_object_get_int64(v);
	} else if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);
		char *end;
		errno = 0;
		if (*s < '1' || *s > '9')
			return -1;
		n = strtoll(s, &end, 10);
		if (errno || *end)
			return -1;
	} else {
		return -1;
	}
	if (n <= 0)
		return -1;
	*out = n;
	return 0;
}
