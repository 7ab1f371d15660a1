/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_VIRTIO_QUEUE_H
#define KVMBOX_VIRTIO_QUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vm/memory.h"

/*
 * A split virtqueue (virtio 1.x, 2.7) seen from the device side. The guest
 * is hostile: every ring and descriptor address and length is checked
 * against guest RAM before use, chains are bounded by the queue size (a
 * loop is an error), indirect tables are validated, indices are checked.
 * A malformed chain makes virtq_pop() return -EINVAL: the device then
 * fails the request or sets DEVICE_NEEDS_RESET; nothing outside guest RAM
 * is ever touched.
 *
 * Not thread-safe: one thread services a queue at a time (the event loop,
 * or the device's I/O completion path under the device's lock).
 */
#define VIRTQ_MAX_SIZE 32768

struct virtq {
	/* Set by the transport from the driver's writes. */
	uint16_t size; /* power of two, <= VIRTQ_MAX_SIZE */
	uint64_t desc_gpa;
	uint64_t avail_gpa;
	uint64_t used_gpa;
	bool ready;

	/* Set by virtq_start(). */
	const struct guest_mem *mem;
	bool event_idx; /* VIRTIO_F_RING_EVENT_IDX negotiated */
	bool indirect; /* VIRTIO_F_RING_INDIRECT_DESC negotiated */
	void *desc; /* host pointers to the validated rings */
	void *avail;
	void *used;
	uint16_t last_avail; /* next avail entry the device will take */
	uint16_t used_idx; /* next used entry the device will fill */
	uint16_t signalled_used;
	bool signalled_used_valid;
	bool broken; /* a malformed chain was seen */
	bool no_notify; /* virtq_disable_notify() in effect (added) */
};

/* One request: the chain's buffers as host iovecs, readable ones first. */
struct virtq_req {
	uint16_t head;
	int nr_out; /* device-readable (driver -> device) */
	int nr_in; /* device-writable (device -> driver), after the out ones */
	uint64_t out_len;
	uint64_t in_len;
	struct iovec *iov; /* nr_out + nr_in entries, points into the caller's array */
};

/* Resets the device-side state (keeps nothing). */
void virtq_reset(struct virtq *q);
/* Validates the ring addresses (alignment, inside RAM) and starts the queue.
 * -EINVAL with the queue left stopped if they are bad. Starting resets the
 * indices to 0, clears broken and writes used->flags = 0 (and avail_event
 * = 0 with EVENT_IDX). */
int virtq_start(struct virtq *q, const struct guest_mem *mem, bool event_idx,
		bool indirect);

/*
 * Takes the next available chain. Returns 1 with *req filled (iov from
 * @iov, at most @max_iov entries), 0 when nothing is available, -EINVAL
 * when the chain or the ring is malformed (q->broken is then set), -E2BIG
 * when the chain has more than @max_iov buffers (the chain is consumed:
 * the caller completes it with an error status if it can).
 *
 * Details: zero-length descriptors are skipped (no iovec, address not
 * checked). A chain may end with one INDIRECT descriptor (2.7.5.3.2); an
 * indirect table holds at most VIRTQ_MAX_SIZE entries (it may be larger
 * than the queue). On -E2BIG only req->head is meaningful (nr_out = nr_in
 * = 0, lengths 0): push it back, typically with len 0. On -EINVAL the
 * queue is broken: last_avail is not advanced and every later pop returns
 * -EINVAL until virtq_start()/virtq_reset().
 * A not-started queue (virtq_start() not called or failed) pops nothing.
 * With EVENT_IDX and notifications enabled, pop keeps avail_event at
 * last_avail, and when it finds the ring empty it re-checks after a full
 * fence, so "pop until 0" alone never misses a kick.
 */
int virtq_pop(struct virtq *q, struct virtq_req *req, struct iovec *iov, int max_iov);
/* Puts a chain on the used ring with @len bytes written by the device. */
void virtq_push(struct virtq *q, uint16_t head, uint32_t len);
/* After one or more pushes: does the driver want an interrupt now?
 * (EVENT_IDX's used_event, or the NO_INTERRUPT flag.) */
bool virtq_should_notify(struct virtq *q);
/* Ask the driver not to kick / to kick again (used flags or avail_event);
 * virtq_enable_notify returns true if buffers arrived meanwhile.
 * With EVENT_IDX, disabling just stops avail_event from moving (the used
 * flags must stay 0), so one more kick may still come. */
void virtq_disable_notify(struct virtq *q);
bool virtq_enable_notify(struct virtq *q);
/* Buffers available? */
bool virtq_has_avail(struct virtq *q);

/* Copies between a request's iovecs and a flat buffer, bounded by both. */
size_t iov_to_buf(const struct iovec *iov, int n, size_t off, void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, int n, size_t off, const void *buf,
		    size_t len);

#endif
