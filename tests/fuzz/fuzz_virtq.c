// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target: the device side of a split virtqueue against guest
 * memory made of the fuzzer's bytes.
 *
 * Input: a 16-byte header, then the guest memory image (zero-filled up to
 * MEM_SIZE). All multi-byte fields little-endian.
 *   0  size_log2  queue size = 1 << (size_log2 & 15)
 *   1  flags      F_EVENT_IDX, F_INDIRECT, F_SPLIT (two RAM regions),
 *                 F_RAW_SIZE (queue size = raw_size, may be bad)
 *   2  max_iov    iovecs the device offers, % (MAX_IOV + 1)
 *   3  seed       drives the side calls (notify, copies)
 *   4  raw_size   u16
 *   6  desc       u16 offset of the descriptor table
 *   8  avail      u16 offset of the available ring
 *   10 used       u16 offset of the used ring
 *   12 high       bit 0/1/2: desc/avail/used offset is in the high region
 *   13 pad[3]
 * RAM is one 64 KiB region at 0, or (F_SPLIT) 32 KiB at 0 and 32 KiB at
 * 4 GiB. Each region is its own heap block, so ASan sees any access past
 * either end. tests/fuzz/gen_virtq_corpus.py writes seeds in this format.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/queue.h"
#include "vm/memory.h"

#define HDR_SIZE 16
#define MEM_SIZE 0x10000
#define HIGH_BASE 0x100000000ULL
#define MAX_IOV 64
#define MAX_ROUNDS 512

#define F_EVENT_IDX 1
#define F_INDIRECT 2
#define F_SPLIT 4
#define F_RAW_SIZE 8

/* Checked whatever the build type (NDEBUG or not). */
#define CHECK(x)                          \
	do {                              \
		if (!(x))                 \
			__builtin_trap(); \
	} while (0)

static uint16_t get16(const uint8_t *p)
{
	return p[0] | p[1] << 8;
}

static uint32_t rnd(uint32_t *s)
{
	/* xorshift32: deterministic side calls from the seed byte. */
	uint32_t x = *s ? *s : 0x9e3779b9;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}

/* The iovec must lie wholly inside one RAM region. */
static void check_iov(const struct guest_mem *m, const struct iovec *v)
{
	const uint8_t *p = v->iov_base;

	CHECK(v->iov_len > 0);
	for (int i = 0; i < m->nr_regions; i++) {
		const struct guest_mem_region *r = &m->region[i];

		if (p >= r->hva && p < r->hva + r->size) {
			CHECK(v->iov_len <= r->size - (size_t)(p - r->hva));
			return;
		}
	}
	CHECK(0);
}

static void serve(struct virtq *q, const struct guest_mem *m, int max_iov, uint32_t seed)
{
	static struct iovec iov[MAX_IOV];
	struct virtq_req req;
	volatile uint8_t sink = 0;
	uint8_t tmp[256];

	for (int round = 0; round < MAX_ROUNDS; round++) {
		uint16_t last = q->last_avail;
		uint32_t r = rnd(&seed);
		uint64_t out = 0, in = 0;
		int ret;

		if (r & 1)
			virtq_disable_notify(q);
		ret = virtq_pop(q, &req, iov, max_iov);
		if (ret == 0) {
			CHECK(q->last_avail == last);
			if ((r & 2) && virtq_enable_notify(q))
				continue;
			break;
		}
		if (ret == -EINVAL) {
			CHECK(q->broken);
			CHECK(q->last_avail == last);
			CHECK(virtq_pop(q, &req, iov, max_iov) == -EINVAL);
			CHECK(!virtq_has_avail(q));
			break;
		}
		CHECK(q->last_avail == (uint16_t)(last + 1));
		CHECK(req.head < q->size);
		if (ret == -E2BIG) {
			CHECK(req.nr_out == 0 && req.nr_in == 0);
			virtq_push(q, req.head, 0);
			continue;
		}
		CHECK(ret == 1);
		CHECK(req.iov == iov);
		CHECK(req.nr_out >= 0 && req.nr_in >= 0);
		CHECK(req.nr_out + req.nr_in <= max_iov);
		for (int i = 0; i < req.nr_out + req.nr_in; i++) {
			uint8_t *p = iov[i].iov_base;

			check_iov(m, &iov[i]);
			if (i < req.nr_out) {
				out += iov[i].iov_len;
				for (size_t j = 0; j < iov[i].iov_len; j++)
					sink += p[j];
			} else {
				in += iov[i].iov_len;
				for (size_t j = 0; j < iov[i].iov_len; j++)
					p[j] = (uint8_t)j;
			}
		}
		CHECK(out == req.out_len && in == req.in_len);

		/* The copy helpers, bounded by both sides. */
		{
			size_t off = rnd(&seed) % (out + 2);
			size_t len = rnd(&seed) % sizeof(tmp);
			size_t n = iov_to_buf(iov, req.nr_out, off, tmp, len);

			CHECK(n <= len && n <= (off < out ? out - off : 0));
			off = rnd(&seed) % (in + 2);
			n = iov_from_buf(iov + req.nr_out, req.nr_in, off, tmp, len);
			CHECK(n <= len && n <= (off < in ? in - off : 0));
		}

		virtq_push(q, req.head, (uint32_t)in);
		if (r & 4)
			sink += virtq_should_notify(q);
		if (r & 8)
			sink += virtq_has_avail(q);
	}
	(void)sink;
	virtq_should_notify(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct guest_mem m;
	struct virtq q;
	uint8_t flags, high;
	size_t body, half;
	int ret;

	if (size < HDR_SIZE)
		return 0;
	flags = data[1];
	high = data[12];
	body = size - HDR_SIZE;
	if (body > MEM_SIZE)
		body = MEM_SIZE;

	memset(&m, 0, sizeof(m));
	if (flags & F_SPLIT) {
		half = MEM_SIZE / 2;
		m.region[0] = (struct guest_mem_region){ 0, half, calloc(1, half) };
		m.region[1] =
			(struct guest_mem_region){ HIGH_BASE, half, calloc(1, half) };
		m.nr_regions = 2;
		CHECK(m.region[0].hva && m.region[1].hva);
		memcpy(m.region[0].hva, data + HDR_SIZE, body < half ? body : half);
		if (body > half)
			memcpy(m.region[1].hva, data + HDR_SIZE + half, body - half);
	} else {
		m.region[0] =
			(struct guest_mem_region){ 0, MEM_SIZE, calloc(1, MEM_SIZE) };
		m.nr_regions = 1;
		CHECK(m.region[0].hva);
		memcpy(m.region[0].hva, data + HDR_SIZE, body);
	}
	m.ram_size = MEM_SIZE;

	virtq_reset(&q);
	q.size = (flags & F_RAW_SIZE) ? get16(data + 4) : 1u << (data[0] & 15);
	q.desc_gpa = get16(data + 6) + ((high & 1) ? HIGH_BASE : 0);
	q.avail_gpa = get16(data + 8) + ((high & 2) ? HIGH_BASE : 0);
	q.used_gpa = get16(data + 10) + ((high & 4) ? HIGH_BASE : 0);
	q.ready = true;
	ret = virtq_start(&q, &m, flags & F_EVENT_IDX, flags & F_INDIRECT);
	if (!ret) {
		CHECK(q.desc && q.avail && q.used);
		serve(&q, &m, data[2] % (MAX_IOV + 1), data[3] * 0x01000193u + 1);
	} else {
		CHECK(ret == -EINVAL && !q.desc);
	}

	for (int i = 0; i < m.nr_regions; i++)
		free(m.region[i].hva);
	return 0;
}
