// SPDX-License-Identifier: GPL-2.0-only
/*
 * virtio-net. The test plays the driver (descriptors and avail rings laid
 * out by hand in guest memory), the transport (queue setup, activate,
 * kicks, a transport_ops that counts interrupts) and the backend (a fake
 * that records what it is sent and calls the device's receive()).
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "net/backend.h"
#include "virtio/net.h"
#include "virtio/queue.h"
#include "virtio/virtio.h"
#include "vm/event.h"
#include "vm/memory.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

#define RXQ VIRTIO_NET_RXQ
#define TXQ VIRTIO_NET_TXQ
#define MAX_QSIZE 1024
/* Queue q's rings: desc at RING_GPA(q), avail +0x4000, used +0x8000. */
#define RING_GPA(q) (0x10000ULL + 0x10000ULL * (q))
#define AVAIL_GPA(q) (RING_GPA(q) + 0x4000)
#define USED_GPA(q) (RING_GPA(q) + 0x8000)
#define BUF_GPA 0x100000ULL /* buffer i at BUF_GPA + i * 0x1000 */
#define BIG_GPA 0x800000ULL /* 1 MiB scratch area for big buffers */
#define HDR_LEN 12

#define F(b) (1ULL << (b))
#define BASE_FEATURES \
	(F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) | F(VIRTIO_NET_F_MRG_RXBUF))

struct fake_be {
	struct net_backend be;
	struct net_peer peer;
	bool started;
	int starts, stops, destroys;
	atomic_int rx_ready;
	atomic_int sent;
	int send_ret;
	uint8_t last[NET_HDR_LEN + NET_MAX_FRAME];
	size_t last_len;
};

struct t {
	struct guest_mem m;
	struct event_loop loop;
	struct fake_be fb;
	struct virtio_dev *d;
	uint16_t qsize[2];
	uint16_t avail_idx[2];
	atomic_int notified[2];
	atomic_int config_changed;
	atomic_int needs_reset;
};

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

static const struct net_backend_ops fb_ops = {
	.send = fb_send,
	.rx_ready = fb_rx_ready,
	.start = fb_start,
	.stop = fb_stop,
	.destroy = fb_destroy,
};

/* Hands the device one frame as the backend would: header, then frame,
 * in two iovecs. */
static bool fb_receive(struct t *t, const struct virtio_net_hdr_v1 *hdr,
		       const uint8_t *frame, size_t len)
{
	struct iovec iov[2] = {
		{ .iov_base = (void *)hdr, .iov_len = HDR_LEN },
		{ .iov_base = (void *)frame, .iov_len = len },
	};

	assert_true(t->fb.started);
	return t->fb.peer.receive(t->fb.peer.ctx, iov, 2);
}

/* --- fake transport and driver --------------------------------------- */

static void tp_notify_queue(struct virtio_dev *d, int q)
{
	struct t *t = d->transport;

	assert_true(q == RXQ || q == TXQ);
	atomic_fetch_add(&t->notified[q], 1);
}

static void tp_notify_config(struct virtio_dev *d)
{
	struct t *t = d->transport;

	atomic_fetch_add(&t->config_changed, 1);
}

static void tp_needs_reset(struct virtio_dev *d)
{
	struct t *t = d->transport;

	atomic_fetch_add(&t->needs_reset, 1);
}

static const struct virtio_transport_ops test_transport = {
	.notify_queue = tp_notify_queue,
	.notify_config = tp_notify_config,
	.needs_reset = tp_needs_reset,
};

static uint64_t buf(int i)
{
	return BUF_GPA + (uint64_t)i * 0x1000;
}

static uint8_t *hva(struct t *t, uint64_t gpa, uint64_t len)
{
	uint8_t *p = guest_mem_ptr(&t->m, gpa, len);

	assert_non_null(p);
	return p;
}

/* What the transport does at DRIVER_OK. */
static void start_q(struct t *t, uint16_t rx_size, uint16_t tx_size, bool event_idx)
{
	uint16_t sizes[2] = { rx_size, tx_size };

	for (int i = 0; i < 2; i++) {
		struct virtq *q = &t->d->vq[i];

		virtq_reset(q);
		q->size = sizes[i];
		q->desc_gpa = RING_GPA(i);
		q->avail_gpa = AVAIL_GPA(i);
		q->used_gpa = USED_GPA(i);
		q->ready = true;
		assert_int_equal(virtq_start(q, &t->m, event_idx, false), 0);
		t->qsize[i] = sizes[i];
		t->avail_idx[i] = 0;
	}
	assert_int_equal(t->d->ops->activate(t->d), 0);
}

/* Creates the device over a fake backend with @offloads; the driver takes
 * the offered features that are also in @want. */
