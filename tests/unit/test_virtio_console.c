// SPDX-License-Identifier: GPL-2.0-only
/*
 * virtio-console. The test plays both the driver (descriptors and avail
 * rings laid out by hand in guest memory) and the transport (queue setup,
 * activate, kicks, and a transport_ops that counts interrupts).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>
#include <cmocka.h>

#include <linux/virtio_console.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>

#include "fake_virtq.h"
#include "virtio/console.h"
#include "virtio/queue.h"
#include "virtio/virtio.h"
#include "vm/memory.h"

#define QSIZE 16
#define RXQ VIRTIO_CONSOLE_RXQ
#define TXQ VIRTIO_CONSOLE_TXQ
#define BUF_GPA 0x80000ULL /* buffer i at BUF_GPA + i * 0x1000 */

struct t {
	struct fake_guest g;
	struct virtio_dev *d;
	uint8_t out[8192]; /* what out() was given */
	size_t out_len;
	int out_calls;
};

static uint64_t buf(int i)
{
	return BUF_GPA + (uint64_t)i * 0x1000;
}

static void out_fn(void *ctx, const uint8_t *b, size_t len)
{
	struct t *t = ctx;

	assert_true(t->out_len + len <= sizeof(t->out));
	memcpy(t->out + t->out_len, b, len);
	t->out_len += len;
	t->out_calls++;
}

/* What the transport does at DRIVER_OK. */
static void start(struct t *t)
{
	fg_layout(&t->g, RXQ, QSIZE);
	fg_layout(&t->g, TXQ, QSIZE);
	fg_driver_ok(&t->g, t->d, false, false);
}

static void setup_noact(struct t *t)
{
	memset(t, 0, sizeof(*t));
	fg_init(&t->g, 1 * MiB);
	t->d = virtio_console_create(out_fn, t, NULL);
	assert_non_null(t->d);
	assert_int_equal(t->d->device_id, VIRTIO_ID_CONSOLE);
	assert_int_equal(t->d->nr_queues, 2);
	assert_int_equal(t->d->config_size, sizeof(struct virtio_console_config));
	assert_true(t->d->queue_max_size >= QSIZE);
	assert_false(t->d->ops->features(t->d) & (1ULL << VIRTIO_CONSOLE_F_MULTIPORT));
	fg_attach(&t->g, t->d);
	t->d->features = t->d->ops->features(t->d);
}

static void setup(struct t *t)
{
	setup_noact(t);
	start(t);
}

static void teardown(struct t *t)
{
	t->d->ops->reset(t->d);
	t->d->ops->destroy(t->d);
	fg_fini(&t->g);
}

/* Posts one empty receive buffer of @len bytes (descriptor and buffer @i). */
static void post_rx(struct t *t, int i, uint32_t len)
{
	memset(fg_hva(&t->g, buf(i), len), 0, len);
	fg_put_desc(&t->g, RXQ, i, buf(i), len, VRING_DESC_F_WRITE, 0);
	fg_add_avail(&t->g, RXQ, i);
}

static size_t receive_str(struct t *t, const char *s)
{
	return virtio_console_receive(t->d, (const uint8_t *)s, strlen(s));
}

/* --- transmit -------------------------------------------------------- */

