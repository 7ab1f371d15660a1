// SPDX-License-Identifier: GPL-2.0-only
/*
 * virtio-blk request parsing (virtio 1.x, 5.2.6): the buffers of one
 * chain, as the guest laid them out, into an operation the device can run
 * without further checks. The guest is hostile: every length is summed
 * and every sector range checked with overflow-safe arithmetic, and each
 * guest field is read once (copied out of guest memory) before use.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include <linux/virtio_blk.h>

#include "virtio/blk_req.h"
#include "virtio/queue.h"

/* Appends bytes [off, off + len) of the buffers to op->iov. */
static int slice(const struct iovec *iov, int n, uint64_t off, uint64_t len,
		 struct blk_op *op)
{
	for (int i = 0; i < n && len; i++) {
		uint64_t l = iov[i].iov_len;
		uint64_t c;

		if (off >= l) {
			off -= l;
			continue;
		}
		c = l - off < len ? l - off : len;
		if (op->iovcnt >= BLK_MAX_IOV)
			return -E2BIG;
		op->iov[op->iovcnt].iov_base = (uint8_t *)iov[i].iov_base + off;
		op->iov[op->iovcnt].iov_len = c;
		op->iovcnt++;
		len -= c;
		off = 0;
	}
	return len ? -EINVAL : 0;
}

static bool sum_len(const struct iovec *iov, int n, uint64_t *total)
{
	*total = 0;
	for (int i = 0; i < n; i++) {
		if (__builtin_add_overflow(*total, (uint64_t)iov[i].iov_len, total))
			return false;
	}
	return true;
}

/* [sector, sector + nr) inside the disk, without computing the sum. */
static bool in_disk(uint64_t sector, uint64_t nr, uint64_t capacity)
{
	return sector <= capacity && nr <= capacity - sector;
}

static int check_rw(struct blk_op *op, uint64_t len, uint64_t capacity)
{
	op->len = len;
	if (len % BLK_SECTOR_SIZE)
		return VIRTIO_BLK_S_IOERR;
	if (!in_disk(op->sector, len >> BLK_SECTOR_SHIFT, capacity))
		return VIRTIO_BLK_S_IOERR;
	return VIRTIO_BLK_S_OK;
}

/* The segment array of DISCARD / WRITE_ZEROES: @len bytes after the
 * header in the readable buffers. */
static int parse_ranges(const struct iovec *iov, int nr_out, uint64_t len,
			uint64_t capacity, struct blk_op *op)
{
	struct virtio_blk_discard_write_zeroes seg;
	uint32_t allowed = 0;
	uint64_t n;

	if (!len || len % sizeof(seg))
		return VIRTIO_BLK_S_IOERR;
	n = len / sizeof(seg);
	if (n > BLK_MAX_DWZ_SEG)
		return VIRTIO_BLK_S_IOERR;
	if (op->type == VIRTIO_BLK_T_WRITE_ZEROES)
		allowed = VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
	for (uint64_t i = 0; i < n; i++) {
		struct blk_range *r = &op->range[i];
		uint32_t flags;

		iov_to_buf(iov, nr_out,
			   sizeof(struct virtio_blk_outhdr) + i * sizeof(seg), &seg,
			   sizeof(seg));
		r->sector = le64toh(seg.sector);
		r->nr_sectors = le32toh(seg.num_sectors);
		flags = le32toh(seg.flags);
		/* 5.2.6.2: the unmap flag on a discard, or an unknown flag. */
		if (flags & ~allowed)
			return VIRTIO_BLK_S_UNSUPP;
		r->unmap = flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
		if (r->nr_sectors > BLK_MAX_DWZ_SECTORS)
			return VIRTIO_BLK_S_IOERR;
		if (!in_disk(r->sector, r->nr_sectors, capacity))
			return VIRTIO_BLK_S_IOERR;
		op->nr_ranges++;
	}
	return VIRTIO_BLK_S_OK;
}

int blk_parse_request(const struct iovec *iov, int nr_out, int nr_in,
		      uint64_t capacity_sectors, bool ro, struct blk_op *op)
{
	struct virtio_blk_outhdr hdr;
	const struct iovec *in;
	uint64_t out_len, in_len;

	op->type = 0;
	op->sector = 0;
	op->status = NULL;
	op->iovcnt = 0;
	op->len = 0;
	op->nr_ranges = 0;
	if (nr_out < 0 || nr_in < 0 || (!iov && (nr_out || nr_in)))
		return -EINVAL;
	in = iov + nr_out;

	/* The status byte: the last byte the driver lets the device write. */
	for (int i = nr_in - 1; i >= 0 && !op->status; i--) {
		if (in[i].iov_len)
			op->status = (uint8_t *)in[i].iov_base + in[i].iov_len - 1;
	}
	if (!op->status)
		return -EINVAL;
	if (!sum_len(iov, nr_out, &out_len) || !sum_len(in, nr_in, &in_len))
		return VIRTIO_BLK_S_IOERR;
	in_len--; /* the status byte */

	if (out_len < sizeof(hdr))
		return VIRTIO_BLK_S_IOERR;
	iov_to_buf(iov, nr_out, 0, &hdr, sizeof(hdr));
	op->type = le32toh(hdr.type);
	op->sector = le64toh(hdr.sector);
	out_len -= sizeof(hdr);

	switch (op->type) {
	case VIRTIO_BLK_T_IN:
		if (slice(in, nr_in, 0, in_len, op))
			return VIRTIO_BLK_S_IOERR;
		return check_rw(op, in_len, capacity_sectors);
	case VIRTIO_BLK_T_OUT:
		if (ro)
			return VIRTIO_BLK_S_IOERR;
		if (slice(iov, nr_out, sizeof(hdr), out_len, op))
			return VIRTIO_BLK_S_IOERR;
		return check_rw(op, out_len, capacity_sectors);
	case VIRTIO_BLK_T_FLUSH:
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID:
		/* The driver asks for VIRTIO_BLK_ID_BYTES: less is refused
		 * rather than silently truncated. */
		if (in_len < VIRTIO_BLK_ID_BYTES)
			return VIRTIO_BLK_S_IOERR;
		if (slice(in, nr_in, 0, VIRTIO_BLK_ID_BYTES, op))
			return VIRTIO_BLK_S_IOERR;
		op->len = VIRTIO_BLK_ID_BYTES;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		if (ro)
			return VIRTIO_BLK_S_IOERR;
		return parse_ranges(iov, nr_out, out_len, capacity_sectors, op);
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
}
