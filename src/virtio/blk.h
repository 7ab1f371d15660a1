/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_VIRTIO_BLK_H
#define KVMBOX_VIRTIO_BLK_H

#include <stdint.h>

#include "block/block.h"
#include "util/err.h"
#include "virtio/blk_req.h"
#include "virtio/virtio.h"
#include "vm/event.h"

/*
 * virtio-blk (virtio 1.x, 5.2): one request queue over a block backend.
 * Requests are parsed and submitted on the thread that runs queue_notify
 * (the event loop) and complete on the event loop; several are in flight
 * at once. The device has its own lock, so reset (any thread) and stats
 * (any thread) are safe against both.
 */
struct virtio_blk_stats {
	uint64_t requests; /* chains taken from the queue */
	uint64_t reads;
	uint64_t writes;
	uint64_t flushes;
	uint64_t discards;
	uint64_t write_zeroes;
	uint64_t get_ids;
	uint64_t bytes_read;
	uint64_t bytes_written;
	uint64_t errors; /* answered IOERR, or dropped (no status byte) */
	uint64_t unsupported; /* answered UNSUPP */
	uint64_t in_flight; /* now */
};

/* Opens the backend of @spec (see block_open()) with completions on @loop
 * and returns the device, for the transport to register. Free it with
 * d->ops->destroy(d) (closes the image) once the transport is gone. */
struct virtio_dev *virtio_blk_create(const struct block_spec *spec,
				     struct event_loop *loop, struct kb_err *err);
/* A snapshot of the counters; any thread. */
void virtio_blk_get_stats(struct virtio_dev *d, struct virtio_blk_stats *out);

#endif
