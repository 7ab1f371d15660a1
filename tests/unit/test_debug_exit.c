// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "devices/debug_exit.h"

struct rec {
	int calls;
	int code;
};

static void on_exit_code(void *ctx, int code)
{
	struct rec *r = ctx;

	r->calls++;
	r->code = code;
}

static void test_exit_codes(void **state)
{
	struct rec r = { 0 };
	struct bus pio;
	struct debug_exit *d;
	uint8_t b[4];

	bus_init(&pio);
	d = debug_exit_create(on_exit_code, &r);
	assert_non_null(d);
	assert_int_equal(debug_exit_attach(d, &pio, DEBUG_EXIT_PORT), 0);
	assert_int_equal(debug_exit_attach(d, &pio, DEBUG_EXIT_PORT), -EBUSY);

	/* Reads return 0 and exit nothing. */
	memset(b, 0xaa, sizeof(b));
	assert_true(bus_access(&pio, DEBUG_EXIT_PORT, b, 4, false));
	assert_memory_equal(b, "\0\0\0\0", 4);
	assert_int_equal(r.calls, 0);

	b[0] = 3; /* outb */
	assert_true(bus_access(&pio, DEBUG_EXIT_PORT, b, 1, true));
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.code, 3);

	b[0] = 0x34; /* outw 0x1234 */
	b[1] = 0x12;
	assert_true(bus_access(&pio, DEBUG_EXIT_PORT, b, 2, true));
	assert_int_equal(r.code, 0x34);

	memcpy(b, (uint8_t[4]){ 0xff, 0, 0, 0 }, 4); /* outl 255 */
	assert_true(bus_access(&pio, DEBUG_EXIT_PORT, b, 4, true));
	assert_int_equal(r.code, 255);

	b[0] = 0; /* success */
	assert_true(bus_access(&pio, DEBUG_EXIT_PORT, b, 1, true));
	assert_int_equal(r.code, 0);
	assert_int_equal(r.calls, 4);

	/* The port is 4 wide and nothing more. */
	assert_true(bus_access(&pio, DEBUG_EXIT_PORT + 3, b, 1, false));
	assert_false(bus_access(&pio, DEBUG_EXIT_PORT + 4, b, 1, true));
	assert_false(bus_access(&pio, DEBUG_EXIT_PORT - 1, b, 1, true));
	assert_int_equal(r.calls, 4);

	debug_exit_destroy(d);
	assert_int_equal(pio.nr, 0);
	bus_destroy(&pio);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_codes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
