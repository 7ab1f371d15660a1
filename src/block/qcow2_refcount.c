// SPDX-License-Identifier: GPL-2.0-only
/*
 * qcow2 refcounts: reading and updating refcount blocks of any refcount
 * order, allocating clusters (first fit from a hint), new refcount blocks
 * and a larger refcount table when the image outgrows them.
 *
 * Write order (see qcow2.h): a new refcount block is written before the
 * refcount table entry pointing to it; a new refcount table and its
 * blocks before the header points to it, and the old table is freed after.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include <linux/falloc.h>

#include "block/qcow2.h"
#include "util/log.h"

static uint64_t rb_get(const struct qcow2 *q, const uint8_t *d, uint64_t i)
{
	uint32_t bits = q->refcount_bits;
	uint64_t v = 0;

	if (bits < 8)
		return (d[i * bits / 8] >> (i * bits % 8)) & ((1u << bits) - 1);
	for (uint32_t b = 0; b < bits / 8; b++)
		v = v << 8 | d[i * (bits / 8) + b];
	return v;
}

static void rb_set(const struct qcow2 *q, uint8_t *d, uint64_t i, uint64_t v)
{
	uint32_t bits = q->refcount_bits;

	if (bits < 8) {
		unsigned int sh = (unsigned int)(i * bits % 8);
		uint8_t mask = (uint8_t)(((1u << bits) - 1) << sh);

		d[i * bits / 8] =
			(uint8_t)((d[i * bits / 8] & ~mask) | ((v << sh) & mask));
		return;
	}
	for (int b = (int)(bits / 8) - 1; b >= 0; b--, v >>= 8)
		d[i * (bits / 8) + (uint64_t)b] = (uint8_t)v;
}

/* The refcount block of table index @ti: *ent, or NULL when none. */
static int rb_block(struct qcow2 *q, uint64_t ti, struct qcow2_cache_ent **ent)
{
	uint64_t off;

	*ent = NULL;
	if (ti >= q->reftable_entries)
		return 0;
	off = q->reftable[ti] & ~511ull;
	if (!off)
		return 0;
	if (qcow2_bad_table(q, off)) {
		log_warn("%s: refcount table entry %llu is bad (0x%llx)", q->file,
			 (unsigned long long)ti, (unsigned long long)off);
		return -EIO;
	}
	return qcow2_cache_get(q, &q->rbc, off, false, ent);
}

int qcow2_refcount_get(struct qcow2 *q, uint64_t cluster, uint64_t *val)
{
	struct qcow2_cache_ent *e;
	int ret = rb_block(q, cluster / q->refblock_entries, &e);

	*val = 0;
	if (ret || !e)
		return ret;
	*val = rb_get(q, e->data, cluster % q->refblock_entries);
	return 0;
}

/* Adds @delta to the refcounts of clusters [first, first + n), block by
 * block, writing the changed bytes of each. */
static int rc_update(struct qcow2 *q, uint64_t first, uint64_t n, int delta)
{
	uint32_t bits = q->refcount_bits;

	while (n) {
		uint64_t ti = first / q->refblock_entries;
		uint64_t i0 = first % q->refblock_entries;
		uint64_t cnt = q->refblock_entries - i0;
		uint64_t lo, hi;
		struct qcow2_cache_ent *e;
		int ret;

		if (cnt > n)
			cnt = n;
		ret = rb_block(q, ti, &e);
		if (ret)
			return ret;
		if (!e)
			return -EIO;
		for (uint64_t i = i0; i < i0 + cnt; i++) {
			uint64_t v = rb_get(q, e->data, i);

			if ((delta > 0 && v == q->refcount_max) || (delta < 0 && !v)) {
				log_warn("%s: refcount %s at cluster %llu", q->file,
					 delta > 0 ? "overflow" : "underflow",
					 (unsigned long long)(ti * q->refblock_entries +
							      i));
				return -EIO;
			}
		}
		for (uint64_t i = i0; i < i0 + cnt; i++)
			rb_set(q, e->data, i,
			       rb_get(q, e->data, i) + (uint64_t)(int64_t)delta);
		lo = i0 * bits / 8;
		hi = ((i0 + cnt) * bits + 7) / 8;
		ret = qcow2_pwrite(q, e->data + lo, hi - lo, e->offset + lo);
		if (ret) {
			e->offset = 0; /* the cache no longer matches the file */
			return ret;
		}
		first += cnt;
		n -= cnt;
	}
	return 0;
}