static void test_transmit_chained(void **state)
{
	static const char *part[] = { "Hello, ", "virtio", " console", "\n" };
	static const int idx[] = { 0, 5, 2, 9 };
	struct virtio_console_stats st;
	struct t t;

	setup(&t);
	/* One chain of four readable buffers, 0 -> 5 -> 2 -> 9. */
	for (int i = 0; i < 4; i++) {
		size_t n = strlen(part[i]);

		memcpy(fg_hva(&t.g, buf(idx[i]), n), part[i], n);
		fg_put_desc(&t.g, TXQ, idx[i], buf(idx[i]), n,
			    i < 3 ? VRING_DESC_F_NEXT : 0, i < 3 ? idx[i + 1] : 0);
	}
	fg_add_avail(&t.g, TXQ, 0);
	/* A second chain: every byte value, and a writable tail (ignored). */
	for (int i = 0; i < 256; i++)
		fg_hva(&t.g, buf(10), 256)[i] = i;
	fg_put_desc(&t.g, TXQ, 10, buf(10), 256, VRING_DESC_F_NEXT, 11);
	fg_put_desc(&t.g, TXQ, 11, buf(11), 64, VRING_DESC_F_WRITE, 0);
	memset(fg_hva(&t.g, buf(11), 64), 0x77, 64);
	fg_add_avail(&t.g, TXQ, 10);
	fg_kick(t.d, TXQ);

	assert_int_equal(fg_used_idx(&t.g, TXQ), 2);
	fg_expect_used(&t.g, TXQ, 0, 0, 0);
	fg_expect_used(&t.g, TXQ, 1, 10, 0);
	assert_true(atomic_load(&t.g.notified[TXQ]) >= 1);
	assert_int_equal(atomic_load(&t.g.notified[RXQ]), 0);
	assert_int_equal(t.out_len, 22 + 256);
	assert_memory_equal(t.out, "Hello, virtio console\n", 22);
	for (int i = 0; i < 256; i++)
		assert_int_equal(t.out[22 + i], i);
	assert_int_equal(fg_hva(&t.g, buf(11), 64)[0], 0x77);

	virtio_console_get_stats(t.d, &st);
	assert_int_equal(st.tx_bytes, 22 + 256);
	assert_int_equal(st.tx_buffers, 2);
	assert_int_equal(st.rx_bytes, 0);

	/* Nothing new: nothing more. */
	fg_kick(t.d, TXQ);
	assert_int_equal(fg_used_idx(&t.g, TXQ), 2);
	assert_int_equal(t.out_len, 22 + 256);
	teardown(&t);
}

static void test_transmit_broken_ring(void **state)
{
	struct t t;

	setup(&t);
	fg_set_avail_idx(&t.g, TXQ, 3 * QSIZE);
	fg_kick(t.d, TXQ);
	assert_int_equal(atomic_load(&t.g.needs_reset), 1);
	assert_int_equal(fg_used_idx(&t.g, TXQ), 0);
	assert_int_equal(t.out_len, 0);
	teardown(&t);
}

/* --- receive --------------------------------------------------------- */

static void test_receive(void **state)
{
	struct virtio_console_stats st;
	struct t t;

	setup(&t);
	post_rx(&t, 0, 16);
	post_rx(&t, 1, 16);
	/* Buffers posted, nothing to say yet: they stay with the device. */
	fg_kick(t.d, RXQ);
	assert_int_equal(fg_used_idx(&t.g, RXQ), 0);
	assert_int_equal(atomic_load(&t.g.notified[RXQ]), 0);

	assert_int_equal(receive_str(&t, "abc"), 3);
	assert_int_equal(fg_used_idx(&t.g, RXQ), 1);
	fg_expect_used(&t.g, RXQ, 0, 0, 3);
	assert_memory_equal(fg_hva(&t.g, buf(0), 3), "abc", 3);
	assert_int_equal(fg_hva(&t.g, buf(0), 4)[3], 0);
	assert_true(atomic_load(&t.g.notified[RXQ]) >= 1);
	assert_int_equal(virtio_console_rx_space(t.d), VIRTIO_CONSOLE_INBUF_SIZE);

	/* More than the next buffer holds: the rest waits for another. */
	assert_int_equal(receive_str(&t, "0123456789abcdefXYZ"), 19);
	assert_int_equal(fg_used_idx(&t.g, RXQ), 2);
	fg_expect_used(&t.g, RXQ, 1, 1, 16);
	assert_memory_equal(fg_hva(&t.g, buf(1), 16), "0123456789abcdef", 16);
	assert_int_equal(virtio_console_rx_space(t.d), VIRTIO_CONSOLE_INBUF_SIZE - 3);

	/* A chained buffer: readable part skipped, writable parts filled. */
	fg_put_desc(&t.g, RXQ, 2, buf(2), 8, VRING_DESC_F_NEXT, 3);
	fg_put_desc(&t.g, RXQ, 3, buf(3), 2, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 4);
	fg_put_desc(&t.g, RXQ, 4, buf(4), 10, VRING_DESC_F_WRITE, 0);
	memset(fg_hva(&t.g, buf(2), 8), 0x11, 8);
	fg_add_avail(&t.g, RXQ, 2);
	fg_kick(t.d, RXQ);
	assert_int_equal(fg_used_idx(&t.g, RXQ), 3);
	fg_expect_used(&t.g, RXQ, 2, 2, 3);
	assert_memory_equal(fg_hva(&t.g, buf(3), 2), "XY", 2);
	assert_int_equal(fg_hva(&t.g, buf(4), 1)[0], 'Z');
	assert_int_equal(fg_hva(&t.g, buf(2), 1)[0], 0x11);
	assert_int_equal(virtio_console_rx_space(t.d), VIRTIO_CONSOLE_INBUF_SIZE);

	virtio_console_get_stats(t.d, &st);
	assert_int_equal(st.rx_bytes, 22);
	assert_int_equal(st.rx_buffers, 3);
	assert_int_equal(st.tx_bytes, 0);
	teardown(&t);
}

