// SPDX-License-Identifier: GPL-2.0-only
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "devices/rtc.h"

struct fixture {
	struct bus pio;
	struct rtc *r;
	struct timespec now; /* the fake host clock */
	int irq_calls;
};

static void fake_clock(void *ctx, struct timespec *ts)
{
	struct fixture *f = ctx;

	*ts = f->now;
}

static void rec_irq(void *ctx, uint32_t gsi, int level)
{
	struct fixture *f = ctx;

	f->irq_calls++;
}

/* Thursday 2024-02-29 13:45:07 UTC */
static time_t test_time(void)
{
	struct tm tm = { .tm_year = 124,
			 .tm_mon = 1,
			 .tm_mday = 29,
			 .tm_hour = 13,
			 .tm_min = 45,
			 .tm_sec = 7 };

	return timegm(&tm);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct irq_line irq = { .set = rec_irq, .ctx = f, .gsi = 8 };

	assert_non_null(f);
	bus_init(&f->pio);
	f->r = rtc_create(irq);
	assert_non_null(f->r);
	assert_int_equal(rtc_attach(f->r, &f->pio), 0);
	f->now.tv_sec = test_time();
	f->now.tv_nsec = 100000000;
	rtc_set_clock(f->r, fake_clock, f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	rtc_destroy(f->r);
	assert_int_equal(f->pio.nr, 0);
	bus_destroy(&f->pio);
	assert_int_equal(f->irq_calls, 0);
	free(f);
	return 0;
}

static uint8_t cmos_read(struct fixture *f, uint8_t idx)
{
	uint8_t v = 0;

	assert_true(bus_access(&f->pio, RTC_INDEX_PORT, &idx, 1, true));
	assert_true(bus_access(&f->pio, RTC_DATA_PORT, &v, 1, false));
	return v;
}

static void cmos_write(struct fixture *f, uint8_t idx, uint8_t v)
{
	assert_true(bus_access(&f->pio, RTC_INDEX_PORT, &idx, 1, true));
	assert_true(bus_access(&f->pio, RTC_DATA_PORT, &v, 1, true));
}

static void test_defaults(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(cmos_read(f, RTC_REG_A), 0x26);
	assert_int_equal(cmos_read(f, RTC_REG_B), RTC_B_24H); /* Linux wants 24h */
	assert_int_equal(cmos_read(f, RTC_REG_C), 0);
	assert_int_equal(cmos_read(f, RTC_REG_D), RTC_D_VRT);
}

static void test_bcd(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(cmos_read(f, RTC_SECONDS), 0x07);
	assert_int_equal(cmos_read(f, RTC_MINUTES), 0x45);
	assert_int_equal(cmos_read(f, RTC_HOURS), 0x13);
	assert_int_equal(cmos_read(f, RTC_DAY_OF_WEEK), 5); /* Sunday = 1 */
	assert_int_equal(cmos_read(f, RTC_DAY_OF_MONTH), 0x29);
	assert_int_equal(cmos_read(f, RTC_MONTH), 0x02);
	assert_int_equal(cmos_read(f, RTC_YEAR), 0x24);
	assert_int_equal(cmos_read(f, RTC_CENTURY), 0x20);
	/* The clock runs. */
	f->now.tv_sec += 60 * 60 * 24 + 53;
	assert_int_equal(cmos_read(f, RTC_SECONDS), 0x00);
	assert_int_equal(cmos_read(f, RTC_MINUTES), 0x46);
	assert_int_equal(cmos_read(f, RTC_DAY_OF_MONTH), 0x01);
	assert_int_equal(cmos_read(f, RTC_MONTH), 0x03);
	assert_int_equal(cmos_read(f, RTC_DAY_OF_WEEK), 6);
}

static void test_binary(void **state)
{
	struct fixture *f = *state;

	cmos_write(f, RTC_REG_B, RTC_B_24H | RTC_B_DM_BINARY);
	assert_int_equal(cmos_read(f, RTC_SECONDS), 7);
	assert_int_equal(cmos_read(f, RTC_MINUTES), 45);
	assert_int_equal(cmos_read(f, RTC_HOURS), 13);
	assert_int_equal(cmos_read(f, RTC_DAY_OF_MONTH), 29);
	assert_int_equal(cmos_read(f, RTC_MONTH), 2);
	assert_int_equal(cmos_read(f, RTC_YEAR), 24);
	assert_int_equal(cmos_read(f, RTC_CENTURY), 20);
}

static void test_12h(void **state)
{
	struct fixture *f = *state;
	time_t midnight = test_time() - (13 * 3600 + 45 * 60 + 7);

	cmos_write(f, RTC_REG_B, 0); /* 12 hour, BCD */
	assert_int_equal(cmos_read(f, RTC_HOURS), 0x80 | 0x01); /* 1 PM */
	f->now.tv_sec = midnight + 5;
	assert_int_equal(cmos_read(f, RTC_HOURS), 0x12); /* 12 AM */
	f->now.tv_sec = midnight + 12 * 3600;
	assert_int_equal(cmos_read(f, RTC_HOURS), 0x80 | 0x12); /* 12 PM */
	f->now.tv_sec = midnight + 23 * 3600;
	assert_int_equal(cmos_read(f, RTC_HOURS), 0x80 | 0x11);
	cmos_write(f, RTC_REG_B, RTC_B_DM_BINARY); /* 12 hour, binary */
	assert_int_equal(cmos_read(f, RTC_HOURS), 0x80 | 11);
	f->now.tv_sec = midnight + 10 * 3600;
	assert_int_equal(cmos_read(f, RTC_HOURS), 10);
	cmos_write(f, RTC_REG_B, RTC_B_DM_BINARY | RTC_B_24H);
	f->now.tv_sec = midnight + 23 * 3600;
	assert_int_equal(cmos_read(f, RTC_HOURS), 23);
}

static void test_reg_c(void **state)
{
	struct fixture *f = *state;

	cmos_write(f, RTC_REG_A, RTC_A_DV_32K); /* no periodic ticks */
	assert_int_equal(cmos_read(f, RTC_REG_C), 0);
	f->now.tv_nsec = 900000000; /* same second: no update yet */
	assert_int_equal(cmos_read(f, RTC_REG_C), 0);
	f->now.tv_sec++;
	f->now.tv_nsec = 0;
	assert_int_equal(cmos_read(f, RTC_REG_C), RTC_C_UF);
	assert_int_equal(cmos_read(f, RTC_REG_C), 0); /* read clears */
	/* With UIE, IRQF too. */
	cmos_write(f, RTC_REG_B, RTC_B_24H | RTC_B_UIE);
	f->now.tv_sec++;
	assert_int_equal(cmos_read(f, RTC_REG_C), RTC_C_IRQF | RTC_C_UF);
	assert_int_equal(cmos_read(f, RTC_REG_C), 0);
	/* Writes are ignored. */
	cmos_write(f, RTC_REG_C, 0xff);
	cmos_write(f, RTC_REG_D, 0x00);
	assert_int_equal(cmos_read(f, RTC_REG_C), 0);
	assert_int_equal(cmos_read(f, RTC_REG_D), RTC_D_VRT);
}

static void test_alarm_and_periodic(void **state)
{
	struct fixture *f = *state;

	cmos_write(f, RTC_REG_A, RTC_A_DV_32K);
	cmos_write(f, RTC_SECONDS_ALARM, 0x09);
	cmos_write(f, RTC_MINUTES_ALARM, 0x45);
	cmos_write(f, RTC_HOURS_ALARM, 0xc0); /* any hour */
	cmos_write(f, RTC_REG_B, RTC_B_24H | RTC_B_AIE);
	assert_int_equal(cmos_read(f, RTC_SECONDS_ALARM), 0x09);
	cmos_read(f, RTC_REG_C);
	f->now.tv_sec += 1; /* 13:45:08 */
	assert_int_equal(cmos_read(f, RTC_REG_C), RTC_C_UF);
	f->now.tv_sec += 3; /* 13:45:11, passing :09 */
	assert_int_equal(cmos_read(f, RTC_REG_C), RTC_C_IRQF | RTC_C_AF | RTC_C_UF);
	assert_int_equal(cmos_read(f, RTC_REG_C), 0);
	f->now.tv_sec += 3600 - 2; /* 14:45:09 */
	assert_int_equal(cmos_read(f, RTC_REG_C), RTC_C_IRQF | RTC_C_AF | RTC_C_UF);

	/* 2 Hz periodic rate (RS = 15). */
	cmos_write(f, RTC_REG_A, RTC_A_DV_32K | 0x0f);
	cmos_write(f, RTC_REG_B, RTC_B_24H | RTC_B_PIE);
	f->now.tv_nsec = 100000000;
	cmos_read(f, RTC_REG_C);
	f->now.tv_nsec = 400000000;
	assert_int_equal(cmos_read(f, RTC_REG_C), 0);
	f->now.tv_nsec = 600000000;
	assert_int_equal(cmos_read(f, RTC_REG_C), RTC_C_IRQF | RTC_C_PF);
}

static void test_uip(void **state)
{
	struct fixture *f = *state;

	f->now.tv_nsec = 500000000;
	assert_int_equal(cmos_read(f, RTC_REG_A) & RTC_A_UIP, 0);
	f->now.tv_nsec = 999900000; /* 100 us before the update */
	assert_int_equal(cmos_read(f, RTC_REG_A), RTC_A_UIP | 0x26);
	/* UIP is read-only; SET stops updates. */
	cmos_write(f, RTC_REG_A, 0xa6);
	cmos_write(f, RTC_REG_B, RTC_B_SET | RTC_B_24H);
	assert_int_equal(cmos_read(f, RTC_REG_A), 0x26);
}

static void test_set_time(void **state)
{
	struct fixture *f = *state;

	/* As Linux's mc146818_set_time(): SET, divider reset, fields, restore. */
	cmos_write(f, RTC_REG_B, RTC_B_SET | RTC_B_24H);
	cmos_write(f, RTC_REG_A, 0x70);
	f->now.tv_sec += 10; /* frozen while SET */
	assert_int_equal(cmos_read(f, RTC_SECONDS), 0x07);
	cmos_write(f, RTC_YEAR, 0x31);
	cmos_write(f, RTC_MONTH, 0x12);
	cmos_write(f, RTC_DAY_OF_MONTH, 0x31);
	cmos_write(f, RTC_HOURS, 0x23);
	cmos_write(f, RTC_MINUTES, 0x59);
	cmos_write(f, RTC_SECONDS, 0x58);
	assert_int_equal(cmos_read(f, RTC_YEAR), 0x31);
	cmos_write(f, RTC_REG_B, RTC_B_24H);
	cmos_write(f, RTC_REG_A, 0x26);
	assert_int_equal(cmos_read(f, RTC_SECONDS), 0x58);
	f->now.tv_sec += 3; /* into 2032 */
	assert_int_equal(cmos_read(f, RTC_SECONDS), 0x01);
	assert_int_equal(cmos_read(f, RTC_MINUTES), 0x00);
	assert_int_equal(cmos_read(f, RTC_HOURS), 0x00);
	assert_int_equal(cmos_read(f, RTC_DAY_OF_MONTH), 0x01);
	assert_int_equal(cmos_read(f, RTC_MONTH), 0x01);
	assert_int_equal(cmos_read(f, RTC_YEAR), 0x32);
	assert_int_equal(cmos_read(f, RTC_CENTURY), 0x20);
	assert_int_equal(cmos_read(f, RTC_DAY_OF_WEEK), 5); /* 2032-01-01: Thursday */

	/* One field without SET, in binary 12 hour mode: 3 PM. */
	cmos_write(f, RTC_REG_B, RTC_B_DM_BINARY);
	cmos_write(f, RTC_HOURS, 0x80 | 3);
	assert_int_equal(cmos_read(f, RTC_HOURS), 0x80 | 3);
	cmos_write(f, RTC_REG_B, RTC_B_DM_BINARY | RTC_B_24H);
	assert_int_equal(cmos_read(f, RTC_HOURS), 15);
	assert_int_equal(cmos_read(f, RTC_MINUTES), 0);
	assert_int_equal(cmos_read(f, RTC_YEAR), 32);
}

static void test_cmos_ram_and_nmi(void **state)
{
	struct fixture *f = *state;
	uint8_t v;

	for (unsigned int i = 0x0e; i < 0x80; i++)
		if (i != RTC_CENTURY)
			cmos_write(f, i, (uint8_t)(i ^ 0xa5));
	for (unsigned int i = 0x0e; i < 0x80; i++)
		if (i != RTC_CENTURY)
			assert_int_equal(cmos_read(f, i), (uint8_t)(i ^ 0xa5));
	assert_int_equal(rtc_nmi_masked(f->r), 0);
	/* Index bit 7 masks NMI and does not change the register selected. */
	cmos_write(f, 0x80 | RTC_REG_D, 0);
	assert_int_equal(rtc_nmi_masked(f->r), 1);
	assert_true(bus_access(&f->pio, RTC_DATA_PORT, &v, 1, false));
	assert_int_equal(v, RTC_D_VRT);
	cmos_read(f, 0x10);
	assert_int_equal(rtc_nmi_masked(f->r), 0);
	/* A word write to 0x70 sets the index and writes the data. */
	assert_true(
		bus_access(&f->pio, RTC_INDEX_PORT, (uint8_t[2]){ 0x20, 0x77 }, 2, true));
	assert_int_equal(cmos_read(f, 0x20), 0x77);
}

/* The real host clock: the date must agree with time(NULL). */
static void test_host_clock(void **state)
{
	struct fixture *f = *state;
	struct tm tm = { 0 };
	time_t t0, t1, rtc;

	rtc_set_clock(f->r, NULL, NULL);
	cmos_write(f, RTC_REG_B, RTC_B_24H | RTC_B_DM_BINARY);
	do {
		t0 = time(NULL);
		while (cmos_read(f, RTC_REG_A) & RTC_A_UIP)
			;
		tm.tm_sec = cmos_read(f, RTC_SECONDS);
		tm.tm_min = cmos_read(f, RTC_MINUTES);
		tm.tm_hour = cmos_read(f, RTC_HOURS);
		tm.tm_mday = cmos_read(f, RTC_DAY_OF_MONTH);
		tm.tm_mon = cmos_read(f, RTC_MONTH) - 1;
		tm.tm_year =
			cmos_read(f, RTC_CENTURY) * 100 + cmos_read(f, RTC_YEAR) - 1900;
		t1 = time(NULL);
	} while (t0 != t1);
	rtc = timegm(&tm);
	assert_true(rtc >= t0 - 1 && rtc <= t1 + 1);
	assert_true(tm.tm_year >= 124);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_defaults),   T(test_bcd),      T(test_binary),
		T(test_12h),	    T(test_reg_c),    T(test_alarm_and_periodic),
		T(test_uip),	    T(test_set_time), T(test_cmos_ram_and_nmi),
		T(test_host_clock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