static void setup_ex(struct t *t, uint32_t offloads, uint64_t want, bool event_idx)
{
	static const uint8_t mac[6] = { 0x02, 0x6b, 0x62, 0x00, 0x00, 0x01 };
	struct kb_err err = { 0 };

	memset(t, 0, sizeof(*t));
	assert_int_equal(guest_mem_alloc(&t->m, 16 * MiB, 3 * GiB), 0);
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
	t->d->mem = &t->m;
	t->d->features = (t->d->ops->features(t->d) & want) | F(VIRTIO_F_VERSION_1);
	t->d->transport_ops = &test_transport;
	t->d->transport = t;
	start_q(t, 256, 256, event_idx);
	assert_true(t->fb.started);
}

static void setup(struct t *t)
{
	setup_ex(t, 0, ~0ULL, false);
}

static void teardown(struct t *t)
{
	t->d->ops->reset(t->d);
	assert_false(t->fb.started);
	t->d->ops->destroy(t->d);
	assert_int_equal(t->fb.destroys, 1);
	event_loop_destroy(&t->loop);
	guest_mem_free(&t->m);
}

static void put_desc(struct t *t, int q, int i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	struct vring_desc v = { .addr = addr, .len = len, .flags = flags, .next = next };

	assert_int_equal(guest_mem_write(&t->m, RING_GPA(q) + 16ULL * i, &v, sizeof(v)),
			 0);
}

static void add_avail_n(struct t *t, int q, const uint16_t *heads, int n)
{
	uint16_t idx = t->avail_idx[q];

	for (int i = 0; i < n; i++, idx++)
		assert_int_equal(
			guest_mem_write(&t->m, AVAIL_GPA(q) + 4 + 2 * (idx % t->qsize[q]),
					&heads[i], 2),
			0);
	t->avail_idx[q] = idx;
	__atomic_store_n((uint16_t *)hva(t, AVAIL_GPA(q) + 2, 2), idx, __ATOMIC_RELEASE);
}

static void add_avail(struct t *t, int q, uint16_t head)
{
	add_avail_n(t, q, &head, 1);
}

static uint16_t used_idx(struct t *t, int q)
{
	return __atomic_load_n((uint16_t *)hva(t, USED_GPA(q) + 2, 2), __ATOMIC_ACQUIRE);
}

static struct vring_used_elem used_elem(struct t *t, int q, uint16_t k)
{
	struct vring_used_elem e;

	assert_int_equal(guest_mem_read(&t->m, USED_GPA(q) + 4 + 8 * (k % t->qsize[q]),
					&e, sizeof(e)),
			 0);
	return e;
}

static void expect_used(struct t *t, int q, uint16_t k, uint32_t id, uint32_t len)
{
	struct vring_used_elem e = used_elem(t, q, k);

	assert_int_equal(e.id, id);
	assert_int_equal(e.len, len);
}

/* One empty receive chain of @len bytes at descriptor/buffer @i. */
static void post_rx(struct t *t, int i, uint32_t len)
{
	memset(hva(t, buf(i), len), 0xee, len);
	put_desc(t, RXQ, i, buf(i), len, VRING_DESC_F_WRITE, 0);
	add_avail(t, RXQ, i);
}

static void kick(struct t *t, int q)
{
	t->d->ops->queue_notify(t->d, q);
}

static void fill_frame(uint8_t *f, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		f[i] = (uint8_t)(i * 31 + seed + (i >> 9));
}

static struct virtio_net_stats stats(struct t *t)
{
	struct virtio_net_stats st;

	virtio_net_get_stats(t->d, &st);
	return st;
}

/* --- features and config --------------------------------------------- */

static uint64_t offered(uint32_t offloads)
{
	struct t t;
	uint64_t f;

	setup_ex(&t, offloads, ~0ULL, false);
	f = t.d->ops->features(t.d);
	teardown(&t);
	return f;
}

static void test_features(void **state)
{
	uint64_t csum = F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GUEST_CSUM);
	uint64_t tso4 = F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_GUEST_TSO4);
	uint64_t tso6 = F(VIRTIO_NET_F_HOST_TSO6) | F(VIRTIO_NET_F_GUEST_TSO6);
	uint64_t ecn = F(VIRTIO_NET_F_HOST_ECN) | F(VIRTIO_NET_F_GUEST_ECN);
	uint64_t ufo = F(VIRTIO_NET_F_HOST_UFO) | F(VIRTIO_NET_F_GUEST_UFO);
	uint32_t all = NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4 | NET_OFFLOAD_TSO6 |
		       NET_OFFLOAD_ECN | NET_OFFLOAD_UFO;

	assert_int_equal(offered(0), BASE_FEATURES);
	assert_int_equal(offered(NET_OFFLOAD_CSUM), BASE_FEATURES | csum);
	assert_int_equal(offered(NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4),
			 BASE_FEATURES | csum | tso4);
	assert_int_equal(offered(all), BASE_FEATURES | csum | tso4 | tso6 | ecn | ufo);
	/* Offloads without checksums, ECN without TSO: not offered. */
	assert_int_equal(offered(all & ~NET_OFFLOAD_CSUM), BASE_FEATURES);
	assert_int_equal(offered(NET_OFFLOAD_CSUM | NET_OFFLOAD_ECN),
			 BASE_FEATURES | csum);
	assert_int_equal(offered(NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO6 | NET_OFFLOAD_ECN),
			 BASE_FEATURES | csum | tso6 | ecn);
	/* Never a control queue, multiqueue or anything else. */
	assert_false(offered(all) & (F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_MQ) |
				     F(VIRTIO_NET_F_MTU) | F(VIRTIO_F_VERSION_1)));
}

