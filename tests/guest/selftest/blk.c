// SPDX-License-Identifier: GPL-2.0-only
/*
 * virtio-blk checks, through the block layer as any file system would use
 * the disk. The host test prepares the images and compares them after the
 * guest has powered off (tests/integration/test_virtio.py).
 *
 * Scratch disk (blk_rw): 0xee everywhere at start. The guest writes pattern 1
 * to sectors [2048, 2080), flushes, reads it back; discards [4096, 4160);
 * writes zeroes to [6144, 6208) with REQ_OP_WRITE_ZEROES (no fallback).
 */
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/device.h>
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/string.h>

#include "selftest.h"

#define KST_RW_SECTOR 2048
#define KST_RW_PAGES 4
#define KST_DISCARD_SECTOR 4096
#define KST_ZERO_SECTOR 6144
#define KST_RANGE_SECTORS 64
#define KST_PATTERN_PAGES 16

static int kst_holder;

static struct block_device *kst_open(const char *name, fmode_t mode, int *err)
{
	struct device *dev = class_find_device_by_name(&block_class, name);
	struct block_device *bdev;
	dev_t devt;

	if (!dev) {
		*err = -ENODEV;
		return NULL;
	}
	devt = dev->devt;
	put_device(dev);
	bdev = blkdev_get_by_dev(devt, mode, &kst_holder);
	if (IS_ERR(bdev)) {
		*err = PTR_ERR(bdev);
		return NULL;
	}
	return bdev;
}

/* One page of I/O at @sector, synchronously. */
static int kst_page_io(struct block_device *bdev, sector_t sector, struct page *page,
		       blk_opf_t op)
{
	struct bio *bio = bio_alloc(bdev, 1, op, GFP_KERNEL);
	int ret;

	bio->bi_iter.bi_sector = sector;
	if (bio_add_page(bio, page, PAGE_SIZE, 0) != PAGE_SIZE) {
		bio_put(bio);
		return -EIO;
	}
	ret = submit_bio_wait(bio);
	bio_put(bio);
	return ret;
}

static void kst_fill(u8 *buf, u64 off, u8 salt)
{
	size_t i;

	for (i = 0; i < PAGE_SIZE; i++)
		buf[i] = kst_pattern_byte(off + i, salt);
}

/* Index of the first byte that differs from pattern @salt, or -1. */
static long kst_mismatch(const u8 *buf, u64 off, u8 salt)
{
	size_t i;

	for (i = 0; i < PAGE_SIZE; i++)
		if (buf[i] != kst_pattern_byte(off + i, salt))
			return i;
	return -1;
}

bool __init kst_check_blk_rw(struct kst_result *res)
{
	struct page *page = alloc_page(GFP_KERNEL);
	struct block_device *bdev;
	u8 *buf;
	long bad;
	int i, err = 0;
	bool ok = false;

	if (!page)
		return kst_fail(res, "out of memory");
	buf = page_address(page);
	bdev = kst_open(kst_blk_rw, FMODE_READ | FMODE_WRITE, &err);
	if (!bdev) {
		__free_page(page);
		return kst_fail(res, "cannot open %s (%d)", kst_blk_rw, err);
	}
	for (i = 0; i < KST_RW_PAGES && !err; i++) {
		kst_fill(buf, (u64)KST_RW_SECTOR * 512 + i * PAGE_SIZE, 1);
		err = kst_page_io(bdev, KST_RW_SECTOR + i * (PAGE_SIZE >> 9), page,
				  REQ_OP_WRITE | REQ_SYNC);
	}
	if (err) {
		kst_fail(res, "write failed (%d)", err);
		goto out;
	}
	err = blkdev_issue_flush(bdev);
	if (err) {
		kst_fail(res, "flush failed (%d)", err);
		goto out;
	}
	for (i = 0; i < KST_RW_PAGES; i++) {
		u64 off = (u64)KST_RW_SECTOR * 512 + i * PAGE_SIZE;

		memset(buf, 0, PAGE_SIZE);
		err = kst_page_io(bdev, off >> 9, page, REQ_OP_READ);
		bad = err ? 0 : kst_mismatch(buf, off, 1);
		if (err || bad >= 0) {
			kst_fail(res, "read back at byte %llu: %s (%d)",
				 off + (bad > 0 ? bad : 0),
				 err ? "I/O error" : "wrong data", err);
			goto out;
		}
	}
	err = blkdev_issue_discard(bdev, KST_DISCARD_SECTOR, KST_RANGE_SECTORS,
				   GFP_KERNEL);
	if (err) {
		kst_fail(res, "discard failed (%d)", err);
		goto out;
	}
	err = blkdev_issue_zeroout(bdev, KST_ZERO_SECTOR, KST_RANGE_SECTORS, GFP_KERNEL,
				   BLKDEV_ZERO_NOFALLBACK);
	if (err) {
		kst_fail(res, "write-zeroes failed (%d)", err);
		goto out;
	}
	err = blkdev_issue_flush(bdev);
	ok = !err;
	if (ok)
		kst_pass(res,
			 "%s: %lu KiB written, flushed, read back; discard; write-zeroes",
			 kst_blk_rw, KST_RW_PAGES * PAGE_SIZE / 1024);
	else
		kst_fail(res, "second flush failed (%d)", err);
out:
	blkdev_put(bdev, FMODE_READ | FMODE_WRITE);
	__free_page(page);
	return ok;
}

