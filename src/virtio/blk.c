// SPDX-License-Identifier: GPL-2.0-only
/*
 * virtio-blk device (virtio 1.x, 5.2) over a block backend.
 *
 * Flow: the driver kicks -> queue_notify (event loop) pops chains, parses
 * each (blk_parse_request) and submits it to the backend -> the backend
 * completes on the event loop -> blk_io_done writes the status byte, puts
 * the chain on the used ring -> one interrupt per batch of completions.
 *
 * b->lock covers the queue, the request pool and the counters: queue
 * processing and completions both run on the event loop, but reset and
 * stats come from other threads. Lock order: b->lock, then the backend's;
 * the backend never calls back with its own lock held.
 *
 * Reset: a generation count. Requests in flight at reset belong to the old
 * generation; reset waits (block_drain) until their I/O is over, so guest
 * memory is not touched after it returns, and their late done() calls only
 * return them to the pool.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>

#include "util/log.h"
#include "virtio/blk.h"

#define MAX_ERROR_LOGS 16

struct blk_req {
	struct blk_dev *dev;
	struct block_req io;
	struct blk_op op;
	uint16_t head;
	uint32_t gen;
	int next_range; /* DISCARD / WRITE_ZEROES: next segment to run */
	bool flushing; /* write-through: the flush after the write */
	struct blk_req *next_free;
};

struct blk_dev {
	struct virtio_dev vdev;
	struct block_dev *bdev;
	pthread_mutex_t lock;
	struct virtio_blk_config cfg;
	char id[VIRTIO_BLK_ID_BYTES]; /* serial, NUL-padded */
	uint64_t capacity; /* sectors */
	bool ro;
	bool active; /* between activate and reset */
	bool writethrough; /* the driver did not take VIRTIO_BLK_F_FLUSH */
	bool throttled; /* stopped popping: no free request */
	bool dying;
	bool need_notify; /* used entries pushed, interrupt not sent yet */
	uint32_t gen;
	unsigned int error_logs;
	struct blk_req *reqs;
	struct blk_req *free_list;
	struct iovec iov[BLK_MAX_IOV]; /* virtq_pop scratch */
	struct virtio_blk_stats st;
};

static struct blk_dev *to_blk(struct virtio_dev *d)
{
	return d->priv;
}

static void req_put(struct blk_dev *b, struct blk_req *r)
{
	r->next_free = b->free_list;
	b->free_list = r;
	b->st.in_flight--;
}

/* Under b->lock: answer the request with @status. */
static void blk_complete(struct blk_dev *b, struct blk_req *r, uint8_t status)
{
	uint32_t written = 1;

	if (status == VIRTIO_BLK_S_OK &&
	    (r->op.type == VIRTIO_BLK_T_IN || r->op.type == VIRTIO_BLK_T_GET_ID))
		written += (uint32_t)r->op.len;
	if (status == VIRTIO_BLK_S_IOERR)
		b->st.errors++;
	else if (status == VIRTIO_BLK_S_UNSUPP)
		b->st.unsupported++;
	*r->op.status = status;
	virtq_push(&b->vdev.vq[0], r->head, written);
	b->need_notify = true;
	req_put(b, r);
}

static void blk_io_error(struct blk_dev *b, struct blk_req *r, int err)
{
	if (b->error_logs < MAX_ERROR_LOGS) {
		b->error_logs++;
		log_warn("%s: request type %u at sector %llu: %s%s", b->bdev->file,
			 r->op.type, (unsigned long long)r->op.sector, strerror(-err),
			 b->error_logs == MAX_ERROR_LOGS ? " (no more such messages)" :
							   "");
	}
	blk_complete(b, r, VIRTIO_BLK_S_IOERR);
}

static void blk_io_done(struct block_req *io, int res);

/* Under b->lock: starts r->io as set up; an immediate failure answers. */
static void blk_submit(struct blk_dev *b, struct blk_req *r)
{
	int ret;

	r->io.done = blk_io_done;
	r->io.opaque = r;
	ret = block_submit(b->bdev, &r->io);
	if (ret)
		blk_io_error(b, r, ret);
}

/* DISCARD / WRITE_ZEROES: starts the next non-empty segment. False when
 * none is left. */
