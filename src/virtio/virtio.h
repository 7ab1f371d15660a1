/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_VIRTIO_VIRTIO_H
#define KVMBOX_VIRTIO_VIRTIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"
#include "virtio/queue.h"
#include "vm/memory.h"

/*
 * A virtio device as devices see it: it does not know its transport.
 * The transport (virtio/pci.c) owns feature negotiation, the status state
 * machine, queue configuration, notifications (ioeventfd -> queue_notify on
 * the event-loop thread) and interrupts (virtio_notify_queue / _config).
 */
struct virtio_dev;

struct virtio_dev_ops {
	/* Device features (VIRTIO_F_VERSION_1, RING_EVENT_IDX and
	 * RING_INDIRECT_DESC are added by the transport). */
	uint64_t (*features)(struct virtio_dev *d);
	/* Device configuration space; off + len <= config_size is checked by
	 * the transport. Writes of read-only fields are ignored. */
	void (*read_config)(struct virtio_dev *d, uint32_t off, void *data, uint32_t len);
	void (*write_config)(struct virtio_dev *d, uint32_t off, const void *data,
			     uint32_t len);
	/* DRIVER_OK with features negotiated and queues started. Return
	 * non-zero to refuse (the transport then sets DEVICE_NEEDS_RESET). */
	int (*activate)(struct virtio_dev *d);
	/* The driver kicked queue @q (event-loop thread). */
	void (*queue_notify)(struct virtio_dev *d, int q);
	/* Device reset by the driver (status 0): stop using the queues and drop
	 * in-flight state; must not return until no I/O touches guest memory. */
	void (*reset)(struct virtio_dev *d);
	/* Optional: free the device's private state. */
	void (*destroy)(struct virtio_dev *d);
};

struct virtio_transport_ops {
	void (*notify_queue)(struct virtio_dev *d, int q);
	void (*notify_config)(struct virtio_dev *d);
	void (*needs_reset)(struct virtio_dev *d);
};

#define VIRTIO_MAX_QUEUES 8

struct virtio_dev {
	const char *name; /* "virtio-blk", ... for messages and stats */
	uint16_t device_id; /* VIRTIO_ID_* from <linux/virtio_ids.h> */
	uint32_t config_size;
	int nr_queues;
	uint16_t queue_max_size;
	const struct virtio_dev_ops *ops;
	void *priv;

	/* Filled by the transport. */
	const struct guest_mem *mem;
	uint64_t features; /* negotiated */
	struct virtq vq[VIRTIO_MAX_QUEUES];
	const struct virtio_transport_ops *transport_ops;
	void *transport;
};

/* Called by devices, from any thread: signal used buffers on queue @q
 * (honours EVENT_IDX through virtq_should_notify), or a config change. */
void virtio_notify_queue(struct virtio_dev *d, int q);
void virtio_notify_config(struct virtio_dev *d);
/* The device found the driver misbehaving (malformed ring...). */
void virtio_set_needs_reset(struct virtio_dev *d);

static inline bool virtio_has_feature(const struct virtio_dev *d, unsigned int bit)
{
	return d->features & (1ULL << bit);
}

#endif