bool __init kst_check_blk_pattern(struct kst_result *res)
{
	struct page *page = alloc_page(GFP_KERNEL);
	struct block_device *bdev;
	u64 size, off;
	long bad;
	int i, err = 0;
	bool ok = true;

	if (!page)
		return kst_fail(res, "out of memory");
	bdev = kst_open(kst_blk_pattern, FMODE_READ, &err);
	if (!bdev) {
		__free_page(page);
		return kst_fail(res, "cannot open %s (%d)", kst_blk_pattern, err);
	}
	size = bdev_nr_bytes(bdev);
	/* The first pages and the very last one: capacity must be exact. */
	for (i = 0; ok && i <= KST_PATTERN_PAGES; i++) {
		off = i < KST_PATTERN_PAGES ? (u64)i * PAGE_SIZE : size - PAGE_SIZE;
		err = kst_page_io(bdev, off >> 9, page, REQ_OP_READ);
		bad = err ? 0 : kst_mismatch(page_address(page), off, 2);
		if (err || bad >= 0)
			ok = kst_fail(res, "byte %llu: %s (%d)",
				      off + (bad > 0 ? bad : 0),
				      err ? "I/O error" : "not the host's pattern", err);
	}
	if (ok)
		kst_pass(res, "%s: %llu bytes, host pattern read at start and end",
			 kst_blk_pattern, size);
	blkdev_put(bdev, FMODE_READ);
	__free_page(page);
	return ok;
}

bool __init kst_check_blk_ro(struct kst_result *res)
{
	struct page *page = alloc_page(GFP_KERNEL);
	struct block_device *bdev;
	int err = 0, werr;
	bool ro;

	if (!page)
		return kst_fail(res, "out of memory");
	bdev = kst_open(kst_blk_ro, FMODE_READ, &err);
	if (!bdev) {
		__free_page(page);
		return kst_fail(res, "cannot open %s (%d)", kst_blk_ro, err);
	}
	/*
	 * The driver marks the disk read-only (VIRTIO_BLK_F_RO). The 6.1 block
	 * layer only warns about a write bio to a read-only disk and passes it
	 * on, so the device itself must fail it.
	 */
	ro = bdev_read_only(bdev);
	memset(page_address(page), 0x77, PAGE_SIZE);
	werr = kst_page_io(bdev, 0, page, REQ_OP_WRITE | REQ_SYNC);
	blkdev_put(bdev, FMODE_READ);
	__free_page(page);
	if (!ro)
		return kst_fail(res, "%s is not marked read-only", kst_blk_ro);
	if (!werr)
		return kst_fail(res, "%s: a write succeeded", kst_blk_ro);
	return kst_pass(res, "%s: read-only, a write sent anyway failed (%d)", kst_blk_ro,
			werr);
}
