// SPDX-License-Identifier: GPL-2.0-only
/*
 * virtio-rng. The test plays both the driver (descriptors and avail ring
 * laid out by hand in guest memory) and the transport (queue setup,
 * activate, kicks, and a transport_ops that counts interrupts).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <cmocka.h>

#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>

#include "fake_virtq.h"
#include "virtio/queue.h"
#include "virtio/rng.h"
#include "virtio/virtio.h"
#include "vm/memory.h"

#define QSIZE 16
#define IND_GPA 0x40000ULL
#define BUF_GPA 0x80000ULL /* buffer i at BUF_GPA + i * 0x1000 */

struct t {
	struct fake_guest g;
	struct virtio_dev *d;
};

static uint64_t buf(int i)
{
	return BUF_GPA + (uint64_t)i * 0x1000;
}

/* What the transport does at DRIVER_OK. */
static void start(struct t *t, bool indirect)
{
	fg_layout(&t->g, 0, QSIZE);
	fg_driver_ok(&t->g, t->d, false, indirect);
}

static void setup(struct t *t)
{
	memset(t, 0, sizeof(*t));
	fg_init(&t->g, 1 * MiB);
	/* virtio-rng has no configuration to change. */
	t->g.no_config_change = true;
	t->d = virtio_rng_create(NULL);
	assert_non_null(t->d);
	assert_string_equal(t->d->name, "virtio-rng");
	assert_int_equal(t->d->device_id, VIRTIO_ID_RNG);
	assert_int_equal(t->d->nr_queues, 1);
	assert_true(t->d->queue_max_size >= QSIZE);
	assert_int_equal(t->d->ops->features(t->d), 0);
	fg_attach(&t->g, t->d);
	start(t, false);
}

static void teardown(struct t *t)
{
	t->d->ops->reset(t->d);
	t->d->ops->destroy(t->d);
	fg_fini(&t->g);
}

/* The device wrote random bytes over the @n zero bytes at @gpa. */
static void expect_random(struct t *t, uint64_t gpa, size_t n)
{
	const uint8_t *p = fg_hva(&t->g, gpa, n);
	size_t i = 0;

	while (i < n && !p[i])
		i++;
	assert_true(i < n);
}

/* Each of the @n bytes at @gpa is @byte. */
static void expect_fill(struct t *t, uint64_t gpa, size_t n, uint8_t byte)
{
	const uint8_t *p = fg_hva(&t->g, gpa, n);

	for (size_t i = 0; i < n; i++)
		assert_int_equal(p[i], byte);
}

/* The @n bytes at @gpa count up from @first, as fake_source() writes them. */
static void expect_counting(struct t *t, uint64_t gpa, size_t n, uint8_t first)
{
	const uint8_t *p = fg_hva(&t->g, gpa, n);

	for (size_t i = 0; i < n; i++)
		assert_int_equal(p[i], (uint8_t)(first + i));
}

/* Two requests get different random bytes, each the full length. */
static void test_fill_two_requests(void **state)
{
	struct virtio_rng_stats st;
	struct t t;

	setup(&t);
	fg_put_desc(&t.g, 0, 0, buf(0), 64, VRING_DESC_F_WRITE, 0);
	fg_put_desc(&t.g, 0, 1, buf(1), 64, VRING_DESC_F_WRITE, 0);
	fg_add_avail(&t.g, 0, 0);
	fg_add_avail(&t.g, 0, 1);
	fg_kick(t.d, 0);
	assert_int_equal(fg_used_idx(&t.g, 0), 2);
	fg_expect_used(&t.g, 0, 0, 0, 64);
	fg_expect_used(&t.g, 0, 1, 1, 64);
	assert_true(atomic_load(&t.g.notified[0]) >= 1);
	expect_random(&t, buf(0), 64);
	expect_random(&t, buf(1), 64);
	assert_memory_not_equal(fg_hva(&t.g, buf(0), 64), fg_hva(&t.g, buf(1), 64), 64);
	/* The bytes after the buffer are untouched. */
	expect_fill(&t, buf(0) + 64, 64, 0);

	virtio_rng_get_stats(t.d, &st);
	assert_int_equal(st.requests, 2);
	assert_int_equal(st.bytes, 128);
	assert_int_equal(st.deferred, 0);

	/* A kick with nothing new does nothing. */
	fg_kick(t.d, 0);
	assert_int_equal(fg_used_idx(&t.g, 0), 2);
	teardown(&t);
}

