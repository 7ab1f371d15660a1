// SPDX-License-Identifier: GPL-2.0-only
/*
 * virtio-blk: the request parser on good and hostile requests, then the
 * device end to end. For the latter the test plays the driver (rings and
 * buffers laid out by hand in guest memory) and the transport (queue
 * start, activate, kicks, a transport_ops counting interrupts), with a
 * real event loop and a real image file.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>

#include "fake_virtq.h"
#include "virtio/blk.h"
#include "virtio/queue.h"
#include "virtio/virtio.h"
#include "vm/event.h"
#include "vm/memory.h"

#define CAP 2048ULL /* sectors: 1 MiB */

/* ---- The parser ---- */

struct preq {
	uint8_t hdr[16];
	uint8_t data[4096];
	uint8_t status;
	struct iovec iov[8];
	struct blk_op op;
};

static void set_hdr(struct preq *p, uint32_t type, uint64_t sector)
{
	struct virtio_blk_outhdr h = { .type = htole32(type), .sector = htole64(sector) };

	memcpy(p->hdr, &h, sizeof(h));
	p->status = 0xee;
}

/* hdr | data (in or out) | status */
static int parse3(struct preq *p, uint32_t type, uint64_t sector, size_t len, bool in,
		  bool ro)
{
	set_hdr(p, type, sector);
	p->iov[0] = (struct iovec){ p->hdr, 16 };
	p->iov[1] = (struct iovec){ p->data, len };
	p->iov[2] = (struct iovec){ &p->status, 1 };
	if (!len) {
		p->iov[1] = p->iov[2];
		return blk_parse_request(p->iov, 1, 1, CAP, ro, &p->op);
	}
	return blk_parse_request(p->iov, in ? 1 : 2, in ? 2 : 1, CAP, ro, &p->op);
}

