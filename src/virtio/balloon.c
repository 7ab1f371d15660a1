// SPDX-License-Identifier: GPL-2.0-only
/*
 * virtio memory balloon (virtio 1.x, 5.5).
 *
 * The driver gives pages to the balloon (inflateq) when num_pages grows,
 * takes them back (deflateq) when it shrinks, and reports free pages
 * (reporting_vq) on its own. Each buffer on inflateq/deflateq is an array
 * of 32-bit page frame numbers of 4 KiB pages; each reporting buffer is a
 * device-writable range of guest memory. Pages given to the balloon or
 * reported free are dropped with MADV_DONTNEED: the host gets the memory
 * back, and a later guest access finds a zeroed page (guest RAM is a
 * private anonymous mapping). Deflation needs no host action.
 *
 * Statistics (5.5.6.3): the driver posts one buffer of (le16 tag, le64
 * value) pairs at start; the device keeps it and returns it when it wants
 * new values; the driver then posts a fresh one.
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <linux/virtio_balloon.h>
#include <linux/virtio_ids.h>

#include "util/log.h"
#include "virtio/balloon.h"

#define VB_QUEUE_SIZE 128
#define VB_MAX_IOV 64
#define VB_PAGE 4096ULL
#define VB_PFN_BATCH 256
#define VB_MAX_STATS 64

enum vb_queue { VBQ_INFLATE, VBQ_DEFLATE, VBQ_STATS, VBQ_REPORT, VBQ_NONE };

struct vballoon {
	struct virtio_dev vdev;
	pthread_mutex_t lock;
	bool active;
	bool reporting; /* VIRTIO_BALLOON_F_REPORTING offered */
	uint32_t num_pages; /* config: target */
	uint32_t actual; /* config: written by the driver */
	enum vb_queue role[VIRTIO_MAX_QUEUES]; /* by queue index, from features */
	bool stats_held; /* the driver's stats buffer is ours */
	uint16_t stats_head;
	struct virtio_balloon_info info;
};

static const char *const stat_names[VIRTIO_BALLOON_NR_GUEST_STATS] = {
	"swap_in",	    "swap_out",	   "major_faults",
	"minor_faults",	    "free_memory", "total_memory",
	"available_memory", "disk_caches", "hugetlb_allocations",
	"hugetlb_failures",
};

const char *virtio_balloon_stat_name(unsigned int i)
{
	return i < VIRTIO_BALLOON_NR_GUEST_STATS ? stat_names[i] : NULL;
}

static struct vballoon *to_vb(struct virtio_dev *d)
{
	return d->priv;
}

static uint64_t vb_features(struct virtio_dev *d)
{
	return (1ULL << VIRTIO_BALLOON_F_STATS_VQ) |
	       (1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM) |
	       (to_vb(d)->reporting ? 1ULL << VIRTIO_BALLOON_F_REPORTING : 0);
}

static void vb_read_config(struct virtio_dev *d, uint32_t off, void *data, uint32_t len)
{
	struct vballoon *b = to_vb(d);
	struct virtio_balloon_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	pthread_mutex_lock(&b->lock);
	cfg.num_pages = b->num_pages; /* little-endian host */
	cfg.actual = b->actual;
	pthread_mutex_unlock(&b->lock);
	memcpy(data, (uint8_t *)&cfg + off, len);
}

static void vb_write_config(struct virtio_dev *d, uint32_t off, const void *data,
			    uint32_t len)
{
	struct vballoon *b = to_vb(d);
	uint32_t v = 0;

	/* Only "actual" (offset 4) is the driver's to write. */
	if (off != 4 || len != 4)
		return;
	memcpy(&v, data, 4);
	pthread_mutex_lock(&b->lock);
	b->actual = v;
	b->info.actual_pages = v;
	pthread_mutex_unlock(&b->lock);
}

