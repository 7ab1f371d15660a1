/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A fake guest for the virtio tests: guest RAM from malloc'ed memory,
 * split rings laid out by hand as a driver would, and a transport that
 * counts what the device asks of it. Failures are cmocka assertions.
 */
#ifndef KVMBOX_TESTS_FAKE_VIRTQ_H
#define KVMBOX_TESTS_FAKE_VIRTQ_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <linux/virtio_ring.h>

#include "virtio/queue.h"
#include "virtio/virtio.h"
#include "vm/memory.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

#define FG_MAX_QUEUES VIRTIO_MAX_QUEUES
#define FG_MAX_QSIZE 1024
/*
 * The standard ring layout: queue q's descriptor table at FG_DESC_GPA(q),
 * its avail ring at +0x4000 and its used ring at +0x8000, room for
 * FG_MAX_QSIZE entries each. Tests keep their buffers clear of
 * [0x10000, 0x10000 + 0x10000 * nr_queues).
 */
#define FG_DESC_GPA(q) (0x10000ULL + 0x10000ULL * (q))
#define FG_AVAIL_GPA(q) (FG_DESC_GPA(q) + 0x4000)
#define FG_USED_GPA(q) (FG_DESC_GPA(q) + 0x8000)

/* One split ring, as the driver sees it. */
struct fake_vq {
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t size;
	uint16_t avail_idx; /* the driver's next avail index */
};

struct fake_guest {
	struct guest_mem m;
	struct fake_vq vq[FG_MAX_QUEUES];
	/* What the device asked of the transport. */
	atomic_int notified[FG_MAX_QUEUES];
	atomic_int config_changed;
	atomic_int needs_reset;
	/* Set to fail the test on a config change / a reset request. */
	bool no_config_change;
	bool no_reset;
};

/* Zeroes @g and gives it @ram bytes of RAM, @lowmem of it below 4 GiB. */
void fg_init_mem(struct fake_guest *g, uint64_t ram, uint64_t lowmem);
void fg_init(struct fake_guest *g, uint64_t ram);
void fg_fini(struct fake_guest *g);

/* The host address of [gpa, gpa + len), which must be guest RAM. */
uint8_t *fg_hva(struct fake_guest *g, uint64_t gpa, uint64_t len);

/* Queue @q's rings at the standard place, @size entries. */
void fg_layout(struct fake_guest *g, int q, uint16_t size);
void fg_ring_at(struct fake_guest *g, int q, uint16_t size, uint64_t desc, uint64_t avail,
		uint64_t used);
/* Points @vq at queue @q's rings and starts it, as the transport would;
 * the driver's avail index restarts at 0. */
void fg_start_virtq(struct fake_guest *g, int q, struct virtq *vq, bool event_idx,
		    bool indirect);

/* @d uses @g's memory and @g as its transport. */
void fg_attach(struct fake_guest *g, struct virtio_dev *d);
/* What the transport does at DRIVER_OK: starts each of @d's queues on
 * the rings laid out for it, then activates @d. */
void fg_driver_ok(struct fake_guest *g, struct virtio_dev *d, bool event_idx,
		  bool indirect);
void fg_kick(struct virtio_dev *d, int q);
/* Notifications on all queues. */
int fg_notified_total(struct fake_guest *g);

/* The driver's side of the rings. */
void fg_put_desc_at(struct fake_guest *g, uint64_t table, int i, uint64_t addr,
		    uint32_t len, uint16_t flags, uint16_t next);
void fg_put_desc(struct fake_guest *g, int q, int i, uint64_t addr, uint32_t len,
		 uint16_t flags, uint16_t next);
/* Publishes the @n chain heads, then the new avail index. */
void fg_add_avail_n(struct fake_guest *g, int q, const uint16_t *heads, int n);
void fg_add_avail(struct fake_guest *g, int q, uint16_t head);
/* Writes @idx as the avail index without adding entries, as a broken
 * or hostile driver would. */
void fg_set_avail_idx(struct fake_guest *g, int q, uint16_t idx);
uint16_t fg_used_idx(struct fake_guest *g, int q);
/* The used ring's flags, and its avail_event (VIRTIO_F_EVENT_IDX). */
uint16_t fg_used_flags(struct fake_guest *g, int q);
uint16_t fg_avail_event(struct fake_guest *g, int q);
void fg_set_avail_event(struct fake_guest *g, int q, uint16_t v);
/* The @k-th used element ever (taken modulo the ring size). */
struct vring_used_elem fg_used_elem(struct fake_guest *g, int q, uint16_t k);
void fg_expect_used(struct fake_guest *g, int q, uint16_t k, uint32_t id, uint32_t len);
/* Waits up to 5 s for the used index to reach @want. */
void fg_wait_used(struct fake_guest *g, int q, uint16_t want);

#endif
