// SPDX-License-Identifier: GPL-2.0-only
/*
 * The block I/O engine: io_uring or a thread pool, completions delivered
 * to the event loop through an eventfd (see aio.h). Both go through a
 * workpool (workpool.c): its worker threads run the thread engine's
 * requests, and its eventfd (registered with the ring too) and done list
 * deliver every completion; the ring is reaped from its reap() hook.
 *
 * Locking: c->lock protects the ring (submission and completion sides),
 * the io_uring in-flight count and the flags; it is taken before the
 * pool's lock. Neither is held while a done() callback runs, so callbacks
 * may submit again, and a thread holding a device lock may drain (the
 * device's callbacks wait for that lock, not the other way round).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/falloc.h>

#include "config.h"
#ifdef HAVE_LIBURING
#include <liburing.h>
#endif

#include "block/aio.h"
#include "block/workpool.h"
#include "util/log.h"

#define AIO_THREADS 4
#define AIO_RING_ENTRIES 256
#define ZERO_BUF_SIZE (256 * 1024)
#define ZERO_BUF_ALIGN 4096

/* block_req.stage for WRITE_ZEROES: two fallocate modes, then writes. */
enum { WZ_ALLOC_FIRST, WZ_ALLOC_SECOND, WZ_WRITE };

struct aio_ctx {
	struct workpool *pool; /* the threads; every done() goes through it */
	bool uring;
	bool closing;
	int plugged; /* io_uring: submissions wait for aio_unplug() */
	bool unsubmitted;
	uint32_t mem_align; /* 0: buffered I/O, no bounce buffers */
	uint32_t len_align;
	void *zeroes; /* ZERO_BUF_SIZE bytes of zeroes, never written */

	pthread_mutex_t lock;
	unsigned int inflight; /* io_uring: submitted, I/O not finished */

#ifdef HAVE_LIBURING
	struct io_uring ring;
#endif
};

/* The vector the I/O works on: the bounce buffer or the caller's. */
static void io_vec(struct block_req *r, struct iovec **iov, int *cnt)
{
	if (r->bounce) {
		*iov = &r->tmp_iov;
		*cnt = r->tmp_iov.iov_len ? 1 : 0;
	} else {
		*iov = r->iov;
		*cnt = r->iovcnt;
	}
}

static void io_vec_advance(struct block_req *r, size_t n)
{
	if (r->bounce) {
		r->tmp_iov.iov_base = (uint8_t *)r->tmp_iov.iov_base + n;
		r->tmp_iov.iov_len -= n;
	} else {
		block_iov_advance(&r->iov, &r->iovcnt, n);
	}
}

static bool needs_bounce(const struct aio_ctx *c, const struct block_req *r)
{
	if (!c->mem_align || (r->op != BLOCK_OP_READ && r->op != BLOCK_OP_WRITE))
		return false;
	for (int i = 0; i < r->iovcnt; i++) {
		if ((uintptr_t)r->iov[i].iov_base % c->mem_align ||
		    r->iov[i].iov_len % c->len_align)
			return true;
	}
	return false;
}

/* Direct I/O from unaligned memory: through an aligned copy. The original
 * vector stays in r->iov for the copy back after a read. */
static int bounce_setup(struct aio_ctx *c, struct block_req *r)
{
	size_t align = c->mem_align < sizeof(void *) ? sizeof(void *) : c->mem_align;
	uint64_t off = 0;

	if (!needs_bounce(c, r))
		return 0;
	if (r->len > SIZE_MAX || posix_memalign(&r->bounce, align, r->len ? r->len : 1))
		return -ENOMEM;
	if (r->op == BLOCK_OP_WRITE) {
		for (int i = 0; i < r->iovcnt; i++) {
			memcpy((uint8_t *)r->bounce + off, r->iov[i].iov_base,
			       r->iov[i].iov_len);
			off += r->iov[i].iov_len;
		}
	}
	r->tmp_iov.iov_base = r->bounce;
	r->tmp_iov.iov_len = r->len;
	return 0;
}

static void bounce_finish(struct block_req *r)
{
	uint64_t off = 0;

	if (!r->bounce)
		return;
	if (r->op == BLOCK_OP_READ && !r->res) {
		for (int i = 0; i < r->iovcnt; i++) {
			memcpy(r->iov[i].iov_base, (uint8_t *)r->bounce + off,
			       r->iov[i].iov_len);
			off += r->iov[i].iov_len;
		}
	}
	free(r->bounce);
	r->bounce = NULL;
}

