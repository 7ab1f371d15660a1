// SPDX-License-Identifier: GPL-2.0-only
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "fake_virtq.h"

void fg_init_mem(struct fake_guest *g, uint64_t ram, uint64_t lowmem)
{
	memset(g, 0, sizeof(*g));
	assert_int_equal(guest_mem_alloc(&g->m, ram, lowmem), 0);
}

void fg_init(struct fake_guest *g, uint64_t ram)
{
	fg_init_mem(g, ram, 3 * GiB);
}

void fg_fini(struct fake_guest *g)
{
	guest_mem_free(&g->m);
}

uint8_t *fg_hva(struct fake_guest *g, uint64_t gpa, uint64_t len)
{
	uint8_t *p = guest_mem_ptr(&g->m, gpa, len);

	assert_non_null(p);
	return p;
}

void fg_ring_at(struct fake_guest *g, int q, uint16_t size, uint64_t desc, uint64_t avail,
		uint64_t used)
{
	struct fake_vq *v = &g->vq[q];

	assert_true(q >= 0 && q < FG_MAX_QUEUES);
	v->desc_gpa = desc;
	v->avail_gpa = avail;
	v->used_gpa = used;
	v->size = size;
	v->avail_idx = 0;
}

void fg_layout(struct fake_guest *g, int q, uint16_t size)
{
	assert_true(size <= FG_MAX_QSIZE);
	fg_ring_at(g, q, size, FG_DESC_GPA(q), FG_AVAIL_GPA(q), FG_USED_GPA(q));
}

void fg_start_virtq(struct fake_guest *g, int q, struct virtq *vq, bool event_idx,
		    bool indirect)
{
	struct fake_vq *v = &g->vq[q];

	virtq_reset(vq);
	vq->size = v->size;
	vq->desc_gpa = v->desc_gpa;
	vq->avail_gpa = v->avail_gpa;
	vq->used_gpa = v->used_gpa;
	vq->ready = true;
	assert_int_equal(virtq_start(vq, &g->m, event_idx, indirect), 0);
	v->avail_idx = 0;
}

static void tp_notify_queue(struct virtio_dev *d, int q)
{
	struct fake_guest *g = d->transport;

	assert_true(q >= 0 && q < d->nr_queues);
	atomic_fetch_add(&g->notified[q], 1);
}

static void tp_notify_config(struct virtio_dev *d)
{
	struct fake_guest *g = d->transport;

	if (g->no_config_change)
		fail_msg("%s changed its configuration", d->name);
	atomic_fetch_add(&g->config_changed, 1);
}

static void tp_needs_reset(struct virtio_dev *d)
{
	struct fake_guest *g = d->transport;

	if (g->no_reset)
		fail_msg("%s asked for a reset", d->name);
	atomic_fetch_add(&g->needs_reset, 1);
}

static const struct virtio_transport_ops fake_transport = {
	.notify_queue = tp_notify_queue,
	.notify_config = tp_notify_config,
	.needs_reset = tp_needs_reset,
};

void fg_attach(struct fake_guest *g, struct virtio_dev *d)
{
	d->mem = &g->m;
	d->transport_ops = &fake_transport;
	d->transport = g;
}

void fg_driver_ok(struct fake_guest *g, struct virtio_dev *d, bool event_idx,
		  bool indirect)
{
	for (int q = 0; q < d->nr_queues; q++)
		fg_start_virtq(g, q, &d->vq[q], event_idx, indirect);
	assert_int_equal(d->ops->activate(d), 0);
}

void fg_kick(struct virtio_dev *d, int q)
{
	d->ops->queue_notify(d, q);
}

int fg_notified_total(struct fake_guest *g)
{
	int n = 0;

	for (int q = 0; q < FG_MAX_QUEUES; q++)
		n += atomic_load(&g->notified[q]);
	return n;
}

void fg_put_desc_at(struct fake_guest *g, uint64_t table, int i, uint64_t addr,
		    uint32_t len, uint16_t flags, uint16_t next)
{
	struct vring_desc v = { .addr = addr, .len = len, .flags = flags, .next = next };

	assert_int_equal(guest_mem_write(&g->m, table + 16ULL * i, &v, sizeof(v)), 0);
}

void fg_put_desc(struct fake_guest *g, int q, int i, uint64_t addr, uint32_t len,
		 uint16_t flags, uint16_t next)
{
	fg_put_desc_at(g, g->vq[q].desc_gpa, i, addr, len, flags, next);
}

void fg_add_avail_n(struct fake_guest *g, int q, const uint16_t *heads, int n)
{
	struct fake_vq *v = &g->vq[q];
	uint16_t idx = v->avail_idx;

	for (int i = 0; i < n; i++, idx++)
		assert_int_equal(guest_mem_write(&g->m,
						 v->avail_gpa + 4 + 2 * (idx % v->size),
						 &heads[i], 2),
				 0);
	v->avail_idx = idx;
	__atomic_store_n((uint16_t *)fg_hva(g, v->avail_gpa + 2, 2), idx,
			 __ATOMIC_RELEASE);
}

void fg_add_avail(struct fake_guest *g, int q, uint16_t head)
{
	fg_add_avail_n(g, q, &head, 1);
}

void fg_set_avail_idx(struct fake_guest *g, int q, uint16_t idx)
{
	assert_int_equal(guest_mem_write(&g->m, g->vq[q].avail_gpa + 2, &idx, 2), 0);
}

uint16_t fg_used_idx(struct fake_guest *g, int q)
{
	return __atomic_load_n((uint16_t *)fg_hva(g, g->vq[q].used_gpa + 2, 2),
			       __ATOMIC_ACQUIRE);
}

uint16_t fg_used_flags(struct fake_guest *g, int q)
{
	return __atomic_load_n((uint16_t *)fg_hva(g, g->vq[q].used_gpa, 2),
			       __ATOMIC_ACQUIRE);
}

static uint16_t *avail_event(struct fake_guest *g, int q)
{
	struct fake_vq *v = &g->vq[q];

	return (uint16_t *)fg_hva(g, v->used_gpa + 4 + 8ULL * v->size, 2);
}

uint16_t fg_avail_event(struct fake_guest *g, int q)
{
	return __atomic_load_n(avail_event(g, q), __ATOMIC_ACQUIRE);
}

void fg_set_avail_event(struct fake_guest *g, int q, uint16_t v)
{
	__atomic_store_n(avail_event(g, q), v, __ATOMIC_RELEASE);
}

struct vring_used_elem fg_used_elem(struct fake_guest *g, int q, uint16_t k)
{
	struct fake_vq *v = &g->vq[q];
	struct vring_used_elem e;

	assert_int_equal(
		guest_mem_read(&g->m, v->used_gpa + 4 + 8 * (k % v->size), &e, sizeof(e)),
		0);
	return e;
}

void fg_expect_used(struct fake_guest *g, int q, uint16_t k, uint32_t id, uint32_t len)
{
	struct vring_used_elem e = fg_used_elem(g, q, k);

	assert_int_equal(e.id, id);
	assert_int_equal(e.len, len);
}

void fg_wait_used(struct fake_guest *g, int q, uint16_t want)
{
	struct timespec ts = { .tv_nsec = 1000 * 1000 };

	for (int i = 0; i < 5000 && fg_used_idx(g, q) != want; i++)
		nanosleep(&ts, NULL);
	assert_int_equal(fg_used_idx(g, q), want);
}
