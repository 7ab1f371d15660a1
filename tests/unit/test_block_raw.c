// SPDX-License-Identifier: GPL-2.0-only
/*
 * Block layer: the drive spec, image locking, and the raw backend doing
 * real I/O on a temporary file with completions through an event loop
 * (both engines: io_uring when available, and the thread pool).
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
#include "expect_msg.h"
#include "vm/event.h"

#define FILE_SIZE (1 << 20)

/* ---- Spec parsing ---- */

DEFINE_PARSE_CHECKS(struct block_spec, block_parse_spec, "")

static void test_spec_good(void **state)
{
	struct block_spec sp;

	parse_ok("disk.img", &sp);
	assert_string_equal(sp.file, "disk.img");
	assert_false(sp.ro);
	assert_false(sp.direct);
	assert_string_equal(sp.serial, "");
	assert_int_equal(sp.format, BLOCK_FORMAT_AUTO);
	assert_int_equal(sp.aio, BLOCK_AIO_AUTO);

	parse_ok("/images/a.img,ro,direct,serial=ABC-123,format=raw,aio=threads", &sp);
	assert_string_equal(sp.file, "/images/a.img");
	assert_true(sp.ro);
	assert_true(sp.direct);
	assert_string_equal(sp.serial, "ABC-123");
	assert_int_equal(sp.aio, BLOCK_AIO_THREADS);

	parse_ok("a.img,ro=off,direct=on,aio=io_uring", &sp);
	assert_false(sp.ro);
	assert_true(sp.direct);
	assert_int_equal(sp.aio, BLOCK_AIO_IO_URING);

	/* ",," is a comma in the name (and in values). */
	parse_ok("we,,ird.img,serial=a,,b", &sp);
	assert_string_equal(sp.file, "we,ird.img");
	assert_string_equal(sp.serial, "a,b");

	/* Exactly 20 bytes of serial. */
	parse_ok("a.img,serial=01234567890123456789", &sp);
	assert_string_equal(sp.serial, "01234567890123456789");
}

static void test_spec_errors(void **state)
{
	parse_bad("", 1, "empty file name");
	parse_bad(NULL, 1, "empty file name");
	parse_bad(",ro", 1, "empty file name");
	parse_bad("a.img,rw", 2, "unknown option", "'rw'");
	parse_bad("a.img,cache=none", 2, "unknown option", "'cache'");
	parse_bad("a.img,ro,ro", 2, "'ro'", "twice");
	parse_bad("a.img,serial=a,serial=b", 2, "'serial'", "twice");
	parse_bad("a.img,ro=maybe", 3, "bad value", "'maybe'", "'ro'");
	parse_bad("a.img,direct=2", 3, "bad value", "'2'", "'direct'");
	parse_bad("a.img,serial=012345678901234567890", 4, "serial",
		  "'012345678901234567890'", "21 bytes", "20");
	parse_bad("a.img,serial=a\tb", 2, "serial", "printable");
	parse_bad("a.img,serial=", 2, "'serial'", "needs a value");
	parse_bad("a.img,format=vmdk", 4, "unknown format", "'vmdk'", "raw", "qcow2");
	parse_bad("a.img,aio=native", 3, "bad value", "'native'", "'aio'");
	parse_bad("a.img,ro,", 1, "empty option");
	parse_bad("a.img,ro,,x", 2, "unknown option", "'ro,x'");
}

/* ---- Helpers ---- */

struct fixture {
	char path[64];
	struct event_loop loop;
	bool loop_started;
};

