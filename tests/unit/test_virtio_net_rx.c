// SPDX-License-Identifier: GPL-2.0-only
/*
 * virtio-net, receive: frames from the backend into the guest's buffers,
 * mergeable or not, GSO, checksum fallback. The fixture is in
 * virtio_net_fixture.h.
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

#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "virtio_net_fixture.h"

/* --- receive --------------------------------------------------------- */

/*
 * The device used receive buffers 0, 1, ... of @buflen bytes, in order, for
 * @total bytes (header and frame); checks each used element and copies
 * what it holds to @out. Returns the number of buffers.
 */
static int gather_rx(struct t *t, uint32_t buflen, size_t total, uint8_t *out)
{
	size_t o = 0;
	int i;

	for (i = 0; o < total; i++) {
		uint32_t len = total - o < buflen ? (uint32_t)(total - o) : buflen;

		fg_expect_used(&t->g, RXQ, i, i, len);
		memcpy(out + o, fg_hva(&t->g, buf(i), len), len);
		o += len;
	}
	return i;
}

static void test_rx_mergeable(void **state)
{
	struct virtio_net_hdr_v1 hdr = { 0 }, got;
	uint8_t frame[1500], out[1512];
	struct virtio_net_stats st;
	struct t t;

	setup(&t);
	for (int i = 0; i < 8; i++)
		post_rx(&t, i, 512);
	fg_kick(t.d, RXQ);
	assert_int_equal(atomic_load(&t.fb.rx_ready), 0);
	fill_frame(frame, sizeof(frame), 4);
	assert_true(fb_receive(&t, &hdr, frame, sizeof(frame)));

	assert_int_equal(fg_used_idx(&t.g, RXQ), 3);
	assert_int_equal(gather_rx(&t, 512, sizeof(out), out), 3);
	memcpy(&got, out, HDR_LEN);
	assert_int_equal(le16toh(got.num_buffers), 3);
	assert_int_equal(got.flags | got.gso_type | got.hdr_len | got.gso_size, 0);
	assert_memory_equal(out + HDR_LEN, frame, sizeof(frame));
	/* Nothing past the frame was written. */
	assert_int_equal(fg_hva(&t.g, buf(2), 512)[1512 - 1024], 0xee);
	assert_int_equal(atomic_load(&t.g.notified[RXQ]), 1);

	/* A small frame takes one buffer. */
	assert_true(fb_receive(&t, &hdr, frame, 60));
	assert_int_equal(fg_used_idx(&t.g, RXQ), 4);
	fg_expect_used(&t.g, RXQ, 3, 3, HDR_LEN + 60);
	assert_int_equal(
		le16toh(((struct virtio_net_hdr_v1 *)fg_hva(&t.g, buf(3), HDR_LEN))
				->num_buffers),
		1);
	st = stats(&t);
	assert_int_equal(st.rx_frames, 2);
	assert_int_equal(st.rx_bytes, 1560);
	assert_int_equal(st.rx_dropped + st.rx_errors, 0);

	/* Runts and giants from the backend are dropped. */
	assert_true(fb_receive(&t, &hdr, frame, 13));
	assert_int_equal(fg_used_idx(&t.g, RXQ), 4);
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
	/* Poisoned, so that the check below sees what the device wrote. */
	fg_set_avail_event(&t.g, RXQ, 0xffff);
	assert_false(fb_receive(&t, &hdr, frame, sizeof(frame)));
	/* The device asked for a kick at the next buffer (avail_event). */
	assert_int_equal(fg_avail_event(&t.g, RXQ), 0);

	/* One buffer is not enough for 1512 bytes: put back, refused. */
	post_rx(&t, 0, 512);
	fg_kick(t.d, RXQ);
	assert_int_equal(atomic_load(&t.fb.rx_ready), 1);
	assert_false(fb_receive(&t, &hdr, frame, sizeof(frame)));
	assert_int_equal(fg_used_idx(&t.g, RXQ), 0);
	assert_int_equal(t.d->vq[RXQ].last_avail, 0);
	assert_int_equal(fg_avail_event(&t.g, RXQ), 1);

	/* A kick while the backend is not waiting does nothing. */
	post_rx(&t, 1, 512);
	fg_kick(t.d, RXQ);
	assert_int_equal(atomic_load(&t.fb.rx_ready), 2);
	fg_kick(t.d, RXQ);
	assert_int_equal(atomic_load(&t.fb.rx_ready), 2);
	assert_false(fb_receive(&t, &hdr, frame, sizeof(frame)));
	post_rx(&t, 2, 512);
	fg_kick(t.d, RXQ);
	assert_int_equal(atomic_load(&t.fb.rx_ready), 3);

	/* Now it fits, in the buffers in the order they were posted. */
	assert_true(fb_receive(&t, &hdr, frame, sizeof(frame)));
	assert_int_equal(fg_used_idx(&t.g, RXQ), 3);
	fg_expect_used(&t.g, RXQ, 0, 0, 512);
	fg_expect_used(&t.g, RXQ, 1, 1, 512);
	fg_expect_used(&t.g, RXQ, 2, 2, 488);
	assert_int_equal(fg_hva(&t.g, buf(0), HDR_LEN)[10], 3);
	assert_memory_equal(fg_hva(&t.g, buf(0), 512) + HDR_LEN, frame, 500);
	assert_memory_equal(fg_hva(&t.g, buf(1), 512), frame + 500, 512);
	assert_memory_equal(fg_hva(&t.g, buf(2), 488), frame + 1012, 488);
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
	int nbufs = (int)((sizeof(out) + 4095) / 4096);
	struct t t;

	setup_ex(&t, NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4, ~0ULL, false);
	fill_frame(frame, sizeof(frame), 6);
	for (int i = 0; i < 20; i++)
		post_rx(&t, i, 4096);
	assert_true(fb_receive(&t, &hdr, frame, sizeof(frame)));
	assert_int_equal(nbufs, 17);
	assert_int_equal(fg_used_idx(&t.g, RXQ), nbufs);
	assert_int_equal(gather_rx(&t, 4096, sizeof(out), out), nbufs);
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
	assert_int_equal(fg_used_idx(&t.g, RXQ), 0);
	assert_int_equal(stats(&t).rx_dropped, 1);
	/* ECN without GUEST_ECN, an unknown GSO type: dropped too. */
	hdr.gso_type = VIRTIO_NET_HDR_GSO_ECN;
	assert_true(fb_receive(&t, &hdr, frame, 100));
	hdr.gso_type = 2;
	assert_true(fb_receive(&t, &hdr, frame, 100));
	assert_int_equal(fg_used_idx(&t.g, RXQ), 0);
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
	assert_int_equal(fg_used_idx(&t.g, RXQ), 0);
	st = stats(&t);
	assert_int_equal(st.rx_dropped, 1);
	assert_int_equal(st.rx_frames, 0);

	/* The chain was not used up: a small frame goes into it. */
	assert_true(fb_receive(&t, &hdr, frame, 200));
	assert_int_equal(fg_used_idx(&t.g, RXQ), 1);
	fg_expect_used(&t.g, RXQ, 0, 0, HDR_LEN + 200);
	assert_int_equal(fg_hva(&t.g, buf(0), HDR_LEN)[10], 1);
	assert_memory_equal(fg_hva(&t.g, buf(0), 256) + HDR_LEN, frame, 200);

	/* A chain of three writable buffers holds a full frame. */
	fg_put_desc(&t.g, RXQ, 1, buf(1), HDR_LEN, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
		    2);
	fg_put_desc(&t.g, RXQ, 2, buf(2), 1000, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
		    3);
	fg_put_desc(&t.g, RXQ, 3, buf(3), 1000, VRING_DESC_F_WRITE, 0);
	fg_add_avail(&t.g, RXQ, 1);
	assert_true(fb_receive(&t, &hdr, frame, sizeof(frame)));
	assert_int_equal(fg_used_idx(&t.g, RXQ), 2);
	fg_expect_used(&t.g, RXQ, 1, 1, HDR_LEN + sizeof(frame));
	assert_memory_equal(fg_hva(&t.g, buf(2), 1000), frame, 1000);
	assert_memory_equal(fg_hva(&t.g, buf(3), 500), frame + 1000, 500);

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
	assert_int_equal(fg_used_idx(&t.g, RXQ), 1);
	fg_expect_used(&t.g, RXQ, 0, 0, HDR_LEN + sizeof(frame));
	memcpy(&got, fg_hva(&t.g, buf(0), HDR_LEN), HDR_LEN);
	assert_int_equal(got.flags, 0);
	p = fg_hva(&t.g, buf(0), 2048) + HDR_LEN;
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
	assert_int_equal(fg_used_idx(&t.g, RXQ), 1);
	assert_int_equal(stats(&t).rx_dropped, 1);
	teardown(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rx_mergeable),
		cmocka_unit_test(test_rx_no_buffers),
		cmocka_unit_test(test_rx_gso_64k),
		cmocka_unit_test(test_rx_single),
		cmocka_unit_test(test_rx_csum_fallback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
