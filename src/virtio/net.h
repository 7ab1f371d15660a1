/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_VIRTIO_NET_H
#define KVMBOX_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "net/backend.h"
#include "util/err.h"
#include "virtio/virtio.h"
#include "vm/event.h"

/*
 * virtio-net (virtio 1.x, 5.1) with one queue pair and no control queue:
 * queue 0 is receiveq0 (backend -> guest), queue 1 transmitq0 (guest ->
 * backend). VIRTIO_F_VERSION_1 is always negotiated, so every frame has
 * the 12-byte struct virtio_net_hdr_v1 in front, which is also what
 * crosses the backend interface (net/backend.h).
 *
 * Features: MAC, STATUS, MRG_RXBUF always; the checksum and segmentation
 * offloads only as far as the backend's offloads allow (CSUM + GUEST_CSUM
 * for NET_OFFLOAD_CSUM; HOST_/GUEST_TSO4, TSO6, UFO each with CSUM; ECN
 * with CSUM and a TSO).
 *
 * Transmit runs on the event loop thread (queue kicks) and hands each
 * chain's readable buffers to be->ops->send() without copying; at most
 * VIRTIO_NET_TX_BUDGET chains per run, then the device comes back through
 * an eventfd of its own on @loop, so a flooding guest cannot starve the
 * other handlers. Receive is the backend's peer->receive(), from whatever
 * thread the backend uses.
 *
 * The device owns the backend: activate starts it, reset stops it,
 * d->ops->destroy(d) destroys it and frees the device, @d included.
 */
#define VIRTIO_NET_QUEUE_SIZE 256
#define VIRTIO_NET_RXQ 0
#define VIRTIO_NET_TXQ 1
/* Chains one transmit run takes before it yields to the event loop. */
#define VIRTIO_NET_TX_BUDGET 256

struct virtio_net_stats {
	uint64_t tx_frames; /* frames passed to the backend */
	uint64_t tx_bytes; /* their Ethernet bytes (no virtio header) */
	uint64_t tx_dropped; /* refused by the backend, or link down */
	uint64_t tx_errors; /* malformed chains from the driver */
	uint64_t rx_frames; /* frames delivered to the guest */
	uint64_t rx_bytes; /* their Ethernet bytes (no virtio header) */
	uint64_t rx_dropped; /* no room in a buffer, offload not negotiated,
			      * runt/oversized frame, link down */
	uint64_t rx_errors; /* malformed receive buffers from the driver */
};

/*
 * @be must not be NULL ("-n none" creates no device); the device takes
 * ownership of it even when creation fails (it is destroyed then).
 * @loop is the VM's event loop (the transmit re-arm eventfd is registered
 * there). NULL with @err set on failure.
 */
struct virtio_dev *virtio_net_create(struct net_backend *be, const uint8_t mac[6],
				     struct event_loop *loop, struct kb_err *err);

/* Counters as the guest side sees them. Any thread. */
void virtio_net_get_stats(struct virtio_dev *d, struct virtio_net_stats *st);

/* Link up/down (starts up): updates the config status and, if the driver
 * negotiated VIRTIO_NET_F_STATUS, sends a config change. While the link
 * is down, frames in both directions are dropped (counted). Any thread. */
void virtio_net_set_link(struct virtio_dev *d, bool up);

#endif
