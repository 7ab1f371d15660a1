// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <string.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vm/memory.h"

#define MiB (1ULL << 20)

static void test_layout_low_only(void **state)
{
	struct guest_mem m;

	assert_int_equal(guest_mem_alloc(&m, 64 * MiB, 3072 * MiB), 0);
	assert_int_equal(m.nr_regions, 1);
	assert_int_equal(m.region[0].gpa, 0);
	assert_int_equal(m.region[0].size, 64 * MiB);
	guest_mem_free(&m);
}

static void test_layout_split(void **state)
{
	struct guest_mem m;

	/* A tiny "hole" so the test does not map gigabytes. */
	assert_int_equal(guest_mem_alloc(&m, 8 * MiB, 4 * MiB), 0);
	assert_int_equal(m.nr_regions, 2);
	assert_int_equal(m.region[1].gpa, 0x100000000ULL);
	assert_int_equal(m.region[1].size, 4 * MiB);
	assert_non_null(guest_mem_ptr(&m, 0x100000000ULL, 4 * MiB));
	assert_null(guest_mem_ptr(&m, 4 * MiB, 1)); /* in the hole */
	assert_int_equal(guest_mem_region_end(&m, 0x100000000ULL + 5),
			 0x100000000ULL + 4 * MiB);
	guest_mem_free(&m);
}

static void test_bounds(void **state)
{
	struct guest_mem m;
	uint8_t buf[16] = { 1, 2, 3 };

	assert_int_equal(guest_mem_alloc(&m, 1 * MiB, 3072 * MiB), 0);
	assert_non_null(guest_mem_ptr(&m, MiB - 16, 16));
	assert_null(guest_mem_ptr(&m, MiB - 15, 16));
	assert_null(guest_mem_ptr(&m, MiB, 1));
	assert_null(guest_mem_ptr(&m, UINT64_MAX - 3, 8));
	assert_null(guest_mem_ptr(&m, 16, UINT64_MAX));
	assert_int_equal(guest_mem_write(&m, 100, buf, 3), 0);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(guest_mem_read(&m, 100, buf, 3), 0);
	assert_int_equal(buf[2], 3);
	assert_int_equal(guest_mem_write(&m, MiB - 1, buf, 2), -EFAULT);
	guest_mem_free(&m);
}

static void test_bad_sizes(void **state)
{
	struct guest_mem m;

	assert_int_equal(guest_mem_alloc(&m, 0, 3072 * MiB), -EINVAL);
	assert_int_equal(guest_mem_alloc(&m, 4097, 3072 * MiB), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout_low_only),
		cmocka_unit_test(test_layout_split),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_bad_sizes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
