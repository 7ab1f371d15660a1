// SPDX-License-Identifier: GPL-2.0-only
/*
 * virtio entropy device (virtio 1.x, 5.4).
 *
 * The driver posts device-writable buffers on the only queue; the device
 * fills them with random bytes and returns them with the length written
 * (which may be less than the buffer: 5.4.6.1 lets the device write fewer
 * bytes, and the driver uses the length it is given).
 *
 * The bytes come from getrandom(2) on the urandom pool with GRND_NONBLOCK,
 * so that the event loop never sleeps on entropy. It would block only
 * before the host CRNG is initialised (early in the host's boot); the
 * request being filled is then kept aside (later ones stay on the ring, in
 * order), and a helper thread retries it every VRNG_RETRY_MS until the pool
 * is ready, then goes on with the ring and exits. The driver does not kick
 * again for a request it is waiting on, so the retry cannot be left to the
 * next kick. (A blocking getrandom() in the helper would need
 * pthread_cancel() to stop it at destroy; a timed wait stops cleanly.)
 *
 * Locking: r->lock protects the queue, the pending request, the counters
 * and the helper thread's state; queue_notify (event loop), activate and
 * reset (status writer), the helper thread and the stats getter all take
 * it. virtio_notify_queue() is called with it held.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <linux/virtio_ids.h>

#include "util/log.h"
#include "virtio/rng.h"

/* Buffers per chain; longer chains are completed with length 0. */
#define VRNG_MAX_IOV 64
/* How often the helper retries while the host pool is not ready. */
#define VRNG_RETRY_MS 50

struct vrng {
	struct virtio_dev vdev;
	pthread_mutex_t lock;
	bool active; /* between activate and reset */
	bool stopping; /* destroy in progress */
	bool warned; /* the source failed (other than EAGAIN) once */
	virtio_rng_source_fn source;
	void *src_ctx;

	/* A request taken off the ring that the pool could not fill yet. */
	bool pending;
	uint16_t pending_head;
	int pending_nr;
	struct iovec pending_iov[VRNG_MAX_IOV];

	/* The helper thread that waits for the pool (see vrng_waiter). */
	pthread_t waiter;
	pthread_cond_t wake; /* CLOCK_MONOTONIC; signalled by reset/destroy */
	bool waiter_running; /* it will look at the pending request again */
	bool waiter_joinable; /* started and not joined yet */

	struct virtio_rng_stats stats;
};

static struct vrng *to_vrng(struct virtio_dev *d)
{
	return d->priv;
}

static ssize_t vrng_getrandom(void *ctx, void *buf, size_t len, unsigned int flags)
{
	ssize_t n = getrandom(buf, len, flags);

	return n < 0 ? -errno : n;
}

/*
 * Fills the writable buffers @iov[0..n) with up to VIRTIO_RNG_MAX_FILL
 * bytes. Returns the bytes written, or -EAGAIN when the pool would block
 * before the first byte. Short reads and EINTR are retried; a later
 * EAGAIN or another error ends the fill with what was written.
 */
static ssize_t vrng_fill(struct vrng *r, const struct iovec *iov, int n)
{
	size_t done = 0;
	ssize_t err = 0;

	for (int i = 0; i < n && done < VIRTIO_RNG_MAX_FILL && !err; i++) {
		uint8_t *p = iov[i].iov_base;
		size_t len = iov[i].iov_len;

		if (len > VIRTIO_RNG_MAX_FILL - done)
			len = VIRTIO_RNG_MAX_FILL - done;
		while (len) {
			ssize_t got = r->source(r->src_ctx, p, len, GRND_NONBLOCK);

			if (got == -EINTR)
				continue;
			if (got <= 0) {
				err = got ? got : -EIO;
				break;
			}
			if ((size_t)got > len)
				got = len;
			p += got;
			len -= got;
			done += got;
		}
	}
	if (!done && err == -EAGAIN)
		return -EAGAIN;
	if (!done && err && !r->warned) {
		r->warned = true;
		log_warn("%s: host random source failed: %s", r->vdev.name,
			 strerror((int)-err));
	}
	return done;
}

static void vrng_complete(struct vrng *r, uint16_t head, uint32_t len)
{
	virtq_push(&r->vdev.vq[0], head, len);
	r->stats.requests++;
	r->stats.bytes += len;
}

static void *vrng_waiter(void *arg);

