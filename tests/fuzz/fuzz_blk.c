// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target: the virtio-blk request parser (blk_parse_request) on
 * buffers made of the fuzzer's bytes, then the device's use of the result
 * (status byte written, data buffers read or written in full), so that
 * ASan sees any access outside the driver's buffers.
 *
 * Input: a 16-byte header, then the buffer lengths, then their contents.
 * All multi-byte fields little-endian.
 *   0  nr_out      readable buffers, % 64
 *   1  nr_in       writable buffers, % 64 (+ BLK_MAX_IOV - 32 with F_MANY)
 *   2  flags       F_RO, F_BIG_CAP (capacity from bytes 8..15), F_MANY
 *   3  pad
 *   4  cap32       u32 capacity in sectors (without F_BIG_CAP)
 *   8  cap64       u64 capacity in sectors (with F_BIG_CAP)
 * then one u16 per buffer (length & 0x1fff; missing bytes are 0), then the
 * bytes that fill the buffers in order (zeroes when the input runs out).
 * Each buffer is its own heap block. tests/fuzz/gen_blk_corpus.py writes
 * seeds in this format.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_blk.h>

#include "virtio/blk_req.h"

#define HDR_SIZE 16
#define MAX_BUF_LEN 0x1fff

#define F_RO 1
#define F_BIG_CAP 2
#define F_MANY 4

#define CHECK(x)                          \
	do {                              \
		if (!(x))                 \
			__builtin_trap(); \
	} while (0)

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* [p, p + len) lies inside one of the buffers iov[from, to). */
static bool inside(const struct iovec *iov, int from, int to, const void *p, size_t len)
{
	const uint8_t *b = p;

	for (int i = from; i < to; i++) {
		const uint8_t *s = iov[i].iov_base;

		if (b >= s && b < s + iov[i].iov_len &&
		    len <= iov[i].iov_len - (size_t)(b - s))
			return true;
	}
	return false;
}

static void check_data(const struct iovec *iov, int nr_out, int nr_in,
		       const struct blk_op *op, bool in)
{
	uint64_t total = 0;
	volatile uint8_t sink = 0;

	for (int i = 0; i < op->iovcnt; i++) {
		uint8_t *p = op->iov[i].iov_base;
		size_t l = op->iov[i].iov_len;

		CHECK(l > 0);
		if (in)
			CHECK(inside(iov, nr_out, nr_out + nr_in, p, l));
		else
			CHECK(inside(iov, 0, nr_out, p, l));
		/* The data never covers the status byte. */
		CHECK(!(op->status >= p && op->status < p + l));
		if (in) {
			memset(p, 0xa5, l);
		} else {
			for (size_t j = 0; j < l; j++)
				sink += p[j];
		}
		total += l;
	}
	CHECK(total == op->len);
	(void)sink;
}

static void check(const struct iovec *iov, int nr_out, int nr_in, uint64_t cap, bool ro,
		  const struct blk_op *op, int ret)
{
	const uint8_t *last = NULL;

	for (int i = nr_out + nr_in - 1; i >= nr_out && !last; i--) {
		if (iov[i].iov_len)
			last = (const uint8_t *)iov[i].iov_base + iov[i].iov_len - 1;
	}
	if (ret == -EINVAL) {
		CHECK(!last && !op->status);
		return;
	}
	CHECK(ret == VIRTIO_BLK_S_OK || ret == VIRTIO_BLK_S_IOERR ||
	      ret == VIRTIO_BLK_S_UNSUPP);
	CHECK(op->status == last);
	*op->status = (uint8_t)ret;
	if (ret != VIRTIO_BLK_S_OK)
		return;

	switch (op->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		CHECK(op->type == VIRTIO_BLK_T_IN || !ro);
		CHECK(op->len % BLK_SECTOR_SIZE == 0);
		CHECK(op->sector <= cap &&
		      (op->len >> BLK_SECTOR_SHIFT) <= cap - op->sector);
		check_data(iov, nr_out, nr_in, op, op->type == VIRTIO_BLK_T_IN);
		break;
	case VIRTIO_BLK_T_GET_ID:
		CHECK(op->len == VIRTIO_BLK_ID_BYTES);
		check_data(iov, nr_out, nr_in, op, true);
		break;
	case VIRTIO_BLK_T_FLUSH:
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		CHECK(!ro);
		CHECK(op->nr_ranges >= 1 && op->nr_ranges <= BLK_MAX_DWZ_SEG);
		for (int i = 0; i < op->nr_ranges; i++) {
			const struct blk_range *r = &op->range[i];

			CHECK(r->nr_sectors <= BLK_MAX_DWZ_SECTORS);
			CHECK(r->sector <= cap && r->nr_sectors <= cap - r->sector);
			CHECK(op->type == VIRTIO_BLK_T_WRITE_ZEROES || !r->unmap);
		}
		break;
	default:
		CHECK(0); /* anything else is UNSUPP */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct blk_op op;
	struct iovec *iov;
	int nr_out, nr_in, n, ret;
	size_t pos = HDR_SIZE;
	uint64_t cap;
	uint8_t flags;
	bool ro;

	if (size < HDR_SIZE)
		return 0;
	flags = data[2];
	nr_out = data[0] % 64;
	nr_in = data[1] % 64;
	if (flags & F_MANY)
		nr_in += BLK_MAX_IOV - 32;
	ro = flags & F_RO;
	cap = (flags & F_BIG_CAP) ? get_le(data + 8, 8) : get_le(data + 4, 4);
	n = nr_out + nr_in;

	iov = calloc((size_t)n + 1, sizeof(*iov));
	CHECK(iov);
	for (int i = 0; i < n; i++, pos += 2)
		iov[i].iov_len =
			pos + 2 <= size ? get_le(data + pos, 2) & MAX_BUF_LEN : 0;
	for (int i = 0; i < n; i++) {
		size_t len = iov[i].iov_len;
		size_t have = pos < size ? size - pos : 0;
		size_t c = have < len ? have : len;

		/* Empty buffers get a block too (a 1-byte one) so that
		 * their address is valid to compare, never to use. */
		iov[i].iov_base = calloc(1, len ? len : 1);
		CHECK(iov[i].iov_base);
		if (c)
			memcpy(iov[i].iov_base, data + pos, c);
		pos += c;
	}

	ret = blk_parse_request(iov, nr_out, nr_in, cap, ro, &op);
	check(iov, nr_out, nr_in, cap, ro, &op, ret);

	for (int i = 0; i < n; i++)
		free(iov[i].iov_base);
	free(iov);
	return 0;
}