static void test_config(void **state)
{
	struct virtio_net_config cfg;
	uint8_t b[4];
	struct t t;

	setup(&t);
	t.d->ops->read_config(t.d, 0, &cfg, sizeof(cfg));
	assert_memory_equal(cfg.mac, "\x02\x6b\x62\x00\x00\x01", 6);
	assert_int_equal(le16toh(cfg.status), VIRTIO_NET_S_LINK_UP);
	assert_int_equal(le16toh(cfg.max_virtqueue_pairs), 1);
	assert_int_equal(cfg.mtu, 0);
	/* Writes are ignored; partial reads work. */
	t.d->ops->write_config(t.d, 0, "\xff\xff\xff\xff", 4);
	t.d->ops->read_config(t.d, 4, b, 4);
	assert_memory_equal(b, "\x00\x01\x01\x00", 4);

	/* Link down: a config change for a driver with F_STATUS. */
	virtio_net_set_link(t.d, false);
	assert_int_equal(atomic_load(&t.config_changed), 1);
	t.d->ops->read_config(t.d, 6, b, 2);
	assert_int_equal(b[0] | b[1], 0);
	virtio_net_set_link(t.d, false);
	assert_int_equal(atomic_load(&t.config_changed), 1);
	virtio_net_set_link(t.d, true);
	assert_int_equal(atomic_load(&t.config_changed), 2);
	t.d->ops->read_config(t.d, 6, b, 2);
	assert_int_equal(b[0], VIRTIO_NET_S_LINK_UP);

	/* A driver without F_STATUS: no interrupt. */
	t.d->ops->reset(t.d);
	t.d->features &= ~F(VIRTIO_NET_F_STATUS);
	start_q(&t, 256, 256, false);
	virtio_net_set_link(t.d, false);
	assert_int_equal(atomic_load(&t.config_changed), 2);
	virtio_net_set_link(t.d, true);
	teardown(&t);
}

/* --- transmit -------------------------------------------------------- */

static void test_tx_two_descriptors(void **state)
{
	struct virtio_net_hdr_v1 hdr = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
					 .csum_start = htole16(34),
					 .csum_offset = htole16(6) };
	uint8_t frame[1514];
	struct virtio_net_stats st;
	struct t t;

	setup(&t);
	fill_frame(frame, sizeof(frame), 1);
	memcpy(hva(&t, buf(3), HDR_LEN), &hdr, HDR_LEN);
	memcpy(hva(&t, buf(7), sizeof(frame)), frame, sizeof(frame));
	put_desc(&t, TXQ, 3, buf(3), HDR_LEN, VRING_DESC_F_NEXT, 7);
	put_desc(&t, TXQ, 7, buf(7), sizeof(frame), 0, 0);
	add_avail(&t, TXQ, 3);
	kick(&t, TXQ);

	assert_int_equal(atomic_load(&t.fb.sent), 1);
	assert_int_equal(t.fb.last_len, HDR_LEN + sizeof(frame));
	assert_memory_equal(t.fb.last, &hdr, HDR_LEN);
	assert_memory_equal(t.fb.last + HDR_LEN, frame, sizeof(frame));
	assert_int_equal(used_idx(&t, TXQ), 1);
	expect_used(&t, TXQ, 0, 3, 0);
	assert_int_equal(atomic_load(&t.notified[TXQ]), 1);
	assert_int_equal(atomic_load(&t.notified[RXQ]), 0);
	st = stats(&t);
	assert_int_equal(st.tx_frames, 1);
	assert_int_equal(st.tx_bytes, sizeof(frame));
	assert_int_equal(st.tx_errors + st.tx_dropped + st.rx_frames, 0);

	/* Nothing new: nothing more. */
	kick(&t, TXQ);
	assert_int_equal(atomic_load(&t.fb.sent), 1);

	/* A backend failure is a drop; the chain is still returned. */
	t.fb.send_ret = -EIO;
	add_avail(&t, TXQ, 3);
	kick(&t, TXQ);
	assert_int_equal(used_idx(&t, TXQ), 2);
	assert_int_equal(stats(&t).tx_dropped, 1);
	teardown(&t);
}