static bool blk_next_range(struct blk_dev *b, struct blk_req *r)
{
	while (r->next_range < r->op.nr_ranges) {
		const struct blk_range *rg = &r->op.range[r->next_range++];

		if (!rg->nr_sectors)
			continue;
		memset(&r->io, 0, sizeof(r->io));
		r->io.op = r->op.type == VIRTIO_BLK_T_DISCARD ? BLOCK_OP_DISCARD :
								BLOCK_OP_WRITE_ZEROES;
		r->io.offset = rg->sector << BLK_SECTOR_SHIFT;
		r->io.len = (uint64_t)rg->nr_sectors << BLK_SECTOR_SHIFT;
		r->io.may_unmap = rg->unmap;
		blk_submit(b, r);
		return true;
	}
	return false;
}

static void blk_count(struct blk_dev *b, uint32_t type)
{
	switch (type) {
	case VIRTIO_BLK_T_IN:
		b->st.reads++;
		break;
	case VIRTIO_BLK_T_OUT:
		b->st.writes++;
		break;
	case VIRTIO_BLK_T_FLUSH:
		b->st.flushes++;
		break;
	case VIRTIO_BLK_T_DISCARD:
		b->st.discards++;
		break;
	case VIRTIO_BLK_T_WRITE_ZEROES:
		b->st.write_zeroes++;
		break;
	case VIRTIO_BLK_T_GET_ID:
		b->st.get_ids++;
		break;
	}
}

/* Under b->lock: one chain from the queue. */
static void blk_start(struct blk_dev *b, const struct virtq_req *vr)
{
	struct blk_req *r = b->free_list;
	int ret;

	b->free_list = r->next_free;
	b->st.in_flight++;
	b->st.requests++;
	r->head = vr->head;
	r->gen = b->gen;
	r->next_range = 0;
	r->flushing = false;

	ret = blk_parse_request(vr->iov, vr->nr_out, vr->nr_in, b->capacity, b->ro,
				&r->op);
	if (ret < 0) {
		/* No status byte: nothing to answer with. */
		virtq_push(&b->vdev.vq[0], r->head, 0);
		b->need_notify = true;
		b->st.errors++;
		req_put(b, r);
		return;
	}
	blk_count(b, r->op.type);
	if (ret != VIRTIO_BLK_S_OK) {
		blk_complete(b, r, (uint8_t)ret);
		return;
	}

	memset(&r->io, 0, sizeof(r->io));
	switch (r->op.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		if (!r->op.len) {
			blk_complete(b, r, VIRTIO_BLK_S_OK);
			return;
		}
		r->io.op = r->op.type == VIRTIO_BLK_T_IN ? BLOCK_OP_READ : BLOCK_OP_WRITE;
		r->io.iov = r->op.iov;
		r->io.iovcnt = r->op.iovcnt;
		r->io.offset = r->op.sector << BLK_SECTOR_SHIFT;
		blk_submit(b, r);
		return;
	case VIRTIO_BLK_T_FLUSH:
		r->io.op = BLOCK_OP_FLUSH;
		blk_submit(b, r);
		return;
	case VIRTIO_BLK_T_GET_ID:
		iov_from_buf(r->op.iov, r->op.iovcnt, 0, b->id, sizeof(b->id));
		blk_complete(b, r, VIRTIO_BLK_S_OK);
		return;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		if (!blk_next_range(b, r))
			blk_complete(b, r, VIRTIO_BLK_S_OK);
		return;
	}
	blk_complete(b, r, VIRTIO_BLK_S_UNSUPP);
}

static void blk_notify(struct blk_dev *b)
{
	if (b->need_notify && b->active) {
		b->need_notify = false;
		virtio_notify_queue(&b->vdev, 0);
	}
}

/* Under b->lock: takes every available chain (or until the pool runs dry). */
static void blk_process(struct blk_dev *b)
{
	struct virtq *q = &b->vdev.vq[0];
	struct virtq_req vr;
	int ret;

	if (!b->active || q->broken)
		return;
	block_plug(b->bdev);
	do {
		virtq_disable_notify(q);
		for (;;) {
			if (!b->free_list) {
				/* A completion calls us again. */
				b->throttled = true;
				goto out;
			}
			ret = virtq_pop(q, &vr, b->iov, BLK_MAX_IOV);
			if (!ret)
				break;
			if (ret == -EINVAL) {
				log_warn("%s: malformed virtqueue: device needs reset",
					 b->bdev->file);
				virtio_set_needs_reset(&b->vdev);
				goto out;
			}
			if (ret == -E2BIG) {
				/* More than seg_max segments: no status byte
				 * to answer with. */
				virtq_push(q, vr.head, 0);
				b->need_notify = true;
				b->st.requests++;
				b->st.errors++;
				continue;
			}
			blk_start(b, &vr);
		}
	} while (virtq_enable_notify(q));
out:
	block_unplug(b->bdev);
	blk_notify(b);
}

