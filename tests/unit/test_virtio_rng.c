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

#include "virtio/queue.h"
#include "virtio/rng.h"
#include "virtio/virtio.h"
#include "vm/memory.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

#define QSIZE 16
#define DESC_GPA 0x10000ULL
#define AVAIL_GPA 0x14000ULL
#define USED_GPA 0x18000ULL
#define IND_GPA 0x40000ULL
#define BUF_GPA 0x80000ULL /* buffer i at BUF_GPA + i * 0x1000 */

struct t {
	struct guest_mem m;
	struct virtio_dev *d;
	uint16_t avail_idx;
	atomic_int notified;
	atomic_int needs_reset;
};

static uint64_t buf(int i)
{
	return BUF_GPA + (uint64_t)i * 0x1000;
}

static void *hva(struct t *t, uint64_t gpa, uint64_t len)
{
	void *p = guest_mem_ptr(&t->m, gpa, len);

	assert_non_null(p);
	return p;
}

static void tp_notify_queue(struct virtio_dev *d, int q)
{
	struct t *t = d->transport;

	assert_int_equal(q, 0);
	atomic_fetch_add(&t->notified, 1);
}

static void tp_notify_config(struct virtio_dev *d)
{
	fail_msg("virtio-rng has no configuration to change");
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

/* What the transport does at DRIVER_OK. */
static void start(struct t *t, bool indirect)
{
	struct virtq *q = &t->d->vq[0];

	virtq_reset(q);
	q->size = QSIZE;
	q->desc_gpa = DESC_GPA;
	q->avail_gpa = AVAIL_GPA;
	q->used_gpa = USED_GPA;
	q->ready = true;
	assert_int_equal(virtq_start(q, &t->m, false, indirect), 0);
	t->avail_idx = 0;
	assert_int_equal(t->d->ops->activate(t->d), 0);
}

static void setup(struct t *t)
{
	memset(t, 0, sizeof(*t));
	assert_int_equal(guest_mem_alloc(&t->m, 1 * MiB, 3 * GiB), 0);
	t->d = virtio_rng_create(NULL);
	assert_non_null(t->d);
	assert_string_equal(t->d->name, "virtio-rng");
	assert_int_equal(t->d->device_id, VIRTIO_ID_RNG);
	assert_int_equal(t->d->nr_queues, 1);
	assert_true(t->d->queue_max_size >= QSIZE);
	assert_int_equal(t->d->ops->features(t->d), 0);
	t->d->mem = &t->m;
	t->d->transport_ops = &test_transport;
	t->d->transport = t;
	start(t, false);
}

static void teardown(struct t *t)
{
	t->d->ops->reset(t->d);
	t->d->ops->destroy(t->d);
	guest_mem_free(&t->m);
}

static void put_desc_at(struct t *t, uint64_t table, int i, uint64_t addr, uint32_t len,
			uint16_t flags, uint16_t next)
{
	struct vring_desc v = { .addr = addr, .len = len, .flags = flags, .next = next };

	assert_int_equal(guest_mem_write(&t->m, table + 16ULL * i, &v, sizeof(v)), 0);
}

static void put_desc(struct t *t, int i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	put_desc_at(t, DESC_GPA, i, addr, len, flags, next);
}

static void add_avail(struct t *t, uint16_t head)
{
	uint16_t idx;

	assert_int_equal(guest_mem_write(&t->m,
					 AVAIL_GPA + 4 + 2 * (t->avail_idx % QSIZE),
					 &head, 2),
			 0);
	idx = ++t->avail_idx;
	assert_int_equal(guest_mem_write(&t->m, AVAIL_GPA + 2, &idx, 2), 0);
}

static uint16_t used_idx(struct t *t)
{
	return __atomic_load_n((uint16_t *)hva(t, USED_GPA + 2, 2), __ATOMIC_ACQUIRE);
}

static void used_elem(struct t *t, uint16_t k, uint32_t *id, uint32_t *len)
{
	struct vring_used_elem e;

	assert_int_equal(
		guest_mem_read(&t->m, USED_GPA + 4 + 8 * (k % QSIZE), &e, sizeof(e)), 0);
	*id = e.id;
	*len = e.len;
}

static void expect_used(struct t *t, uint16_t k, uint32_t id, uint32_t len)
{
	uint32_t got_id, got_len;

	used_elem(t, k, &got_id, &got_len);
	assert_int_equal(got_id, id);
	assert_int_equal(got_len, len);
}

static void kick(struct t *t)
{
	t->d->ops->queue_notify(t->d, 0);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Two requests get different random bytes, each the full length. */
static void test_fill_two_requests(void **state)
{
	struct virtio_rng_stats st;
	struct t t;

	setup(&t);
	put_desc(&t, 0, buf(0), 64, VRING_DESC_F_WRITE, 0);
	put_desc(&t, 1, buf(1), 64, VRING_DESC_F_WRITE, 0);
	add_avail(&t, 0);
	add_avail(&t, 1);
	kick(&t);
	assert_int_equal(used_idx(&t), 2);
	expect_used(&t, 0, 0, 64);
	expect_used(&t, 1, 1, 64);
	assert_true(atomic_load(&t.notified) >= 1);
	assert_false(all_zero(hva(&t, buf(0), 64), 64));
	assert_false(all_zero(hva(&t, buf(1), 64), 64));
	assert_memory_not_equal(hva(&t, buf(0), 64), hva(&t, buf(1), 64), 64);
	/* The bytes after the buffer are untouched. */
	assert_true(all_zero(hva(&t, buf(0) + 64, 64), 64));

	virtio_rng_get_stats(t.d, &st);
	assert_int_equal(st.requests, 2);
	assert_int_equal(st.bytes, 128);
	assert_int_equal(st.deferred, 0);

	/* A kick with nothing new does nothing. */
	kick(&t);
	assert_int_equal(used_idx(&t), 2);
	teardown(&t);
}

/* Chained writable buffers are all filled; readable ones never written. */
static void test_chains(void **state)
{
	struct virtio_rng_stats st;
	struct t t;

	setup(&t);
	/* Readable only: completed with 0, left alone. */
	memset(hva(&t, buf(0), 32), 0xaa, 32);
	put_desc(&t, 0, buf(0), 32, 0, 0);
	add_avail(&t, 0);
	/* Readable then three writable (one of them empty). */
	memset(hva(&t, buf(1), 16), 0x55, 16);
	put_desc(&t, 1, buf(1), 16, VRING_DESC_F_NEXT, 2);
	put_desc(&t, 2, buf(2), 10, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 3);
	put_desc(&t, 3, buf(3), 0, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 4);
	put_desc(&t, 4, buf(4), 4000, VRING_DESC_F_WRITE, 0);
	add_avail(&t, 1);
	kick(&t);
	assert_int_equal(used_idx(&t), 2);
	expect_used(&t, 0, 0, 0);
	expect_used(&t, 1, 1, 4010);
	for (int i = 0; i < 32; i++)
		assert_int_equal(((uint8_t *)hva(&t, buf(0), 32))[i], 0xaa);
	for (int i = 0; i < 16; i++)
		assert_int_equal(((uint8_t *)hva(&t, buf(1), 16))[i], 0x55);
	assert_false(all_zero(hva(&t, buf(2), 10), 10));
	assert_false(all_zero(hva(&t, buf(4), 4000), 4000));
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
		put_desc_at(&t, IND_GPA, i, buf(0) + 8ULL * i, 8,
			    VRING_DESC_F_WRITE | (i < n - 1 ? VRING_DESC_F_NEXT : 0),
			    i + 1);
	put_desc(&t, 0, IND_GPA, 16 * n, VRING_DESC_F_INDIRECT, 0);
	add_avail(&t, 0);
	/* And a normal one behind it. */
	put_desc(&t, 1, buf(1), 8, VRING_DESC_F_WRITE, 0);
	add_avail(&t, 1);
	kick(&t);
	assert_int_equal(used_idx(&t), 2);
	expect_used(&t, 0, 0, 0);
	expect_used(&t, 1, 1, 8);
	assert_true(all_zero(hva(&t, buf(0), 8 * n), 8 * n));
	teardown(&t);
}

/* A malformed ring: the device asks for a reset and completes nothing. */
static void test_broken_ring(void **state)
{
	struct t t;
	uint16_t bogus = QSIZE + 5;

	setup(&t);
	assert_int_equal(guest_mem_write(&t.m, AVAIL_GPA + 2, &bogus, 2), 0);
	kick(&t);
	assert_int_equal(atomic_load(&t.needs_reset), 1);
	assert_int_equal(used_idx(&t), 0);
	teardown(&t);
}

/* Before activate and after reset, kicks are ignored. */
static void test_inactive(void **state)
{
	struct t t;

	setup(&t);
	t.d->ops->reset(t.d);
	put_desc(&t, 0, buf(0), 8, VRING_DESC_F_WRITE, 0);
	add_avail(&t, 0);
	kick(&t);
	assert_int_equal(used_idx(&t), 0);
	assert_true(all_zero(hva(&t, buf(0), 8), 8));
	/* Another queue index is not ours. */
	assert_int_equal(t.d->ops->activate(t.d), 0);
	t.d->ops->queue_notify(t.d, 1);
	assert_int_equal(used_idx(&t), 0);
	kick(&t);
	assert_int_equal(used_idx(&t), 1);
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
	uint8_t *p;

	atomic_store(&s.ready, true);
	setup(&t);
	virtio_rng_set_source(t.d, fake_source, &s);
	put_desc(&t, 0, buf(0), 50, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	put_desc(&t, 1, buf(1), 30, VRING_DESC_F_WRITE, 0);
	add_avail(&t, 0);
	kick(&t);
	assert_int_equal(used_idx(&t), 1);
	expect_used(&t, 0, 0, 80);
	p = hva(&t, buf(0), 50);
	for (int i = 0; i < 50; i++)
		assert_int_equal(p[i], i);
	p = hva(&t, buf(1), 30);
	for (int i = 0; i < 30; i++)
		assert_int_equal(p[i], 50 + i);
	teardown(&t);
}

static void wait_used(struct t *t, uint16_t want)
{
	struct timespec ts = { .tv_nsec = 1000 * 1000 };

	for (int i = 0; i < 5000 && used_idx(t) != want; i++)
		nanosleep(&ts, NULL);
	assert_int_equal(used_idx(t), want);
}

/* The pool would block: requests wait (in order) and complete later
 * without another kick. */
static void test_deferred(void **state)
{
	struct virtio_rng_stats st;
	struct timespec ts = { .tv_nsec = 120 * 1000 * 1000 };
	struct src s = { 0 };
	struct t t;
	uint8_t *p;

	setup(&t);
	virtio_rng_set_source(t.d, fake_source, &s);
	put_desc(&t, 0, buf(0), 20, VRING_DESC_F_WRITE, 0);
	add_avail(&t, 0);
	kick(&t);
	assert_int_equal(used_idx(&t), 0);
	put_desc(&t, 1, buf(1), 10, VRING_DESC_F_WRITE, 0);
	add_avail(&t, 1);
	kick(&t);
	assert_int_equal(used_idx(&t), 0);
	virtio_rng_get_stats(t.d, &st);
	assert_int_equal(st.requests, 0);
	assert_int_equal(st.deferred, 1);
	assert_int_equal(atomic_load(&t.notified), 0);
	/* The helper retries meanwhile, without success. */
	nanosleep(&ts, NULL);
	assert_true(atomic_load(&s.would_block) > 2);
	assert_int_equal(used_idx(&t), 0);

	/* The pool becomes ready: both complete, first one first. */
	atomic_store(&s.ready, true);
	wait_used(&t, 2);
	expect_used(&t, 0, 0, 20);
	expect_used(&t, 1, 1, 10);
	p = hva(&t, buf(0), 20);
	for (int i = 0; i < 20; i++)
		assert_int_equal(p[i], i);
	p = hva(&t, buf(1), 10);
	for (int i = 0; i < 10; i++)
		assert_int_equal(p[i], 20 + i);
	assert_true(atomic_load(&t.notified) >= 1);

	/* Later requests are served at once. */
	put_desc(&t, 2, buf(2), 5, VRING_DESC_F_WRITE, 0);
	add_avail(&t, 2);
	kick(&t);
	assert_int_equal(used_idx(&t), 3);
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
	put_desc(&t, 0, buf(0), 20, VRING_DESC_F_WRITE, 0);
	add_avail(&t, 0);
	kick(&t);
	assert_int_equal(used_idx(&t), 0);
	t.d->ops->reset(t.d);
	/* Restarted: the new ring's request waits as well. */
	start(&t, false);
	put_desc(&t, 3, buf(3), 20, VRING_DESC_F_WRITE, 0);
	add_avail(&t, 3);
	kick(&t);
	assert_int_equal(used_idx(&t), 0);
	/* The pool never becomes ready: destroy still stops the helper. */
	t.d->ops->destroy(t.d);
	assert_true(all_zero(hva(&t, buf(0), 20), 20));
	assert_true(all_zero(hva(&t, buf(3), 20), 20));
	guest_mem_free(&t.m);
}

/* Requests larger than the per-request cap get the cap. */
static void test_cap(void **state)
{
	struct t t;

	setup(&t);
	for (int i = 0; i < 4; i++)
		put_desc(&t, i, buf(0) + 0x8000ULL * i, 0x8000,
			 VRING_DESC_F_WRITE | (i < 3 ? VRING_DESC_F_NEXT : 0), i + 1);
	add_avail(&t, 0);
	kick(&t);
	assert_int_equal(used_idx(&t), 1);
	expect_used(&t, 0, 0, VIRTIO_RNG_MAX_FILL);
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
