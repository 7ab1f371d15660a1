/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_VIRTIO_BLK_REQ_H
#define KVMBOX_VIRTIO_BLK_REQ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

/*
 * virtio-blk requests (virtio 1.x, 5.2.6) as the device parses them: pure
 * functions of the request's buffers, no I/O, so that they can be tested
 * and fuzzed on their own.
 */
#define BLK_SECTOR_SHIFT 9
#define BLK_SECTOR_SIZE 512u

#define BLK_QUEUE_SIZE 256
/* Data segments per request (config seg_max): header and status take
 * the other two descriptors of a queue-sized chain. */
#define BLK_SEG_MAX (BLK_QUEUE_SIZE - 2)
#define BLK_MAX_IOV (BLK_SEG_MAX + 2)
/* Discard / write-zeroes: segments per request and sectors per segment
 * (config max_discard_seg, max_discard_sectors and the write-zeroes
 * twins). */
#define BLK_MAX_DWZ_SEG 32
#define BLK_MAX_DWZ_SECTORS (1u << 22) /* 2 GiB */

struct blk_range {
	uint64_t sector;
	uint32_t nr_sectors;
	bool unmap; /* write zeroes: VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP */
};

struct blk_op {
	uint32_t type; /* VIRTIO_BLK_T_* */
	uint64_t sector; /* IN / OUT */
	uint8_t *status; /* the status byte (the last writable byte), or NULL */
	/* IN / OUT / GET_ID: the data buffers, header and status excluded. */
	struct iovec iov[BLK_MAX_IOV];
	int iovcnt;
	uint64_t len; /* their total length (GET_ID: at most 20) */
	/* DISCARD / WRITE_ZEROES. */
	struct blk_range range[BLK_MAX_DWZ_SEG];
	int nr_ranges;
};

/*
 * Turns one request (@nr_out device-readable buffers, then @nr_in
 * device-writable ones) into @op. Returns:
 *  VIRTIO_BLK_S_OK     @op is valid: sizes are whole sectors, every range
 *                      lies inside @capacity (sectors), no write to a
 *                      read-only (@ro) disk;
 *  VIRTIO_BLK_S_IOERR  (or VIRTIO_BLK_S_UNSUPP, unknown types and flags):
 *                      answer the request with this status at once
 *                      (op->status is set);
 *  -EINVAL             no writable byte for the status: nothing can be
 *                      answered (complete the chain with length 0).
 * The header (16 bytes) may be split across buffers; a buffer may hold the
 * end of the data and the status byte.
 */
int blk_parse_request(const struct iovec *iov, int nr_out, int nr_in,
		      uint64_t capacity_sectors, bool ro, struct blk_op *op);

#endif