static void test_tx_bad_chains(void **state)
{
	uint8_t frame[60];
	struct virtio_net_stats st;
	struct t t;

	setup(&t);
	fill_frame(frame, sizeof(frame), 2);
	/* Shorter than the header. */
	put_desc(&t, TXQ, 0, buf(0), 8, 0, 0);
	/* Writable only. */
	put_desc(&t, TXQ, 1, buf(1), 1500, VRING_DESC_F_WRITE, 0);
	/* Longer than header + the largest frame. */
	put_desc(&t, TXQ, 2, BIG_GPA, NET_HDR_LEN + NET_MAX_FRAME + 1, 0, 0);
	/* Then a good one. */
	memset(hva(&t, buf(4), HDR_LEN), 0, HDR_LEN);
	memcpy(hva(&t, buf(4) + HDR_LEN, sizeof(frame)), frame, sizeof(frame));
	put_desc(&t, TXQ, 4, buf(4), HDR_LEN + sizeof(frame), 0, 0);
	add_avail_n(&t, TXQ, (const uint16_t[]){ 0, 1, 2, 4 }, 4);
	kick(&t, TXQ);

	assert_int_equal(used_idx(&t, TXQ), 4);
	for (int i = 0; i < 4; i++)
		expect_used(&t, TXQ, i, i == 3 ? 4 : i, 0);
	assert_int_equal(atomic_load(&t.fb.sent), 1);
	assert_int_equal(t.fb.last_len, HDR_LEN + sizeof(frame));
	assert_memory_equal(t.fb.last + HDR_LEN, frame, sizeof(frame));
	st = stats(&t);
	assert_int_equal(st.tx_errors, 3);
	assert_int_equal(st.tx_frames, 1);
	assert_int_equal(atomic_load(&t.needs_reset), 0);

	/* Exactly the largest frame goes through. */
	put_desc(&t, TXQ, 2, BIG_GPA, NET_HDR_LEN + NET_MAX_FRAME, 0, 0);
	add_avail(&t, TXQ, 2);
	kick(&t, TXQ);
	assert_int_equal(atomic_load(&t.fb.sent), 2);
	assert_int_equal(t.fb.last_len, NET_HDR_LEN + NET_MAX_FRAME);
	teardown(&t);
}

static void wait_used(struct t *t, int q, uint16_t want)
{
	for (int i = 0; i < 5000 && used_idx(t, q) != want; i++) {
		struct timespec ts = { 0, 1000000 };

		nanosleep(&ts, NULL);
	}
	assert_int_equal(used_idx(t, q), want);
}

/* A guest flooding transmitq: one kick takes a budget's worth, the rest
 * is done from the event loop, in later handler runs. */
static void test_tx_budget(void **state)
{
	static uint16_t heads[1000];
	uint8_t frame[48];
	struct t t;

	setup(&t);
	t.d->ops->reset(t.d);
	start_q(&t, 256, MAX_QSIZE, false);
	fill_frame(frame, sizeof(frame), 3);
	for (int i = 0; i < 64; i++) {
		memset(hva(&t, buf(i), HDR_LEN), 0, HDR_LEN);
		memcpy(hva(&t, buf(i) + HDR_LEN, sizeof(frame)), frame, sizeof(frame));
	}
	for (int i = 0; i < 1000; i++) {
		put_desc(&t, TXQ, i, buf(i % 64), HDR_LEN + sizeof(frame), 0, 0);
		heads[i] = i;
	}
	add_avail_n(&t, TXQ, heads, 1000);

	/* The loop is not running yet: the kick stops at its budget. */
	kick(&t, TXQ);
	assert_int_equal(used_idx(&t, TXQ), VIRTIO_NET_TX_BUDGET);
	assert_int_equal(atomic_load(&t.fb.sent), VIRTIO_NET_TX_BUDGET);
	assert_int_equal(atomic_load(&t.notified[TXQ]), 1);
	/* Notifications stay off while the device has work queued. */
	assert_int_equal(*(uint16_t *)hva(&t, USED_GPA(TXQ), 2), VRING_USED_F_NO_NOTIFY);

	assert_int_equal(event_loop_start(&t.loop), 0);
	wait_used(&t, TXQ, 1000);
	assert_int_equal(atomic_load(&t.fb.sent), 1000);
	for (int i = 0; i < 1000; i++)
		expect_used(&t, TXQ, i, i, 0);
	event_loop_sync(&t.loop);
	assert_true(atomic_load(&t.notified[TXQ]) >= 4);
	assert_int_equal(stats(&t).tx_frames, 1000);
	/* Done: the driver is asked to kick again. */
	assert_int_equal(*(uint16_t *)hva(&t, USED_GPA(TXQ), 2), 0);

	/* And a kick works as before. */
	add_avail(&t, TXQ, 5);
	kick(&t, TXQ);
	assert_int_equal(used_idx(&t, TXQ), 1001);
	teardown(&t);
}