/* Starts the helper thread unless it runs already. Lock held. */
static int vrng_start_waiter(struct vrng *r)
{
	sigset_t all, old;
	int ret;

	if (r->waiter_running)
		return 0;
	/* A previous helper cleared waiter_running under the lock and touches
	 * nothing of ours after that: joining it here cannot wait on us. */
	if (r->waiter_joinable) {
		pthread_join(r->waiter, NULL);
		r->waiter_joinable = false;
	}
	/* Signals are for the threads that expect them (vCPUs, main). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&r->waiter, NULL, vrng_waiter, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		return -ret;
	r->waiter_running = true;
	r->waiter_joinable = true;
	return 0;
}

/* The pool would block: keep @req for the helper thread, or complete it
 * empty if there can be none. Lock held. */
static void vrng_defer(struct vrng *r, const struct virtq_req *req)
{
	int ret;

	r->stats.deferred++;
	ret = vrng_start_waiter(r);
	if (ret) {
		log_warn("%s: cannot wait for host entropy: %s", r->vdev.name,
			 strerror(-ret));
		vrng_complete(r, req->head, 0);
		return;
	}
	r->pending = true;
	r->pending_head = req->head;
	r->pending_nr = req->nr_in;
	memcpy(r->pending_iov, req->iov + req->nr_out,
	       sizeof(struct iovec) * (size_t)req->nr_in);
}

/* Services the queue: the kept request first, then the ring. Lock held. */
static void vrng_process(struct vrng *r)
{
	struct virtio_dev *d = &r->vdev;
	struct iovec iov[VRNG_MAX_IOV];
	struct virtq_req req;
	ssize_t n;

	if (!r->active)
		return;
	if (r->pending) {
		n = vrng_fill(r, r->pending_iov, r->pending_nr);
		if (n == -EAGAIN)
			return; /* still not ready: the helper keeps waiting */
		vrng_complete(r, r->pending_head, (uint32_t)n);
		r->pending = false;
	}
	for (;;) {
		int ret = virtq_pop(&d->vq[0], &req, iov, VRNG_MAX_IOV);

		if (!ret)
			break;
		if (ret == -EINVAL) {
			virtio_set_needs_reset(d);
			break;
		}
		if (ret < 0 || !req.nr_in) {
			/* Too many buffers, or nothing we may write. */
			vrng_complete(r, req.head, 0);
			continue;
		}
		n = vrng_fill(r, req.iov + req.nr_out, req.nr_in);
		if (n == -EAGAIN) {
			vrng_defer(r, &req);
			break;
		}
		vrng_complete(r, req.head, (uint32_t)n);
	}
	/* Sends nothing if nothing was completed. */
	virtio_notify_queue(d, 0);
}

static void deadline_after_ms(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/*
 * The helper thread: while a request is kept, retries it now and then
 * (vrng_process() fills it once the pool is ready, then serves the rest
 * of the ring). Exits when nothing is kept any more, on reset or destroy.
 */
static void *vrng_waiter(void *arg)
{
	struct vrng *r = arg;

	pthread_mutex_lock(&r->lock);
	while (!r->stopping && r->pending) {
		struct timespec ts;

		deadline_after_ms(&ts, VRNG_RETRY_MS);
		pthread_cond_timedwait(&r->wake, &r->lock, &ts);
		if (!r->stopping)
			vrng_process(r);
	}
	r->waiter_running = false;
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

static uint64_t vrng_features(struct virtio_dev *d)
{
	return 0; /* 5.4.3: no device-specific features */
}

static void vrng_read_config(struct virtio_dev *d, uint32_t off, void *data, uint32_t len)
{
	memset(data, 0, len); /* 5.4.4: no configuration */
}

static void vrng_write_config(struct virtio_dev *d, uint32_t off, const void *data,
			      uint32_t len)
{
}

static int vrng_activate(struct virtio_dev *d)
{
	struct vrng *r = to_vrng(d);

	pthread_mutex_lock(&r->lock);
	r->active = true;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static void vrng_queue_notify(struct virtio_dev *d, int q)
{
	struct vrng *r = to_vrng(d);

	if (q != 0)
		return;
	pthread_mutex_lock(&r->lock);
	vrng_process(r);
	pthread_mutex_unlock(&r->lock);
}

static void vrng_reset(struct virtio_dev *d)
{
	struct vrng *r = to_vrng(d);

	/* The helper only touches the queue under the lock and checks
	 * r->active first, so after this nothing reaches guest memory. */
	pthread_mutex_lock(&r->lock);
	r->active = false;
	r->pending = false;
	pthread_cond_signal(&r->wake); /* the helper, if any, may go */
	pthread_mutex_unlock(&r->lock);
}

static void vrng_destroy(struct virtio_dev *d)
{
	struct vrng *r = to_vrng(d);
	bool join;

	pthread_mutex_lock(&r->lock);
	r->stopping = true;
	r->active = false;
	r->pending = false;
	join = r->waiter_joinable;
	r->waiter_joinable = false;
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
	if (join)
		pthread_join(r->waiter, NULL);
	pthread_cond_destroy(&r->wake);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

static const struct virtio_dev_ops vrng_ops = {
	.features = vrng_features,
	.read_config = vrng_read_config,
	.write_config = vrng_write_config,
	.activate = vrng_activate,
	.queue_notify = vrng_queue_notify,
	.reset = vrng_reset,
	.destroy = vrng_destroy,
};

struct virtio_dev *virtio_rng_create(struct kb_err *err)
{
	struct vrng *r = calloc(1, sizeof(*r));
	pthread_condattr_t ca;

	if (!r) {
		kb_err_set(err, -ENOMEM, "virtio-rng: out of memory");
		return NULL;
	}
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->wake, &ca);
	pthread_condattr_destroy(&ca);
	r->source = vrng_getrandom;
	r->vdev.name = "virtio-rng";
	r->vdev.device_id = VIRTIO_ID_RNG;
	r->vdev.config_size = 0;
	r->vdev.nr_queues = 1;
	r->vdev.queue_max_size = VIRTIO_RNG_QUEUE_SIZE;
	r->vdev.ops = &vrng_ops;
	r->vdev.priv = r;
	return &r->vdev;
}

void virtio_rng_get_stats(struct virtio_dev *d, struct virtio_rng_stats *st)
{
	struct vrng *r = to_vrng(d);

	pthread_mutex_lock(&r->lock);
	*st = r->stats;
	pthread_mutex_unlock(&r->lock);
}

void virtio_rng_set_source(struct virtio_dev *d, virtio_rng_source_fn fn, void *ctx)
{
	struct vrng *r = to_vrng(d);

	pthread_mutex_lock(&r->lock);
	r->source = fn ? fn : vrng_getrandom;
	r->src_ctx = fn ? ctx : NULL;
	pthread_mutex_unlock(&r->lock);
}
