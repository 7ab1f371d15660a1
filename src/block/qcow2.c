// SPDX-License-Identifier: GPL-2.0-only
/*
 * The qcow2 block driver: requests run synchronously (qcow2_io.c) on a
 * small pool of worker threads, completions go to the event loop through
 * an eventfd, as with the raw driver's thread pool.
 *
 * Concurrency: d->rw is held shared by reads and by writes to clusters
 * already allocated (they run in parallel); a write that needs new
 * clusters, WRITE_ZEROES and DISCARD hold it exclusively, so mappings
 * never change under a request doing data I/O. FLUSH is fdatasync: every
 * metadata update of a completed request was written before it completed.
 *
 * Fast path: a read or write whose clusters are allocated (in place for a
 * write) in one host run, with the L2 table cached, goes straight to the
 * raw I/O engine (io_uring) at the host offset, translated on the
 * submitting thread without I/O (trylocks: any contention takes the pool
 * instead). It is submitted while d->rw is held shared, and everything
 * that takes d->rw exclusively first waits for the engine's I/O to finish
 * (aio_drain), so no mapping changes under it either.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "block/aio.h"
#include "block/block.h"
#include "block/qcow2.h"
#include "util/log.h"

#define QCOW2_THREADS 4
#define FAST_MAX (128u << 10)

struct qdrv {
	struct qcow2 *q;
	pthread_rwlock_t rw;

	pthread_mutex_t lock; /* the lists, counts and flags below */
	pthread_cond_t work_cond;
	pthread_cond_t idle_cond;
	struct block_req *work_head, **work_tail;
	struct block_req *done_head, **done_tail;
	unsigned int inflight;
	bool stop, closing;
	pthread_t thread[QCOW2_THREADS];
	int nr_threads;
	int efd;
	bool registered;
	void (*batch_fn)(void *arg);
	void *batch_arg;
	struct aio_ctx *aio; /* the fast path's engine */
};

/* A fast-path request: the caller's, translated to the host offset. */
struct qfast {
	struct block_req inner;
	struct block_req *outer;
};

/* d->rw held exclusively: waits out fast-path I/O. */
static void wrlock(struct qdrv *d)
{
	pthread_rwlock_wrlock(&d->rw);
	if (d->aio)
		aio_drain(d->aio);
}

static int exec_write(struct qdrv *d, struct block_req *r)
{
	int ret;

	pthread_rwlock_rdlock(&d->rw);
	ret = qcow2_writev(d->q, r->offset, r->iov, r->iovcnt, false);
	pthread_rwlock_unlock(&d->rw);
	if (ret != -EAGAIN)
		return ret;
	wrlock(d);
	ret = qcow2_writev(d->q, r->offset, r->iov, r->iovcnt, true);
	pthread_rwlock_unlock(&d->rw);
	return ret;
}

static int exec(struct qdrv *d, struct block_req *r)
{
	int ret;

	switch (r->op) {
	case BLOCK_OP_READ:
		pthread_rwlock_rdlock(&d->rw);
		ret = qcow2_readv(d->q, r->offset, r->iov, r->iovcnt);
		pthread_rwlock_unlock(&d->rw);
		return ret;
	case BLOCK_OP_WRITE:
		return exec_write(d, r);
	case BLOCK_OP_FLUSH:
		while ((ret = fdatasync(d->q->fd)) < 0 && errno == EINTR)
			;
		return ret < 0 ? -errno : 0;
	case BLOCK_OP_DISCARD:
	case BLOCK_OP_WRITE_ZEROES:
		wrlock(d);
		if (r->op == BLOCK_OP_DISCARD)
			ret = qcow2_discard(d->q, r->offset, r->len);
		else
			ret = qcow2_zero(d->q, r->offset, r->len, r->may_unmap);
		pthread_rwlock_unlock(&d->rw);
		return ret;
	}
	return -EINVAL;
}