static bool fallback_errno(int e)
{
	return e == EOPNOTSUPP || e == EINVAL || e == ENOSYS || e == ENOTTY;
}

static int falloc_mode(const struct block_req *r)
{
	int punch = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	int zero = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;

	if (r->op == BLOCK_OP_DISCARD)
		return punch;
	/* may_unmap: deallocating is allowed, and cheapest. */
	if ((r->stage == WZ_ALLOC_FIRST) == r->may_unmap)
		return punch;
	return zero;
}

static size_t zero_chunk(const struct block_req *r)
{
	uint64_t left = r->len - r->progress;

	return left < ZERO_BUF_SIZE ? left : ZERO_BUF_SIZE;
}

/* The I/O of @r (not the pool's) is over; queue the done() call. */
static void finish(struct aio_ctx *c, struct block_req *r)
{
	bounce_finish(r);
	workpool_complete(c->pool, r);
}

/* ---- Thread pool ---- */

static int sync_rw(int fd, struct block_req *r)
{
	while (r->progress < r->len) {
		uint64_t off = r->file_offset + r->progress;
		struct iovec *iov;
		ssize_t n;
		int cnt;

		io_vec(r, &iov, &cnt);
		if (cnt > IOV_MAX)
			cnt = IOV_MAX;
		if (r->op == BLOCK_OP_READ)
			n = preadv(fd, iov, cnt, (off_t)off);
		else
			n = pwritev(fd, iov, cnt, (off_t)off);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		r->progress += (uint64_t)n;
		io_vec_advance(r, (size_t)n);
	}
	return 0;
}

static int sync_write_zeroes(struct aio_ctx *c, int fd, struct block_req *r)
{
	for (; r->stage < WZ_WRITE; r->stage++) {
		if (!fallocate(fd, falloc_mode(r), (off_t)r->file_offset, (off_t)r->len))
			return 0;
		if (!fallback_errno(errno))
			return -errno;
	}
	while (r->progress < r->len) {
		ssize_t n = pwrite(fd, c->zeroes, zero_chunk(r),
				   (off_t)(r->file_offset + r->progress));

		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		r->progress += (uint64_t)n;
	}
	return 0;
}

static int sync_exec(struct aio_ctx *c, struct block_req *r)
{
	int ret;

	switch (r->op) {
	case BLOCK_OP_READ:
	case BLOCK_OP_WRITE:
		return sync_rw(r->fd, r);
	case BLOCK_OP_FLUSH:
		while ((ret = fdatasync(r->fd)) < 0 && errno == EINTR)
			;
		return ret < 0 ? -errno : 0;
	case BLOCK_OP_DISCARD:
		if (!fallocate(r->fd, falloc_mode(r), (off_t)r->file_offset,
			       (off_t)r->len))
			return 0;
		return errno == EOPNOTSUPP ? 0 : -errno;
	case BLOCK_OP_WRITE_ZEROES:
		return sync_write_zeroes(c, r->fd, r);
	}
	return -EINVAL;
}

/* On a pool thread. */
static void thread_work(void *arg, struct block_req *r)
{
	r->res = sync_exec(arg, r);
	bounce_finish(r);
}

/* ---- io_uring ---- */

#ifdef HAVE_LIBURING
/* Under c->lock: queues the next step of @r (not yet submitted). */
static int uring_queue(struct aio_ctx *c, struct block_req *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&c->ring);
	uint64_t off = r->file_offset + r->progress;
	struct iovec *iov;
	int cnt;

	if (!sqe) {
		io_uring_submit(&c->ring);
		sqe = io_uring_get_sqe(&c->ring);
		if (!sqe)
			return -EBUSY;
	}
	switch (r->op) {
	case BLOCK_OP_READ:
	case BLOCK_OP_WRITE:
		io_vec(r, &iov, &cnt);
		if (cnt > IOV_MAX)
			cnt = IOV_MAX;
		if (r->op == BLOCK_OP_READ)
			io_uring_prep_readv(sqe, r->fd, iov, (unsigned int)cnt, off);
		else
			io_uring_prep_writev(sqe, r->fd, iov, (unsigned int)cnt, off);
		break;
	case BLOCK_OP_FLUSH:
		io_uring_prep_fsync(sqe, r->fd, IORING_FSYNC_DATASYNC);
		break;
	case BLOCK_OP_DISCARD:
		io_uring_prep_fallocate(sqe, r->fd, falloc_mode(r), (off_t)r->file_offset,
					(off_t)r->len);
		break;
	case BLOCK_OP_WRITE_ZEROES:
		if (r->stage < WZ_WRITE) {
			io_uring_prep_fallocate(sqe, r->fd, falloc_mode(r),
						(off_t)r->file_offset, (off_t)r->len);
			break;
		}
		r->tmp_iov.iov_base = c->zeroes;
		r->tmp_iov.iov_len = zero_chunk(r);
		io_uring_prep_writev(sqe, r->fd, &r->tmp_iov, 1, off);
		break;
	}
	io_uring_sqe_set_data(sqe, r);
	return 0;
}