/* First run of @n clusters with refcount 0 at or after the hint that no
 * metadata uses. Past the end of the file only a crash leaves clusters
 * counted (at most one allocation's worth): the search stops well after
 * it, so that hostile refcounts cannot make it endless. */
static int find_free(struct qcow2 *q, uint64_t n, uint64_t *start)
{
	uint64_t limit = qcow2_file_size(q) / q->cluster_size + n + (1u << 20);
	uint64_t s = q->free_hint ? q->free_hint : 1, run = 0;

	for (uint64_t c = s; c < limit; c++) {
		uint64_t v;
		int ret = qcow2_refcount_get(q, c, &v);

		if (ret)
			return ret;
		if (v || qcow2_overlaps_meta(q, c * q->cluster_size, q->cluster_size)) {
			run = 0;
			s = c + 1;
			continue;
		}
		if (++run == n) {
			*start = s;
			return 0;
		}
	}
	log_warn(
		"%s: no free clusters found (refcounts count clusters past the end of the file)",
		q->file);
	return -EIO;
}

static int write_reftable_entry(struct qcow2 *q, uint64_t ti, uint64_t off)
{
	uint8_t be[8];
	int ret;

	qcow2_put_be64(be, off);
	ret = qcow2_pwrite(q, be, 8, q->h.reftable_offset + ti * 8);
	if (ret)
		return ret;
	q->reftable[ti] = off;
	return qcow2_meta_add(q, off);
}

static int grow_reftable(struct qcow2 *q, uint64_t min_entries);

/* A refcount block for table index @ti. */
static int create_block(struct qcow2 *q, uint64_t ti, int depth)
{
	uint64_t b, bti, cs = q->cluster_size;
	struct qcow2_cache_ent *e;
	int ret;

	if (depth > 4)
		return -EIO;
	if (ti >= q->reftable_entries)
		return grow_reftable(q, ti + 1);
	ret = find_free(q, 1, &b);
	if (ret)
		return ret;
	bti = b / q->refblock_entries;
	if (bti != ti) {
		ret = rb_block(q, bti, &e);
		if (ret)
			return ret;
		if (!e)
			return create_block(q, bti, depth + 1);
	}
	ret = qcow2_cache_get(q, &q->rbc, b * cs, true, &e);
	if (ret)
		return ret;
	if (bti == ti)
		rb_set(q, e->data, b % q->refblock_entries, 1);
	ret = qcow2_pwrite(q, e->data, cs, b * cs);
	if (!ret && bti != ti)
		ret = rc_update(q, b, 1, 1);
	if (!ret)
		ret = write_reftable_entry(q, ti, b * cs);
	if (ret)
		e->offset = 0;
	return ret;
}

static bool needs_block(const struct qcow2 *q, uint64_t ti)
{
	return ti >= q->reftable_entries || !(q->reftable[ti] & ~511ull);
}

/* New table indexes in [c0, c0 + n) that have no block, in *list. */
static uint64_t missing_blocks(const struct qcow2 *q, uint64_t c0, uint64_t n,
			       uint64_t *list, uint64_t max)
{
	uint64_t cnt = 0, first = c0 / q->refblock_entries;
	uint64_t last = (c0 + n - 1) / q->refblock_entries;

	for (uint64_t ti = first; ti <= last; ti++) {
		if (!needs_block(q, ti))
			continue;
		if (cnt < max)
			list[cnt] = ti;
		cnt++;
	}
	return cnt;
}

static int write_new_table(struct qcow2 *q, uint64_t a, uint64_t t, uint64_t k,
			   const uint64_t *list, uint64_t entries)
{
	uint64_t cs = q->cluster_size, area = t + k;
	uint8_t *tab = calloc(t, cs);
	uint8_t *blk = malloc(cs);
	uint8_t hdr[12];
	int ret = -ENOMEM;

	if (!tab || !blk)
		goto out;
	/* The new blocks, counting the area's clusters they cover. */
	for (uint64_t j = 0; j < k; j++) {
		uint64_t base = list[j] * q->refblock_entries;

		memset(blk, 0, cs);
		for (uint64_t c = a; c < a + area; c++) {
			if (c >= base && c < base + q->refblock_entries)
				rb_set(q, blk, c - base, 1);
		}
		ret = qcow2_pwrite(q, blk, cs, (a + t + j) * cs);
		if (ret)
			goto out;
	}
	/* The area's clusters that existing blocks cover. */
	for (uint64_t c = a; c < a + area; c++) {
		if (!needs_block(q, c / q->refblock_entries)) {
			ret = rc_update(q, c, 1, 1);
			if (ret)
				goto out;
		}
	}
	for (uint64_t i = 0; i < entries; i++) {
		uint64_t v = i < q->reftable_entries ? q->reftable[i] : 0;

		for (uint64_t j = 0; j < k; j++)
			if (list[j] == i)
				v = (a + t + j) * cs;
		qcow2_put_be64(tab + i * 8, v);
	}
	ret = qcow2_pwrite(q, tab, t * cs, a * cs);
	if (ret)
		goto out;
	qcow2_put_be64(hdr, a * cs);
	hdr[8] = (uint8_t)(t >> 24);
	hdr[9] = (uint8_t)(t >> 16);
	hdr[10] = (uint8_t)(t >> 8);
	hdr[11] = (uint8_t)t;
	ret = qcow2_pwrite(q, hdr, sizeof(hdr), 48);
out:
	free(tab);
	free(blk);
	return ret;
}