/* --- receive --------------------------------------------------------- */

static void test_rx_mergeable(void **state)
{
	struct virtio_net_hdr_v1 hdr = { 0 }, got;
	uint8_t frame[1500], out[1512];
	struct virtio_net_stats st;
	struct t t;
	size_t o = 0;

	setup(&t);
	for (int i = 0; i < 8; i++)
		post_rx(&t, i, 512);
	kick(&t, RXQ);
	assert_int_equal(atomic_load(&t.fb.rx_ready), 0);
	fill_frame(frame, sizeof(frame), 4);
	assert_true(fb_receive(&t, &hdr, frame, sizeof(frame)));

	assert_int_equal(used_idx(&t, RXQ), 3);
	expect_used(&t, RXQ, 0, 0, 512);
	expect_used(&t, RXQ, 1, 1, 512);
	expect_used(&t, RXQ, 2, 2, 1512 - 1024);
	for (int i = 0; i < 3; i++, o += 512)
		memcpy(out + o, hva(&t, buf(i), 512), i < 2 ? 512 : 1512 - 1024);
	memcpy(&got, out, HDR_LEN);
	assert_int_equal(le16toh(got.num_buffers), 3);
	assert_int_equal(got.flags | got.gso_type | got.hdr_len | got.gso_size, 0);
	assert_memory_equal(out + HDR_LEN, frame, sizeof(frame));
	/* Nothing past the frame was written. */
	assert_int_equal(hva(&t, buf(2), 512)[1512 - 1024], 0xee);
	assert_int_equal(atomic_load(&t.notified[RXQ]), 1);

	/* A small frame takes one buffer. */
	assert_true(fb_receive(&t, &hdr, frame, 60));
	assert_int_equal(used_idx(&t, RXQ), 4);
	expect_used(&t, RXQ, 3, 3, HDR_LEN + 60);
	assert_int_equal(le16toh(((struct virtio_net_hdr_v1 *)hva(&t, buf(3), HDR_LEN))
					 ->num_buffers),
			 1);
	st = stats(&t);
	assert_int_equal(st.rx_frames, 2);
	assert_int_equal(st.rx_bytes, 1560);
	assert_int_equal(st.rx_dropped + st.rx_errors, 0);

	/* Runts and giants from the backend are dropped. */
	assert_true(fb_receive(&t, &hdr, frame, 13));
	assert_int_equal(used_idx(&t, RXQ), 4);
	assert_int_equal(stats(&t).rx_dropped, 1);
	teardown(&t);
}

static void test_rx_no_buffers(void **state)
{
	struct virtio_net_hdr_v1 hdr = { 0 };
	uint8_t frame[1500];
	struct t t;

	setup_ex(&t, 0, ~0ULL, true);
	fill_frame(frame, sizeof(frame), 5);
	assert_false(fb_receive(&t, &hdr, frame, sizeof(frame)));
	/* The device asked for a kick at the next buffer (avail_event). */
	assert_int_equal(*(uint16_t *)hva(&t, USED_GPA(RXQ) + 4 + 8 * 256, 2), 0);

	/* One buffer is not enough for 1512 bytes: put back, refused. */
	post_rx(&t, 0, 512);
	kick(&t, RXQ);
	assert_int_equal(atomic_load(&t.fb.rx_ready), 1);
	assert_false(fb_receive(&t, &hdr, frame, sizeof(frame)));
	assert_int_equal(used_idx(&t, RXQ), 0);
	assert_int_equal(t.d->vq[RXQ].last_avail, 0);
	assert_int_equal(*(uint16_t *)hva(&t, USED_GPA(RXQ) + 4 + 8 * 256, 2), 1);

	/* A kick while the backend is not waiting does nothing. */
	post_rx(&t, 1, 512);
	kick(&t, RXQ);
	assert_int_equal(atomic_load(&t.fb.rx_ready), 2);
	kick(&t, RXQ);
	assert_int_equal(atomic_load(&t.fb.rx_ready), 2);
	assert_false(fb_receive(&t, &hdr, frame, sizeof(frame)));
	post_rx(&t, 2, 512);
	kick(&t, RXQ);
	assert_int_equal(atomic_load(&t.fb.rx_ready), 3);

	/* Now it fits, in the buffers in the order they were posted. */
	assert_true(fb_receive(&t, &hdr, frame, sizeof(frame)));
	assert_int_equal(used_idx(&t, RXQ), 3);
	expect_used(&t, RXQ, 0, 0, 512);
	expect_used(&t, RXQ, 1, 1, 512);
	expect_used(&t, RXQ, 2, 2, 488);
	assert_int_equal(hva(&t, buf(0), HDR_LEN)[10], 3);
	assert_memory_equal(hva(&t, buf(0), 512) + HDR_LEN, frame, 500);
	assert_memory_equal(hva(&t, buf(1), 512), frame + 500, 512);
	assert_memory_equal(hva(&t, buf(2), 488), frame + 1012, 488);
	assert_int_equal(stats(&t).rx_frames, 1);
	assert_int_equal(stats(&t).rx_dropped, 0);
	teardown(&t);
}

