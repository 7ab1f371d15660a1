// SPDX-License-Identifier: GPL-2.0-only
/* The virtio-net tests' fixture: see virtio_net_fixture.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "virtio/net.h"
#include "virtio/queue.h"
#include "virtio/virtio.h"
#include "vm/event.h"
#include "vm/memory.h"

#include "virtio_net_fixture.h"

/* --- fake backend ----------------------------------------------------- */

static struct fake_be *to_fake(struct net_backend *b)
{
	return b->priv;
}

static int fb_send(struct net_backend *b, const struct iovec *iov, int iovcnt)
{
	struct fake_be *f = to_fake(b);
	size_t len = 0;

	for (int i = 0; i < iovcnt; i++) {
		assert_true(len + iov[i].iov_len <= sizeof(f->last));
		memcpy(f->last + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	f->last_len = len;
	atomic_fetch_add(&f->sent, 1);
	return f->send_ret;
}

static void fb_rx_ready(struct net_backend *b)
{
	atomic_fetch_add(&to_fake(b)->rx_ready, 1);
}

static int fb_start(struct net_backend *b, const struct net_peer *peer)
{
	struct fake_be *f = to_fake(b);

	assert_false(f->started);
	f->peer = *peer;
	f->started = true;
	f->starts++;
	return 0;
}

static void fb_stop(struct net_backend *b)
{
	struct fake_be *f = to_fake(b);

	assert_true(f->started);
	f->started = false;
	f->stops++;
}

static void fb_destroy(struct net_backend *b)
{
	to_fake(b)->destroys++;
}

const struct net_backend_ops fb_ops = {
	.send = fb_send,
	.rx_ready = fb_rx_ready,
	.start = fb_start,
	.stop = fb_stop,
	.destroy = fb_destroy,
};

/* Hands the device one frame as the backend would: header, then frame,
 * in two iovecs. */
bool fb_receive(struct t *t, const struct virtio_net_hdr_v1 *hdr, const uint8_t *frame,
		size_t len)
{
	struct iovec iov[2] = {
		{ .iov_base = (void *)hdr, .iov_len = HDR_LEN },
		{ .iov_base = (void *)frame, .iov_len = len },
	};

	assert_true(t->fb.started);
	return t->fb.peer.receive(t->fb.peer.ctx, iov, 2);
}

/* --- the driver ----------------------------------------------------- */

uint64_t buf(int i)
{
	return BUF_GPA + (uint64_t)i * 0x1000;
}

/* What the transport does at DRIVER_OK. */
void start_q(struct t *t, uint16_t rx_size, uint16_t tx_size, bool event_idx)
{
	fg_layout(&t->g, RXQ, rx_size);
	fg_layout(&t->g, TXQ, tx_size);
	fg_driver_ok(&t->g, t->d, event_idx, false);
}

/* Creates the device over a fake backend with @offloads; the driver takes
 * the offered features that are also in @want. */
void setup_ex(struct t *t, uint32_t offloads, uint64_t want, bool event_idx)
{
	static const uint8_t mac[6] = { 0x02, 0x6b, 0x62, 0x00, 0x00, 0x01 };
	struct kb_err err = { 0 };

	memset(t, 0, sizeof(*t));
	fg_init(&t->g, 16 * MiB);
	assert_int_equal(event_loop_init(&t->loop), 0);
	t->fb.be.ops = &fb_ops;
	t->fb.be.kind = "fake";
	strcpy(t->fb.be.desc, "fake backend");
	t->fb.be.offloads = offloads;
	t->fb.be.priv = &t->fb;
	t->d = virtio_net_create(&t->fb.be, mac, &t->loop, &err);
	assert_non_null(t->d);
	assert_int_equal(t->d->device_id, VIRTIO_ID_NET);
	assert_string_equal(t->d->name, "virtio-net");
	assert_int_equal(t->d->nr_queues, 2);
	assert_int_equal(t->d->queue_max_size, 256);
	assert_int_equal(t->d->config_size, sizeof(struct virtio_net_config));
	fg_attach(&t->g, t->d);
	t->d->features = (t->d->ops->features(t->d) & want) | F(VIRTIO_F_VERSION_1);
	start_q(t, 256, 256, event_idx);
	assert_true(t->fb.started);
}

void setup(struct t *t)
{
	setup_ex(t, 0, ~0ULL, false);
}

void teardown(struct t *t)
{
	t->d->ops->reset(t->d);
	assert_false(t->fb.started);
	t->d->ops->destroy(t->d);
	assert_int_equal(t->fb.destroys, 1);
	event_loop_destroy(&t->loop);
	fg_fini(&t->g);
}

/* One empty receive chain of @len bytes at descriptor/buffer @i. */
void post_rx(struct t *t, int i, uint32_t len)
{
	memset(fg_hva(&t->g, buf(i), len), 0xee, len);
	fg_put_desc(&t->g, RXQ, i, buf(i), len, VRING_DESC_F_WRITE, 0);
	fg_add_avail(&t->g, RXQ, i);
}

void fill_frame(uint8_t *f, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		f[i] = (uint8_t)(i * 31 + seed + (i >> 9));
}

struct virtio_net_stats stats(struct t *t)
{
	struct virtio_net_stats st;

	virtio_net_get_stats(t->d, &st);
	return st;
}
