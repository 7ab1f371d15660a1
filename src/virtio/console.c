// SPDX-License-Identifier: GPL-2.0-only
/*
 * virtio console device (virtio 1.x, 5.3), single port: no
 * VIRTIO_CONSOLE_F_MULTIPORT, so there are no control queues and port 0
 * is the console, on receiveq0 (queue 0) and transmitq0 (queue 1).
 *
 * Receive (host -> guest): the driver keeps receiveq filled with empty
 * device-writable buffers (5.3.6.1). Host input is kept in a small ring
 * buffer and copied into those buffers as they are there; a buffer is
 * returned with the number of bytes written. Buffers are only taken off
 * the ring when there is something to put in them.
 *
 * Transmit (guest -> host): each chain's device-readable bytes go to the
 * output callback; the chain is returned with length 0 (nothing written).
 *
 * Locking: two locks so that a slow output never holds up input.
 *  - c->lock: receiveq, the input buffer, the size, the rx counters;
 *  - c->tx_lock: transmitq, out() and the tx counters.
 * c->active is written with both held and read with either. reset and
 * destroy take c->lock then c->tx_lock; nothing else holds both.
 * virtio_notify_queue()/_config() are called with a lock held.
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/virtio_console.h>
#include <linux/virtio_ids.h>

#include "virtio/console.h"

/* Buffers per chain; a longer chain is returned unused. */
#define VCON_MAX_IOV 64

struct vcon {
	struct virtio_dev vdev;
	void (*out)(void *ctx, const uint8_t *buf, size_t len);
	void *out_ctx;

	pthread_mutex_t lock; /* receive side and config */
	pthread_mutex_t tx_lock; /* transmit side */
	bool active; /* between activate and reset; both locks to write */

	uint8_t inbuf[VIRTIO_CONSOLE_INBUF_SIZE];
	size_t in_head; /* oldest byte */
	size_t in_count;

	bool has_size; /* F_SIZE offered */
	uint16_t cols, rows;

	struct virtio_console_stats stats;
};

static struct vcon *to_vcon(struct virtio_dev *d)
{
	return d->priv;
}

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* Moves buffered input into the writable buffers @iov[0..n); returns the
 * bytes moved. Lock held. */
static size_t vcon_copy_in(struct vcon *c, const struct iovec *iov, int n)
{
	size_t first = min_size(c->in_count, VIRTIO_CONSOLE_INBUF_SIZE - c->in_head);
	size_t done = iov_from_buf(iov, n, 0, c->inbuf + c->in_head, first);

	/* The buffered bytes wrap around the end of inbuf. */
	if (done == first && c->in_count > first)
		done += iov_from_buf(iov, n, done, c->inbuf, c->in_count - first);
	c->in_head = (c->in_head + done) % VIRTIO_CONSOLE_INBUF_SIZE;
	c->in_count -= done;
	if (!c->in_count)
		c->in_head = 0;
	return done;
}

/* Hands buffered input to the guest's receive buffers. Lock held. */
static void vcon_deliver(struct vcon *c)
{
	struct virtio_dev *d = &c->vdev;
	struct virtq *q = &d->vq[VIRTIO_CONSOLE_RXQ];
	struct iovec iov[VCON_MAX_IOV];
	struct virtq_req req;

	if (!c->active)
		return;
	while (c->in_count) {
		int ret = virtq_pop(q, &req, iov, VCON_MAX_IOV);
		size_t n = 0;

		if (!ret)
			break;
		if (ret == -EINVAL) {
			virtio_set_needs_reset(d);
			break;
		}
		/* -E2BIG or a buffer without writable part: returned empty. */
		if (ret > 0 && req.nr_in)
			n = vcon_copy_in(c, req.iov + req.nr_out, req.nr_in);
		virtq_push(q, req.head, (uint32_t)n);
		c->stats.rx_bytes += n;
		c->stats.rx_buffers++;
	}
	virtio_notify_queue(d, VIRTIO_CONSOLE_RXQ); /* nothing if nothing used */
}