/* Chained writable buffers are all filled; readable ones never written. */
static void test_chains(void **state)
{
	struct virtio_rng_stats st;
	struct t t;

	setup(&t);
	/* Readable only: completed with 0, left alone. */
	memset(fg_hva(&t.g, buf(0), 32), 0xaa, 32);
	fg_put_desc(&t.g, 0, 0, buf(0), 32, 0, 0);
	fg_add_avail(&t.g, 0, 0);
	/* Readable then three writable (one of them empty). */
	memset(fg_hva(&t.g, buf(1), 16), 0x55, 16);
	fg_put_desc(&t.g, 0, 1, buf(1), 16, VRING_DESC_F_NEXT, 2);
	fg_put_desc(&t.g, 0, 2, buf(2), 10, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 3);
	fg_put_desc(&t.g, 0, 3, buf(3), 0, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 4);
	fg_put_desc(&t.g, 0, 4, buf(4), 4000, VRING_DESC_F_WRITE, 0);
	fg_add_avail(&t.g, 0, 1);
	fg_kick(t.d, 0);
	assert_int_equal(fg_used_idx(&t.g, 0), 2);
	fg_expect_used(&t.g, 0, 0, 0, 0);
	fg_expect_used(&t.g, 0, 1, 1, 4010);
	expect_fill(&t, buf(0), 32, 0xaa);
	expect_fill(&t, buf(1), 16, 0x55);
	expect_random(&t, buf(2), 10);
	expect_random(&t, buf(4), 4000);
	virtio_rng_get_stats(t.d, &st);
	assert_int_equal(st.requests, 2);
	assert_int_equal(st.bytes, 4010);
	teardown(&t);
}

/* A chain with more buffers than the device takes is returned empty. */
static void test_too_many_buffers(void **state)
{
	struct t t;
	int n = 70;

	setup(&t);
	t.d->ops->reset(t.d);
	start(&t, true);
	for (int i = 0; i < n; i++)
		fg_put_desc_at(&t.g, IND_GPA, i, buf(0) + 8ULL * i, 8,
			       VRING_DESC_F_WRITE | (i < n - 1 ? VRING_DESC_F_NEXT : 0),
			       i + 1);
	fg_put_desc(&t.g, 0, 0, IND_GPA, 16 * n, VRING_DESC_F_INDIRECT, 0);
	fg_add_avail(&t.g, 0, 0);
	/* And a normal one behind it. */
	fg_put_desc(&t.g, 0, 1, buf(1), 8, VRING_DESC_F_WRITE, 0);
	fg_add_avail(&t.g, 0, 1);
	fg_kick(t.d, 0);
	assert_int_equal(fg_used_idx(&t.g, 0), 2);
	fg_expect_used(&t.g, 0, 0, 0, 0);
	fg_expect_used(&t.g, 0, 1, 1, 8);
	expect_fill(&t, buf(0), 8 * n, 0);
	teardown(&t);
}

/* A malformed ring: the device asks for a reset and completes nothing. */
static void test_broken_ring(void **state)
{
	struct t t;

	setup(&t);
	fg_set_avail_idx(&t.g, 0, QSIZE + 5);
	fg_kick(t.d, 0);
	assert_int_equal(atomic_load(&t.g.needs_reset), 1);
	assert_int_equal(fg_used_idx(&t.g, 0), 0);
	teardown(&t);
}

/* Before activate and after reset, kicks are ignored. */
static void test_inactive(void **state)
{
	struct t t;

	setup(&t);
	t.d->ops->reset(t.d);
	fg_put_desc(&t.g, 0, 0, buf(0), 8, VRING_DESC_F_WRITE, 0);
	fg_add_avail(&t.g, 0, 0);
	fg_kick(t.d, 0);
	assert_int_equal(fg_used_idx(&t.g, 0), 0);
	expect_fill(&t, buf(0), 8, 0);
	/* Another queue index is not ours. */
	assert_int_equal(t.d->ops->activate(t.d), 0);
	t.d->ops->queue_notify(t.d, 1);
	assert_int_equal(fg_used_idx(&t.g, 0), 0);
	fg_kick(t.d, 0);
	assert_int_equal(fg_used_idx(&t.g, 0), 1);
	teardown(&t);
}

/* --- the byte source: short reads, EINTR, a pool that would block -------- */

struct src {
	int calls;
	uint8_t next; /* bytes are 0, 1, 2, ... */
	atomic_bool ready; /* the pool is initialised */
	atomic_int would_block; /* -EAGAIN answers */
};

static ssize_t fake_source(void *ctx, void *buf, size_t len, unsigned int flags)
{
	struct src *s = ctx;
	uint8_t *p = buf;

	/* The device never blocks. */
	assert_true(flags & GRND_NONBLOCK);
	if (!atomic_load(&s->ready)) {
		atomic_fetch_add(&s->would_block, 1);
		return -EAGAIN;
	}
	/* Every other call is interrupted; others return at most 7 bytes. */
	if (s->calls++ % 2 == 0)
		return -EINTR;
	if (len > 7)
		len = 7;
	for (size_t i = 0; i < len; i++)
		p[i] = s->next++;
	return len;
}