static void blk_io_done(struct block_req *io, int res)
{
	struct blk_req *r = io->opaque;
	struct blk_dev *b = r->dev;

	pthread_mutex_lock(&b->lock);
	if (r->gen != b->gen || b->dying) {
		/* Reset since: the request is gone for the driver (its
		 * slot in the pool may be awaited, though). */
		req_put(b, r);
		goto more;
	}
	if (res < 0) {
		blk_io_error(b, r, res);
		goto more;
	}
	switch (r->op.type) {
	case VIRTIO_BLK_T_IN:
		b->st.bytes_read += r->op.len;
		break;
	case VIRTIO_BLK_T_OUT:
		if (r->flushing)
			break;
		b->st.bytes_written += r->op.len;
		if (b->writethrough) {
			r->flushing = true;
			memset(&r->io, 0, sizeof(r->io));
			r->io.op = BLOCK_OP_FLUSH;
			blk_submit(b, r);
			goto more;
		}
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		if (blk_next_range(b, r))
			goto more;
		break;
	}
	blk_complete(b, r, VIRTIO_BLK_S_OK);
more:
	if (b->throttled && !b->dying) {
		b->throttled = false;
		blk_process(b);
	}
	pthread_mutex_unlock(&b->lock);
}

/* After a batch of completions (event loop): one interrupt for all. */
static void blk_batch_done(void *arg)
{
	struct blk_dev *b = arg;

	pthread_mutex_lock(&b->lock);
	blk_notify(b);
	pthread_mutex_unlock(&b->lock);
}

static uint64_t blk_features(struct virtio_dev *d)
{
	struct blk_dev *b = to_blk(d);
	uint64_t f = 1ULL << VIRTIO_BLK_F_SEG_MAX | 1ULL << VIRTIO_BLK_F_BLK_SIZE |
		     1ULL << VIRTIO_BLK_F_FLUSH | 1ULL << VIRTIO_BLK_F_TOPOLOGY;

	if (b->ro)
		f |= 1ULL << VIRTIO_BLK_F_RO;
	else
		f |= 1ULL << VIRTIO_BLK_F_DISCARD | 1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
	return f;
}

static void blk_read_config(struct virtio_dev *d, uint32_t off, void *data, uint32_t len)
{
	struct blk_dev *b = to_blk(d);

	/* The transport checked off + len <= config_size; the config never
	 * changes after create. */
	memcpy(data, (const uint8_t *)&b->cfg + off, len);
}

static void blk_write_config(struct virtio_dev *d, uint32_t off, const void *data,
			     uint32_t len)
{
	/* No writable field (no VIRTIO_BLK_F_CONFIG_WCE). */
}

static int blk_activate(struct virtio_dev *d)
{
	struct blk_dev *b = to_blk(d);

	pthread_mutex_lock(&b->lock);
	b->writethrough = !virtio_has_feature(d, VIRTIO_BLK_F_FLUSH);
	b->throttled = false;
	b->need_notify = false;
	b->active = true;
	pthread_mutex_unlock(&b->lock);
	return 0;
}

static void blk_queue_notify(struct virtio_dev *d, int q)
{
	struct blk_dev *b = to_blk(d);

	if (q != 0)
		return;
	pthread_mutex_lock(&b->lock);
	blk_process(b);
	pthread_mutex_unlock(&b->lock);
}

static void blk_reset(struct virtio_dev *d)
{
	struct blk_dev *b = to_blk(d);

	pthread_mutex_lock(&b->lock);
	b->gen++;
	b->active = false;
	b->throttled = false;
	b->need_notify = false;
	/* The backend finishes the I/O without calling back into us. */
	block_drain(b->bdev);
	pthread_mutex_unlock(&b->lock);
}