static void make_file(struct fixture *f)
{
	uint8_t *buf = malloc(FILE_SIZE);
	int fd;

	snprintf(f->path, sizeof(f->path), "/tmp/kvmbox-blk-XXXXXX");
	fd = mkstemp(f->path);
	assert_true(fd >= 0);
	for (int i = 0; i < FILE_SIZE; i++)
		buf[i] = (uint8_t)(i * 7 + (i >> 9));
	assert_int_equal(write(fd, buf, FILE_SIZE), FILE_SIZE);
	close(fd);
	free(buf);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	make_file(f);
	assert_int_equal(event_loop_init(&f->loop), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	event_loop_destroy(&f->loop);
	unlink(f->path);
	free(f);
	return 0;
}

static void start_loop(struct fixture *f)
{
	if (f->loop_started)
		return;
	assert_int_equal(event_loop_start(&f->loop), 0);
	f->loop_started = true;
}

static struct block_dev *open_img(struct fixture *f, const char *opts)
{
	struct block_spec sp;
	struct block_dev *b;
	struct kb_err err = { 0 };
	char s[256];

	snprintf(s, sizeof(s), "%s%s", f->path, opts);
	parse_ok(s, &sp);
	if (block_open(&sp, &f->loop, &b, &err))
		fail_msg("open %s: %s", s, err.msg);
	return b;
}

struct done {
	atomic_int n;
	int res;
	pthread_t thread;
};

static void on_done(struct block_req *r, int res)
{
	struct done *d = r->opaque;

	d->res = res;
	d->thread = pthread_self();
	atomic_fetch_add(&d->n, 1);
}

static void wait_n(atomic_int *v, int want)
{
	for (int i = 0; i < 5000 && atomic_load(v) < want; i++) {
		struct timespec ts = { 0, 1000000 };

		nanosleep(&ts, NULL);
	}
	assert_int_equal(atomic_load(v), want);
}

/* A request (the rest of it zero). */
static struct block_req req(enum block_op op, struct iovec *iov, int iovcnt, uint64_t off,
			    uint64_t len)
{
	return (struct block_req){
		.op = op, .iov = iov, .iovcnt = iovcnt, .offset = off, .len = len
	};
}

/* Submits one request and waits for its completion on the loop thread. */
static int run(struct fixture *f, struct block_dev *b, struct block_req *r)
{
	struct done d = { 0 };
	int ret;

	r->done = on_done;
	r->opaque = &d;
	ret = block_submit(b, r);
	if (ret)
		return ret;
	wait_n(&d.n, 1);
	assert_true(pthread_equal(d.thread, f->loop.thread));
	return d.res;
}

static void file_read(struct fixture *f, off_t off, void *buf, size_t len)
{
	int fd = open(f->path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

static bool is_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* ---- Open, lock ---- */

static void test_lock_conflict(void **state)
{
	struct fixture *f = *state;
	struct block_dev *a, *b, *c;
	struct block_spec sp;
	struct kb_err err = { 0 };

	a = open_img(f, "");
	parse_ok(f->path, &sp);
	assert_int_equal(block_open(&sp, &f->loop, &b, &err), -EBUSY);
	assert_null(b);
	assert_non_null(strstr(err.msg, f->path));
	assert_non_null(strstr(err.msg, "in use by another process"));
	/* Read-only users conflict with a writer too. */
	sp.ro = true;
	memset(&err, 0, sizeof(err));
	assert_int_equal(block_open(&sp, &f->loop, &b, &err), -EBUSY);
	assert_non_null(strstr(err.msg, f->path));
	block_close(a);

	/* Two readers share; a writer is kept out. */
	a = open_img(f, ",ro");
	b = open_img(f, ",ro");
	sp.ro = false;
	assert_int_equal(block_open(&sp, &f->loop, &c, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "in use by another process"));
	block_close(b);
	block_close(a);
	/* Released at close. */
	a = open_img(f, "");
	block_close(a);
}

static void test_open_errors(void **state)
{
	struct fixture *f = *state;
	struct block_spec sp;
	struct block_dev *b;
	struct kb_err err = { 0 };

	parse_ok("/nonexistent/kvmbox/disk.img", &sp);
	assert_int_equal(block_open(&sp, &f->loop, &b, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "/nonexistent/kvmbox/disk.img"));

	parse_ok("/dev/null", &sp);
	assert_true(block_open(&sp, &f->loop, &b, &err) < 0);
	assert_non_null(strstr(err.msg, "/dev/null"));
	assert_non_null(strstr(err.msg, "not a regular file or a block device"));

	parse_ok("/tmp", &sp);
	sp.ro = true;
	assert_true(block_open(&sp, &f->loop, &b, &err) < 0);
	assert_non_null(strstr(err.msg, "/tmp"));
}

/* ---- I/O ---- */

static void do_io(struct fixture *f, const char *opts)
{
	struct block_dev *b = open_img(f, opts);
	static uint8_t a[4096], c[1536], back[8192];
	struct iovec iov[2] = { { a, sizeof(a) }, { c, sizeof(c) } };
	struct block_req r;

	start_loop(f);
	assert_int_equal(block_size(b), FILE_SIZE);
	memset(a, 0xa5, sizeof(a));
	memset(c, 0x3c, sizeof(c));

	/* Vectored write at an offset, then read back in other pieces. */
	r = req(BLOCK_OP_WRITE, iov, 2, 8192, 0);
	assert_int_equal(run(f, b, &r), 0);
	file_read(f, 8192, back, sizeof(a) + sizeof(c));
	assert_memory_equal(back, a, sizeof(a));
	assert_memory_equal(back + sizeof(a), c, sizeof(c));

	{
		struct iovec riov[3] = { { back, 512 },
					 { back + 512, 3072 },
					 { back + 3584, 2048 } };

		memset(back, 0, sizeof(back));
		r = req(BLOCK_OP_READ, riov, 3, 8192, 0);
		assert_int_equal(run(f, b, &r), 0);
		assert_memory_equal(back, a, sizeof(a));
		assert_memory_equal(back + sizeof(a), c, sizeof(c));
	}

	r = req(BLOCK_OP_FLUSH, NULL, 0, 0, 0);
	assert_int_equal(run(f, b, &r), 0);

	/* Discard: the range reads back as zeroes (punched) on this fs, or
	 * is left alone; never an error. */
	r = req(BLOCK_OP_DISCARD, NULL, 0, 65536, 65536);
	assert_int_equal(run(f, b, &r), 0);

	/* Write zeroes, with and without may_unmap. */
	for (int unmap = 0; unmap < 2; unmap++) {
		r = req(BLOCK_OP_WRITE_ZEROES, NULL, 0, 8192 + 512 * unmap, 1024);
		r.may_unmap = unmap;
		assert_int_equal(run(f, b, &r), 0);
	}
	file_read(f, 8192, back, 2048);
	assert_true(is_zero(back, 1536));
	assert_memory_equal(back + 1536, a, 512);

	/* A zero-length read completes too. */
	r = req(BLOCK_OP_READ, iov, 0, 0, 0);
	assert_int_equal(run(f, b, &r), 0);

	/* Out of range, never started. */
	r = req(BLOCK_OP_READ, iov, 1, FILE_SIZE - 512, 0);
	assert_int_equal(block_submit(b, &r), -EINVAL);
	r.offset = UINT64_MAX - 100;
	assert_int_equal(block_submit(b, &r), -EINVAL);
	r.op = BLOCK_OP_WRITE_ZEROES;
	r.offset = FILE_SIZE - 512;
	r.len = UINT64_MAX - 1000;
	assert_int_equal(block_submit(b, &r), -EINVAL);
	block_close(b);
}

static void test_io_threads(void **state)
{
	do_io(*state, ",aio=threads");
}

static void test_io_uring(void **state)
{
	struct fixture *f = *state;
	struct block_spec sp;
	struct block_dev *b;
	struct kb_err err = { 0 };

	parse_ok(f->path, &sp);
	sp.aio = BLOCK_AIO_IO_URING;
	if (block_open(&sp, &f->loop, &b, &err)) {
		/* Built without liburing, or the kernel refuses io_uring. */
		assert_non_null(strstr(err.msg, "io_uring"));
		skip();
	}
	block_close(b);
	do_io(f, ",aio=io_uring");
}

static void test_io_direct(void **state)
{
	struct fixture *f = *state;
	struct block_spec sp;
	struct block_dev *b;
	struct kb_err err = { 0 };
	uint8_t *al = NULL, *un = malloc(4096 + 1);
	struct block_req r;
	struct iovec iov;

	parse_ok(f->path, &sp);
	sp.direct = true;
	if (block_open(&sp, &f->loop, &b, &err)) {
		assert_non_null(strstr(err.msg, "O_DIRECT"));
		assert_non_null(strstr(err.msg, f->path));
		free(un);
		skip();
	}
	start_loop(f);
	assert_int_equal(posix_memalign((void **)&al, 4096, 4096), 0);
	memset(al, 0x11, 4096);
	/* An unaligned buffer goes through a bounce buffer. */
	memset(un + 1, 0x22, 4096);
	iov = (struct iovec){ un + 1, 4096 };
	r = req(BLOCK_OP_WRITE, &iov, 1, 4096, 0);
	assert_int_equal(run(f, b, &r), 0);
	iov = (struct iovec){ al, 4096 };
	r = req(BLOCK_OP_READ, &iov, 1, 4096, 0);
	assert_int_equal(run(f, b, &r), 0);
	assert_memory_equal(al, un + 1, 4096);
	memset(un + 1, 0, 4096);
	iov = (struct iovec){ un + 1, 4096 };
	r = req(BLOCK_OP_READ, &iov, 1, 4096, 0);
	assert_int_equal(run(f, b, &r), 0);
	assert_memory_equal(al, un + 1, 4096);
	block_close(b);
	free(al);
	free(un);
}

/* tmpfs has no FALLOC_FL_ZERO_RANGE: write zeroes falls back. */
static void test_write_zeroes_fallback(void **state)
{
	struct fixture *f = *state;
	static uint8_t back[4096], ones[4096];
	const char *engines[] = { ",aio=threads", "" };
	char path[64] = "/dev/shm/kvmbox-blk-XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0)
		skip();
	memset(ones, 1, sizeof(ones));
	assert_int_equal(write(fd, ones, sizeof(ones)), sizeof(ones));
	close(fd);
	unlink(f->path);
	snprintf(f->path, sizeof(f->path), "%s", path);
	start_loop(f);
	for (int e = 0; e < 2; e++) {
		struct block_dev *b = open_img(f, engines[e]);
		struct block_req r;

		assert_int_equal(pwrite(b->fd, ones, sizeof(ones), 0), sizeof(ones));
		r = req(BLOCK_OP_WRITE_ZEROES, NULL, 0, 512, 2048);
		assert_int_equal(run(f, b, &r), 0);
		file_read(f, 0, back, sizeof(back));
		assert_memory_equal(back, ones, 512);
		assert_true(is_zero(back + 512, 2048));
		assert_memory_equal(back + 2560, ones, 4096 - 2560);
		block_close(b);
	}
}

static void test_read_only(void **state)
{
	struct fixture *f = *state;
	struct block_dev *b = open_img(f, ",ro");
	uint8_t buf[512] = { 0 };
	struct iovec iov = { buf, sizeof(buf) };
	struct block_req r;

	start_loop(f);
	r = req(BLOCK_OP_WRITE, &iov, 1, 0, 0);
	assert_int_equal(block_submit(b, &r), -EROFS);
	r.op = BLOCK_OP_DISCARD;
	r.len = 512;
	assert_int_equal(block_submit(b, &r), -EROFS);
	r.op = BLOCK_OP_WRITE_ZEROES;
	assert_int_equal(block_submit(b, &r), -EROFS);
	r.op = BLOCK_OP_READ;
	assert_int_equal(run(f, b, &r), 0);
	r.op = BLOCK_OP_FLUSH;
	assert_int_equal(run(f, b, &r), 0);
	block_close(b);
}

#define MANY 64

/* Many requests in flight; drain waits for all of their I/O. */
static void do_many(struct fixture *f, const char *opts)
{
	struct block_dev *b = open_img(f, opts);
	static uint8_t bufs[MANY][4096];
	struct iovec iov[MANY];
	struct block_req r[MANY];
	struct done d = { 0 };
	uint8_t back[4096];

	start_loop(f);
	for (int i = 0; i < MANY; i++) {
		memset(bufs[i], i + 1, sizeof(bufs[i]));
		iov[i] = (struct iovec){ bufs[i], sizeof(bufs[i]) };
		r[i] = req(BLOCK_OP_WRITE, &iov[i], 1, (uint64_t)i * 4096, 0);
		r[i].done = on_done;
		r[i].opaque = &d;
		assert_int_equal(block_submit(b, &r[i]), 0);
	}
	block_drain(b);
	/* All written now, whether or not done() has run yet. */
	for (int i = 0; i < MANY; i++) {
		file_read(f, (off_t)i * 4096, back, sizeof(back));
		assert_memory_equal(back, bufs[i], sizeof(back));
	}
	wait_n(&d.n, MANY);
	assert_int_equal(d.res, 0);
	block_close(b);
}

static void test_many_threads(void **state)
{
	do_many(*state, ",aio=threads");
}

static void test_many_auto(void **state)
{
	do_many(*state, "");
}

/* Without a running loop, close delivers the pending completions. */
static void test_close_delivers(void **state)
{
	struct fixture *f = *state;
	struct block_dev *b = open_img(f, "");
	struct block_req r[4];
	struct done d = { 0 };

	for (int i = 0; i < 4; i++) {
		r[i] = req(BLOCK_OP_FLUSH, NULL, 0, 0, 0);
		r[i].done = on_done;
		r[i].opaque = &d;
		assert_int_equal(block_submit(b, &r[i]), 0);
	}
	block_close(b);
	assert_int_equal(atomic_load(&d.n), 4);
	assert_true(pthread_equal(d.thread, pthread_self()));
}

/* A test run between setup() and teardown(). */
#define FIXTURE_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_good),
		cmocka_unit_test(test_spec_errors),
		FIXTURE_TEST(test_lock_conflict),
		FIXTURE_TEST(test_open_errors),
		FIXTURE_TEST(test_io_threads),
		FIXTURE_TEST(test_io_uring),
		FIXTURE_TEST(test_io_direct),
		FIXTURE_TEST(test_write_zeroes_fallback),
		FIXTURE_TEST(test_read_only),
		FIXTURE_TEST(test_many_threads),
		FIXTURE_TEST(test_many_auto),
		FIXTURE_TEST(test_close_delivers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
