// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "vm/event.h"

struct counter {
	int fd;
	volatile int hits;
};

static void on_event(void *arg, uint32_t events)
{
	struct counter *c = arg;
	uint64_t v;

	if (read(c->fd, &v, sizeof(v)) == sizeof(v))
		c->hits += (int)v;
}

static void wait_for(volatile int *v, int want)
{
	for (int i = 0; i < 2000 && *v < want; i++) {
		struct timespec ts = { 0, 1000000 };

		nanosleep(&ts, NULL);
	}
}

static void test_dispatch_and_remove(void **state)
{
	struct event_loop l;
	struct counter a = { eventfd(0, EFD_NONBLOCK), 0 };
	struct counter b = { eventfd(0, EFD_NONBLOCK), 0 };
	uint64_t one = 1, three = 3;

	assert_int_equal(event_loop_init(&l), 0);
	assert_int_equal(event_add(&l, a.fd, EPOLLIN, on_event, &a), 0);
	assert_int_equal(event_add(&l, b.fd, EPOLLIN, on_event, &b), 0);
	assert_int_equal(event_loop_start(&l), 0);
	assert_int_equal(write(a.fd, &one, 8), 8);
	assert_int_equal(write(b.fd, &three, 8), 8);
	wait_for(&a.hits, 1);
	wait_for(&b.hits, 3);
	assert_int_equal(a.hits, 1);
	assert_int_equal(b.hits, 3);
	/* Removed: no more calls, even with the fd readable. */
	assert_int_equal(event_del(&l, a.fd), 0);
	assert_int_equal(event_del(&l, a.fd), -ENOENT);
	assert_int_equal(write(a.fd, &one, 8), 8);
	assert_int_equal(write(b.fd, &one, 8), 8);
	wait_for(&b.hits, 4);
	assert_int_equal(b.hits, 4);
	assert_int_equal(a.hits, 1);
	event_loop_destroy(&l);
	close(a.fd);
	close(b.fd);
}

static void test_stop_without_start(void **state)
{
	struct event_loop l;

	assert_int_equal(event_loop_init(&l), 0);
	event_loop_stop(&l);
	event_loop_destroy(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dispatch_and_remove),
		cmocka_unit_test(test_stop_without_start),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