/* Passes the guest's output on. tx_lock held. */
static void vcon_transmit(struct vcon *c)
{
	struct virtio_dev *d = &c->vdev;
	struct virtq *q = &d->vq[VIRTIO_CONSOLE_TXQ];
	struct iovec iov[VCON_MAX_IOV];
	struct virtq_req req;

	if (!c->active)
		return;
	for (;;) {
		int ret = virtq_pop(q, &req, iov, VCON_MAX_IOV);

		if (!ret)
			break;
		if (ret == -EINVAL) {
			virtio_set_needs_reset(d);
			break;
		}
		/* Writable buffers on transmitq carry nothing: ignored. */
		for (int i = 0; ret > 0 && i < req.nr_out; i++) {
			if (c->out)
				c->out(c->out_ctx, req.iov[i].iov_base,
				       req.iov[i].iov_len);
			c->stats.tx_bytes += req.iov[i].iov_len;
		}
		virtq_push(q, req.head, 0);
		c->stats.tx_buffers++;
	}
	virtio_notify_queue(d, VIRTIO_CONSOLE_TXQ); /* nothing if nothing used */
}

static uint64_t vcon_features(struct virtio_dev *d)
{
	struct vcon *c = to_vcon(d);

	return c->has_size ? 1ULL << VIRTIO_CONSOLE_F_SIZE : 0;
}

static void vcon_read_config(struct virtio_dev *d, uint32_t off, void *data, uint32_t len)
{
	struct vcon *c = to_vcon(d);
	struct virtio_console_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	pthread_mutex_lock(&c->lock);
	if (c->has_size) {
		cfg.cols = htole16(c->cols);
		cfg.rows = htole16(c->rows);
	}
	pthread_mutex_unlock(&c->lock);
	/* Only meaningful with MULTIPORT, but true all the same. */
	cfg.max_nr_ports = htole32(1);
	/* The transport checked off + len <= config_size (sizeof(cfg)). */
	memcpy(data, (const uint8_t *)&cfg + off, len);
}

static void vcon_write_config(struct virtio_dev *d, uint32_t off, const void *data,
			      uint32_t len)
{
	/* cols, rows and max_nr_ports are read-only; emerg_wr needs
	 * VIRTIO_CONSOLE_F_EMERG_WRITE, which is not offered. */
}

static int vcon_activate(struct virtio_dev *d)
{
	struct vcon *c = to_vcon(d);

	pthread_mutex_lock(&c->lock);
	pthread_mutex_lock(&c->tx_lock);
	c->active = true;
	pthread_mutex_unlock(&c->tx_lock);
	pthread_mutex_unlock(&c->lock);
	/* Buffered input waits for the driver's first kick of receiveq (or
	 * any kick, or more input): the transport may hold its own lock
	 * here, so no interrupt is sent from this path. */
	return 0;
}

static void vcon_queue_notify(struct virtio_dev *d, int q)
{
	struct vcon *c = to_vcon(d);

	if (q == VIRTIO_CONSOLE_TXQ) {
		pthread_mutex_lock(&c->tx_lock);
		vcon_transmit(c);
		pthread_mutex_unlock(&c->tx_lock);
	} else if (q != VIRTIO_CONSOLE_RXQ) {
		return;
	}
	/* Receive buffers may have been posted without a kick of their own
	 * reaching us (e.g. before DRIVER_OK): any kick is a chance. */
	pthread_mutex_lock(&c->lock);
	vcon_deliver(c);
	pthread_mutex_unlock(&c->lock);
}

static void vcon_reset(struct virtio_dev *d)
{
	struct vcon *c = to_vcon(d);

	pthread_mutex_lock(&c->lock);
	pthread_mutex_lock(&c->tx_lock);
	c->active = false;
	c->stats.rx_dropped += c->in_count;
	c->in_head = 0;
	c->in_count = 0;
	pthread_mutex_unlock(&c->tx_lock);
	pthread_mutex_unlock(&c->lock);
}