/* Input before the guest has buffers (or a driver at all) arrives later. */
static void test_receive_early(void **state)
{
	struct t t;

	setup_noact(&t);
	/* No driver yet: queued. */
	assert_int_equal(receive_str(&t, "early "), 6);
	assert_int_equal(virtio_console_rx_space(t.d), VIRTIO_CONSOLE_INBUF_SIZE - 6);
	start(&t);
	assert_int_equal(receive_str(&t, "bird"), 4);
	assert_int_equal(fg_used_idx(&t.g, RXQ), 0);
	assert_int_equal(virtio_console_rx_space(t.d), VIRTIO_CONSOLE_INBUF_SIZE - 10);

	post_rx(&t, 0, 64);
	fg_kick(t.d, RXQ);
	assert_int_equal(fg_used_idx(&t.g, RXQ), 1);
	fg_expect_used(&t.g, RXQ, 0, 0, 10);
	assert_memory_equal(fg_hva(&t.g, buf(0), 10), "early bird", 10);
	assert_true(atomic_load(&t.g.notified[RXQ]) >= 1);
	assert_int_equal(virtio_console_rx_space(t.d), VIRTIO_CONSOLE_INBUF_SIZE);

	/* A buffer posted with no kick of its own is still found on the
	 * next transmit kick. */
	assert_int_equal(receive_str(&t, "!"), 1);
	post_rx(&t, 1, 64);
	fg_kick(t.d, TXQ);
	assert_int_equal(fg_used_idx(&t.g, RXQ), 2);
	fg_expect_used(&t.g, RXQ, 1, 1, 1);
	teardown(&t);
}

/* The buffer is bounded; the caller is told what was taken; order holds
 * across the wrap of the internal ring. */
static void test_rx_space(void **state)
{
	static uint8_t in[3 * VIRTIO_CONSOLE_INBUF_SIZE];
	size_t fed = 0, got = 0;
	uint16_t used = 0;
	struct t t;
	int slot = 0;

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i % 251);
	setup(&t);
	fed = virtio_console_receive(t.d, in, 5000);
	assert_int_equal(fed, VIRTIO_CONSOLE_INBUF_SIZE);
	assert_int_equal(virtio_console_rx_space(t.d), 0);
	assert_int_equal(virtio_console_receive(t.d, in + fed, 1), 0);

	/* Drain in odd-sized buffers while topping up. */
	while (got < sizeof(in)) {
		uint32_t len = 700 + 13 * (slot % 7);
		size_t room, n;

		post_rx(&t, slot % QSIZE, len);
		fg_kick(t.d, RXQ);
		assert_int_equal(fg_used_idx(&t.g, RXQ), (uint16_t)(used + 1));
		n = len < fed - got ? len : fed - got;
		fg_expect_used(&t.g, RXQ, used, slot % QSIZE, n);
		assert_memory_equal(fg_hva(&t.g, buf(slot % QSIZE), n), in + got, n);
		got += n;
		used++;
		slot++;

		room = virtio_console_rx_space(t.d);
		assert_int_equal(room, VIRTIO_CONSOLE_INBUF_SIZE - (fed - got));
		n = sizeof(in) - fed < room ? sizeof(in) - fed : room;
		assert_int_equal(virtio_console_receive(t.d, in + fed, n), n);
		fed += n;
	}
	assert_int_equal(virtio_console_rx_space(t.d), VIRTIO_CONSOLE_INBUF_SIZE);
	teardown(&t);
}