/* A transfer step returned @res: true when @r is over (r->res set). */
static bool uring_transfer_step(struct block_req *r, int res)
{
	if (res < 0) {
		r->res = res;
		return true;
	}
	if (res == 0) {
		r->res = -EIO;
		return true;
	}
	r->progress += (uint64_t)res;
	if (r->op != BLOCK_OP_WRITE_ZEROES)
		io_vec_advance(r, (size_t)res);
	r->res = 0;
	return r->progress >= r->len;
}

/* Under c->lock: one completion of @r. True when @r is over. */
static bool uring_step(struct block_req *r, int res)
{
	if (res == -EINTR || res == -EAGAIN)
		return false;
	switch (r->op) {
	case BLOCK_OP_READ:
	case BLOCK_OP_WRITE:
		return uring_transfer_step(r, res);
	case BLOCK_OP_FLUSH:
		r->res = res < 0 ? res : 0;
		return true;
	case BLOCK_OP_DISCARD:
		r->res = res < 0 && res != -EOPNOTSUPP ? res : 0;
		return true;
	case BLOCK_OP_WRITE_ZEROES:
		if (r->stage < WZ_WRITE) {
			if (res >= 0 || !fallback_errno(-res)) {
				r->res = res < 0 ? res : 0;
				return true;
			}
			r->stage++;
			return false;
		}
		return uring_transfer_step(r, res);
	}
	r->res = -EINVAL;
	return true;
}

/* Under c->lock: takes every completion off the ring. */
static void uring_reap(struct aio_ctx *c)
{
	struct io_uring_cqe *cqe;
	bool resubmit = false;

	while (!io_uring_peek_cqe(&c->ring, &cqe)) {
		struct block_req *r = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&c->ring, cqe);
		if (!r)
			continue;
		if (!uring_step(r, res)) {
			int ret = uring_queue(c, r);

			if (!ret) {
				resubmit = true;
				continue;
			}
			r->res = ret;
		}
		c->inflight--;
		finish(c, r);
	}
	if (resubmit)
		io_uring_submit(&c->ring);
}

static int uring_init(struct aio_ctx *c)
{
	static const int ops[] = { IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC,
				   IORING_OP_FALLOCATE };
	struct io_uring_probe *probe;
	int ret = io_uring_queue_init(AIO_RING_ENTRIES, &c->ring, 0);

	if (ret)
		return ret;
	probe = io_uring_get_probe_ring(&c->ring);
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]) && !ret; i++) {
		if (!probe || !io_uring_opcode_supported(probe, ops[i]))
			ret = -EOPNOTSUPP;
	}
	if (probe)
		io_uring_free_probe(probe);
	if (!ret)
		ret = io_uring_register_eventfd(&c->ring, workpool_efd(c->pool));
	if (ret) {
		io_uring_queue_exit(&c->ring);
		return ret;
	}
	c->uring = true;
	return 0;
}

/* The pool's reap(): moves the ring's completions to its done list. */
static void uring_reap_hook(void *arg)
{
	struct aio_ctx *c = arg;

	pthread_mutex_lock(&c->lock);
	if (c->uring)
		uring_reap(c);
	pthread_mutex_unlock(&c->lock);
}
#endif

/* ---- Common ---- */