static void kick_loop(struct qdrv *d)
{
	uint64_t one = 1;

	if (write(d->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug("qcow2: completion eventfd: %s", strerror(errno));
}

/* Under d->lock. */
static void finish(struct qdrv *d, struct block_req *r)
{
	r->next = NULL;
	*d->done_tail = r;
	d->done_tail = &r->next;
	if (!--d->inflight)
		pthread_cond_broadcast(&d->idle_cond);
}

static void *worker(void *arg)
{
	struct qdrv *d = arg;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_setname_np(pthread_self(), "kvmbox-qcow2");
	for (;;) {
		struct block_req *r;

		pthread_mutex_lock(&d->lock);
		while (!d->work_head && !d->stop)
			pthread_cond_wait(&d->work_cond, &d->lock);
		r = d->work_head;
		if (!r) {
			pthread_mutex_unlock(&d->lock);
			break;
		}
		d->work_head = r->next;
		if (!d->work_head)
			d->work_tail = &d->work_head;
		pthread_mutex_unlock(&d->lock);

		r->res = exec(d, r);
		if (r->res && r->res != -EROFS)
			log_debug("%s: qcow2 request %d at %llu: %s", d->q->file, r->op,
				  (unsigned long long)r->offset, strerror(-r->res));

		pthread_mutex_lock(&d->lock);
		finish(d, r);
		pthread_mutex_unlock(&d->lock);
		kick_loop(d);
	}
	return NULL;
}

static int qdrv_submit(struct block_dev *b, struct block_req *r)
{
	struct qdrv *d = b->priv;
	int ret = 0;

	r->res = 0;
	r->next = NULL;
	pthread_mutex_lock(&d->lock);
	if (d->closing) {
		ret = -ESHUTDOWN;
	} else {
		*d->work_tail = r;
		d->work_tail = &r->next;
		d->inflight++;
		pthread_cond_signal(&d->work_cond);
	}
	pthread_mutex_unlock(&d->lock);
	return ret;
}

static void fast_done(struct block_req *inner, int res)
{
	struct qfast *f = inner->opaque;
	struct block_req *outer = f->outer;

	free(f);
	outer->done(outer, res);
}

/* 0 when @r went to the engine; else the pool takes it. */
static int try_fast(struct block_dev *b, struct qdrv *d, struct block_req *r)
{
	struct qcow2 *q = d->q;
	struct qfast *f;
	uint64_t host;
	int ret = -EAGAIN;

	/* Large transfers copy faster on the pool's threads in parallel. */
	if (!d->aio || r->len > FAST_MAX || pthread_rwlock_tryrdlock(&d->rw))
		return -EAGAIN;
	if (!pthread_mutex_trylock(&q->lock)) {
		ret = qcow2_map_cached(q, r->offset, r->len, r->op == BLOCK_OP_WRITE,
				       &host);
		pthread_mutex_unlock(&q->lock);
	}
	if (!ret) {
		f = malloc(sizeof(*f));
		if (!f) {
			ret = -ENOMEM;
		} else {
			*f = (struct qfast){
				.inner = { .op = r->op,
					   .iov = r->iov,
					   .iovcnt = r->iovcnt,
					   .offset = host,
					   .done = fast_done,
					   .opaque = f },
				.outer = r,
			};
			ret = aio_submit(d->aio, b->fd, &f->inner);
			if (ret)
				free(f);
		}
	}
	pthread_rwlock_unlock(&d->rw);
	return ret;
}

static int qdrv_rw(struct block_dev *b, struct block_req *r)
{
	struct qdrv *d = b->priv;

	if (!try_fast(b, d, r))
		return 0;
	return qdrv_submit(b, r);
}

static struct block_req *take_done(struct qdrv *d)
{
	struct block_req *list;

	pthread_mutex_lock(&d->lock);
	list = d->done_head;
	d->done_head = NULL;
	d->done_tail = &d->done_head;
	pthread_mutex_unlock(&d->lock);
	return list;
}

static bool deliver(struct block_req *list)
{
	bool any = list != NULL;

	while (list) {
		struct block_req *r = list;

		list = r->next;
		r->done(r, r->res);
	}
	return any;
}

static void qdrv_event(void *arg, uint32_t events)
{
	struct qdrv *d = arg;
	void (*fn)(void *arg);
	void *fn_arg;
	uint64_t v;

	if (read(d->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug("qcow2: completion eventfd: %s", strerror(errno));
	if (!deliver(take_done(d)))
		return;
	pthread_mutex_lock(&d->lock);
	fn = d->batch_fn;
	fn_arg = d->batch_arg;
	pthread_mutex_unlock(&d->lock);
	if (fn)
		fn(fn_arg);
}

static void qdrv_drain(struct block_dev *b)
{
	struct qdrv *d = b->priv;
	bool pending;

	pthread_mutex_lock(&d->lock);
	while (d->inflight)
		pthread_cond_wait(&d->idle_cond, &d->lock);
	pending = d->done_head != NULL;
	pthread_mutex_unlock(&d->lock);
	if (pending)
		kick_loop(d);
	if (d->aio)
		aio_drain(d->aio);
}

static void qdrv_set_batch_fn(struct block_dev *b, void (*fn)(void *arg), void *arg)
{
	struct qdrv *d = b->priv;

	pthread_mutex_lock(&d->lock);
	d->batch_fn = fn;
	d->batch_arg = arg;
	pthread_mutex_unlock(&d->lock);
	if (d->aio)
		aio_set_batch_fn(d->aio, fn, arg);
}

static void qdrv_free(struct qdrv *d)
{
	qcow2_close(d->q);
	if (d->efd >= 0)
		close(d->efd);
	pthread_rwlock_destroy(&d->rw);
	pthread_cond_destroy(&d->work_cond);
	pthread_cond_destroy(&d->idle_cond);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

static void qdrv_close(struct block_dev *b)
{
	struct qdrv *d = b->priv;

	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->closing = true;
	pthread_mutex_unlock(&d->lock);
	qdrv_drain(b);
	if (d->registered)
		event_del(b->loop, d->efd);
	pthread_mutex_lock(&d->lock);
	d->stop = true;
	pthread_cond_broadcast(&d->work_cond);
	pthread_mutex_unlock(&d->lock);
	for (int i = 0; i < d->nr_threads; i++)
		pthread_join(d->thread[i], NULL);
	while (deliver(take_done(d)))
		;
	aio_destroy(d->aio); /* delivers the fast path's last completions */
	b->aio = NULL;
	qdrv_free(d);
	b->priv = NULL;
}

static int qdrv_open(struct block_dev *b, const struct block_spec *spec,
		     struct kb_err *err)
{
	struct qdrv *d = calloc(1, sizeof(*d));
	uint64_t fsize;
	int ret;

	if (!d)
		return kb_err_set(err, -ENOMEM, "out of memory");
	d->efd = -1;
	pthread_rwlock_init(&d->rw, NULL);
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->work_cond, NULL);
	pthread_cond_init(&d->idle_cond, NULL);
	d->work_tail = &d->work_head;
	d->done_tail = &d->done_head;
	if (spec->direct) {
		ret = kb_err_set(err, -ENOTSUP,
				 "%s: option 'direct' is not supported with qcow2 images",
				 spec->file);
		goto fail;
	}
	ret = block_open_file(b, spec, &fsize, err);
	if (ret)
		goto fail;
	ret = qcow2_open(b->fd, b->file, b->ro, 0, NULL, &d->q, err);
	if (ret)
		goto fail;
	d->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->efd < 0) {
		ret = kb_err_set(err, -errno, "eventfd: %s", strerror(errno));
		goto fail;
	}
	for (int i = 0; i < QCOW2_THREADS; i++) {
		ret = -pthread_create(&d->thread[i], NULL, worker, d);
		if (ret) {
			kb_err_set(err, ret, "qcow2 I/O threads: %s", strerror(-ret));
			goto fail;
		}
		d->nr_threads++;
	}
	ret = aio_create(&d->aio, b->loop, spec->aio, 0, 0, err);
	if (ret) {
		kb_err_prefix(err, "%s", b->file);
		goto fail;
	}
	b->aio = d->aio;
	ret = event_add(b->loop, d->efd, EPOLLIN, qdrv_event, d);
	if (ret) {
		kb_err_set(err, ret, "event loop: %s", strerror(-ret));
		goto fail;
	}
	d->registered = true;
	b->priv = d;
	log_debug("%s: qcow2 v%u, %llu bytes, cluster %llu, refcount bits %u%s%s",
		  b->file, d->q->h.version, (unsigned long long)d->q->h.size,
		  (unsigned long long)d->q->cluster_size, d->q->refcount_bits,
		  d->q->backing ? ", backing " : "", d->q->h.backing_file);
	return 0;
fail:
	b->priv = d;
	qdrv_close(b);
	return ret;
}

static uint64_t qdrv_size(struct block_dev *b)
{
	const struct qdrv *d = b->priv;

	return d->q->h.size;
}

const struct block_ops block_qcow2_ops = {
	.format = "qcow2",
	.open = qdrv_open,
	.readv = qdrv_rw,
	.writev = qdrv_rw,
	.flush = qdrv_submit,
	.discard = qdrv_submit,
	.write_zeroes = qdrv_submit,
	.size = qdrv_size,
	.drain = qdrv_drain,
	.close = qdrv_close,
	.set_batch_fn = qdrv_set_batch_fn,
};