/* Odd receive buffers are returned empty; the data goes to the next one. */
static void test_receive_odd_buffers(void **state)
{
	struct t t;

	setup(&t);
	fg_put_desc(&t.g, RXQ, 0, buf(0), 8, 0, 0); /* readable only */
	fg_add_avail(&t.g, RXQ, 0);
	post_rx(&t, 1, 8);
	assert_int_equal(receive_str(&t, "hi"), 2);
	assert_int_equal(fg_used_idx(&t.g, RXQ), 2);
	fg_expect_used(&t.g, RXQ, 0, 0, 0);
	fg_expect_used(&t.g, RXQ, 1, 1, 2);
	assert_memory_equal(fg_hva(&t.g, buf(1), 2), "hi", 2);
	/* A malformed receive ring: the device asks for a reset. */
	fg_put_desc(&t.g, RXQ, 2, buf(2), 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
	fg_add_avail(&t.g, RXQ, 2);
	assert_int_equal(receive_str(&t, "loop"), 4);
	assert_int_equal(atomic_load(&t.g.needs_reset), 1);
	assert_int_equal(fg_used_idx(&t.g, RXQ), 2);
	teardown(&t);
}

static void test_reset(void **state)
{
	struct virtio_console_stats st;
	struct t t;

	setup(&t);
	assert_int_equal(receive_str(&t, "stale input"), 11);
	t.d->ops->reset(t.d);
	assert_int_equal(virtio_console_rx_space(t.d), VIRTIO_CONSOLE_INBUF_SIZE);
	virtio_console_get_stats(t.d, &st);
	assert_int_equal(st.rx_dropped, 11);

	/* Reset device: kicks do nothing (the rings are the old driver's). */
	post_rx(&t, 0, 16);
	fg_put_desc(&t.g, TXQ, 0, buf(5), 4, 0, 0);
	fg_add_avail(&t.g, TXQ, 0);
	fg_kick(t.d, RXQ);
	fg_kick(t.d, TXQ);
	assert_int_equal(fg_used_idx(&t.g, RXQ), 0);
	assert_int_equal(fg_used_idx(&t.g, TXQ), 0);
	assert_int_equal(t.out_len, 0);

	/* A new driver: fresh input only. */
	start(&t);
	post_rx(&t, 0, 16);
	assert_int_equal(receive_str(&t, "new"), 3);
	assert_int_equal(fg_used_idx(&t.g, RXQ), 1);
	fg_expect_used(&t.g, RXQ, 0, 0, 3);
	assert_memory_equal(fg_hva(&t.g, buf(0), 3), "new", 3);
	teardown(&t);
}

/* --- config space ---------------------------------------------------- */

static void read_cfg(struct t *t, struct virtio_console_config *cfg)
{
	t->d->ops->read_config(t->d, 0, cfg, sizeof(*cfg));
}

static void test_config_no_tty(void **state)
{
	struct virtio_console_config cfg;
	uint8_t b[4];
	struct t t;

	if (isatty(STDOUT_FILENO))
		skip();
	setup(&t);
	assert_int_equal(t.d->ops->features(t.d), 0);
	read_cfg(&t, &cfg);
	assert_int_equal(cfg.cols, 0);
	assert_int_equal(cfg.rows, 0);
	/* Writes are ignored; partial reads work. */
	t.d->ops->write_config(t.d, 0, "\x50\x00", 2);
	t.d->ops->read_config(t.d, 4, b, 4);
	assert_int_equal(b[0], 1);
	assert_int_equal(b[1] | b[2] | b[3], 0);
	virtio_console_set_size(t.d, 100, 40);
	read_cfg(&t, &cfg);
	assert_int_equal(cfg.cols, 0);
	assert_int_equal(atomic_load(&t.g.config_changed), 0);
	teardown(&t);
}

/* With stdout on a terminal, F_SIZE is offered with its size. */
static void test_config_tty_size(void **state)
{
	struct virtio_console_config cfg;
	struct winsize ws = { .ws_row = 37, .ws_col = 123 };
	int master, slave, saved;
	struct t t;

	master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) || unlockpt(master))
		skip();
	slave = open(ptsname(master), O_RDWR | O_NOCTTY);
	if (slave < 0)
		skip();
	assert_int_equal(ioctl(slave, TIOCSWINSZ, &ws), 0);
	saved = dup(STDOUT_FILENO);
	assert_true(saved >= 0);
	fflush(stdout);
	/* Nothing may print between here and the restore. */
	dup2(slave, STDOUT_FILENO);
	memset(&t, 0, sizeof(t));
	t.d = virtio_console_create(out_fn, &t, NULL);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	close(slave);
	close(master);
	assert_non_null(t.d);
	fg_init(&t.g, 1 * MiB);
	fg_attach(&t.g, t.d);

	assert_int_equal(t.d->ops->features(t.d), 1ULL << VIRTIO_CONSOLE_F_SIZE);
	read_cfg(&t, &cfg);
	assert_int_equal(le16toh(cfg.cols), 123);
	assert_int_equal(le16toh(cfg.rows), 37);

	/* Resized before the driver is there: new size, no interrupt. */
	virtio_console_set_size(t.d, 80, 25);
	assert_int_equal(atomic_load(&t.g.config_changed), 0);
	read_cfg(&t, &cfg);
	assert_int_equal(le16toh(cfg.cols), 80);
	assert_int_equal(le16toh(cfg.rows), 25);

	/* Driver took F_SIZE: a resize is a config change; same size is not. */
	t.d->features = 1ULL << VIRTIO_CONSOLE_F_SIZE;
	start(&t);
	virtio_console_set_size(t.d, 132, 50);
	assert_int_equal(atomic_load(&t.g.config_changed), 1);
	virtio_console_set_size(t.d, 132, 50);
	assert_int_equal(atomic_load(&t.g.config_changed), 1);
	read_cfg(&t, &cfg);
	assert_int_equal(le16toh(cfg.cols), 132);
	assert_int_equal(le16toh(cfg.rows), 50);
	t.d->ops->read_config(t.d, 2, &cfg, 2);
	assert_int_equal(le16toh(cfg.cols), 50);

	/* Driver without F_SIZE: no config change. */
	t.d->ops->reset(t.d);
	t.d->features = 0;
	start(&t);
	virtio_console_set_size(t.d, 90, 30);
	assert_int_equal(atomic_load(&t.g.config_changed), 1);
	teardown(&t);
}