static int vb_activate(struct virtio_dev *d)
{
	struct vballoon *b = to_vb(d);
	int q = 2;

	pthread_mutex_lock(&b->lock);
	for (int i = 0; i < VIRTIO_MAX_QUEUES; i++)
		b->role[i] = VBQ_NONE;
	b->role[0] = VBQ_INFLATE;
	b->role[1] = VBQ_DEFLATE;
	/* Absent queues take no index: the driver numbers the ones it uses. */
	if (virtio_has_feature(d, VIRTIO_BALLOON_F_STATS_VQ))
		b->role[q++] = VBQ_STATS;
	if (virtio_has_feature(d, VIRTIO_BALLOON_F_REPORTING))
		b->role[q++] = VBQ_REPORT;
	b->active = true;
	b->stats_held = false;
	pthread_mutex_unlock(&b->lock);
	return 0;
}

/* Drops guest pages [pfn, pfn + n) from the host, if they are RAM. */
static void vb_discard(struct vballoon *b, uint64_t pfn, uint64_t n)
{
	void *p = guest_mem_ptr(b->vdev.mem, pfn * VB_PAGE, n * VB_PAGE);

	if (!p) {
		b->info.bad_pfns += n;
		return;
	}
	if (madvise(p, n * VB_PAGE, MADV_DONTNEED) < 0)
		log_debug("virtio-balloon: madvise: %m");
}

/* One inflate or deflate buffer: le32 PFNs. Lock held. */
static void vb_pfns(struct vballoon *b, const struct virtq_req *req, bool inflate)
{
	uint32_t pfns[VB_PFN_BATCH];
	size_t off = 0, got;

	while ((got = iov_to_buf(req->iov, req->nr_out, off, pfns, sizeof(pfns))) >= 4) {
		size_t n = got / 4;
		uint64_t run_start = 0, run_len = 0;

		off += n * 4;
		if (!inflate) {
			b->info.deflated_pages += n;
			continue;
		}
		b->info.inflated_pages += n;
		/* Contiguous runs in one madvise each; a bad PFN breaks a run. */
		for (size_t i = 0; i < n; i++) {
			if (run_len && pfns[i] == run_start + run_len) {
				run_len++;
				continue;
			}
			if (run_len)
				vb_discard(b, run_start, run_len);
			run_start = pfns[i];
			run_len = 1;
		}
		if (run_len)
			vb_discard(b, run_start, run_len);
	}
}

/* One reporting buffer: device-writable ranges of free guest memory. */
static void vb_report(struct vballoon *b, const struct virtq_req *req)
{
	for (int i = req->nr_out; i < req->nr_out + req->nr_in; i++) {
		uintptr_t start = (uintptr_t)req->iov[i].iov_base;
		uintptr_t end = start + req->iov[i].iov_len;

		/* The iovec lies in guest RAM (checked by virtq_pop); only whole
		 * host pages inside it are dropped. */
		start = (start + VB_PAGE - 1) & ~(uintptr_t)(VB_PAGE - 1);
		end &= ~(uintptr_t)(VB_PAGE - 1);
		if (end <= start)
			continue;
		if (madvise((void *)start, end - start, MADV_DONTNEED) < 0)
			log_debug("virtio-balloon: madvise: %m");
		b->info.reported_bytes += end - start;
	}
}

/* One statistics buffer: (le16 tag, le64 value) pairs. Only the first
 * VB_MAX_STATS are read (Linux sends one per tag it knows, 16 at most):
 * a buffer as large as guest RAM costs one bounded copy. */
static void vb_stats(struct vballoon *b, const struct virtq_req *req)
{
	struct virtio_balloon_stat st[VB_MAX_STATS];
	size_t n = iov_to_buf(req->iov, req->nr_out, 0, st, sizeof(st)) / sizeof(st[0]);

	for (size_t i = 0; i < n; i++) {
		uint16_t tag = le16toh(st[i].tag);

		if (tag < VIRTIO_BALLOON_NR_GUEST_STATS) {
			b->info.guest_stats[tag] = le64toh(st[i].val);
			b->info.guest_stat_present[tag] = true;
		}
	}
	b->info.guest_stats_valid = true;
	b->info.stats_updates++;
}

