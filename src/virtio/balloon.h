/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_VIRTIO_BALLOON_H
#define KVMBOX_VIRTIO_BALLOON_H

#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"
#include "virtio/virtio.h"

/*
 * virtio-balloon (virtio 1.x, 5.5), device id 5. Features offered:
 * STATS_VQ, DEFLATE_ON_OOM and PAGE_REPORTING (unless created with
 * @reporting false: --balloon=report=off). Queues, in the order the
 * driver numbers them: inflateq, deflateq, then statsq and reporting_vq
 * when negotiated (absent queues take no index). Pages the guest inflates
 * or reports free are dropped from the host with madvise(MADV_DONTNEED);
 * page frame numbers outside guest RAM are counted and ignored.
 *
 * The host sets the target (num_pages) with virtio_balloon_set_target();
 * the driver moves "actual" towards it. Guest memory statistics arrive on
 * the stats queue: the device keeps the driver's buffer and hands it back
 * to ask for fresh numbers (virtio_balloon_request_stats()).
 *
 * Threads: queues run on the event loop; the setters and getters may be
 * called from any thread. The device lock protects everything.
 */
#define VIRTIO_BALLOON_NR_GUEST_STATS 10

struct virtio_balloon_info {
	uint64_t target_pages; /* num_pages: what the host asks for */
	uint64_t actual_pages; /* what the driver says it holds */
	uint64_t inflated_pages; /* PFNs received on inflateq (total) */
	uint64_t deflated_pages; /* PFNs received on deflateq (total) */
	uint64_t reported_bytes; /* free page reporting (total) */
	uint64_t bad_pfns; /* outside guest RAM: ignored */
	uint64_t stats_updates; /* statistics buffers received */
	bool guest_stats_valid;
	/* By VIRTIO_BALLOON_S_* tag: swap_in ... hugetlb_failures. */
	uint64_t guest_stats[VIRTIO_BALLOON_NR_GUEST_STATS];
	bool guest_stat_present[VIRTIO_BALLOON_NR_GUEST_STATS];
};

struct virtio_dev *virtio_balloon_create(bool reporting, struct kb_err *err);
/* Asks the guest to hold @pages 4 KiB pages (config change interrupt). */
void virtio_balloon_set_target(struct virtio_dev *d, uint64_t pages);
/* Asks the driver for fresh statistics (they arrive asynchronously). */
void virtio_balloon_request_stats(struct virtio_dev *d);
void virtio_balloon_get_info(struct virtio_dev *d, struct virtio_balloon_info *out);
/* "swap_in", ... for tag @i, or NULL. */
const char *virtio_balloon_stat_name(unsigned int i);

#endif