static void test_rx_gso_64k(void **state)
{
	static uint8_t frame[NET_MAX_FRAME], out[NET_HDR_LEN + NET_MAX_FRAME];
	struct virtio_net_hdr_v1 hdr = {
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		.gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
		.hdr_len = htole16(54),
		.gso_size = htole16(1448),
		.csum_start = htole16(34),
		.csum_offset = htole16(16),
	};
	struct virtio_net_hdr_v1 got;
	size_t total = NET_HDR_LEN + NET_MAX_FRAME, o = 0;
	int nbufs = (int)((total + 4095) / 4096);
	struct t t;

	setup_ex(&t, NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4, ~0ULL, false);
	fill_frame(frame, sizeof(frame), 6);
	for (int i = 0; i < 20; i++)
		post_rx(&t, i, 4096);
	assert_true(fb_receive(&t, &hdr, frame, sizeof(frame)));
	assert_int_equal(nbufs, 17);
	assert_int_equal(used_idx(&t, RXQ), nbufs);
	for (int i = 0; i < nbufs; i++) {
		uint32_t len = i < nbufs - 1 ? 4096 : (uint32_t)(total - o);

		expect_used(&t, RXQ, i, i, len);
		memcpy(out + o, hva(&t, buf(i), len), len);
		o += len;
	}
	assert_int_equal(o, total);
	memcpy(&got, out, HDR_LEN);
	assert_int_equal(le16toh(got.num_buffers), nbufs);
	got.num_buffers = 0;
	assert_memory_equal(&got, &hdr, HDR_LEN);
	assert_memory_equal(out + HDR_LEN, frame, sizeof(frame));
	assert_int_equal(stats(&t).rx_bytes, NET_MAX_FRAME);
	teardown(&t);

	/* The same frame for a driver that did not take GUEST_TSO4. */
	setup_ex(&t, NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4, ~F(VIRTIO_NET_F_GUEST_TSO4),
		 false);
	for (int i = 0; i < 20; i++)
		post_rx(&t, i, 4096);
	assert_true(fb_receive(&t, &hdr, frame, sizeof(frame)));
	assert_int_equal(used_idx(&t, RXQ), 0);
	assert_int_equal(stats(&t).rx_dropped, 1);
	/* ECN without GUEST_ECN, an unknown GSO type: dropped too. */
	hdr.gso_type = VIRTIO_NET_HDR_GSO_ECN;
	assert_true(fb_receive(&t, &hdr, frame, 100));
	hdr.gso_type = 2;
	assert_true(fb_receive(&t, &hdr, frame, 100));
	assert_int_equal(used_idx(&t, RXQ), 0);
	assert_int_equal(stats(&t).rx_dropped, 3);
	teardown(&t);
}

