// SPDX-License-Identifier: GPL-2.0-only
/*
 * virtio-balloon through hand-built virtqueues: the test plays the driver
 * (rings in guest memory) and the transport (queue setup, activate, kicks).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <linux/virtio_balloon.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>

#include "fake_virtq.h"
#include "virtio/balloon.h"
#include "virtio/queue.h"
#include "virtio/virtio.h"
#include "vm/memory.h"

#define QSIZE 16
#define BUF_GPA 0x80000ULL
#define PAGE_GPA 0x200000ULL /* the page the guest gives away */

struct t {
	struct fake_guest g;
	struct virtio_dev *d;
};

static void setup(struct t *t)
{
	memset(t, 0, sizeof(*t));
	fg_init(&t->g, 4 * MiB);
	t->g.no_reset = true;
	t->d = virtio_balloon_create(true, NULL);
	assert_non_null(t->d);
	assert_int_equal(t->d->device_id, VIRTIO_ID_BALLOON);
	fg_attach(&t->g, t->d);
	t->d->features = t->d->ops->features(t->d);
	assert_true(t->d->features & (1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM));
	assert_true(t->d->features & (1ULL << VIRTIO_BALLOON_F_REPORTING));
	for (int q = 0; q < 4; q++)
		fg_layout(&t->g, q, QSIZE);
	fg_driver_ok(&t->g, t->d, false, false);
}

static void teardown(struct t *t)
{
	t->d->ops->reset(t->d);
	t->d->ops->destroy(t->d);
	fg_fini(&t->g);
}

/* Posts one buffer [gpa, gpa + len) on queue @q and kicks. */
static void post(struct t *t, int q, uint64_t gpa, uint32_t len, bool writable)
{
	uint16_t slot = t->g.vq[q].avail_idx % QSIZE;

	fg_put_desc(&t->g, q, slot, gpa, len, writable ? VRING_DESC_F_WRITE : 0, 0);
	fg_add_avail(&t->g, q, slot);
	fg_kick(t->d, q);
}

static void test_reporting_can_be_left_out(void **state)
{
	struct virtio_dev *d = virtio_balloon_create(false, NULL);
	uint64_t f;

	assert_non_null(d);
	f = d->ops->features(d);
	assert_true(f & (1ULL << VIRTIO_BALLOON_F_STATS_VQ));
	assert_true(f & (1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM));
	assert_false(f & (1ULL << VIRTIO_BALLOON_F_REPORTING));
	d->ops->destroy(d);
}

static void test_inflate_and_hostile_pfns(void **state)
{
	struct virtio_balloon_info info;
	uint32_t pfns[] = { PAGE_GPA >> 12, (PAGE_GPA >> 12) + 1, 0xffffffff,
			    (4 * MiB) >> 12, 0x7fffffff };
	uint8_t *page;
	struct t t;

	setup(&t);
	/* Two pages given away, and the one after them. */
	page = fg_hva(&t.g, PAGE_GPA, 3 * 4096);
	memset(page, 0xaa, 3 * 4096);
	memcpy(fg_hva(&t.g, BUF_GPA, sizeof(pfns)), pfns, sizeof(pfns));
	post(&t, 0, BUF_GPA, sizeof(pfns), false);
	assert_int_equal(fg_used_idx(&t.g, 0), 1);
	virtio_balloon_get_info(t.d, &info);
	assert_int_equal(info.inflated_pages, 5);
	assert_int_equal(info.bad_pfns, 3);
	/* The pages went back to the host: they read as zero now. */
	assert_int_equal(page[0], 0);
	assert_int_equal(page[2 * 4096 - 1], 0);
	assert_int_equal(page[2 * 4096], 0xaa); /* the next page is untouched */

	post(&t, 1, BUF_GPA, 8, false); /* deflate the two good ones */
	virtio_balloon_get_info(t.d, &info);
	assert_int_equal(info.deflated_pages, 2);
	teardown(&t);
}

static void test_config_and_target(void **state)
{
	struct virtio_balloon_info info;
	uint32_t v = 123, cfg[2];
	struct t t;

	setup(&t);
	virtio_balloon_set_target(t.d, 4096);
	assert_int_equal(t.g.config_changed, 1);
	t.d->ops->read_config(t.d, 0, cfg, 8);
	assert_int_equal(cfg[0], 4096);
	t.d->ops->write_config(t.d, 0, &v, 4); /* num_pages is not the driver's */
	t.d->ops->write_config(t.d, 4, &v, 4);
	t.d->ops->read_config(t.d, 0, cfg, 8);
	assert_int_equal(cfg[0], 4096);
	assert_int_equal(cfg[1], 123);
	virtio_balloon_get_info(t.d, &info);
	assert_int_equal(info.actual_pages, 123);
	assert_int_equal(info.target_pages, 4096);
	teardown(&t);
}

static void test_stats_and_reporting(void **state)
{
	struct virtio_balloon_info info;
	uint8_t stats[20];
	uint16_t tag = VIRTIO_BALLOON_S_MEMFREE;
	uint64_t val = 12345678;
	struct t t;

	setup(&t);
	memcpy(stats, &tag, 2);
	memcpy(stats + 2, &val, 8);
	tag = 999; /* unknown tags are ignored */
	memcpy(stats + 10, &tag, 2);
	memcpy(fg_hva(&t.g, BUF_GPA, 20), stats, 20);
	post(&t, 2, BUF_GPA, 20, false);
	assert_int_equal(fg_used_idx(&t.g, 2), 0); /* kept by the device */
	virtio_balloon_get_info(t.d, &info);
	assert_true(info.guest_stats_valid);
	assert_int_equal(info.guest_stats[VIRTIO_BALLOON_S_MEMFREE], 12345678);
	virtio_balloon_request_stats(t.d);
	assert_int_equal(fg_used_idx(&t.g, 2), 1); /* handed back: new ones wanted */

	/* Free page reporting: a device-writable 8 KiB range, whole pages. */
	memset(fg_hva(&t.g, PAGE_GPA, 8192), 0x55, 8192);
	post(&t, 3, PAGE_GPA, 8192, true);
	assert_int_equal(fg_used_idx(&t.g, 3), 1);
	virtio_balloon_get_info(t.d, &info);
	assert_int_equal(info.reported_bytes, 8192);
	assert_int_equal(fg_hva(&t.g, PAGE_GPA + 100, 1)[0], 0);
	teardown(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reporting_can_be_left_out),
		cmocka_unit_test(test_inflate_and_hostile_pfns),
		cmocka_unit_test(test_config_and_target),
		cmocka_unit_test(test_stats_and_reporting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
