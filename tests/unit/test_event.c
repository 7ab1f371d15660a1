// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdatomic.h>
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
	atomic_int hits; /* written by the loop thread */
};

static void on_event(void *arg, uint32_t events)
{
	struct counter *c = arg;
	uint64_t v;

	if (read(c->fd, &v, sizeof(v)) == sizeof(v))
		c->hits += (int)v;
}

static void wait_for(atomic_int *v, int want)
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

struct self_remover {
	struct event_loop *l;
	int fd;
	atomic_int removed;
};

static void remove_self(void *arg, uint32_t events)
{
	struct self_remover *r = arg;

	/* On the loop thread, which holds the dispatch lock: must not wait. */
	if (event_del(r->l, r->fd) == 0)
		r->removed++;
}

/*
 * A handler may remove itself, also when it runs before event_loop_start()
 * has returned (its fd was readable already): the loop thread must know
 * itself as such from its first event on, or event_del() deadlocks.
 */
static void test_handler_removes_itself_at_start(void **state)
{
	for (int i = 0; i < 200; i++) {
		struct event_loop l;
		struct self_remover r = { &l, eventfd(1, EFD_NONBLOCK), 0 };

		assert_true(r.fd >= 0);
		assert_int_equal(event_loop_init(&l), 0);
		assert_int_equal(event_add(&l, r.fd, EPOLLIN, remove_self, &r), 0);
		assert_int_equal(event_loop_start(&l), 0);
		wait_for(&r.removed, 1);
		assert_int_equal(r.removed, 1);
		event_loop_sync(&l);
		assert_int_equal(event_del(&l, r.fd), -ENOENT);
		event_loop_destroy(&l);
		close(r.fd);
	}
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
		cmocka_unit_test(test_handler_removes_itself_at_start),
		cmocka_unit_test(test_stop_without_start),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