/* Without MRG_RXBUF: one chain per frame; one too small is left alone. */
static void test_rx_single(void **state)
{
	struct virtio_net_hdr_v1 hdr = { 0 };
	uint8_t frame[1500];
	struct virtio_net_stats st;
	struct t t;

	setup_ex(&t, 0, ~F(VIRTIO_NET_F_MRG_RXBUF), false);
	fill_frame(frame, sizeof(frame), 7);
	post_rx(&t, 0, 256);
	assert_true(fb_receive(&t, &hdr, frame, sizeof(frame)));
	assert_int_equal(used_idx(&t, RXQ), 0);
	st = stats(&t);
	assert_int_equal(st.rx_dropped, 1);
	assert_int_equal(st.rx_frames, 0);

	/* The chain was not used up: a small frame goes into it. */
	assert_true(fb_receive(&t, &hdr, frame, 200));
	assert_int_equal(used_idx(&t, RXQ), 1);
	expect_used(&t, RXQ, 0, 0, HDR_LEN + 200);
	assert_int_equal(hva(&t, buf(0), HDR_LEN)[10], 1);
	assert_memory_equal(hva(&t, buf(0), 256) + HDR_LEN, frame, 200);

	/* A chain of three writable buffers holds a full frame. */
	put_desc(&t, RXQ, 1, buf(1), HDR_LEN, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
	put_desc(&t, RXQ, 2, buf(2), 1000, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 3);
	put_desc(&t, RXQ, 3, buf(3), 1000, VRING_DESC_F_WRITE, 0);
	add_avail(&t, RXQ, 1);
	assert_true(fb_receive(&t, &hdr, frame, sizeof(frame)));
	assert_int_equal(used_idx(&t, RXQ), 2);
	expect_used(&t, RXQ, 1, 1, HDR_LEN + sizeof(frame));
	assert_memory_equal(hva(&t, buf(2), 1000), frame, 1000);
	assert_memory_equal(hva(&t, buf(3), 500), frame + 1000, 500);

	/* None left: refused, kept by the backend. */
	assert_false(fb_receive(&t, &hdr, frame, 100));
	st = stats(&t);
	assert_int_equal(st.rx_frames, 2);
	assert_int_equal(st.rx_dropped, 1);
	teardown(&t);
}

/* A partial checksum for a driver without GUEST_CSUM is completed. */
static void test_rx_csum_fallback(void **state)
{
	struct virtio_net_hdr_v1 hdr = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM |
						  VIRTIO_NET_HDR_F_DATA_VALID,
					 .csum_start = htole16(34),
					 .csum_offset = htole16(6) };
	struct virtio_net_hdr_v1 got;
	uint8_t frame[301];
	uint32_t sum = 0;
	const uint8_t *p;
	struct t t;

	setup_ex(&t, NET_OFFLOAD_CSUM, ~F(VIRTIO_NET_F_GUEST_CSUM), false);
	fill_frame(frame, sizeof(frame), 8);
	post_rx(&t, 0, 2048);
	assert_true(fb_receive(&t, &hdr, frame, sizeof(frame)));
	assert_int_equal(used_idx(&t, RXQ), 1);
	expect_used(&t, RXQ, 0, 0, HDR_LEN + sizeof(frame));
	memcpy(&got, hva(&t, buf(0), HDR_LEN), HDR_LEN);
	assert_int_equal(got.flags, 0);
	p = hva(&t, buf(0), 2048) + HDR_LEN;
	/* Everything but the checksum field is as sent. */
	assert_memory_equal(p, frame, 40);
	assert_memory_equal(p + 42, frame + 42, sizeof(frame) - 42);
	/*
	 * The field held the pseudo-header sum; the receiver adds that to
	 * the covered range (field included) and must get all ones.
	 */
	sum = (uint32_t)frame[40] << 8 | frame[41];
	for (size_t i = 34; i < sizeof(frame); i += 2)
		sum += (uint32_t)p[i] << 8 | (i + 1 < sizeof(frame) ? p[i + 1] : 0);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	assert_int_equal(sum, 0xffff);

	/* Offsets outside the frame: dropped. */
	hdr.csum_start = htole16(300);
	assert_true(fb_receive(&t, &hdr, frame, sizeof(frame)));
	assert_int_equal(used_idx(&t, RXQ), 1);
	assert_int_equal(stats(&t).rx_dropped, 1);
	teardown(&t);
}

/* --- a hostile driver ------------------------------------------------ */

static void test_hostile(void **state)
{
	struct virtio_net_hdr_v1 hdr = { 0 };
	uint8_t frame[100];
	struct virtio_net_stats st;
	struct t t;

	setup(&t);
	fill_frame(frame, sizeof(frame), 9);
	/* A first buffer smaller than the header: returned empty, the frame
	 * dropped. */
	post_rx(&t, 0, 8);
	assert_true(fb_receive(&t, &hdr, frame, sizeof(frame)));
	assert_int_equal(used_idx(&t, RXQ), 1);
	expect_used(&t, RXQ, 0, 0, 0);
	/* A readable-only one mid-frame: it and those before go back empty. */
	post_rx(&t, 1, 64);
	put_desc(&t, RXQ, 2, buf(2), 64, 0, 0);
	add_avail(&t, RXQ, 2);
	assert_true(fb_receive(&t, &hdr, frame, sizeof(frame)));
	assert_int_equal(used_idx(&t, RXQ), 3);
	expect_used(&t, RXQ, 1, 1, 0);
	expect_used(&t, RXQ, 2, 2, 0);
	st = stats(&t);
	assert_int_equal(st.rx_errors, 2);
	assert_int_equal(st.rx_dropped, 2);
	assert_int_equal(atomic_load(&t.needs_reset), 0);

	/* A receive buffer outside guest RAM: broken queue, no crash. */
	put_desc(&t, RXQ, 3, 0x7fff00000000ULL, 4096, VRING_DESC_F_WRITE, 0);
	add_avail(&t, RXQ, 3);
	assert_true(fb_receive(&t, &hdr, frame, sizeof(frame)));
	assert_int_equal(atomic_load(&t.needs_reset), 1);
	assert_true(t.d->vq[RXQ].broken);
	assert_true(fb_receive(&t, &hdr, frame, sizeof(frame)));
	assert_int_equal(used_idx(&t, RXQ), 3);
	assert_int_equal(atomic_load(&t.needs_reset), 1);
	assert_int_equal(stats(&t).rx_dropped, 4);
	kick(&t, RXQ);

	/* Same on transmit: a descriptor past the end of RAM, then a bogus
	 * avail index. */
	put_desc(&t, TXQ, 0, 16 * MiB - 8, 64, 0, 0);
	add_avail(&t, TXQ, 0);
	kick(&t, TXQ);
	assert_int_equal(atomic_load(&t.needs_reset), 2);
	assert_int_equal(used_idx(&t, TXQ), 0);
	assert_int_equal(atomic_load(&t.fb.sent), 0);
	kick(&t, TXQ);
	assert_int_equal(atomic_load(&t.needs_reset), 2);

	/* The driver resets; everything works again. */
	t.d->ops->reset(t.d);
	start_q(&t, 256, 256, false);
	post_rx(&t, 0, 512);
	assert_true(fb_receive(&t, &hdr, frame, sizeof(frame)));
	assert_int_equal(used_idx(&t, RXQ), 1);
	{
		uint16_t bogus = 1000;

		assert_int_equal(guest_mem_write(&t.m, AVAIL_GPA(TXQ) + 2, &bogus, 2), 0);
	}
	kick(&t, TXQ);
	assert_int_equal(atomic_load(&t.needs_reset), 3);
	teardown(&t);
}