static void test_short_reads_and_eintr(void **state)
{
	struct src s = { 0 };
	struct t t;

	atomic_store(&s.ready, true);
	setup(&t);
	virtio_rng_set_source(t.d, fake_source, &s);
	fg_put_desc(&t.g, 0, 0, buf(0), 50, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	fg_put_desc(&t.g, 0, 1, buf(1), 30, VRING_DESC_F_WRITE, 0);
	fg_add_avail(&t.g, 0, 0);
	fg_kick(t.d, 0);
	assert_int_equal(fg_used_idx(&t.g, 0), 1);
	fg_expect_used(&t.g, 0, 0, 0, 80);
	expect_counting(&t, buf(0), 50, 0);
	expect_counting(&t, buf(1), 30, 50);
	teardown(&t);
}

/* The pool would block: requests wait (in order) and complete later
 * without another kick. */
static void test_deferred(void **state)
{
	struct virtio_rng_stats st;
	struct timespec ts = { .tv_nsec = 120 * 1000 * 1000 };
	struct src s = { 0 };
	struct t t;

	setup(&t);
	virtio_rng_set_source(t.d, fake_source, &s);
	fg_put_desc(&t.g, 0, 0, buf(0), 20, VRING_DESC_F_WRITE, 0);
	fg_add_avail(&t.g, 0, 0);
	fg_kick(t.d, 0);
	assert_int_equal(fg_used_idx(&t.g, 0), 0);
	fg_put_desc(&t.g, 0, 1, buf(1), 10, VRING_DESC_F_WRITE, 0);
	fg_add_avail(&t.g, 0, 1);
	fg_kick(t.d, 0);
	assert_int_equal(fg_used_idx(&t.g, 0), 0);
	virtio_rng_get_stats(t.d, &st);
	assert_int_equal(st.requests, 0);
	assert_int_equal(st.deferred, 1);
	assert_int_equal(atomic_load(&t.g.notified[0]), 0);
	/* The helper retries meanwhile, without success. */
	nanosleep(&ts, NULL);
	assert_true(atomic_load(&s.would_block) > 2);
	assert_int_equal(fg_used_idx(&t.g, 0), 0);

	/* The pool becomes ready: both complete, first one first. */
	atomic_store(&s.ready, true);
	fg_wait_used(&t.g, 0, 2);
	fg_expect_used(&t.g, 0, 0, 0, 20);
	fg_expect_used(&t.g, 0, 1, 1, 10);
	expect_counting(&t, buf(0), 20, 0);
	expect_counting(&t, buf(1), 10, 20);
	assert_true(atomic_load(&t.g.notified[0]) >= 1);

	/* Later requests are served at once. */
	fg_put_desc(&t.g, 0, 2, buf(2), 5, VRING_DESC_F_WRITE, 0);
	fg_add_avail(&t.g, 0, 2);
	fg_kick(t.d, 0);
	assert_int_equal(fg_used_idx(&t.g, 0), 3);
	teardown(&t);
}

/* Reset drops the waiting request; destroy does not hang on a pool that
 * never becomes ready. */
static void test_deferred_reset_destroy(void **state)
{
	struct src s = { 0 };
	struct t t;

	setup(&t);
	virtio_rng_set_source(t.d, fake_source, &s);
	fg_put_desc(&t.g, 0, 0, buf(0), 20, VRING_DESC_F_WRITE, 0);
	fg_add_avail(&t.g, 0, 0);
	fg_kick(t.d, 0);
	assert_int_equal(fg_used_idx(&t.g, 0), 0);
	t.d->ops->reset(t.d);
	/* Restarted: the new ring's request waits as well. */
	start(&t, false);
	fg_put_desc(&t.g, 0, 3, buf(3), 20, VRING_DESC_F_WRITE, 0);
	fg_add_avail(&t.g, 0, 3);
	fg_kick(t.d, 0);
	assert_int_equal(fg_used_idx(&t.g, 0), 0);
	/* The pool never becomes ready: destroy still stops the helper. */
	t.d->ops->destroy(t.d);
	expect_fill(&t, buf(0), 20, 0);
	expect_fill(&t, buf(3), 20, 0);
	fg_fini(&t.g);
}

/* Requests larger than the per-request cap get the cap. */
static void test_cap(void **state)
{
	struct t t;

	setup(&t);
	for (int i = 0; i < 4; i++)
		fg_put_desc(&t.g, 0, i, buf(0) + 0x8000ULL * i, 0x8000,
			    VRING_DESC_F_WRITE | (i < 3 ? VRING_DESC_F_NEXT : 0), i + 1);
	fg_add_avail(&t.g, 0, 0);
	fg_kick(t.d, 0);
	assert_int_equal(fg_used_idx(&t.g, 0), 1);
	fg_expect_used(&t.g, 0, 0, 0, VIRTIO_RNG_MAX_FILL);
	teardown(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fill_two_requests),
		cmocka_unit_test(test_chains),
		cmocka_unit_test(test_too_many_buffers),
		cmocka_unit_test(test_broken_ring),
		cmocka_unit_test(test_inactive),
		cmocka_unit_test(test_short_reads_and_eintr),
		cmocka_unit_test(test_deferred),
		cmocka_unit_test(test_deferred_reset_destroy),
		cmocka_unit_test(test_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