static void vcon_destroy(struct virtio_dev *d)
{
	struct vcon *c = to_vcon(d);

	pthread_mutex_destroy(&c->tx_lock);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static const struct virtio_dev_ops vcon_ops = {
	.features = vcon_features,
	.read_config = vcon_read_config,
	.write_config = vcon_write_config,
	.activate = vcon_activate,
	.queue_notify = vcon_queue_notify,
	.reset = vcon_reset,
	.destroy = vcon_destroy,
};

struct virtio_dev *virtio_console_create(void (*out)(void *ctx, const uint8_t *buf,
						     size_t len),
					 void *out_ctx, struct kb_err *err)
{
	struct vcon *c = calloc(1, sizeof(*c));
	struct winsize ws;

	if (!c) {
		kb_err_set(err, -ENOMEM, "virtio-console: out of memory");
		return NULL;
	}
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->tx_lock, NULL);
	c->out = out;
	c->out_ctx = out_ctx;
	if (isatty(STDOUT_FILENO) && !ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) &&
	    ws.ws_col && ws.ws_row) {
		c->has_size = true;
		c->cols = ws.ws_col;
		c->rows = ws.ws_row;
	}
	c->vdev.name = "virtio-console";
	c->vdev.device_id = VIRTIO_ID_CONSOLE;
	c->vdev.config_size = sizeof(struct virtio_console_config);
	c->vdev.nr_queues = 2;
	c->vdev.queue_max_size = VIRTIO_CONSOLE_QUEUE_SIZE;
	c->vdev.ops = &vcon_ops;
	c->vdev.priv = c;
	return &c->vdev;
}

size_t virtio_console_receive(struct virtio_dev *d, const uint8_t *buf, size_t len)
{
	struct vcon *c = to_vcon(d);
	size_t n, tail, first;

	pthread_mutex_lock(&c->lock);
	n = min_size(len, VIRTIO_CONSOLE_INBUF_SIZE - c->in_count);
	tail = (c->in_head + c->in_count) % VIRTIO_CONSOLE_INBUF_SIZE;
	first = min_size(n, VIRTIO_CONSOLE_INBUF_SIZE - tail);
	memcpy(c->inbuf + tail, buf, first);
	memcpy(c->inbuf, buf + first, n - first);
	c->in_count += n;
	vcon_deliver(c);
	pthread_mutex_unlock(&c->lock);
	return n;
}

size_t virtio_console_rx_space(struct virtio_dev *d)
{
	struct vcon *c = to_vcon(d);
	size_t room;

	pthread_mutex_lock(&c->lock);
	room = VIRTIO_CONSOLE_INBUF_SIZE - c->in_count;
	pthread_mutex_unlock(&c->lock);
	return room;
}

void virtio_console_set_size(struct virtio_dev *d, uint16_t cols, uint16_t rows)
{
	struct vcon *c = to_vcon(d);
	bool changed;

	pthread_mutex_lock(&c->lock);
	changed = c->has_size && (c->cols != cols || c->rows != rows);
	if (changed) {
		c->cols = cols;
		c->rows = rows;
		/* 5.3.6: a config change tells the driver to re-read them. */
		if (c->active && virtio_has_feature(d, VIRTIO_CONSOLE_F_SIZE))
			virtio_notify_config(d);
	}
	pthread_mutex_unlock(&c->lock);
}

void virtio_console_get_stats(struct virtio_dev *d, struct virtio_console_stats *st)
{
	struct vcon *c = to_vcon(d);

	pthread_mutex_lock(&c->lock);
	st->rx_bytes = c->stats.rx_bytes;
	st->rx_buffers = c->stats.rx_buffers;
	st->rx_dropped = c->stats.rx_dropped;
	pthread_mutex_unlock(&c->lock);
	pthread_mutex_lock(&c->tx_lock);
	st->tx_bytes = c->stats.tx_bytes;
	st->tx_buffers = c->stats.tx_buffers;
	pthread_mutex_unlock(&c->tx_lock);
}