/* --- lifecycle ------------------------------------------------------- */

static void test_reset_reactivate(void **state)
{
	struct virtio_net_hdr_v1 hdr = { 0 };
	uint8_t frame[64];
	struct t t;

	setup(&t);
	assert_int_equal(t.fb.starts, 1);
	fill_frame(frame, sizeof(frame), 10);
	/* Refused for lack of buffers before the reset... */
	assert_false(fb_receive(&t, &hdr, frame, sizeof(frame)));
	t.d->ops->reset(t.d);
	assert_int_equal(t.fb.stops, 1);
	assert_false(t.fb.started);

	/* A reset device ignores kicks and does not transmit. */
	put_desc(&t, TXQ, 0, buf(0), HDR_LEN + 64, 0, 0);
	add_avail(&t, TXQ, 0);
	kick(&t, TXQ);
	kick(&t, RXQ);
	assert_int_equal(used_idx(&t, TXQ), 0);
	assert_int_equal(atomic_load(&t.fb.sent), 0);
	assert_int_equal(atomic_load(&t.fb.rx_ready), 0);

	/* ...and asked for again once a new driver posts buffers. */
	start_q(&t, 256, 256, false);
	assert_int_equal(t.fb.starts, 2);
	post_rx(&t, 0, 512);
	kick(&t, RXQ);
	assert_int_equal(atomic_load(&t.fb.rx_ready), 1);
	assert_true(fb_receive(&t, &hdr, frame, sizeof(frame)));
	assert_int_equal(used_idx(&t, RXQ), 1);

	/* Link down: frames are dropped both ways, chains still returned. */
	virtio_net_set_link(t.d, false);
	post_rx(&t, 1, 512);
	assert_true(fb_receive(&t, &hdr, frame, sizeof(frame)));
	assert_int_equal(used_idx(&t, RXQ), 1);
	put_desc(&t, TXQ, 0, buf(0), HDR_LEN + 64, 0, 0);
	add_avail(&t, TXQ, 0);
	kick(&t, TXQ);
	assert_int_equal(used_idx(&t, TXQ), 1);
	assert_int_equal(atomic_load(&t.fb.sent), 0);
	assert_int_equal(stats(&t).tx_dropped, 1);
	assert_int_equal(stats(&t).rx_dropped, 1);
	teardown(&t);
}

/* Destroy without a reset first, with the loop running. */
static void test_destroy_active(void **state)
{
	struct t t;

	setup(&t);
	assert_int_equal(event_loop_start(&t.loop), 0);
	t.d->ops->destroy(t.d);
	assert_int_equal(t.fb.stops, 1);
	assert_int_equal(t.fb.destroys, 1);
	event_loop_destroy(&t.loop);
	guest_mem_free(&t.m);
}

/* Creation failure still disposes of the backend. */
static void test_create_fail(void **state)
{
	struct fake_be fb = { .be.ops = &fb_ops };
	struct kb_err err = { 0 };

	fb.be.priv = &fb;
	assert_null(
		virtio_net_create(&fb.be, (const uint8_t *)"\2\0\0\0\0\1", NULL, &err));
	assert_int_equal(err.code, -EINVAL);
	assert_int_equal(fb.destroys, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_features),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_tx_two_descriptors),
		cmocka_unit_test(test_tx_bad_chains),
		cmocka_unit_test(test_tx_budget),
		cmocka_unit_test(test_rx_mergeable),
		cmocka_unit_test(test_rx_no_buffers),
		cmocka_unit_test(test_rx_gso_64k),
		cmocka_unit_test(test_rx_single),
		cmocka_unit_test(test_rx_csum_fallback),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_reset_reactivate),
		cmocka_unit_test(test_destroy_active),
		cmocka_unit_test(test_create_fail),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