int aio_submit(struct aio_ctx *c, int fd, uint64_t off, struct block_req *r)
{
	int ret;

	r->fd = fd;
	r->file_offset = off;
	r->stage = 0;
	r->res = 0;
	r->progress = 0;
	r->bounce = NULL;
	r->next = NULL;
	ret = bounce_setup(c, r);
	if (ret)
		return ret;

	pthread_mutex_lock(&c->lock);
	if (c->closing) {
		ret = -ESHUTDOWN;
	} else if (!r->len && r->op != BLOCK_OP_FLUSH) {
		/* Nothing to do: complete through the loop all the same. */
		finish(c, r);
		workpool_kick(c->pool);
	} else if (c->uring) {
#ifdef HAVE_LIBURING
		ret = uring_queue(c, r);
		if (!ret) {
			c->inflight++;
			if (c->plugged)
				c->unsubmitted = true;
			else
				io_uring_submit(&c->ring);
		}
#endif
	} else {
		ret = workpool_submit(c->pool, r);
	}
	pthread_mutex_unlock(&c->lock);
	if (ret) {
		free(r->bounce);
		r->bounce = NULL;
	}
	return ret;
}

void aio_drain(struct aio_ctx *c)
{
#ifdef HAVE_LIBURING
	pthread_mutex_lock(&c->lock);
	/* Submits anything left in the SQ ring, then waits. */
	while (c->inflight) {
		io_uring_submit_and_wait(&c->ring, 1);
		uring_reap(c);
	}
	pthread_mutex_unlock(&c->lock);
#endif
	/* The thread engine's requests; kicks the loop for pending done()s. */
	workpool_drain(c->pool);
}

void aio_plug(struct aio_ctx *c)
{
	pthread_mutex_lock(&c->lock);
	c->plugged++;
	pthread_mutex_unlock(&c->lock);
}

void aio_unplug(struct aio_ctx *c)
{
	pthread_mutex_lock(&c->lock);
	if (c->plugged > 0 && !--c->plugged && c->unsubmitted) {
		c->unsubmitted = false;
#ifdef HAVE_LIBURING
		io_uring_submit(&c->ring);
#endif
	}
	pthread_mutex_unlock(&c->lock);
}

void aio_set_batch_fn(struct aio_ctx *c, void (*fn)(void *arg), void *arg)
{
	workpool_set_batch_fn(c->pool, fn, arg);
}

const char *aio_engine_name(const struct aio_ctx *c)
{
	return c->uring ? "io_uring" : "threads";
}

void aio_destroy(struct aio_ctx *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->closing = true;
	pthread_mutex_unlock(&c->lock);
	if (c->pool) {
		aio_drain(c);
		/* Unregisters, stops the threads, calls the remaining done()s
		 * on this thread (reaping the ring first). */
		workpool_destroy(c->pool);
	}
#ifdef HAVE_LIBURING
	if (c->uring)
		io_uring_queue_exit(&c->ring);
#endif
	free(c->zeroes);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

int aio_create(struct aio_ctx **out, struct event_loop *loop, enum block_aio kind,
	       uint32_t mem_align, uint32_t len_align, struct kb_err *err)
{
	struct aio_ctx *c = calloc(1, sizeof(*c));
	struct workpool_conf conf = {
		.name = "block",
		.thread_name = "kvmbox-blk",
		.work = thread_work,
#ifdef HAVE_LIBURING
		.reap = uring_reap_hook,
#endif
		.arg = c,
	};
	int ret = 0;

	*out = NULL;
	if (!c)
		return kb_err_set(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&c->lock, NULL);
	c->mem_align = mem_align;
	c->len_align = len_align ? len_align : 1;
	ret = workpool_create(&c->pool, loop, &conf, err);
	if (ret)
		goto fail;
	if (posix_memalign(&c->zeroes, ZERO_BUF_ALIGN, ZERO_BUF_SIZE)) {
		c->zeroes = NULL;
		ret = kb_err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	memset(c->zeroes, 0, ZERO_BUF_SIZE);

	if (kind != BLOCK_AIO_THREADS) {
#ifdef HAVE_LIBURING
		ret = uring_init(c);
		if (ret && kind == BLOCK_AIO_IO_URING) {
			ret = kb_err_set(err, ret,
					 "aio=io_uring: io_uring unavailable: %s",
					 strerror(-ret));
			goto fail;
		}
		if (ret)
			log_debug("block: io_uring unavailable (%s), using threads",
				  strerror(-ret));
		ret = 0;
#else
		if (kind == BLOCK_AIO_IO_URING) {
			ret = kb_err_set(
				err, -ENOTSUP,
				"aio=io_uring: kvmbox was built without liburing");
			goto fail;
		}
#endif
	}
	ret = workpool_start(c->pool, c->uring ? 0 : AIO_THREADS, err);
	if (ret)
		goto fail;
	*out = c;
	return 0;
fail:
	aio_destroy(c);
	return ret;
}
