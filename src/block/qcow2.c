// SPDX-License-Identifier: GPL-2.0-only
/*
 * The qcow2 block driver: requests run synchronously (qcow2_io.c) on a
 * small pool of worker threads, completions go to the event loop through
 * an eventfd: a workpool (workpool.c), as with the raw driver's threads.
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
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/aio.h"
#include "block/block.h"
#include "block/qcow2.h"
#include "block/workpool.h"
#include "util/log.h"

#define QCOW2_THREADS 4
#define FAST_MAX (128u << 10)

struct qdrv {
	struct qcow2 *q;
	pthread_rwlock_t rw;
	struct workpool *pool; /* runs exec() */
	struct aio_ctx *aio; /* the fast path's engine */
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

/* On a pool thread. */
static void qdrv_work(void *arg, struct block_req *r)
{
	struct qdrv *d = arg;

	r->res = exec(d, r);
	if (r->res && r->res != -EROFS)
		log_debug("%s: qcow2 request %d at %llu: %s", d->q->file, r->op,
			  (unsigned long long)r->offset, strerror(-r->res));
}

static int qdrv_submit(struct block_dev *b, struct block_req *r)
{
	struct qdrv *d = b->priv;

	return workpool_submit(d->pool, r);
}

/* 0 when @r went to the engine (at its host offset); else the pool takes
 * it. */
static int try_fast(struct block_dev *b, struct qdrv *d, struct block_req *r)
{
	struct qcow2 *q = d->q;
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
	if (!ret)
		ret = aio_submit(d->aio, b->fd, host, r);
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

static void qdrv_drain(struct block_dev *b)
{
	struct qdrv *d = b->priv;

	workpool_drain(d->pool);
	if (d->aio)
		aio_drain(d->aio);
}

static void qdrv_set_batch_fn(struct block_dev *b, void (*fn)(void *arg), void *arg)
{
	struct qdrv *d = b->priv;

	workpool_set_batch_fn(d->pool, fn, arg);
	if (d->aio)
		aio_set_batch_fn(d->aio, fn, arg);
}

static void qdrv_close(struct block_dev *b)
{
	struct qdrv *d = b->priv;

	if (!d)
		return;
	/* Each drains, stops and delivers what is left, the pool first (its
	 * requests may still wait for the engine). */
	workpool_destroy(d->pool);
	aio_destroy(d->aio);
	b->aio = NULL;
	qcow2_close(d->q);
	pthread_rwlock_destroy(&d->rw);
	free(d);
	b->priv = NULL;
}

static int qdrv_open(struct block_dev *b, const struct block_spec *spec,
		     struct kb_err *err)
{
	struct qdrv *d = calloc(1, sizeof(*d));
	struct workpool_conf conf = {
		.name = "qcow2",
		.thread_name = "kvmbox-qcow2",
		.work = qdrv_work,
		.arg = d,
	};
	uint64_t fsize;
	int ret;

	if (!d)
		return kb_err_set(err, -ENOMEM, "out of memory");
	pthread_rwlock_init(&d->rw, NULL);
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
	ret = workpool_create(&d->pool, b->loop, &conf, err);
	if (ret)
		goto fail;
	ret = aio_create(&d->aio, b->loop, spec->aio, 0, 0, err);
	if (ret) {
		kb_err_prefix(err, "%s", b->file);
		goto fail;
	}
	b->aio = d->aio;
	ret = workpool_start(d->pool, QCOW2_THREADS, err);
	if (ret)
		goto fail;
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
