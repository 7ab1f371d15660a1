/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_VIRTIO_RNG_H
#define KVMBOX_VIRTIO_RNG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/err.h"
#include "virtio/virtio.h"

/*
 * virtio-rng, the entropy device (virtio 1.x, 5.4): one queue (requestq)
 * of device-writable buffers that the device fills with random bytes from
 * the host's getrandom(2) (the urandom pool, GRND_NONBLOCK). Each request
 * is filled up to VIRTIO_RNG_MAX_FILL bytes and completed with the number
 * of bytes written; a chain with no writable buffer completes with 0.
 *
 * Threads: queue_notify runs on the event loop; activate/reset on the
 * thread that writes the device status. All of them take the device lock.
 * If the host pool would block (only before the host's CRNG is
 * initialised), the request is kept and a short-lived helper thread
 * retries it until the pool is ready; nothing on the event loop blocks.
 *
 * The device owns its memory: d->ops->destroy(d) frees it, @d included.
 */
#define VIRTIO_RNG_QUEUE_SIZE 64
#define VIRTIO_RNG_MAX_FILL (64 * 1024)

struct virtio_rng_stats {
	uint64_t requests; /* chains completed (used ring entries) */
	uint64_t bytes; /* random bytes written to the guest */
	uint64_t deferred; /* times the host pool would have blocked */
};

/* NULL (with @err set) on allocation failure. */
struct virtio_dev *virtio_rng_create(struct kb_err *err);
void virtio_rng_get_stats(struct virtio_dev *d, struct virtio_rng_stats *st);

/*
 * Replaces the byte source (for tests; NULL restores getrandom). @fn works
 * like getrandom(2) but returns a negative errno on failure; it is called
 * with the device lock held and @flags GRND_NONBLOCK, from the event loop
 * or the helper thread. Call before the device is active.
 */
typedef ssize_t (*virtio_rng_source_fn)(void *ctx, void *buf, size_t len,
					unsigned int flags);
void virtio_rng_set_source(struct virtio_dev *d, virtio_rng_source_fn fn, void *ctx);

#endif