/* --- threads: input from another thread while the guest drains ------- */

struct feeder {
	struct virtio_dev *d;
	const uint8_t *data;
	size_t len;
};

static void *feed(void *arg)
{
	struct feeder *f = arg;
	size_t done = 0;

	while (done < f->len) {
		size_t n = f->len - done < 333 ? f->len - done : 333;

		done += virtio_console_receive(f->d, f->data + done, n);
		if (!virtio_console_rx_space(f->d))
			sched_yield();
	}
	return NULL;
}

static void test_threads(void **state)
{
	static uint8_t in[256 * 1024];
	static uint8_t got[sizeof(in)];
	struct feeder f;
	size_t got_len = 0;
	uint16_t seen = 0;
	pthread_t th;
	struct t t;

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7 + (i >> 8));
	setup(&t);
	/* The guest keeps QSIZE buffers of 512 bytes posted. */
	for (int i = 0; i < QSIZE; i++)
		post_rx(&t, i, 512);
	f = (struct feeder){ .d = t.d, .data = in, .len = sizeof(in) };
	assert_int_equal(pthread_create(&th, NULL, feed, &f), 0);
	while (got_len < sizeof(in)) {
		uint16_t u = fg_used_idx(&t.g, RXQ);

		if (u == seen) {
			fg_kick(t.d, RXQ);
			sched_yield();
			continue;
		}
		for (; seen != u; seen++) {
			struct vring_used_elem e = fg_used_elem(&t.g, RXQ, seen);

			assert_true(e.len <= 512 && got_len + e.len <= sizeof(got));
			memcpy(got + got_len, fg_hva(&t.g, buf(e.id), 512), e.len);
			got_len += e.len;
			post_rx(&t, e.id, 512);
		}
	}
	pthread_join(th, NULL);
	assert_memory_equal(got, in, sizeof(in));
	teardown(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transmit_chained),
		cmocka_unit_test(test_transmit_broken_ring),
		cmocka_unit_test(test_receive),
		cmocka_unit_test(test_receive_early),
		cmocka_unit_test(test_rx_space),
		cmocka_unit_test(test_receive_odd_buffers),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_config_no_tty),
		cmocka_unit_test(test_config_tty_size),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