static void vb_queue_notify(struct virtio_dev *d, int q)
{
	struct vballoon *b = to_vb(d);
	struct iovec iov[VB_MAX_IOV];
	struct virtq_req req;

	if (q < 0 || q >= VIRTIO_MAX_QUEUES)
		return;
	pthread_mutex_lock(&b->lock);
	while (b->active && b->role[q] != VBQ_NONE) {
		int ret = virtq_pop(&d->vq[q], &req, iov, VB_MAX_IOV);

		if (!ret)
			break;
		if (ret == -EINVAL) {
			virtio_set_needs_reset(d);
			break;
		}
		if (ret < 0) { /* -E2BIG: too many buffers */
			virtq_push(&d->vq[q], req.head, 0);
			continue;
		}
		switch (b->role[q]) {
		case VBQ_INFLATE:
		case VBQ_DEFLATE:
			vb_pfns(b, &req, b->role[q] == VBQ_INFLATE);
			break;
		case VBQ_REPORT:
			vb_report(b, &req);
			break;
		case VBQ_STATS:
			vb_stats(b, &req);
			if (b->stats_held) /* a second buffer: give the old one back */
				virtq_push(&d->vq[q], b->stats_head, 0);
			b->stats_held = true;
			b->stats_head = req.head;
			continue; /* kept until new statistics are wanted */
		default:
			break;
		}
		virtq_push(&d->vq[q], req.head, 0);
	}
	virtio_notify_queue(d, q); /* nothing if nothing used */
	pthread_mutex_unlock(&b->lock);
}

static void vb_reset(struct virtio_dev *d)
{
	struct vballoon *b = to_vb(d);

	pthread_mutex_lock(&b->lock);
	b->active = false;
	b->stats_held = false;
	b->actual = 0;
	b->info.actual_pages = 0;
	pthread_mutex_unlock(&b->lock);
}

static void vb_destroy(struct virtio_dev *d)
{
	struct vballoon *b = to_vb(d);

	pthread_mutex_destroy(&b->lock);
	free(b);
}

static const struct virtio_dev_ops vb_ops = {
	.features = vb_features,
	.read_config = vb_read_config,
	.write_config = vb_write_config,
	.activate = vb_activate,
	.queue_notify = vb_queue_notify,
	.reset = vb_reset,
	.destroy = vb_destroy,
};

struct virtio_dev *virtio_balloon_create(bool reporting, struct kb_err *err)
{
	struct vballoon *b = calloc(1, sizeof(*b));

	if (!b) {
		kb_err_set(err, -ENOMEM, "virtio-balloon: out of memory");
		return NULL;
	}
	pthread_mutex_init(&b->lock, NULL);
	b->reporting = reporting;
	b->vdev.name = "virtio-balloon";
	b->vdev.device_id = VIRTIO_ID_BALLOON;
	b->vdev.config_size = 8; /* num_pages, actual */
	b->vdev.nr_queues = 4;
	b->vdev.queue_max_size = VB_QUEUE_SIZE;
	b->vdev.ops = &vb_ops;
	b->vdev.priv = b;
	return &b->vdev;
}

void virtio_balloon_set_target(struct virtio_dev *d, uint64_t pages)
{
	struct vballoon *b = to_vb(d);

	pthread_mutex_lock(&b->lock);
	b->num_pages = pages > UINT32_MAX ? UINT32_MAX : (uint32_t)pages;
	b->info.target_pages = b->num_pages;
	pthread_mutex_unlock(&b->lock);
	virtio_notify_config(d);
}

void virtio_balloon_request_stats(struct virtio_dev *d)
{
	struct vballoon *b = to_vb(d);
	int q = -1;

	pthread_mutex_lock(&b->lock);
	for (int i = 0; i < VIRTIO_MAX_QUEUES; i++)
		if (b->role[i] == VBQ_STATS)
			q = i;
	if (b->active && b->stats_held && q >= 0) {
		b->stats_held = false;
		virtq_push(&d->vq[q], b->stats_head, 0);
		virtio_notify_queue(d, q);
	}
	pthread_mutex_unlock(&b->lock);
}

void virtio_balloon_get_info(struct virtio_dev *d, struct virtio_balloon_info *out)
{
	struct vballoon *b = to_vb(d);

	pthread_mutex_lock(&b->lock);
	*out = b->info;
	pthread_mutex_unlock(&b->lock);
}