static void test_parse_rw(void **state)
{
	struct preq *p = calloc(1, sizeof(*p));

	assert_int_equal(parse3(p, VIRTIO_BLK_T_IN, 8, 1024, true, false),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(p->op.type, VIRTIO_BLK_T_IN);
	assert_int_equal(p->op.sector, 8);
	assert_int_equal(p->op.len, 1024);
	assert_int_equal(p->op.iovcnt, 1);
	assert_ptr_equal(p->op.iov[0].iov_base, p->data);
	assert_ptr_equal(p->op.status, &p->status);

	assert_int_equal(parse3(p, VIRTIO_BLK_T_OUT, CAP - 2, 1024, false, false),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(p->op.len, 1024);
	assert_ptr_equal(p->op.iov[0].iov_base, p->data);
	/* Last sector exactly; one past; starting at the end. */
	assert_int_equal(parse3(p, VIRTIO_BLK_T_IN, CAP - 1, 512, true, false),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(parse3(p, VIRTIO_BLK_T_IN, CAP - 1, 1024, true, false),
			 VIRTIO_BLK_S_IOERR);
	assert_ptr_equal(p->op.status, &p->status);
	assert_int_equal(parse3(p, VIRTIO_BLK_T_IN, CAP, 512, true, false),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(parse3(p, VIRTIO_BLK_T_OUT, CAP + 1, 0, false, false),
			 VIRTIO_BLK_S_IOERR);
	/* sector * 512 + len would wrap. */
	assert_int_equal(parse3(p, VIRTIO_BLK_T_IN, UINT64_MAX, 512, true, false),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(
		parse3(p, VIRTIO_BLK_T_OUT, (UINT64_MAX >> 9) + 1, 512, false, false),
		VIRTIO_BLK_S_IOERR);
	assert_int_equal(parse3(p, VIRTIO_BLK_T_IN, UINT64_MAX - 1, 4096, true, false),
			 VIRTIO_BLK_S_IOERR);
	/* Not whole sectors. */
	assert_int_equal(parse3(p, VIRTIO_BLK_T_IN, 0, 511, true, false),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(parse3(p, VIRTIO_BLK_T_OUT, 0, 513, false, false),
			 VIRTIO_BLK_S_IOERR);
	/* Read-only: writes refused, reads and flushes fine. */
	assert_int_equal(parse3(p, VIRTIO_BLK_T_OUT, 0, 512, false, true),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(parse3(p, VIRTIO_BLK_T_IN, 0, 512, true, true), VIRTIO_BLK_S_OK);
	assert_int_equal(parse3(p, VIRTIO_BLK_T_FLUSH, 0, 0, true, true),
			 VIRTIO_BLK_S_OK);
	/* Unknown and legacy types. */
	assert_int_equal(parse3(p, 2 /* SCSI_CMD */, 0, 0, true, false),
			 VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(parse3(p, 0x12345, 0, 0, true, false), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(parse3(p, VIRTIO_BLK_T_SECURE_ERASE, 0, 0, true, false),
			 VIRTIO_BLK_S_UNSUPP);
	free(p);
}

static void test_parse_layouts(void **state)
{
	struct preq *p = calloc(1, sizeof(*p));
	uint8_t both[513];

	/* Header split 5 + 7 + 4, then data, status alone. */
	set_hdr(p, VIRTIO_BLK_T_OUT, 3);
	p->iov[0] = (struct iovec){ p->hdr, 5 };
	p->iov[1] = (struct iovec){ p->hdr + 5, 7 };
	p->iov[2] = (struct iovec){ p->hdr + 12, 4 };
	p->iov[3] = (struct iovec){ p->data, 512 };
	p->iov[4] = (struct iovec){ &p->status, 1 };
	assert_int_equal(blk_parse_request(p->iov, 4, 1, CAP, false, &p->op),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(p->op.sector, 3);
	assert_int_equal(p->op.len, 512);
	assert_int_equal(p->op.iovcnt, 1);

	/* Header and data in one buffer: data starts after byte 16. */
	set_hdr(p, VIRTIO_BLK_T_OUT, 5);
	memcpy(p->data, p->hdr, 16);
	p->iov[0] = (struct iovec){ p->data, 16 + 1024 };
	p->iov[1] = (struct iovec){ &p->status, 1 };
	assert_int_equal(blk_parse_request(p->iov, 1, 1, CAP, false, &p->op),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(p->op.sector, 5);
	assert_int_equal(p->op.len, 1024);
	assert_ptr_equal(p->op.iov[0].iov_base, p->data + 16);

	/* Data and status in one writable buffer; empty buffers around. */
	set_hdr(p, VIRTIO_BLK_T_IN, 0);
	p->iov[0] = (struct iovec){ p->hdr, 16 };
	p->iov[1] = (struct iovec){ both, 0 };
	p->iov[2] = (struct iovec){ both, sizeof(both) };
	p->iov[3] = (struct iovec){ p->data, 0 };
	assert_int_equal(blk_parse_request(p->iov, 1, 3, CAP, false, &p->op),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(p->op.len, 512);
	assert_ptr_equal(p->op.status, both + 512);

	/* Truncated header: 15 bytes. */
	p->iov[0] = (struct iovec){ p->hdr, 15 };
	p->iov[1] = (struct iovec){ &p->status, 1 };
	assert_int_equal(blk_parse_request(p->iov, 1, 1, CAP, false, &p->op),
			 VIRTIO_BLK_S_IOERR);
	assert_ptr_equal(p->op.status, &p->status);
	/* No header at all. */
	assert_int_equal(blk_parse_request(p->iov + 1, 0, 1, CAP, false, &p->op),
			 VIRTIO_BLK_S_IOERR);

	/* No status byte: no writable buffer, or only empty ones. */
	p->iov[0] = (struct iovec){ p->hdr, 16 };
	assert_int_equal(blk_parse_request(p->iov, 1, 0, CAP, false, &p->op), -EINVAL);
	assert_null(p->op.status);
	p->iov[1] = (struct iovec){ p->data, 0 };
	assert_int_equal(blk_parse_request(p->iov, 1, 1, CAP, false, &p->op), -EINVAL);
	assert_int_equal(blk_parse_request(NULL, 0, 0, CAP, false, &p->op), -EINVAL);
	assert_int_equal(blk_parse_request(p->iov, -1, 1, CAP, false, &p->op), -EINVAL);

	/* IN with only a status byte: a read of nothing. */
	set_hdr(p, VIRTIO_BLK_T_IN, 0);
	p->iov[1] = (struct iovec){ &p->status, 1 };
	assert_int_equal(blk_parse_request(p->iov, 1, 1, CAP, false, &p->op),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(p->op.len, 0);
	free(p);
}

static void test_parse_too_many_buffers(void **state)
{
	int n = BLK_MAX_IOV + 1;
	struct iovec *iov = calloc((size_t)n + 2, sizeof(*iov));
	struct blk_op *op = malloc(sizeof(*op));
	uint8_t hdr[16] = { 0 }, data[512 * 8], status;

	iov[0] = (struct iovec){ hdr, 16 };
	for (int i = 1; i <= n; i++)
		iov[i] = (struct iovec){ data, 512 };
	iov[n + 1] = (struct iovec){ &status, 1 };
	/* More data buffers than seg_max allows. */
	assert_int_equal(blk_parse_request(iov, 1, n + 1, UINT64_MAX >> 9, false, op),
			 VIRTIO_BLK_S_IOERR);
	free(iov);
	free(op);
}

static void test_parse_get_id(void **state)
{
	struct preq *p = calloc(1, sizeof(*p));

	assert_int_equal(parse3(p, VIRTIO_BLK_T_GET_ID, 0, 20, true, true),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(p->op.len, 20);
	assert_int_equal(parse3(p, VIRTIO_BLK_T_GET_ID, 0, 512, true, false),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(p->op.len, 20);
	/* Short buffers, or none. */
	assert_int_equal(parse3(p, VIRTIO_BLK_T_GET_ID, 0, 19, true, false),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(parse3(p, VIRTIO_BLK_T_GET_ID, 0, 0, true, false),
			 VIRTIO_BLK_S_IOERR);
	/* A readable buffer is not where the ID goes. */
	assert_int_equal(parse3(p, VIRTIO_BLK_T_GET_ID, 0, 20, false, false),
			 VIRTIO_BLK_S_IOERR);
	free(p);
}

static void put_seg(struct preq *p, int i, uint64_t sector, uint32_t n, uint32_t flags)
{
	struct virtio_blk_discard_write_zeroes s = {
		.sector = htole64(sector),
		.num_sectors = htole32(n),
		.flags = htole32(flags),
	};

	memcpy(p->data + 16 * i, &s, sizeof(s));
}

static void test_parse_discard(void **state)
{
	struct preq *p = calloc(1, sizeof(*p));
	uint32_t unmap = VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;

	put_seg(p, 0, 0, 8, 0);
	put_seg(p, 1, CAP - 8, 8, 0);
	assert_int_equal(parse3(p, VIRTIO_BLK_T_DISCARD, 0, 32, false, false),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(p->op.nr_ranges, 2);
	assert_int_equal(p->op.range[1].sector, CAP - 8);
	assert_int_equal(p->op.range[1].nr_sectors, 8);

	/* Out of range, wrapping, too long a segment. */
	put_seg(p, 1, CAP - 7, 8, 0);
	assert_int_equal(parse3(p, VIRTIO_BLK_T_DISCARD, 0, 32, false, false),
			 VIRTIO_BLK_S_IOERR);
	put_seg(p, 1, UINT64_MAX - 2, 8, 0);
	assert_int_equal(parse3(p, VIRTIO_BLK_T_WRITE_ZEROES, 0, 32, false, false),
			 VIRTIO_BLK_S_IOERR);
	put_seg(p, 1, 0, BLK_MAX_DWZ_SECTORS + 1, 0);
	assert_int_equal(parse3(p, VIRTIO_BLK_T_DISCARD, 0, 32, false, false),
			 VIRTIO_BLK_S_IOERR);
	/* Malformed arrays: empty, not whole segments, too many. */
	put_seg(p, 1, 0, 8, 0);
	assert_int_equal(parse3(p, VIRTIO_BLK_T_DISCARD, 0, 0, false, false),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(parse3(p, VIRTIO_BLK_T_DISCARD, 0, 24, false, false),
			 VIRTIO_BLK_S_IOERR);
	for (int i = 0; i <= BLK_MAX_DWZ_SEG; i++)
		put_seg(p, i, (uint64_t)i * 8, 8, 0);
	assert_int_equal(
		parse3(p, VIRTIO_BLK_T_DISCARD, 0, 16 * BLK_MAX_DWZ_SEG, false, false),
		VIRTIO_BLK_S_OK);
	assert_int_equal(p->op.nr_ranges, BLK_MAX_DWZ_SEG);
	assert_int_equal(parse3(p, VIRTIO_BLK_T_DISCARD, 0, 16 * (BLK_MAX_DWZ_SEG + 1),
				false, false),
			 VIRTIO_BLK_S_IOERR);
	/* Flags: unmap only for write zeroes; unknown ones never. */
	put_seg(p, 0, 0, 8, unmap);
	assert_int_equal(parse3(p, VIRTIO_BLK_T_DISCARD, 0, 16, false, false),
			 VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(parse3(p, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false, false),
			 VIRTIO_BLK_S_OK);
	assert_true(p->op.range[0].unmap);
	put_seg(p, 0, 0, 8, 2);
	assert_int_equal(parse3(p, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false, false),
			 VIRTIO_BLK_S_UNSUPP);
	/* Read-only. */
	put_seg(p, 0, 0, 8, 0);
	assert_int_equal(parse3(p, VIRTIO_BLK_T_DISCARD, 0, 16, false, true),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(parse3(p, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false, true),
			 VIRTIO_BLK_S_IOERR);

	/* A segment split across buffers (header + 10, then 6 bytes). */
	set_hdr(p, VIRTIO_BLK_T_WRITE_ZEROES, 0);
	memcpy(p->data + 1024, p->hdr, 16);
	put_seg(p, 0, 100, 4, 0);
	memcpy(p->data + 1024 + 16, p->data, 10);
	p->iov[0] = (struct iovec){ p->data + 1024, 26 };
	p->iov[1] = (struct iovec){ p->data + 10, 6 };
	p->iov[2] = (struct iovec){ &p->status, 1 };
	assert_int_equal(blk_parse_request(p->iov, 2, 1, CAP, false, &p->op),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(p->op.nr_ranges, 1);
	assert_int_equal(p->op.range[0].sector, 100);
	assert_int_equal(p->op.range[0].nr_sectors, 4);
	free(p);
}

/* ---- End to end ---- */

#define QSIZE 64
#define HDR_GPA 0x20000ULL /* slot i: header at +0, status at +0x40 */
#define DATA_GPA 0x100000ULL /* slot i: 16 KiB at DATA_GPA + i * 0x4000 */
#define IMG_SIZE (1 << 20)

struct t {
	struct fake_guest g;
	struct event_loop loop;
	struct virtio_dev *d;
	char path[64];
};

static uint64_t hdr_gpa(int slot)
{
	return HDR_GPA + (uint64_t)slot * 0x80;
}

static uint64_t st_gpa(int slot)
{
	return hdr_gpa(slot) + 0x40;
}

static uint64_t data_gpa(int slot)
{
	return DATA_GPA + (uint64_t)slot * 0x4000;
}

static void start(struct t *t)
{
	fg_layout(&t->g, 0, QSIZE);
	t->d->features = t->d->ops->features(t->d) | 1ULL << 32 /* VERSION_1 */;
	fg_driver_ok(&t->g, t->d, false, false);
}

static void setup_dev(struct t *t, const char *opts)
{
	struct block_spec sp;
	struct kb_err err = { 0 };
	uint8_t *img = malloc(IMG_SIZE);
	char spec[128];
	int fd;

	memset(t, 0, sizeof(*t));
	snprintf(t->path, sizeof(t->path), "/tmp/kvmbox-vblk-XXXXXX");
	fd = mkstemp(t->path);
	assert_true(fd >= 0);
	for (int i = 0; i < IMG_SIZE; i++)
		img[i] = (uint8_t)(i ^ (i >> 9));
	assert_int_equal(write(fd, img, IMG_SIZE), IMG_SIZE);
	close(fd);
	free(img);

	fg_init(&t->g, 4 * MiB);
	assert_int_equal(event_loop_init(&t->loop), 0);
	assert_int_equal(event_loop_start(&t->loop), 0);
	snprintf(spec, sizeof(spec), "%s,serial=kvmbox-serial-01%s", t->path, opts);
	assert_int_equal(block_parse_spec(spec, &sp, &err), 0);
	t->d = virtio_blk_create(&sp, &t->loop, &err);
	if (!t->d)
		fail_msg("create: %s", err.msg);
	assert_string_equal(t->d->name, "virtio-blk");
	assert_int_equal(t->d->device_id, VIRTIO_ID_BLOCK);
	assert_int_equal(t->d->nr_queues, 1);
	assert_true(t->d->queue_max_size >= QSIZE);
	fg_attach(&t->g, t->d);
	start(t);
}

static void teardown_dev(struct t *t)
{
	t->d->ops->reset(t->d);
	t->d->ops->destroy(t->d);
	event_loop_destroy(&t->loop);
	fg_fini(&t->g);
	unlink(t->path);
}

/* Request in slot @slot (descriptors 3 * slot ...): header, data (@len
 * bytes at data_gpa(slot), device-writable if @in), status. */
static void queue_req(struct t *t, int slot, uint32_t type, uint64_t sector, uint32_t len,
		      bool in)
{
	struct virtio_blk_outhdr h = { .type = htole32(type), .sector = htole64(sector) };
	int d = 3 * slot;

	assert_true(d + 2 < QSIZE);
	assert_int_equal(guest_mem_write(&t->g.m, hdr_gpa(slot), &h, sizeof(h)), 0);
	*(uint8_t *)fg_hva(&t->g, st_gpa(slot), 1) = 0xff;
	if (len) {
		fg_put_desc(&t->g, 0, d, hdr_gpa(slot), 16, VRING_DESC_F_NEXT, d + 1);
		fg_put_desc(&t->g, 0, d + 1, data_gpa(slot), len,
			    VRING_DESC_F_NEXT | (in ? VRING_DESC_F_WRITE : 0), d + 2);
	} else {
		fg_put_desc(&t->g, 0, d, hdr_gpa(slot), 16, VRING_DESC_F_NEXT, d + 2);
	}
	fg_put_desc(&t->g, 0, d + 2, st_gpa(slot), 1, VRING_DESC_F_WRITE, 0);
	fg_add_avail(&t->g, 0, (uint16_t)d);
}

static uint8_t status(struct t *t, int slot)
{
	return *(volatile uint8_t *)fg_hva(&t->g, st_gpa(slot), 1);
}

/* The used element for chain head 3 * slot: its written length. */
static uint32_t used_len_of(struct t *t, int slot)
{
	uint16_t n = fg_used_idx(&t->g, 0);

	for (uint16_t k = 0; k < n && k < QSIZE; k++) {
		struct vring_used_elem e = fg_used_elem(&t->g, 0, n - 1 - k);

		if (e.id == (uint32_t)(3 * slot))
			return e.len;
	}
	fail_msg("slot %d not on the used ring", slot);
	return 0;
}

static void file_read(struct t *t, off_t off, void *buf, size_t len)
{
	int fd = open(t->path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

static void do_e2e(const char *opts)
{
	struct virtio_blk_stats st;
	struct virtio_blk_config cfg;
	uint8_t buf[8192], zero[4096] = { 0 };
	struct t t;
	uint16_t n = 0;

	setup_dev(&t, opts);
	t.d->ops->read_config(t.d, 0, &cfg, sizeof(cfg));
	assert_int_equal(le64toh(cfg.capacity), IMG_SIZE / 512);
	assert_int_equal(le32toh(cfg.seg_max), BLK_SEG_MAX);
	assert_int_equal(le32toh(cfg.blk_size), 512);
	assert_int_equal(le32toh(cfg.max_discard_seg), BLK_MAX_DWZ_SEG);
	assert_true(t.d->ops->features(t.d) & (1ULL << VIRTIO_BLK_F_FLUSH));
	assert_false(t.d->ops->features(t.d) & (1ULL << VIRTIO_BLK_F_RO));

	/* Write 8 KiB at sector 16, then read it back elsewhere. */
	memset(fg_hva(&t.g, data_gpa(0), 8192), 0x5a, 8192);
	queue_req(&t, 0, VIRTIO_BLK_T_OUT, 16, 8192, false);
	fg_kick(t.d, 0);
	fg_wait_used(&t.g, 0, ++n);
	assert_int_equal(status(&t, 0), VIRTIO_BLK_S_OK);
	assert_int_equal(used_len_of(&t, 0), 1);
	file_read(&t, 16 * 512, buf, 8192);
	assert_memory_equal(buf, fg_hva(&t.g, data_gpa(0), 8192), 8192);

	queue_req(&t, 1, VIRTIO_BLK_T_IN, 16, 8192, true);
	fg_kick(t.d, 0);
	fg_wait_used(&t.g, 0, ++n);
	assert_int_equal(status(&t, 1), VIRTIO_BLK_S_OK);
	assert_int_equal(used_len_of(&t, 1), 8193);
	assert_memory_equal(fg_hva(&t.g, data_gpa(1), 8192), buf, 8192);

	/* Flush, GET_ID, an unknown type, a read past the end. */
	queue_req(&t, 2, VIRTIO_BLK_T_FLUSH, 0, 0, false);
	queue_req(&t, 3, VIRTIO_BLK_T_GET_ID, 0, 20, true);
	queue_req(&t, 4, 77, 0, 0, false);
	queue_req(&t, 5, VIRTIO_BLK_T_IN, IMG_SIZE / 512 - 1, 1024, true);
	memset(fg_hva(&t.g, data_gpa(5), 1024), 0xcc, 1024);
	fg_kick(t.d, 0);
	n += 4;
	fg_wait_used(&t.g, 0, n);
	assert_int_equal(status(&t, 2), VIRTIO_BLK_S_OK);
	assert_int_equal(status(&t, 3), VIRTIO_BLK_S_OK);
	assert_memory_equal(fg_hva(&t.g, data_gpa(3), 20), "kvmbox-serial-01\0\0\0\0",
			    20);
	assert_int_equal(used_len_of(&t, 3), 21);
	assert_int_equal(status(&t, 4), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(status(&t, 5), VIRTIO_BLK_S_IOERR);
	assert_int_equal(*(uint8_t *)fg_hva(&t.g, data_gpa(5), 1), 0xcc);

	/* Discard and write zeroes, two segments each. */
	{
		struct virtio_blk_discard_write_zeroes seg[2] = {
			{ htole64(64), htole32(8), 0 },
			{ htole64(128), htole32(16), 0 },
		};

		assert_int_equal(guest_mem_write(&t.g.m, data_gpa(6), seg, sizeof(seg)),
				 0);
		queue_req(&t, 6, VIRTIO_BLK_T_WRITE_ZEROES, 0, sizeof(seg), false);
		seg[0].sector = htole64(512);
		seg[1].sector = htole64(1024);
		seg[1].flags = 0;
		assert_int_equal(guest_mem_write(&t.g.m, data_gpa(7), seg, sizeof(seg)),
				 0);
		queue_req(&t, 7, VIRTIO_BLK_T_DISCARD, 0, sizeof(seg), false);
		fg_kick(t.d, 0);
		n += 2;
		fg_wait_used(&t.g, 0, n);
		assert_int_equal(status(&t, 6), VIRTIO_BLK_S_OK);
		assert_int_equal(status(&t, 7), VIRTIO_BLK_S_OK);
		file_read(&t, 64 * 512, buf, 4096);
		assert_memory_equal(buf, zero, 4096);
		file_read(&t, 128 * 512, buf, 8192);
		assert_memory_equal(buf, zero, 4096);
		assert_memory_equal(buf + 4096, zero, 4096);
		/* Around the zeroed ranges: untouched. */
		file_read(&t, 72 * 512, buf, 512);
		assert_int_equal(buf[1], (uint8_t)((72 * 512 + 1) ^ 72));
	}

	/* Many in flight at once (21 slots of 3 descriptors). */
	for (int s = 0; s < QSIZE / 3; s++) {
		memset(fg_hva(&t.g, data_gpa(s), 4096), s + 1, 4096);
		queue_req(&t, s, VIRTIO_BLK_T_OUT, 256 + (uint64_t)s * 8, 4096, false);
	}
	fg_kick(t.d, 0);
	n += QSIZE / 3;
	fg_wait_used(&t.g, 0, n);
	for (int s = 0; s < QSIZE / 3; s++) {
		assert_int_equal(status(&t, s), VIRTIO_BLK_S_OK);
		file_read(&t, (256 + s * 8) * 512, buf, 4096);
		assert_memory_equal(buf, fg_hva(&t.g, data_gpa(s), 4096), 4096);
	}
	assert_true(atomic_load(&t.g.notified[0]) >= 1);
	assert_int_equal(atomic_load(&t.g.needs_reset), 0);

	virtio_blk_get_stats(t.d, &st);
	assert_int_equal(st.requests, n);
	assert_int_equal(st.writes, 1 + QSIZE / 3);
	assert_int_equal(st.reads, 2);
	assert_int_equal(st.flushes, 1);
	assert_int_equal(st.get_ids, 1);
	assert_int_equal(st.discards, 1);
	assert_int_equal(st.write_zeroes, 1);
	assert_int_equal(st.bytes_written, 8192 + 4096 * (QSIZE / 3));
	assert_int_equal(st.bytes_read, 8192);
	assert_int_equal(st.errors, 1);
	assert_int_equal(st.unsupported, 1);
	assert_int_equal(st.in_flight, 0);
	teardown_dev(&t);
}

static void test_e2e_default(void **state)
{
	do_e2e("");
}

static void test_e2e_threads(void **state)
{
	do_e2e(",aio=threads");
}

static void test_e2e_read_only(void **state)
{
	struct virtio_blk_config cfg;
	uint8_t before[512], after[512];
	uint64_t f;
	struct t t;

	setup_dev(&t, ",ro");
	f = t.d->ops->features(t.d);
	assert_true(f & (1ULL << VIRTIO_BLK_F_RO));
	assert_false(f & (1ULL << VIRTIO_BLK_F_DISCARD));
	assert_false(f & (1ULL << VIRTIO_BLK_F_WRITE_ZEROES));
	t.d->ops->read_config(t.d, 0, &cfg, sizeof(cfg));
	assert_int_equal(cfg.max_discard_sectors, 0);

	file_read(&t, 0, before, sizeof(before));
	queue_req(&t, 0, VIRTIO_BLK_T_OUT, 0, 512, false);
	queue_req(&t, 1, VIRTIO_BLK_T_IN, 0, 512, true);
	fg_kick(t.d, 0);
	fg_wait_used(&t.g, 0, 2);
	assert_int_equal(status(&t, 0), VIRTIO_BLK_S_IOERR);
	assert_int_equal(status(&t, 1), VIRTIO_BLK_S_OK);
	file_read(&t, 0, after, sizeof(after));
	assert_memory_equal(before, after, sizeof(before));
	assert_memory_equal(fg_hva(&t.g, data_gpa(1), 512), before, 512);
	teardown_dev(&t);
}

/* A driver without VIRTIO_BLK_F_FLUSH: writes are flushed before done. */
static void test_e2e_writethrough(void **state)
{
	uint8_t buf[512];
	struct t t;

	setup_dev(&t, ",aio=threads");
	t.d->ops->reset(t.d);
	start(&t);
	t.d->features &= ~(1ULL << VIRTIO_BLK_F_FLUSH);
	assert_int_equal(t.d->ops->activate(t.d), 0);
	memset(fg_hva(&t.g, data_gpa(0), 512), 0x77, 512);
	queue_req(&t, 0, VIRTIO_BLK_T_OUT, 1, 512, false);
	fg_kick(t.d, 0);
	fg_wait_used(&t.g, 0, 1);
	assert_int_equal(status(&t, 0), VIRTIO_BLK_S_OK);
	file_read(&t, 512, buf, 512);
	assert_memory_equal(buf, fg_hva(&t.g, data_gpa(0), 512), 512);
	teardown_dev(&t);
}

/* Hostile chains: no status byte, a malformed ring. */
static void test_e2e_hostile(void **state)
{
	struct virtio_blk_stats st;
	struct t t;

	setup_dev(&t, "");
	/* Header only, nothing writable: completed with length 0. */
	fg_put_desc(&t.g, 0, 0, hdr_gpa(0), 16, 0, 0);
	*(uint8_t *)fg_hva(&t.g, st_gpa(0), 1) = 0xff;
	fg_add_avail(&t.g, 0, 0);
	fg_kick(t.d, 0);
	fg_wait_used(&t.g, 0, 1);
	assert_int_equal(used_len_of(&t, 0), 0);
	virtio_blk_get_stats(t.d, &st);
	assert_int_equal(st.errors, 1);

	/* A descriptor outside guest RAM: the queue is broken. */
	fg_put_desc(&t.g, 0, 3, 64 * GiB, 16, 0, 0);
	fg_add_avail(&t.g, 0, 3);
	fg_kick(t.d, 0);
	assert_int_equal(atomic_load(&t.g.needs_reset), 1);
	fg_kick(t.d, 0);
	assert_int_equal(atomic_load(&t.g.needs_reset), 1);
	assert_int_equal(fg_used_idx(&t.g, 0), 1);
	teardown_dev(&t);
}

/* Reset with requests in flight, then the device works again. */
static void test_e2e_reset(void **state)
{
	struct virtio_blk_stats st;
	struct t t;

	setup_dev(&t, "");
	for (int round = 0; round < 20; round++) {
		for (int s = 0; s < QSIZE / 3; s++)
			queue_req(&t, s, s & 1 ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT,
				  (uint64_t)s * 32, 16384, s & 1);
		fg_kick(t.d, 0);
		t.d->ops->reset(t.d);
		/* What the transport does after reset, then DRIVER_OK. */
		memset(fg_hva(&t.g, FG_USED_GPA(0), 4 + 8 * QSIZE), 0, 4 + 8 * QSIZE);
		memset(fg_hva(&t.g, FG_AVAIL_GPA(0), 4 + 2 * QSIZE), 0, 4 + 2 * QSIZE);
		start(&t);
	}
	queue_req(&t, 0, VIRTIO_BLK_T_FLUSH, 0, 0, false);
	fg_kick(t.d, 0);
	fg_wait_used(&t.g, 0, 1);
	assert_int_equal(status(&t, 0), VIRTIO_BLK_S_OK);
	/* Old requests came back to the pool. */
	for (int i = 0; i < 5000; i++) {
		struct timespec ts = { 0, 1000000 };

		virtio_blk_get_stats(t.d, &st);
		if (!st.in_flight)
			break;
		nanosleep(&ts, NULL);
	}
	assert_int_equal(st.in_flight, 0);
	teardown_dev(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_rw),
		cmocka_unit_test(test_parse_layouts),
		cmocka_unit_test(test_parse_too_many_buffers),
		cmocka_unit_test(test_parse_get_id),
		cmocka_unit_test(test_parse_discard),
		cmocka_unit_test(test_e2e_default),
		cmocka_unit_test(test_e2e_threads),
		cmocka_unit_test(test_e2e_read_only),
		cmocka_unit_test(test_e2e_writethrough),
		cmocka_unit_test(test_e2e_hostile),
		cmocka_unit_test(test_e2e_reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