/* Moves the refcount table to a larger one at the first free area, with
 * the refcount blocks that area needs. */
static int grow_reftable(struct qcow2 *q, uint64_t min_entries)
{
	uint64_t cs = q->cluster_size, per = cs / 8;
	uint64_t entries = q->reftable_entries * 2, t, k = 0, a = 0;
	uint64_t list[64], old_off = q->h.reftable_offset;
	uint64_t old_bytes = q->reftable_entries * 8;
	uint64_t *tab;
	int ret;

	if (entries < min_entries)
		entries = min_entries;
	entries = (entries + per - 1) / per * per;
	for (int tries = 0;; tries++) {
		uint64_t kk, last;

		t = entries / per;
		if (t * cs > QCOW2_MAX_REFTABLE_BYTES || tries > 16)
			return -ENOSPC;
		ret = find_free(q, t + k, &a);
		if (ret)
			return ret;
		last = (a + t + k - 1) / q->refblock_entries;
		if (last >= entries) {
			entries = (last + 1 + per - 1) / per * per;
			continue;
		}
		kk = missing_blocks(q, a, t + k, list, 64);
		if (kk > 64)
			return -ENOSPC;
		if (kk <= k)
			break;
		k = kk;
	}
	k = missing_blocks(q, a, t + k, list, 64);
	tab = calloc(entries, 8);
	if (!tab)
		return -ENOMEM;
	ret = write_new_table(q, a, t, k, list, entries);
	if (ret) {
		free(tab);
		return ret;
	}
	memcpy(tab, q->reftable, q->reftable_entries * 8);
	for (uint64_t j = 0; j < k; j++) {
		tab[list[j]] = (a + t + j) * cs;
		qcow2_meta_add(q, (a + t + j) * cs);
	}
	free(q->reftable);
	q->reftable = tab;
	q->reftable_entries = entries;
	q->h.reftable_offset = a * cs;
	q->h.reftable_clusters = (uint32_t)t;
	return qcow2_free(q, old_off, old_bytes);
}

int qcow2_alloc(struct qcow2 *q, uint64_t n, uint64_t *off)
{
	for (int tries = 0; tries < 64; tries++) {
		uint64_t s, ti, list[1];
		int ret = find_free(q, n, &s);

		if (ret)
			return ret;
		if (missing_blocks(q, s, n, list, 1)) {
			ti = list[0];
			ret = create_block(q, ti, 0);
			if (ret)
				return ret;
			continue;
		}
		ret = rc_update(q, s, n, 1);
		if (ret)
			return ret;
		if (s == (q->free_hint ? q->free_hint : 1))
			q->free_hint = s + n;
		*off = s * q->cluster_size;
		return 0;
	}
	return -EIO;
}

int qcow2_free(struct qcow2 *q, uint64_t off, uint64_t len)
{
	uint64_t cs = q->cluster_size;
	uint64_t first = off / cs, last = (off + len - 1) / cs;
	int ret;

	if (!len)
		return 0;
	ret = rc_update(q, first, last - first + 1, -1);
	if (ret)
		return ret;
	for (uint64_t c = first; c <= last; c++) {
		struct qcow2_cache_ent *e;
		uint64_t v;

		if (qcow2_refcount_get(q, c, &v) || v)
			continue;
		if (c < q->free_hint)
			q->free_hint = c;
		e = qcow2_cache_find(&q->l2c, c * cs);
		if (e)
			e->offset = 0;
		/* Give the space back; the cluster reads as zeroes. */
		if (fallocate(q->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)(c * cs), (off_t)cs))
			(void)0;
	}
	return 0;
}
