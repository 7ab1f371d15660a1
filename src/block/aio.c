// SPDX-License-Identifier: GPL-2.0-only
/*
 * The block I/O engine: io_uring or a thread pool, completions delivered
 * to the event loop through an eventfd (see aio.h).
 *
 * Locking: c->lock protects the ring (submission and completion sides),
 * the work and done lists and the in-flight count. It is never held while
 * a done() callback runs, so callbacks may submit again, and a thread
 * holding a device lock may drain (the device's callbacks wait for that
 * lock, not the other way round).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <linux/falloc.h>

#include "config.h"
#ifdef HAVE_LIBURING
#include <liburing.h>
#endif

#include "block/aio.h"
#include "util/log.h"

#define AIO_THREADS 4
#define AIO_RING_ENTRIES 256
#define ZERO_BUF_SIZE (256 * 1024)
#define ZERO_BUF_ALIGN 4096

/* block_req.stage for WRITE_ZEROES: two fallocate modes, then writes. */
enum { WZ_ALLOC_FIRST, WZ_ALLOC_SECOND, WZ_WRITE };

struct aio_ctx {
	struct event_loop *loop;
	int efd;
	bool registered;
	bool uring;
	bool closing;
	int plugged; /* io_uring: submissions wait for aio_unplug() */
	bool unsubmitted;
	uint32_t mem_align; /* 0: buffered I/O, no bounce buffers */
	uint32_t len_align;
	void *zeroes; /* ZERO_BUF_SIZE bytes of zeroes, never written */

	pthread_mutex_t lock;
	unsigned int inflight; /* submitted, I/O not finished */
	struct block_req *done_head, **done_tail; /* finished, done() due */
	void (*batch_fn)(void *arg);
	void *batch_arg;

	/* Thread pool. */
	pthread_cond_t work_cond;
	pthread_cond_t idle_cond; /* inflight dropped to 0 */
	struct block_req *work_head, **work_tail;
	pthread_t thread[AIO_THREADS];
	int nr_threads;
	bool stop;

#ifdef HAVE_LIBURING
	struct io_uring ring;
#endif
};

static uint64_t iov_total(const struct iovec *iov, int cnt)
{
	uint64_t n = 0;

	for (int i = 0; i < cnt; i++)
		n += iov[i].iov_len;
	return n;
}

/* Drops @n transferred bytes from the front of an iovec array. */
static void iov_advance(struct iovec **iov, int *cnt, size_t n)
{
	while (*cnt > 0 && (n >= (*iov)->iov_len)) {
		n -= (*iov)->iov_len;
		(*iov)++;
		(*cnt)--;
	}
	if (*cnt > 0 && n) {
		(*iov)->iov_base = (uint8_t *)(*iov)->iov_base + n;
		(*iov)->iov_len -= n;
	}
}

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
		iov_advance(&r->iov, &r->iovcnt, n);
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

/* Under c->lock: the I/O is over; queue the done() call. */
static void finish(struct aio_ctx *c, struct block_req *r)
{
	bounce_finish(r);
	r->next = NULL;
	*c->done_tail = r;
	c->done_tail = &r->next;
	if (!--c->inflight)
		pthread_cond_broadcast(&c->idle_cond);
}

