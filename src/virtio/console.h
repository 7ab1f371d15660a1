/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_VIRTIO_CONSOLE_H
#define KVMBOX_VIRTIO_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "virtio/virtio.h"

/*
 * virtio-console (virtio 1.x, 5.3) with one port and no MULTIPORT: queue 0
 * is receiveq (host -> guest), queue 1 transmitq (guest -> host). Linux
 * sees it as /dev/hvc0 (console=hvc0).
 *
 * Transmit: the readable bytes of each chain go to @out, in order, and the
 * chain is returned with length 0. @out runs on the event loop thread with
 * the transmit lock held: it must not call back into the device.
 *
 * Receive: host input waits in a VIRTIO_CONSOLE_INBUF_SIZE buffer until
 * the guest posts receive buffers (now or on a later kick of queue 0).
 * virtio_console_receive() and _rx_space() may be called from any thread.
 *
 * VIRTIO_CONSOLE_F_SIZE is offered when stdout is a terminal at creation
 * (cols/rows from TIOCGWINSZ); virtio_console_set_size() updates it.
 *
 * The device owns its memory: d->ops->destroy(d) frees it, @d included.
 */
#define VIRTIO_CONSOLE_QUEUE_SIZE 256
#define VIRTIO_CONSOLE_INBUF_SIZE 4096
#define VIRTIO_CONSOLE_RXQ 0
#define VIRTIO_CONSOLE_TXQ 1

struct virtio_console_stats {
	uint64_t rx_bytes; /* host input delivered to the guest */
	uint64_t rx_buffers; /* receive chains completed */
	uint64_t rx_dropped; /* buffered input dropped by a reset */
	uint64_t tx_bytes; /* guest output passed to out() */
	uint64_t tx_buffers; /* transmit chains completed */
};

/* @out may be NULL (output is dropped). NULL with @err set on failure. */
struct virtio_dev *virtio_console_create(void (*out)(void *ctx, const uint8_t *buf,
						     size_t len),
					 void *out_ctx, struct kb_err *err);

/*
 * Host input: queues up to the free room and hands what it can to the
 * guest's posted buffers at once. Returns the bytes accepted (less than
 * @len when the buffer is full: the caller keeps the rest and offers it
 * again later; see virtio_console_rx_space()).
 */
size_t virtio_console_receive(struct virtio_dev *d, const uint8_t *buf, size_t len);
/* Free room in the input buffer. */
size_t virtio_console_rx_space(struct virtio_dev *d);

/* The host terminal was resized: update the config space and, if the
 * driver negotiated VIRTIO_CONSOLE_F_SIZE, send a config change. Ignored
 * when F_SIZE was not offered. Any thread. */
void virtio_console_set_size(struct virtio_dev *d, uint16_t cols, uint16_t rows);

void virtio_console_get_stats(struct virtio_dev *d, struct virtio_console_stats *st);

#endif
