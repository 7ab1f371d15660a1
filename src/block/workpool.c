// SPDX-License-Identifier: GPL-2.0-only
/*
 * A pool of worker threads for block requests, completions delivered to
 * the event loop through an eventfd (see workpool.h).
 *
 * Locking: p->lock protects the work and done lists, the in-flight count
 * and the flags. It is never held while work(), reap() or a done()
 * callback runs.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "block/workpool.h"
#include "util/log.h"

#define WORKPOOL_MAX_THREADS 8

struct workpool {
	struct event_loop *loop;
	struct workpool_conf conf;
	int efd;
	bool registered;

	pthread_mutex_t lock;
	pthread_cond_t work_cond;
	pthread_cond_t idle_cond; /* inflight dropped to 0 */
	struct block_req *work_head, **work_tail;
	struct block_req *done_head, **done_tail; /* finished, done() due */
	unsigned int inflight; /* submitted, work() not finished */
	bool stop, closing;
	pthread_t thread[WORKPOOL_MAX_THREADS];
	int nr_threads;
	void (*batch_fn)(void *arg);
	void *batch_arg;
};

void workpool_kick(struct workpool *p)
{
	uint64_t one = 1;

	if (write(p->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug("%s: completion eventfd: %s", p->conf.name, strerror(errno));
}

/* Under p->lock. */
static void push_done(struct workpool *p, struct block_req *r)
{
	r->next = NULL;
	*p->done_tail = r;
	p->done_tail = &r->next;
}

void workpool_complete(struct workpool *p, struct block_req *r)
{
	pthread_mutex_lock(&p->lock);
	push_done(p, r);
	pthread_mutex_unlock(&p->lock);
}

static void *worker(void *arg)
{
	struct workpool *p = arg;
	sigset_t all;

	/* Signals (vCPU kicks, SIGINT) are for the other threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_setname_np(pthread_self(), p->conf.thread_name);
	for (;;) {
		struct block_req *r;

		pthread_mutex_lock(&p->lock);
		while (!p->work_head && !p->stop)
			pthread_cond_wait(&p->work_cond, &p->lock);
		r = p->work_head;
		if (!r) {
			pthread_mutex_unlock(&p->lock);
			break;
		}
		p->work_head = r->next;
		if (!p->work_head)
			p->work_tail = &p->work_head;
		pthread_mutex_unlock(&p->lock);

		p->conf.work(p->conf.arg, r);

		pthread_mutex_lock(&p->lock);
		push_done(p, r);
		if (!--p->inflight)
			pthread_cond_broadcast(&p->idle_cond);
		pthread_mutex_unlock(&p->lock);
		workpool_kick(p);
	}
	return NULL;
}

int workpool_submit(struct workpool *p, struct block_req *r)
{
	int ret = 0;

	r->res = 0;
	r->next = NULL;
	pthread_mutex_lock(&p->lock);
	if (p->closing) {
		ret = -ESHUTDOWN;
	} else {
		*p->work_tail = r;
		p->work_tail = &r->next;
		p->inflight++;
		pthread_cond_signal(&p->work_cond);
	}
	pthread_mutex_unlock(&p->lock);
	return ret;
}

/* Calls reap(), then takes the done list and (when @fn) the batch
 * callback, under one lock. */
static struct block_req *take_done(struct workpool *p, void (**fn)(void *arg),
				   void **fn_arg)
{
	struct block_req *list;

	if (p->conf.reap)
		p->conf.reap(p->conf.arg);
	pthread_mutex_lock(&p->lock);
	list = p->done_head;
	p->done_head = NULL;
	p->done_tail = &p->done_head;
	if (fn) {
		*fn = p->batch_fn;
		*fn_arg = p->batch_arg;
	}
	pthread_mutex_unlock(&p->lock);
	return list;
}

static bool deliver(struct block_req *list)
{
	bool any = list != NULL;

	while (list) {
		struct block_req *r = list;

		/* done() may reuse @r at once. */
		list = r->next;
		r->done(r, r->res);
	}
	return any;
}

static void workpool_event(void *arg, uint32_t events)
{
	struct workpool *p = arg;
	void (*fn)(void *arg);
	void *fn_arg;
	uint64_t v;

	if (read(p->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug("%s: completion eventfd: %s", p->conf.name, strerror(errno));
	if (deliver(take_done(p, &fn, &fn_arg)) && fn)
		fn(fn_arg);
}

void workpool_drain(struct workpool *p)
{
	bool pending;

	pthread_mutex_lock(&p->lock);
	while (p->inflight)
		pthread_cond_wait(&p->idle_cond, &p->lock);
	pending = p->done_head != NULL;
	pthread_mutex_unlock(&p->lock);
	if (pending)
		workpool_kick(p);
}

void workpool_set_batch_fn(struct workpool *p, void (*fn)(void *arg), void *arg)
{
	pthread_mutex_lock(&p->lock);
	p->batch_fn = fn;
	p->batch_arg = arg;
	pthread_mutex_unlock(&p->lock);
}

int workpool_efd(const struct workpool *p)
{
	return p->efd;
}

void workpool_destroy(struct workpool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->closing = true; /* later submissions get -ESHUTDOWN */
	pthread_mutex_unlock(&p->lock);
	workpool_drain(p);
	if (p->registered)
		event_del(p->loop, p->efd);
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->work_cond);
	pthread_mutex_unlock(&p->lock);
	for (int i = 0; i < p->nr_threads; i++)
		pthread_join(p->thread[i], NULL);
	/* The loop will not run these any more: this thread does. */
	while (deliver(take_done(p, NULL, NULL)))
		;
	if (p->efd >= 0)
		close(p->efd);
	pthread_cond_destroy(&p->work_cond);
	pthread_cond_destroy(&p->idle_cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

int workpool_start(struct workpool *p, int nr_threads, struct kb_err *err)
{
	int ret;

	if (nr_threads > WORKPOOL_MAX_THREADS)
		nr_threads = WORKPOOL_MAX_THREADS;
	for (int i = 0; i < nr_threads; i++) {
		ret = -pthread_create(&p->thread[i], NULL, worker, p);
		if (ret)
			return kb_err_set(err, ret, "%s I/O threads: %s", p->conf.name,
					  strerror(-ret));
		p->nr_threads++;
	}
	ret = event_add(p->loop, p->efd, EPOLLIN, workpool_event, p);
	if (ret)
		return kb_err_set(err, ret, "event loop: %s", strerror(-ret));
	p->registered = true;
	return 0;
}

int workpool_create(struct workpool **out, struct event_loop *loop,
		    const struct workpool_conf *conf, struct kb_err *err)
{
	struct workpool *p = calloc(1, sizeof(*p));
	int ret;

	*out = NULL;
	if (!p)
		return kb_err_set(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work_cond, NULL);
	pthread_cond_init(&p->idle_cond, NULL);
	p->work_tail = &p->work_head;
	p->done_tail = &p->done_head;
	p->loop = loop;
	p->conf = *conf;
	p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->efd < 0) {
		ret = kb_err_set(err, -errno, "eventfd: %s", strerror(errno));
		workpool_destroy(p);
		return ret;
	}
	*out = p;
	return 0;
}