static void kick_loop(struct aio_ctx *c)
{
	uint64_t one = 1;

	if (write(c->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug("block: completion eventfd: %s", strerror(errno));
}

/* ---- Thread pool ---- */

static int sync_rw(int fd, struct block_req *r)
{
	while (r->progress < r->len) {
		uint64_t off = r->offset + r->progress;
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
		if (!fallocate(fd, falloc_mode(r), (off_t)r->offset, (off_t)r->len))
			return 0;
		if (!fallback_errno(errno))
			return -errno;
	}
	while (r->progress < r->len) {
		ssize_t n = pwrite(fd, c->zeroes, zero_chunk(r),
				   (off_t)(r->offset + r->progress));

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
		if (!fallocate(r->fd, falloc_mode(r), (off_t)r->offset, (off_t)r->len))
			return 0;
		return errno == EOPNOTSUPP ? 0 : -errno;
	case BLOCK_OP_WRITE_ZEROES:
		return sync_write_zeroes(c, r->fd, r);
	}
	return -EINVAL;
}

static void *worker(void *arg)
{
	struct aio_ctx *c = arg;
	sigset_t all;

	/* Signals (vCPU kicks, SIGINT) are for the other threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_setname_np(pthread_self(), "kvmbox-blk");
	for (;;) {
		struct block_req *r;

		pthread_mutex_lock(&c->lock);
		while (!c->work_head && !c->stop)
			pthread_cond_wait(&c->work_cond, &c->lock);
		r = c->work_head;
		if (!r) {
			pthread_mutex_unlock(&c->lock);
			break;
		}
		c->work_head = r->next;
		if (!c->work_head)
			c->work_tail = &c->work_head;
		pthread_mutex_unlock(&c->lock);

		r->res = sync_exec(c, r);

		pthread_mutex_lock(&c->lock);
		finish(c, r);
		pthread_mutex_unlock(&c->lock);
		kick_loop(c);
	}
	return NULL;
}

static int threads_start(struct aio_ctx *c)
{
	for (int i = 0; i < AIO_THREADS; i++) {
		int ret = pthread_create(&c->thread[i], NULL, worker, c);

		if (ret)
			return -ret;
		c->nr_threads++;
	}
	return 0;
}

static void threads_stop(struct aio_ctx *c)
{
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_broadcast(&c->work_cond);
	pthread_mutex_unlock(&c->lock);
	for (int i = 0; i < c->nr_threads; i++)
		pthread_join(c->thread[i], NULL);
	c->nr_threads = 0;
}

/* ---- io_uring ---- */

#ifdef HAVE_LIBURING
/* Under c->lock: queues the next step of @r (not yet submitted). */
static int uring_queue(struct aio_ctx *c, struct block_req *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&c->ring);
	uint64_t off = r->offset + r->progress;
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
		io_uring_prep_fallocate(sqe, r->fd, falloc_mode(r), (off_t)r->offset,
					(off_t)r->len);
		break;
	case BLOCK_OP_WRITE_ZEROES:
		if (r->stage < WZ_WRITE) {
			io_uring_prep_fallocate(sqe, r->fd, falloc_mode(r),
						(off_t)r->offset, (off_t)r->len);
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
		ret = io_uring_register_eventfd(&c->ring, c->efd);
	if (ret) {
		io_uring_queue_exit(&c->ring);
		return ret;
	}
	c->uring = true;
	return 0;
}
#endif

/* ---- Common ---- */

int aio_submit(struct aio_ctx *c, int fd, struct block_req *r)
{
	int ret = 0;

	r->fd = fd;
	r->stage = 0;
	r->res = 0;
	r->progress = 0;
	r->bounce = NULL;
	r->next = NULL;
	if (r->op == BLOCK_OP_READ || r->op == BLOCK_OP_WRITE) {
		r->len = iov_total(r->iov, r->iovcnt);
		ret = bounce_setup(c, r);
		if (ret)
			return ret;
	}

	pthread_mutex_lock(&c->lock);
	if (c->closing) {
		ret = -ESHUTDOWN;
	} else if (!r->len && r->op != BLOCK_OP_FLUSH) {
		/* Nothing to do: complete through the loop all the same. */
		c->inflight++;
		finish(c, r);
		kick_loop(c);
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
		*c->work_tail = r;
		c->work_tail = &r->next;
		c->inflight++;
		pthread_cond_signal(&c->work_cond);
	}
	pthread_mutex_unlock(&c->lock);
	if (ret) {
		free(r->bounce);
		r->bounce = NULL;
	}
	return ret;
}

static struct block_req *take_done(struct aio_ctx *c)
{
	struct block_req *list;

	pthread_mutex_lock(&c->lock);
#ifdef HAVE_LIBURING
	if (c->uring)
		uring_reap(c);
#endif
	list = c->done_head;
	c->done_head = NULL;
	c->done_tail = &c->done_head;
	pthread_mutex_unlock(&c->lock);
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

static void aio_event(void *arg, uint32_t events)
{
	struct aio_ctx *c = arg;
	uint64_t v;

	if (read(c->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug("block: completion eventfd: %s", strerror(errno));
	if (deliver(take_done(c)) && c->batch_fn)
		c->batch_fn(c->batch_arg);
}

void aio_drain(struct aio_ctx *c)
{
	bool pending;

	pthread_mutex_lock(&c->lock);
	while (c->inflight) {
		if (!c->uring) {
			pthread_cond_wait(&c->idle_cond, &c->lock);
			continue;
		}
#ifdef HAVE_LIBURING
		/* Submits anything left in the SQ ring, then waits. */
		io_uring_submit_and_wait(&c->ring, 1);
		uring_reap(c);
#endif
	}
	pending = c->done_head != NULL;
	pthread_mutex_unlock(&c->lock);
	if (pending)
		kick_loop(c);
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
	pthread_mutex_lock(&c->lock);
	c->batch_fn = fn;
	c->batch_arg = arg;
	pthread_mutex_unlock(&c->lock);
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
	aio_drain(c);
	if (c->registered)
		event_del(c->loop, c->efd);
	if (c->nr_threads)
		threads_stop(c);
	/* The loop will not run these any more: this thread does. */
	while (deliver(take_done(c)))
		;
#ifdef HAVE_LIBURING
	if (c->uring)
		io_uring_queue_exit(&c->ring);
#endif
	if (c->efd >= 0)
		close(c->efd);
	free(c->zeroes);
	pthread_cond_destroy(&c->work_cond);
	pthread_cond_destroy(&c->idle_cond);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

int aio_create(struct aio_ctx **out, struct event_loop *loop, enum block_aio kind,
	       uint32_t mem_align, uint32_t len_align, struct kb_err *err)
{
	struct aio_ctx *c = calloc(1, sizeof(*c));
	int ret = 0;

	*out = NULL;
	if (!c)
		return kb_err_set(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->work_cond, NULL);
	pthread_cond_init(&c->idle_cond, NULL);
	c->done_tail = &c->done_head;
	c->work_tail = &c->work_head;
	c->loop = loop;
	c->mem_align = mem_align;
	c->len_align = len_align ? len_align : 1;
	c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->efd < 0) {
		ret = kb_err_set(err, -errno, "eventfd: %s", strerror(errno));
		goto fail;
	}
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
	if (!c->uring) {
		ret = threads_start(c);
		if (ret) {
			kb_err_set(err, ret, "block I/O threads: %s", strerror(-ret));
			goto fail;
		}
	}
	ret = event_add(loop, c->efd, EPOLLIN, aio_event, c);
	if (ret) {
		kb_err_set(err, ret, "event loop: %s", strerror(-ret));
		goto fail;
	}
	c->registered = true;
	*out = c;
	return 0;
fail:
	aio_destroy(c);
	return ret;
}
