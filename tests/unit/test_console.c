// SPDX-License-Identifier: GPL-2.0-only
/* Host terminal escape handling and the console's panic watch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "util/term.h"
#include "vm/console.h"

static void test_escape(void **state)
{
	struct term t;
	uint8_t out[16];
	size_t n;

	term_init(&t, -1);
	assert_int_equal(term_filter(&t, (const uint8_t *)"ab", 2, out, &n), TERM_NONE);
	assert_int_equal(n, 2);
	assert_memory_equal(out, "ab", 2);
	/* Ctrl-A Ctrl-A sends one Ctrl-A. */
	assert_int_equal(term_filter(&t, (const uint8_t *)"\x01\x01z", 3, out, &n),
			 TERM_NONE);
	assert_int_equal(n, 2);
	assert_int_equal(out[0], 1);
	/* Ctrl-A x split across two reads still quits. */
	assert_int_equal(term_filter(&t, (const uint8_t *)"q\x01", 2, out, &n),
			 TERM_NONE);
	assert_int_equal(n, 1);
	assert_int_equal(term_filter(&t, (const uint8_t *)"x", 1, out, &n), TERM_QUIT);
	assert_int_equal(n, 0);
	assert_int_equal(term_filter(&t,
				     (const uint8_t *)"\x01"
						      "b",
				     2, out, &n),
			 TERM_BREAK);
	/* Ctrl-C is the guest's, not ours. */
	assert_int_equal(term_filter(&t, (const uint8_t *)"\x03", 1, out, &n), TERM_NONE);
	assert_int_equal(out[0], 3);
}

static bool feed(int *st, const char *s)
{
	return console_watch_panic(st, (const uint8_t *)s, strlen(s));
}

static void test_panic_watch(void **state)
{
	int st = 0;

	assert_false(feed(&st, "[ 1.0] Kernel panic - not sync"));
	assert_true(feed(&st, "ing: Attempted to kill init!\r\n"));
	st = 0;
	assert_false(feed(&st, "Kernel panic? no. Kernel pani"));
	assert_false(feed(&st, "c - not syncin"));
	assert_false(feed(&st, "X g"));
	st = 0;
	assert_false(feed(&st, "KKernel panic - not syncin"));
	assert_true(feed(&st, "g"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_panic_watch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
