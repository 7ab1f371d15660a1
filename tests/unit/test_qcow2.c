// SPDX-License-Identifier: GPL-2.0-only
/*
 * qcow2 backend: hostile headers and tables built by hand (refused at open,
 * or an I/O error for the request touching them, never a crash or a write
 * outside the image), round trips through the block interface, and images
 * made and checked by qemu-img (skipped, with the reason printed, when
 * qemu-img is not installed).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "block/block.h"
#include "block/qcow2.h"
#include "vm/event.h"

#define CS 512 /* hand-built images: 512-byte clusters */
#define HB_SIZE (1 << 20)

struct fixture {
	char dir[64];
	char img[128];
	struct event_loop loop;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/kvmbox-qcow2-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->img, sizeof(f->img), "%s/img.qcow2", f->dir);
	assert_int_equal(event_loop_init(&f->loop), 0);
	assert_int_equal(event_loop_start(&f->loop), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[256];

	event_loop_destroy(&f->loop);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static bool have_qemu_img(void)
{
	if (system("qemu-img --version >/dev/null 2>&1") == 0)
		return true;
	printf("SKIP: qemu-img not installed (Debian package qemu-utils)\n");
	return false;
}

static int sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static int try_open(struct fixture *f, const char *spec, struct block_dev **b,
		    struct kb_err *err)
{
	struct block_spec sp;
	int ret = block_parse_spec(spec, &sp, err);

	if (ret)
		return ret;
	return block_open(&sp, &f->loop, b, err);
}

static struct block_dev *open_ok(struct fixture *f, const char *spec)
{
	struct kb_err err = { 0 };
	struct block_dev *b = NULL;

	if (try_open(f, spec, &b, &err))
		fail_msg("open %s: %s", spec, err.msg);
	return b;
}

/* Open refused with a message holding @word. */
static void open_bad(struct fixture *f, const char *spec, const char *word)
{
	struct kb_err err = { 0 };
	struct block_dev *b = NULL;

	if (!try_open(f, spec, &b, &err)) {
		block_close(b);
		fail_msg("%s: opened, expected a refusal naming '%s'", spec, word);
	}
	if (!strstr(err.msg, word))
		fail_msg("%s: message '%s' does not name '%s'", spec, err.msg, word);
}

struct done {
	atomic_int n;
	int res;
};

static void on_done(struct block_req *r, int res)
{
	struct done *d = r->opaque;

	d->res = res;
	atomic_fetch_add(&d->n, 1);
}

static int io(struct block_dev *b, enum block_op op, uint64_t off, void *buf,
	      uint64_t len, bool unmap)
{
	struct iovec v = { buf, len };
	struct block_req r = { .op = op, .offset = off, .len = len, .may_unmap = unmap };
	struct done d = { 0 };
	int ret;

	if (op == BLOCK_OP_READ || op == BLOCK_OP_WRITE) {
		r.iov = &v;
		r.iovcnt = 1;
	}
	r.done = on_done;
	r.opaque = &d;
	ret = block_submit(b, &r);
	if (ret)
		return ret;
	for (int i = 0; i < 20000 && !atomic_load(&d.n); i++) {
		struct timespec ts = { 0, 1000000 };

		nanosleep(&ts, NULL);
	}
	assert_int_equal(atomic_load(&d.n), 1);
	return d.res;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

static void write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static uint8_t *read_file(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc(st.st_size + 1);
	assert_int_equal(read(fd, buf, st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

/* ---- Hand-built images ---- */

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/*
 * A valid v3 image of HB_SIZE bytes, 512-byte clusters: header at 0, L1 at
 * cluster 1, refcount table at 2, refcount block at 3, L2 table at 4 (L1
 * entry 0), data cluster 5 (guest cluster 0, holding 0x5a bytes). 8
 * clusters in the file, all but 6 and 7 referenced.
 */
static uint8_t *hb_image(void)
{
	uint8_t *img = calloc(8, CS);

	put32(img, QCOW2_MAGIC);
	put32(img + 4, 3);
	put32(img + 20, 9);
	qcow2_put_be64(img + 24, HB_SIZE);
	put32(img + 36, HB_SIZE / (CS * (CS / 8)));
	qcow2_put_be64(img + 40, 1 * CS);
	qcow2_put_be64(img + 48, 2 * CS);
	put32(img + 56, 1);
	put32(img + 96, 4);
	put32(img + 100, 112);
	qcow2_put_be64(img + 1 * CS, 4 * CS | QCOW2_OFLAG_COPIED);
	qcow2_put_be64(img + 2 * CS, 3 * CS);
	for (int c = 0; c < 6; c++)
		img[3 * CS + c * 2 + 1] = 1;
	qcow2_put_be64(img + 4 * CS, 5 * CS | QCOW2_OFLAG_COPIED);
	memset(img + 5 * CS, 0x5a, CS);
	return img;
}

static void hb_write(struct fixture *f, const uint8_t *img, size_t len)
{
	write_file(f->img, img, len);
}

static void test_spec(void **state)
{
	struct block_spec sp;
	struct kb_err err = { 0 };

	assert_int_equal(block_parse_spec("a.img", &sp, &err), 0);
	assert_int_equal(sp.format, BLOCK_FORMAT_AUTO);
	assert_int_equal(block_parse_spec("a.img,format=qcow2", &sp, &err), 0);
	assert_int_equal(sp.format, BLOCK_FORMAT_QCOW2);
	assert_int_equal(block_parse_spec("a.img,format=raw", &sp, &err), 0);
	assert_int_equal(sp.format, BLOCK_FORMAT_RAW);
	assert_true(block_parse_spec("a.img,format=vdi", &sp, &err) < 0);
	assert_non_null(strstr(err.msg, "'vdi'"));
	assert_non_null(strstr(err.msg, "format"));
}

static void test_hand_built_good(void **state)
{
	struct fixture *f = *state;
	uint8_t *img = hb_image(), buf[2 * CS], exp[2 * CS];
	struct block_dev *b;
	char spec[256];

	hb_write(f, img, 8 * CS);
	/* Detected by content, whatever the name; format=raw forces raw. */
	b = open_ok(f, f->img);
	assert_string_equal(b->ops->format, "qcow2");
	assert_int_equal(block_size(b), HB_SIZE);
	assert_int_equal(io(b, BLOCK_OP_READ, 0, buf, 2 * CS, false), 0);
	memset(exp, 0x5a, CS);
	memset(exp + CS, 0, CS);
	assert_memory_equal(buf, exp, 2 * CS);
	/* An allocating write, a rewrite in place, a read back. */
	fill(exp, sizeof(exp), 7);
	assert_int_equal(io(b, BLOCK_OP_WRITE, 100 * CS, exp, 2 * CS, false), 0);
	assert_int_equal(io(b, BLOCK_OP_WRITE, CS / 2, exp, CS, false), 0);
	assert_int_equal(io(b, BLOCK_OP_FLUSH, 0, NULL, 0, false), 0);
	assert_int_equal(io(b, BLOCK_OP_READ, 100 * CS, buf, 2 * CS, false), 0);
	assert_memory_equal(buf, exp, 2 * CS);
	assert_int_equal(io(b, BLOCK_OP_READ, CS / 2, buf, CS, false), 0);
	assert_memory_equal(buf, exp, CS);
	block_close(b);

	snprintf(spec, sizeof(spec), "%s,format=raw", f->img);
	b = open_ok(f, spec);
	assert_string_equal(b->ops->format, "raw");
	block_close(b);
	free(img);
}

struct hostile {
	const char *what;
	size_t off; /* byte to patch */
	int width; /* 4 or 8 */
	uint64_t val;
	const char *word; /* the message names it */
	bool ro_ok; /* refused read-write only */
};

static const struct hostile hostile_headers[] = {
	{ "magic", 0, 4, 0x51464900, "not a qcow2 image" },
	{ "version", 4, 4, 4, "version 4" },
	{ "cluster_bits small", 20, 4, 8, "cluster_bits" },
	{ "cluster_bits big", 20, 4, 22, "cluster_bits" },
	{ "encryption", 32, 4, 1, "encryption" },
	{ "data file", 72, 8, QCOW2_INCOMPAT_DATA_FILE, "external data file" },
	{ "extended L2", 72, 8, QCOW2_INCOMPAT_EXTL2, "extended L2" },
	{ "unknown incompat", 72, 8, 1ull << 20, "incompatible feature bit 20" },
	{ "compression bit", 72, 8, QCOW2_INCOMPAT_COMPRESSION, "compression_type" },
	{ "dirty", 72, 8, QCOW2_INCOMPAT_DIRTY, "dirty", true },
	{ "corrupt", 72, 8, QCOW2_INCOMPAT_CORRUPT, "corrupt", true },
	{ "snapshots", 60, 4, 1, "snapshots", true },
	{ "refcount_order", 96, 4, 7, "refcount_order" },
	{ "header_length", 100, 4, 101, "header_length" },
	{ "absurd size", 24, 8, 1ull << 60, "size" },
	{ "small L1", 36, 4, 1, "l1_size" },
	{ "absurd L1", 36, 4, 0x10000000, "l1_size" },
	{ "L1 beyond end", 40, 8, 1ull << 40, "L1 table" },
	{ "L1 unaligned", 40, 8, CS + 8, "L1 table" },
	{ "L1 on header", 40, 8, 0, "L1 table" },
	{ "reftable beyond end", 48, 8, 64 * CS, "refcount table" },
	{ "reftable size", 56, 4, 0, "refcount_table_clusters" },
	{ "reftable absurd", 56, 4, 0x7fffffff, "refcount_table_clusters" },
	{ "L1 overlaps reftable", 40, 8, 2 * CS, "overlap" },
	{ "backing name outside", 8, 8, CS - 4, "backing file name" },
};

static void test_hostile_headers(void **state)
{
	struct fixture *f = *state;
	char spec[256];

	for (size_t i = 0; i < sizeof(hostile_headers) / sizeof(hostile_headers[0]);
	     i++) {
		const struct hostile *h = &hostile_headers[i];
		uint8_t *img = hb_image();
		struct block_dev *b;

		if (h->width == 4)
			put32(img + h->off, (uint32_t)h->val);
		else
			qcow2_put_be64(img + h->off, h->val);
		if (h->off == 8)
			put32(img + 16, 100); /* backing_file_size */
		hb_write(f, img, 8 * CS);
		snprintf(spec, sizeof(spec), "%s,format=qcow2", f->img);
		open_bad(f, spec, h->word);
		if (h->ro_ok) {
			snprintf(spec, sizeof(spec), "%s,ro", f->img);
			b = open_ok(f, spec);
			block_close(b);
		}
		free(img);
	}
}

static void test_truncated(void **state)
{
	struct fixture *f = *state;
	uint8_t *img = hb_image();
	char spec[256];
	size_t cuts[] = { 0, 3, 50, 100, CS, 2 * CS + 8 };

	snprintf(spec, sizeof(spec), "%s,format=qcow2", f->img);
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		struct kb_err err = { 0 };
		struct block_dev *b = NULL;

		hb_write(f, img, cuts[i]);
		assert_true(try_open(f, spec, &b, &err) < 0);
	}
	/* Cut inside the L2 table or the data: opens, the read fails. */
	{
		uint8_t buf[CS];
		struct block_dev *b;

		hb_write(f, img, 4 * CS + 16);
		b = open_ok(f, f->img);
		assert_int_equal(io(b, BLOCK_OP_READ, 0, buf, CS, false), -EIO);
		assert_int_equal(io(b, BLOCK_OP_READ, 64 * CS, buf, CS, false), 0);
		block_close(b);
	}
	free(img);
}

static off_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

/*
 * Writes @img (8 clusters) as the image and one cluster of @fill bytes to
 * it at guest offset @off: the result. With @keep, the file is still 8
 * clusters, its first @keep bytes @img's.
 */
static int hb_write_one(struct fixture *f, const uint8_t *img, uint64_t off, int fill,
			size_t keep)
{
	uint8_t buf[CS], *after;
	struct block_dev *b;
	size_t len;
	int ret;

	hb_write(f, img, 8 * CS);
	b = open_ok(f, f->img);
	memset(buf, fill, CS);
	ret = io(b, BLOCK_OP_WRITE, off, buf, CS, false);
	block_close(b);
	if (keep) {
		after = read_file(f->img, &len);
		assert_int_equal(len, 8 * CS);
		assert_memory_equal(after, img, keep);
		free(after);
	}
	return ret;
}

static void test_hostile_tables(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[CS], *img, *after;
	struct block_dev *b;
	size_t len;

	/* L2 entry beyond the end of the file: that read fails. */
	img = hb_image();
	qcow2_put_be64(img + 4 * CS, (1ull << 40) | QCOW2_OFLAG_COPIED);
	hb_write(f, img, 8 * CS);
	b = open_ok(f, f->img);
	assert_int_equal(io(b, BLOCK_OP_READ, 0, buf, CS, false), -EIO);
	memset(buf, 1, CS);
	assert_int_equal(io(b, BLOCK_OP_WRITE, 0, buf, CS, false), -EIO);
	block_close(b);
	assert_int_equal(file_size(f->img), 8 * CS);
	free(img);

	/* Data cluster on the header or on the L1 table: writes refused. */
	for (int c = 1; c < 5; c++) {
		img = hb_image();
		qcow2_put_be64(img + 4 * CS, (uint64_t)c * CS | QCOW2_OFLAG_COPIED);
		assert_int_equal(hb_write_one(f, img, 0, 0xcc, 5 * CS), -EIO);
		free(img);
	}

	/* L1 entry pointing at the refcount table. */
	img = hb_image();
	qcow2_put_be64(img + 1 * CS, 2 * CS | QCOW2_OFLAG_COPIED);
	hb_write(f, img, 8 * CS);
	b = open_ok(f, f->img);
	assert_int_equal(io(b, BLOCK_OP_READ, 0, buf, CS, false), -EIO);
	block_close(b);
	free(img);

	/* Refcount block pointing at the L1 table: allocation fails. */
	img = hb_image();
	qcow2_put_be64(img + 2 * CS, 1 * CS);
	assert_int_equal(hb_write_one(f, img, 200 * CS, 2, 5 * CS), -EIO);
	free(img);

	/* Refcounts saying metadata is free: never allocated over it. */
	img = hb_image();
	memset(img + 3 * CS, 0, 12);
	assert_int_equal(hb_write_one(f, img, 200 * CS, 3, 0), 0);
	after = read_file(f->img, &len);
	assert_memory_equal(after, img, CS); /* header */
	assert_memory_equal(after + 2 * CS, img + 2 * CS, CS); /* refcount table */
	assert_memory_equal(after + 4 * CS, img + 4 * CS, CS); /* L2 table */
	free(after);
	free(img);

	/* A compressed cluster whose data runs into a cluster with refcount
	 * 0: rewriting it is refused (that cluster could be allocated for
	 * the new data, then freed as the old one's). */
	img = hb_image();
	img[3 * CS + 6 * 2 + 1] = 1;
	qcow2_put_be64(img + 4 * CS,
		       QCOW2_OFLAG_COMPRESSED | 1ull << 61 | (6 * CS + 500));
	assert_int_equal(hb_write_one(f, img, 0, 4, 8 * CS), -EIO);
	free(img);

	/* A refcount table entry near 2^64: an I/O error, not a wrapped
	 * bounds check. */
	img = hb_image();
	qcow2_put_be64(img + 2 * CS, UINT64_MAX & ~511ull);
	assert_int_equal(hb_write_one(f, img, 200 * CS, 5, 0), -EIO);
	free(img);

	/* Refcount underflow: a shared cluster whose refcount is 0. */
	img = hb_image();
	qcow2_put_be64(img + 4 * CS, 5 * CS); /* not COPIED */
	img[3 * CS + 5 * 2 + 1] = 0;
	assert_int_equal(hb_write_one(f, img, 0, 5, 0), -EIO);
	free(img);
}

/* Many requests in flight at once: allocating and in-place writes, reads
 * of clusters being allocated, flushes; then everything reads back. */
static void test_parallel(void **state)
{
	enum { N = 96, LEN = 1536 };
	struct fixture *f = *state;
	static uint8_t data[N][LEN], back[N][LEN];
	struct block_req reqs[N];
	struct iovec iov[N];
	struct done d = { 0 };
	uint8_t *img = hb_image();
	struct block_dev *b;

	hb_write(f, img, 8 * CS);
	b = open_ok(f, f->img);
	for (int round = 0; round < 3; round++) {
		atomic_store(&d.n, 0);
		for (int i = 0; i < N; i++) {
			bool rd = round == 2 || (round == 1 && i % 3 == 0);

			fill(data[i], LEN, (uint32_t)(round * N + i));
			iov[i] = (struct iovec){ rd ? back[i] : data[i], LEN };
			reqs[i] = (struct block_req){
				.op = i % 17 == 5 && !rd ? BLOCK_OP_FLUSH :
				      rd		 ? BLOCK_OP_READ :
							   BLOCK_OP_WRITE,
				.iov = &iov[i],
				.iovcnt = 1,
				.offset = (uint64_t)i * 5 * CS + 100 * CS + (i % 2) * 512,
				.done = on_done,
				.opaque = &d,
			};
			if (reqs[i].op == BLOCK_OP_FLUSH) {
				reqs[i].iov = NULL;
				reqs[i].iovcnt = 0;
			}
			assert_int_equal(block_submit(b, &reqs[i]), 0);
		}
		for (int i = 0; i < 20000 && atomic_load(&d.n) < N; i++) {
			struct timespec ts = { 0, 1000000 };

			nanosleep(&ts, NULL);
		}
		assert_int_equal(atomic_load(&d.n), N);
		assert_int_equal(d.res, 0);
	}
	/* Round 2 read what round 0 (and 1, for i % 3 != 0) wrote. */
	for (int i = 0; i < N; i++) {
		uint8_t exp[LEN];

		if (i % 17 == 5)
			continue;
		fill(exp, LEN, (uint32_t)((i % 3 ? 1 : 0) * N + i));
		assert_memory_equal(back[i], exp, LEN);
	}
	block_close(b);
	if (have_qemu_img())
		assert_int_equal(sh("qemu-img check -q %s", f->img), 0);
	free(img);
}

static void test_backing_loop(void **state)
{
	struct fixture *f = *state;
	char a[160], bb[160];

	if (!have_qemu_img())
		return;
	snprintf(a, sizeof(a), "%s/a.qcow2", f->dir);
	snprintf(bb, sizeof(bb), "%s/b.qcow2", f->dir);
	assert_int_equal(sh("qemu-img create -q -f qcow2 %s 1M", a), 0);
	assert_int_equal(sh("qemu-img create -q -f qcow2 -b %s -F qcow2 %s", a, bb), 0);
	assert_int_equal(sh("qemu-img rebase -q -u -b %s -F qcow2 %s", bb, a), 0);
	open_bad(f, a, "loop");
	assert_int_equal(sh("qemu-img rebase -q -u -b %s/none -F qcow2 %s", f->dir, a),
			 0);
	open_bad(f, a, "backing file");
}

/* ---- With qemu-img ---- */

struct geom {
	const char *opts;
	uint64_t size;
};

static const struct geom geoms[] = {
	{ "compat=0.10,cluster_size=512", 4 << 20 },
	{ "compat=0.10,cluster_size=65536", 8 << 20 },
	{ "compat=1.1,cluster_size=4096", 4 << 20 },
	{ "compat=1.1,cluster_size=2M", 8 << 20 },
	{ "compat=1.1,cluster_size=512,refcount_bits=1", 4 << 20 },
	{ "compat=1.1,cluster_size=512,refcount_bits=64", 4 << 20 },
	{ "compat=1.1,cluster_size=1024,refcount_bits=8", 4 << 20 },
	{ "compat=1.1,cluster_size=65536,refcount_bits=32,lazy_refcounts=on", 4 << 20 },
	{ "compat=1.1,cluster_size=65536,preallocation=metadata", 4 << 20 },
};

static void check_image(struct fixture *f, const uint8_t *shadow, uint64_t size)
{
	char raw[160];
	uint8_t *got;
	size_t len;

	if (sh("qemu-img check -q %s", f->img) != 0)
		fail_msg("qemu-img check %s failed", f->img);
	snprintf(raw, sizeof(raw), "%s/out.raw", f->dir);
	assert_int_equal(sh("qemu-img convert -O raw %s %s", f->img, raw), 0);
	got = read_file(raw, &len);
	assert_int_equal(len, size);
	assert_memory_equal(got, shadow, size);
	free(got);
}

/* Writes, zeroes and discards at awkward offsets, mirrored in @shadow. */
static void exercise(struct block_dev *b, uint8_t *shadow, uint64_t size, uint32_t seed)
{
	static const uint64_t ops[][3] = {
		/* op (0 write, 1 zero, 2 zero+unmap, 3 discard), off, len */
		{ 0, 0, 4096 },
		{ 0, 512, 512 },
		{ 0, 65536 - 1024, 4096 },
		{ 0, 1 << 20, 3 << 20 },
		{ 0, (8 << 20) - 8192, 8192 },
		{ 1, (1 << 20) + 512, 200 * 1024 },
		{ 2, 2 << 20, 512 * 1024 },
		{ 3, (3 << 20) + 4096, 64 * 1024 },
		{ 0, (2 << 20) + 1024, 2048 },
		{ 0, 4096, 130 * 1024 },
	};
	uint8_t *buf = malloc(size);

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		uint64_t off = ops[i][1], len = ops[i][2];

		if (off + len > size)
			continue;
		if (ops[i][0] == 0) {
			fill(buf, len, seed + (uint32_t)i);
			assert_int_equal(io(b, BLOCK_OP_WRITE, off, buf, len, false), 0);
			memcpy(shadow + off, buf, len);
		} else if (ops[i][0] < 3) {
			assert_int_equal(io(b, BLOCK_OP_WRITE_ZEROES, off, NULL, len,
					    ops[i][0] == 2),
					 0);
			memset(shadow + off, 0, len);
		} else {
			/* Discarded data is undefined: read it back. */
			assert_int_equal(io(b, BLOCK_OP_DISCARD, off, NULL, len, false),
					 0);
			assert_int_equal(
				io(b, BLOCK_OP_READ, off, shadow + off, len, false), 0);
		}
	}
	assert_int_equal(io(b, BLOCK_OP_FLUSH, 0, NULL, 0, false), 0);
	assert_int_equal(io(b, BLOCK_OP_READ, 0, buf, size, false), 0);
	assert_memory_equal(buf, shadow, size);
	free(buf);
}

static void test_qemu_img_roundtrip(void **state)
{
	struct fixture *f = *state;

	if (!have_qemu_img())
		return;
	for (size_t i = 0; i < sizeof(geoms) / sizeof(geoms[0]); i++) {
		uint64_t size = geoms[i].size;
		uint8_t *shadow = calloc(1, size);
		struct block_dev *b;

		unlink(f->img);
		assert_int_equal(sh("qemu-img create -q -f qcow2 -o %s %s %llu",
				    geoms[i].opts, f->img, (unsigned long long)size),
				 0);
		b = open_ok(f, f->img);
		assert_int_equal(block_size(b), size);
		exercise(b, shadow, size, (uint32_t)i * 100);
		block_close(b);
		check_image(f, shadow, size);
		/* Again, over the clusters now allocated. */
		b = open_ok(f, f->img);
		exercise(b, shadow, size, (uint32_t)i * 100 + 50);
		block_close(b);
		check_image(f, shadow, size);
		free(shadow);
	}
}

/* Small clusters and wide refcounts outgrow the refcount table. */
static void test_refcount_table_growth(void **state)
{
	struct fixture *f = *state;
	const uint64_t size = 6 << 20;
	uint8_t *shadow = malloc(size);
	struct block_dev *b;

	if (!have_qemu_img()) {
		free(shadow);
		return;
	}
	fill(shadow, size, 99);
	assert_int_equal(
		sh("qemu-img create -q -f qcow2 -o cluster_size=512,refcount_bits=64 %s 6M",
		   f->img),
		0);
	b = open_ok(f, f->img);
	for (uint64_t off = 0; off < size; off += 1 << 20)
		assert_int_equal(io(b, BLOCK_OP_WRITE, off, shadow + off, 1 << 20, false),
				 0);
	block_close(b);
	check_image(f, shadow, size);
	{
		size_t len;
		uint8_t *hdr = read_file(f->img, &len);

		/* refcount_table_clusters: grown from 1 */
		assert_true(hdr[59] > 1 || hdr[58]);
		free(hdr);
	}
	free(shadow);
}

static void make_raw(struct fixture *f, const char *name, uint64_t size, uint32_t seed,
		     uint8_t **data)
{
	char path[160];
	uint8_t *buf = malloc(size);

	fill(buf, size, seed);
	/* Some all-zero stretches, for the converter to leave unallocated. */
	memset(buf + size / 4, 0, size / 8);
	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	write_file(path, buf, size);
	*data = buf;
}

static void test_qemu_img_convert(void **state)
{
	static const char *const variants[] = {
		"-o compat=0.10,cluster_size=65536",
		"-o compat=1.1,cluster_size=16384",
		"-c -o compat=1.1,cluster_size=65536",
		"-c -o compat=0.10,cluster_size=4096",
		"-c -o compat=1.1,cluster_size=65536,compression_type=zstd",
		"-c -o compat=1.1,cluster_size=2M",
	};
	struct fixture *f = *state;
	const uint64_t size = 6 << 20;
	uint8_t *data, *orig, *buf = malloc(size);

	if (!have_qemu_img()) {
		free(buf);
		return;
	}
	make_raw(f, "src.raw", size, 5, &orig);
	data = malloc(size);
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		struct block_dev *b;
		char spec[256];

		memcpy(data, orig, size);

		unlink(f->img);
		assert_int_equal(sh("qemu-img convert -O qcow2 %s %s/src.raw %s",
				    variants[i], f->dir, f->img),
				 0);
		snprintf(spec, sizeof(spec), "%s,ro", f->img);
		b = open_ok(f, spec);
		assert_int_equal(io(b, BLOCK_OP_READ, 0, buf, size, false), 0);
		for (uint64_t o = 0; o < size; o++)
			if (buf[o] != data[o])
				fail_msg("%s: data differs at %llu", variants[i],
					 (unsigned long long)o);
		assert_int_equal(io(b, BLOCK_OP_WRITE, 0, buf, 512, false), -EROFS);
		block_close(b);
		/* Writing over compressed clusters. */
		b = open_ok(f, f->img);
		fill(buf, 100000, 1234);
		assert_int_equal(io(b, BLOCK_OP_WRITE, 70000, buf, 100000, false), 0);
		memcpy(data + 70000, buf, 100000);
		block_close(b);
		check_image(f, data, size);
	}
	free(orig);
	free(data);
	free(buf);
}

static void test_backing(void **state)
{
	struct fixture *f = *state;
	const uint64_t size = 4 << 20;
	uint8_t *data, *buf = malloc(size);
	char mid[160];
	struct block_dev *b;

	if (!have_qemu_img()) {
		free(buf);
		return;
	}
	make_raw(f, "base.raw", size, 11, &data);
	snprintf(mid, sizeof(mid), "%s/mid.qcow2", f->dir);
	/* raw <- qcow2 (v2) <- qcow2 (v3), relative names. */
	assert_int_equal(
		sh("cd %s && qemu-img create -q -f qcow2 -o compat=0.10 -b base.raw -F raw mid.qcow2",
		   f->dir),
		0);
	b = open_ok(f, mid);
	fill(buf, 3000, 77);
	assert_int_equal(io(b, BLOCK_OP_WRITE, 1000, buf, 3000, false), 0);
	memcpy(data + 1000, buf, 3000);
	assert_int_equal(io(b, BLOCK_OP_WRITE_ZEROES, 65536, NULL, 65536, true), 0);
	memset(data + 65536, 0, 65536);
	block_close(b);
	assert_int_equal(
		sh("cd %s && qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 img.qcow2",
		   f->dir),
		0);
	b = open_ok(f, f->img);
	assert_int_equal(io(b, BLOCK_OP_READ, 0, buf, size, false), 0);
	assert_memory_equal(buf, data, size);
	fill(buf, 5000, 78);
	assert_int_equal(io(b, BLOCK_OP_WRITE, (1 << 20) + 300, buf, 5000, false), 0);
	memcpy(data + (1 << 20) + 300, buf, 5000);
	assert_int_equal(io(b, BLOCK_OP_WRITE_ZEROES, 2 << 20, NULL, 131072, true), 0);
	memset(data + (2 << 20), 0, 131072);
	assert_int_equal(io(b, BLOCK_OP_DISCARD, 3 << 20, NULL, 131072, false), 0);
	assert_int_equal(io(b, BLOCK_OP_READ, 3 << 20, data + (3 << 20), 131072, false),
			 0);
	assert_int_equal(io(b, BLOCK_OP_READ, 0, buf, size, false), 0);
	assert_memory_equal(buf, data, size);
	block_close(b);
	check_image(f, data, size);

	/* A backing file that another user writes is refused. */
	snprintf(mid, sizeof(mid), "%s/base.raw", f->dir);
	b = open_ok(f, mid);
	open_bad(f, f->img, "in use");
	block_close(b);
	free(data);
	free(buf);
}

/* A test run between setup() and teardown(). */
#define FIXTURE_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec),
		FIXTURE_TEST(test_hand_built_good),
		FIXTURE_TEST(test_hostile_headers),
		FIXTURE_TEST(test_truncated),
		FIXTURE_TEST(test_hostile_tables),
		FIXTURE_TEST(test_parallel),
		FIXTURE_TEST(test_backing_loop),
		FIXTURE_TEST(test_qemu_img_roundtrip),
		FIXTURE_TEST(test_refcount_table_growth),
		FIXTURE_TEST(test_qemu_img_convert),
		FIXTURE_TEST(test_backing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
