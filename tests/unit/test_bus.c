// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "vm/bus.h"

struct fake {
	uint64_t last_off;
	uint32_t last_len;
	uint8_t last[8];
	int writes;
};

static void fake_read(void *dev, uint64_t off, uint8_t *data, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		data[i] = (uint8_t)(off + i);
}

static void fake_write(void *dev, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct fake *f = dev;

	f->last_off = off;
	f->last_len = len;
	memcpy(f->last, data, len);
	f->writes++;
}

static const struct bus_ops fake_ops = { fake_read, fake_write };

static void test_register_overlap(void **state)
{
	struct bus b;
	struct fake f = { 0 };

	bus_init(&b);
	assert_int_equal(bus_register(&b, 0x3f8, 8, &fake_ops, &f, "a"), 0);
	assert_int_equal(bus_register(&b, 0x3f0, 9, &fake_ops, &f, "b"), -EEXIST);
	assert_int_equal(bus_register(&b, 0x3ff, 1, &fake_ops, &f, "c"), -EEXIST);
	assert_int_equal(bus_register(&b, 0x400, 1, &fake_ops, &f, "d"), 0);
	assert_int_equal(bus_register(&b, 0x3f0, 8, &fake_ops, &f, "e"), 0);
	assert_int_equal(bus_register(&b, 0, 0, &fake_ops, &f, "empty"), -EINVAL);
	assert_int_equal(bus_register(&b, UINT64_MAX, 2, &fake_ops, &f, "wrap"), -EINVAL);
	assert_int_equal(b.nr, 3);
	bus_destroy(&b);
}

static void test_dispatch(void **state)
{
	struct bus b;
	struct fake f = { 0 };
	uint8_t d[4] = { 0xaa, 0xbb };

	bus_init(&b);
	/* Registered out of order: the bus keeps them sorted. */
	assert_int_equal(bus_register(&b, 0x1000, 0x100, &fake_ops, &f, "hi"), 0);
	assert_int_equal(bus_register(&b, 0x10, 0x10, &fake_ops, &f, "lo"), 0);
	assert_true(bus_access(&b, 0x1004, d, 2, true));
	assert_int_equal(f.last_off, 4);
	assert_int_equal(f.last_len, 2);
	assert_int_equal(f.last[1], 0xbb);
	assert_true(bus_access(&b, 0x12, d, 4, false));
	assert_int_equal(d[0], 2);
	assert_int_equal(d[3], 5);
	/* Unclaimed: reads are all-ones, writes go nowhere. */
	assert_false(bus_access(&b, 0x20, d, 4, false));
	assert_int_equal(d[0], 0xff);
	assert_false(bus_access(&b, 0x0f, d, 1, true));
	assert_int_equal(f.writes, 1);
	assert_int_equal(bus_unregister(&b, 0x10, &f), 0);
	assert_false(bus_access(&b, 0x12, d, 1, false));
	assert_int_equal(bus_unregister(&b, 0x10, &f), -ENOENT);
	bus_destroy(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_register_overlap),
		cmocka_unit_test(test_dispatch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