static void blk_destroy(struct virtio_dev *d)
{
	struct blk_dev *b = to_blk(d);

	pthread_mutex_lock(&b->lock);
	b->dying = true;
	b->active = false;
	b->gen++;
	pthread_mutex_unlock(&b->lock);
	/* Delivers the last completions here: they only free requests. */
	block_close(b->bdev);
	free(b->reqs);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

static const struct virtio_dev_ops blk_ops = {
	.features = blk_features,
	.read_config = blk_read_config,
	.write_config = blk_write_config,
	.activate = blk_activate,
	.queue_notify = blk_queue_notify,
	.reset = blk_reset,
	.destroy = blk_destroy,
};

static unsigned int log2u(uint32_t v)
{
	unsigned int n = 0;

	while (v > 1) {
		v >>= 1;
		n++;
	}
	return n;
}

static void blk_fill_config(struct blk_dev *b)
{
	struct virtio_blk_config *c = &b->cfg;
	uint32_t lbs = b->bdev->logical_block_size;
	uint32_t pbs = b->bdev->physical_block_size;
	uint32_t dwz_align = (pbs > 4096 ? pbs : 4096) >> BLK_SECTOR_SHIFT;

	memset(c, 0, sizeof(*c));
	c->capacity = htole64(b->capacity);
	c->seg_max = htole32(BLK_SEG_MAX);
	c->blk_size = htole32(lbs);
	/* TOPOLOGY: physical block = 2^exp logical blocks. */
	c->physical_block_exp = (uint8_t)log2u(pbs / lbs);
	c->alignment_offset = 0;
	c->min_io_size = htole16(1);
	c->opt_io_size = htole32(0);
	c->num_queues = htole16(1);
	if (!b->ro) {
		c->max_discard_sectors = htole32(BLK_MAX_DWZ_SECTORS);
		c->max_discard_seg = htole32(BLK_MAX_DWZ_SEG);
		c->discard_sector_alignment = htole32(dwz_align);
		c->max_write_zeroes_sectors = htole32(BLK_MAX_DWZ_SECTORS);
		c->max_write_zeroes_seg = htole32(BLK_MAX_DWZ_SEG);
		c->write_zeroes_may_unmap = 1;
	}
}

struct virtio_dev *virtio_blk_create(const struct block_spec *spec,
				     struct event_loop *loop, struct kb_err *err)
{
	struct blk_dev *b = calloc(1, sizeof(*b));
	uint64_t size;

	if (!b) {
		kb_err_set(err, -ENOMEM, "virtio-blk: out of memory");
		return NULL;
	}
	b->reqs = calloc(BLK_QUEUE_SIZE, sizeof(*b->reqs));
	if (!b->reqs) {
		free(b);
		kb_err_set(err, -ENOMEM, "virtio-blk: out of memory");
		return NULL;
	}
	if (block_open(spec, loop, &b->bdev, err)) {
		free(b->reqs);
		free(b);
		return NULL;
	}
	pthread_mutex_init(&b->lock, NULL);
	for (int i = BLK_QUEUE_SIZE - 1; i >= 0; i--) {
		b->reqs[i].dev = b;
		b->reqs[i].next_free = b->free_list;
		b->free_list = &b->reqs[i];
	}
	size = block_size(b->bdev);
	b->capacity = size >> BLK_SECTOR_SHIFT;
	if (size % BLK_SECTOR_SIZE)
		log_warn(
			"%s: size %llu is not a multiple of 512: the last %u bytes are not on the disk",
			spec->file, (unsigned long long)size,
			(unsigned int)(size % BLK_SECTOR_SIZE));
	b->ro = spec->ro;
	/* NUL-padded, no terminator at 20 bytes (5.2.6). */
	memcpy(b->id, spec->serial, strnlen(spec->serial, sizeof(b->id)));
	blk_fill_config(b);

	b->vdev.name = "virtio-blk";
	b->vdev.device_id = VIRTIO_ID_BLOCK;
	b->vdev.config_size = sizeof(b->cfg);
	b->vdev.nr_queues = 1;
	b->vdev.queue_max_size = BLK_QUEUE_SIZE;
	b->vdev.ops = &blk_ops;
	b->vdev.priv = b;
	block_set_batch_fn(b->bdev, blk_batch_done, b);
	return &b->vdev;
}

void virtio_blk_get_stats(struct virtio_dev *d, struct virtio_blk_stats *out)
{
	struct blk_dev *b = to_blk(d);

	pthread_mutex_lock(&b->lock);
	*out = b->st;
	pthread_mutex_unlock(&b->lock);
}
