/*
 * workers: the thread pool for CPU-heavy jobs. Two lists under one mutex:
 * `todo` (accepted, waiting for a thread) and `finished` (work ran, `done`
 * pending). A thread takes the first job of `todo` that may run: big jobs
 * beyond big_max running wait, in order, while other jobs pass them. A
 * pool thread that finishes a job moves it to `finished` and bumps the
 * eventfd; the loop's event on that fd takes the whole list and calls each
 * `done`.
 *
 * Owns: the threads, the job objects, the eventfd and its event. Never:
 * calls `done` off the loop thread (except from workers_stop, which runs on
 * it), or holds the mutex while a callback runs.
 */
#include "core/workers.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/log.h"

struct job {
	struct job *next; /* in todo or finished */
	int big;	  /* holds much memory while it runs (counted in nbig) */
	workers_fn work;  /* runs on a pool thread */
	workers_fn done;  /* runs on the loop */
	void *arg;	  /* the caller's, passed to both */
};

struct job_list {
	struct job *head, *tail; /* FIFO */
};

static struct {
	pthread_mutex_t mu;	  /* guards todo, finished, stopping */
	pthread_cond_t cv;	  /* signalled when todo grows or on stop */
	struct job_list todo;	  /* waiting for a thread */
	struct job_list finished; /* work done, `done` not yet called */
	int stopping;		  /* threads exit once todo is empty */
	pthread_t *threads;	  /* the pool */
	int nthreads;		  /* threads started */
	int efd;		  /* eventfd: pool threads -> loop */
	struct event *ev;	  /* EV_READ on efd */
	int inflight;		  /* accepted, `done` not yet run (loop thread only) */
	int nbig;		  /* big jobs running */
	int big_max;		  /* at most this many big jobs at once */
	int running;		  /* workers_start succeeded */
} pool = {.mu = PTHREAD_MUTEX_INITIALIZER,
	  .cv = PTHREAD_COND_INITIALIZER,
	  .efd = -1,
	  .big_max = WORKERS_DEFAULT_BIG_MAX};

static void list_push(struct job_list *l, struct job *j)
{
	j->next = NULL;
	if (l->tail)
		l->tail->next = j;
	else
		l->head = j;
	l->tail = j;
}

/* Takes the first job of todo that may run now: any job that is not big,
 * a big one only while fewer than big_max run. NULL when none may. */
static struct job *take_runnable(void)
{
	struct job *prev = NULL;
	for (struct job *j = pool.todo.head; j; prev = j, j = j->next) {
		if (j->big && pool.nbig >= pool.big_max)
			continue;
		if (prev)
			prev->next = j->next;
		else
			pool.todo.head = j->next;
		if (pool.todo.tail == j)
			pool.todo.tail = prev;
		j->next = NULL;
		pool.nbig += j->big;
		return j;
	}
	return NULL;
}

static void *thread_main(void *unused)
{
	(void)unused;
	pthread_mutex_lock(&pool.mu);
	for (;;) {
		struct job *j;
		while (!(j = take_runnable()) && !(pool.stopping && !pool.todo.head))
			pthread_cond_wait(&pool.cv, &pool.mu);
		if (!j)
			break; /* stopping and nothing left */
		pthread_mutex_unlock(&pool.mu);
		j->work(j->arg);
		pthread_mutex_lock(&pool.mu);
		if (j->big) {
			pool.nbig--;
			if (pool.todo.head) /* a big job may wait for this one */
				pthread_cond_broadcast(&pool.cv);
		}
		list_push(&pool.finished, j);
		uint64_t one = 1;
		/* an eventfd write only fails when the counter would overflow */
		if (write(pool.efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			log_error(NULL, "workers: eventfd write: %s", strerror(errno));
	}
	pthread_mutex_unlock(&pool.mu);
	return NULL;
}

/* Calls `done` for every finished job; loop thread. */
static void deliver(void)
{
	pthread_mutex_lock(&pool.mu);
	struct job *j = pool.finished.head;
	pool.finished.head = pool.finished.tail = NULL;
	pthread_mutex_unlock(&pool.mu);
	while (j) {
		struct job *next = j->next;
		pool.inflight--;
		j->done(j->arg);
		free(j);
		j = next;
	}
}

static void efd_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)what, (void)arg;
	uint64_t n;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_error(NULL, "workers: eventfd read: %s", strerror(errno));
	deliver();
}

int workers_start(struct event_base *base, int n)
{
	if (pool.running)
		return 0;
	if (n <= 0)
		n = WORKERS_DEFAULT_THREADS;
	pool.stopping = 0;
	pool.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (pool.efd < 0) {
		log_error(NULL, "workers: eventfd: %s", strerror(errno));
		return -1;
	}
	pool.ev = event_new(base, pool.efd, EV_READ | EV_PERSIST, efd_cb, NULL);
	pool.threads = calloc((size_t)n, sizeof(*pool.threads));
	if (!pool.ev || !pool.threads || event_add(pool.ev, NULL) < 0) {
		log_error(NULL, "workers: cannot set up the pool");
		goto fail;
	}
	/* pool threads take no process signals: the loop's handlers get them */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (pool.nthreads = 0; pool.nthreads < n; pool.nthreads++) {
		int rc = pthread_create(&pool.threads[pool.nthreads], NULL, thread_main, NULL);
		if (rc != 0) {
			log_error(NULL, "workers: pthread_create: %s", strerror(rc));
			break;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pool.running = 1;
	if (pool.nthreads < n) {
		workers_stop();
		return -1;
	}
	return 0;
fail:
	if (pool.ev)
		event_free(pool.ev);
	pool.ev = NULL;
	free(pool.threads);
	pool.threads = NULL;
	close(pool.efd);
	pool.efd = -1;
	return -1;
}

void workers_set_big_max(int n)
{
	pthread_mutex_lock(&pool.mu);
	pool.big_max = n > 0 ? n : WORKERS_DEFAULT_BIG_MAX;
	pthread_cond_broadcast(&pool.cv);
	pthread_mutex_unlock(&pool.mu);
}

static int submit(workers_fn work, workers_fn done, void *arg, int big)
{
	if (!pool.running || pool.stopping || pool.inflight >= WORKERS_QUEUE_MAX)
		return -1;
	struct job *j = calloc(1, sizeof(*j));
	if (!j)
		return -1;
	j->big = big;
	j->work = work;
	j->done = done;
	j->arg = arg;
	pthread_mutex_lock(&pool.mu);
	list_push(&pool.todo, j);
	pthread_cond_signal(&pool.cv);
	pthread_mutex_unlock(&pool.mu);
	pool.inflight++;
	return 0;
}

int workers_submit(workers_fn work, workers_fn done, void *arg)
{
	return submit(work, done, arg, 0);
}

int workers_submit_big(workers_fn work, workers_fn done, void *arg)
{
	return submit(work, done, arg, 1);
}

int workers_inflight(void)
{
	return pool.inflight;
}

void workers_stop(void)
{
	if (!pool.running)
		return;
	pthread_mutex_lock(&pool.mu);
	pool.stopping = 1;
	pthread_cond_broadcast(&pool.cv);
	pthread_mutex_unlock(&pool.mu);
	for (int i = 0; i < pool.nthreads; i++)
		pthread_join(pool.threads[i], NULL);
	/* every queued job has run (the threads empty todo before leaving) */
	deliver();
	event_free(pool.ev);
	pool.ev = NULL;
	close(pool.efd);
	pool.efd = -1;
	free(pool.threads);
	pool.threads = NULL;
	pool.nthreads = 0;
	pool.running = 0;
	pool.stopping = 0;
}
