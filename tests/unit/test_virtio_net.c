// SPDX-License-Identifier: GPL-2.0-only
/*
 * virtio-net: features, config, transmit, a hostile driver, lifecycle.
 * Receive is in test_virtio_net_rx.c; the fixture in virtio_net_fixture.h.
 */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "virtio_net_fixture.h"

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
	assert_int_equal(atomic_load(&t.g.config_changed), 1);
	t.d->ops->read_config(t.d, 6, b, 2);
	assert_int_equal(b[0] | b[1], 0);
	virtio_net_set_link(t.d, false);
	assert_int_equal(atomic_load(&t.g.config_changed), 1);
	virtio_net_set_link(t.d, true);
	assert_int_equal(atomic_load(&t.g.config_changed), 2);
	t.d->ops->read_config(t.d, 6, b, 2);
	assert_int_equal(b[0], VIRTIO_NET_S_LINK_UP);

	/* A driver without F_STATUS: no interrupt. */
	t.d->ops->reset(t.d);
	t.d->features &= ~F(VIRTIO_NET_F_STATUS);
	start_q(&t, 256, 256, false);
	virtio_net_set_link(t.d, false);
	assert_int_equal(atomic_load(&t.g.config_changed), 2);
	virtio_net_set_link(t.d, true);
	assert_int_equal(atomic_load(&t.g.config_changed), 2);
	t.d->ops->read_config(t.d, 6, b, 2);
	assert_int_equal(b[0], VIRTIO_NET_S_LINK_UP);
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
	memcpy(fg_hva(&t.g, buf(3), HDR_LEN), &hdr, HDR_LEN);
	memcpy(fg_hva(&t.g, buf(7), sizeof(frame)), frame, sizeof(frame));
	fg_put_desc(&t.g, TXQ, 3, buf(3), HDR_LEN, VRING_DESC_F_NEXT, 7);
	fg_put_desc(&t.g, TXQ, 7, buf(7), sizeof(frame), 0, 0);
	fg_add_avail(&t.g, TXQ, 3);
	fg_kick(t.d, TXQ);

	assert_int_equal(atomic_load(&t.fb.sent), 1);
	assert_int_equal(t.fb.last_len, HDR_LEN + sizeof(frame));
	assert_memory_equal(t.fb.last, &hdr, HDR_LEN);
	assert_memory_equal(t.fb.last + HDR_LEN, frame, sizeof(frame));
	assert_int_equal(fg_used_idx(&t.g, TXQ), 1);
	fg_expect_used(&t.g, TXQ, 0, 3, 0);
	assert_int_equal(atomic_load(&t.g.notified[TXQ]), 1);
	assert_int_equal(atomic_load(&t.g.notified[RXQ]), 0);
	st = stats(&t);
	assert_int_equal(st.tx_frames, 1);
	assert_int_equal(st.tx_bytes, sizeof(frame));
	assert_int_equal(st.tx_errors + st.tx_dropped + st.rx_frames, 0);

	/* Nothing new: nothing more. */
	fg_kick(t.d, TXQ);
	assert_int_equal(atomic_load(&t.fb.sent), 1);

	/* A backend failure is a drop; the chain is still returned. */
	t.fb.send_ret = -EIO;
	fg_add_avail(&t.g, TXQ, 3);
	fg_kick(t.d, TXQ);
	assert_int_equal(fg_used_idx(&t.g, TXQ), 2);
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
	fg_put_desc(&t.g, TXQ, 0, buf(0), 8, 0, 0);
	/* Writable only. */
	fg_put_desc(&t.g, TXQ, 1, buf(1), 1500, VRING_DESC_F_WRITE, 0);
	/* Longer than header + the largest frame. */
	fg_put_desc(&t.g, TXQ, 2, BIG_GPA, NET_HDR_LEN + NET_MAX_FRAME + 1, 0, 0);
	/* Then a good one. */
	memset(fg_hva(&t.g, buf(4), HDR_LEN), 0, HDR_LEN);
	memcpy(fg_hva(&t.g, buf(4) + HDR_LEN, sizeof(frame)), frame, sizeof(frame));
	fg_put_desc(&t.g, TXQ, 4, buf(4), HDR_LEN + sizeof(frame), 0, 0);
	fg_add_avail_n(&t.g, TXQ, (const uint16_t[]){ 0, 1, 2, 4 }, 4);
	fg_kick(t.d, TXQ);

	assert_int_equal(fg_used_idx(&t.g, TXQ), 4);
	for (int i = 0; i < 4; i++)
		fg_expect_used(&t.g, TXQ, i, i == 3 ? 4 : i, 0);
	assert_int_equal(atomic_load(&t.fb.sent), 1);
	assert_int_equal(t.fb.last_len, HDR_LEN + sizeof(frame));
	assert_memory_equal(t.fb.last + HDR_LEN, frame, sizeof(frame));
	st = stats(&t);
	assert_int_equal(st.tx_errors, 3);
	assert_int_equal(st.tx_frames, 1);
	assert_int_equal(atomic_load(&t.g.needs_reset), 0);

	/* Exactly the largest frame goes through. */
	fg_put_desc(&t.g, TXQ, 2, BIG_GPA, NET_HDR_LEN + NET_MAX_FRAME, 0, 0);
	fg_add_avail(&t.g, TXQ, 2);
	fg_kick(t.d, TXQ);
	assert_int_equal(atomic_load(&t.fb.sent), 2);
	assert_int_equal(t.fb.last_len, NET_HDR_LEN + NET_MAX_FRAME);
	teardown(&t);
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
	start_q(&t, 256, FG_MAX_QSIZE, false);
	fill_frame(frame, sizeof(frame), 3);
	for (int i = 0; i < 64; i++) {
		memset(fg_hva(&t.g, buf(i), HDR_LEN), 0, HDR_LEN);
		memcpy(fg_hva(&t.g, buf(i) + HDR_LEN, sizeof(frame)), frame,
		       sizeof(frame));
	}
	for (int i = 0; i < 1000; i++) {
		fg_put_desc(&t.g, TXQ, i, buf(i % 64), HDR_LEN + sizeof(frame), 0, 0);
		heads[i] = i;
	}
	fg_add_avail_n(&t.g, TXQ, heads, 1000);

	/* The loop is not running yet: the kick stops at its budget. */
	fg_kick(t.d, TXQ);
	assert_int_equal(fg_used_idx(&t.g, TXQ), VIRTIO_NET_TX_BUDGET);
	assert_int_equal(atomic_load(&t.fb.sent), VIRTIO_NET_TX_BUDGET);
	assert_int_equal(atomic_load(&t.g.notified[TXQ]), 1);
	/* Notifications stay off while the device has work queued. */
	assert_int_equal(fg_used_flags(&t.g, TXQ), VRING_USED_F_NO_NOTIFY);

	assert_int_equal(event_loop_start(&t.loop), 0);
	fg_wait_used(&t.g, TXQ, 1000);
	assert_int_equal(atomic_load(&t.fb.sent), 1000);
	for (int i = 0; i < 1000; i++)
		fg_expect_used(&t.g, TXQ, i, i, 0);
	event_loop_sync(&t.loop);
	assert_true(atomic_load(&t.g.notified[TXQ]) >= 4);
	assert_int_equal(stats(&t).tx_frames, 1000);
	/* Done: the driver is asked to kick again. */
	assert_int_equal(fg_used_flags(&t.g, TXQ), 0);

	/* And a kick works as before. */
	fg_add_avail(&t.g, TXQ, 5);
	fg_kick(t.d, TXQ);
	assert_int_equal(fg_used_idx(&t.g, TXQ), 1001);
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
	assert_int_equal(fg_used_idx(&t.g, RXQ), 1);
	fg_expect_used(&t.g, RXQ, 0, 0, 0);
	/* A readable-only one mid-frame: it and those before go back empty. */
	post_rx(&t, 1, 64);
	fg_put_desc(&t.g, RXQ, 2, buf(2), 64, 0, 0);
	fg_add_avail(&t.g, RXQ, 2);
	assert_true(fb_receive(&t, &hdr, frame, sizeof(frame)));
	assert_int_equal(fg_used_idx(&t.g, RXQ), 3);
	fg_expect_used(&t.g, RXQ, 1, 1, 0);
	fg_expect_used(&t.g, RXQ, 2, 2, 0);
	st = stats(&t);
	assert_int_equal(st.rx_errors, 2);
	assert_int_equal(st.rx_dropped, 2);
	assert_int_equal(atomic_load(&t.g.needs_reset), 0);

	/* A receive buffer outside guest RAM: broken queue, no crash. */
	fg_put_desc(&t.g, RXQ, 3, 0x7fff00000000ULL, 4096, VRING_DESC_F_WRITE, 0);
	fg_add_avail(&t.g, RXQ, 3);
	assert_true(fb_receive(&t, &hdr, frame, sizeof(frame)));
	assert_int_equal(atomic_load(&t.g.needs_reset), 1);
	assert_true(t.d->vq[RXQ].broken);
	assert_true(fb_receive(&t, &hdr, frame, sizeof(frame)));
	assert_int_equal(fg_used_idx(&t.g, RXQ), 3);
	assert_int_equal(atomic_load(&t.g.needs_reset), 1);
	assert_int_equal(stats(&t).rx_dropped, 4);
	/* A kick on the broken queue: ignored, no second reset request. */
	fg_kick(t.d, RXQ);
	assert_int_equal(fg_used_idx(&t.g, RXQ), 3);
	assert_int_equal(atomic_load(&t.g.needs_reset), 1);

	/* Same on transmit: a descriptor past the end of RAM, then a bogus
	 * avail index. */
	fg_put_desc(&t.g, TXQ, 0, 16 * MiB - 8, 64, 0, 0);
	fg_add_avail(&t.g, TXQ, 0);
	fg_kick(t.d, TXQ);
	assert_int_equal(atomic_load(&t.g.needs_reset), 2);
	assert_int_equal(fg_used_idx(&t.g, TXQ), 0);
	assert_int_equal(atomic_load(&t.fb.sent), 0);
	fg_kick(t.d, TXQ);
	assert_int_equal(atomic_load(&t.g.needs_reset), 2);

	/* The driver resets; everything works again. */
	t.d->ops->reset(t.d);
	start_q(&t, 256, 256, false);
	post_rx(&t, 0, 512);
	assert_true(fb_receive(&t, &hdr, frame, sizeof(frame)));
	assert_int_equal(fg_used_idx(&t.g, RXQ), 1);
	fg_set_avail_idx(&t.g, TXQ, 1000);
	fg_kick(t.d, TXQ);
	assert_int_equal(atomic_load(&t.g.needs_reset), 3);
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
	fg_put_desc(&t.g, TXQ, 0, buf(0), HDR_LEN + 64, 0, 0);
	fg_add_avail(&t.g, TXQ, 0);
	fg_kick(t.d, TXQ);
	fg_kick(t.d, RXQ);
	assert_int_equal(fg_used_idx(&t.g, TXQ), 0);
	assert_int_equal(atomic_load(&t.fb.sent), 0);
	assert_int_equal(atomic_load(&t.fb.rx_ready), 0);

	/* ...and asked for again once a new driver posts buffers. */
	start_q(&t, 256, 256, false);
	assert_int_equal(t.fb.starts, 2);
	post_rx(&t, 0, 512);
	fg_kick(t.d, RXQ);
	assert_int_equal(atomic_load(&t.fb.rx_ready), 1);
	assert_true(fb_receive(&t, &hdr, frame, sizeof(frame)));
	assert_int_equal(fg_used_idx(&t.g, RXQ), 1);

	/* Link down: frames are dropped both ways, chains still returned. */
	virtio_net_set_link(t.d, false);
	post_rx(&t, 1, 512);
	assert_true(fb_receive(&t, &hdr, frame, sizeof(frame)));
	assert_int_equal(fg_used_idx(&t.g, RXQ), 1);
	fg_put_desc(&t.g, TXQ, 0, buf(0), HDR_LEN + 64, 0, 0);
	fg_add_avail(&t.g, TXQ, 0);
	fg_kick(t.d, TXQ);
	assert_int_equal(fg_used_idx(&t.g, TXQ), 1);
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
	fg_fini(&t.g);
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
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_reset_reactivate),
		cmocka_unit_test(test_destroy_active),
		cmocka_unit_test(test_create_fail),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
