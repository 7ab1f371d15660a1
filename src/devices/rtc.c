// SPDX-License-Identifier: GPL-2.0-only
/*
 * MC146818 RTC and CMOS RAM, after the Motorola MC146818A datasheet.
 *
 * The time registers are not kept: every read works the current value out
 * from the host clock (UTC) plus an offset, in BCD or binary (register B
 * DM) and 12 or 24 hour format (register B 24/12). Setting register B SET
 * freezes the time registers into the CMOS array, the guest writes them
 * there, and clearing SET turns them into a new offset. A time register
 * written without SET changes that one field the same way.
 *
 * UIP (register A) is set during the 244 us before each second boundary,
 * when the real chip is about to update: a guest that reads the time right
 * after seeing UIP=0 gets a consistent set of registers, as on the chip.
 *
 * No interrupts are raised: there is no timer behind this model. Register C
 * still behaves as documented for a guest that polls it: reading it returns
 * the flags of what happened since it was last read (UF: an update cycle
 * ended, AF: the alarm time came, PF: a periodic tick passed, IRQF: one of
 * those with its enable bit in B) and clears them.
 * The day-of-week register is derived from the date; DSE is ignored.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "devices/rtc.h"

#define RTC_CMOS_SIZE 128
#define NSEC_PER_SEC 1000000000LL
#define RTC_UIP_NS 244000 /* update-in-progress window before the update */
#define RTC_SECS_PER_DAY 86400

struct rtc {
	pthread_mutex_t lock;
	struct irq_line irq; /* unused: no interrupts (see above) */
	struct bus *pio;
	void (*now)(void *ctx, struct timespec *ts);
	void *now_ctx;

	uint8_t index; /* bit 7: NMI masked */
	uint8_t cmos[RTC_CMOS_SIZE];
	int64_t offset; /* guest seconds - host seconds */
	int64_t c_sec, c_nsec; /* guest time when register C was last read */
};

static const uint8_t rtc_time_regs[] = {
	RTC_SECONDS,	  RTC_MINUTES, RTC_HOURS, RTC_DAY_OF_WEEK,
	RTC_DAY_OF_MONTH, RTC_MONTH,   RTC_YEAR,  RTC_CENTURY,
};

static void rtc_host_clock(void *ctx, struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

static void rtc_guest_time(struct rtc *r, int64_t *sec, int64_t *nsec)
{
	struct timespec ts;

	r->now(r->now_ctx, &ts);
	*sec = (int64_t)ts.tv_sec + r->offset;
	*nsec = ts.tv_nsec;
}

static bool rtc_is_time_reg(uint8_t idx)
{
	for (size_t i = 0; i < sizeof(rtc_time_regs); i++)
		if (rtc_time_regs[i] == idx)
			return true;
	return false;
}

static uint8_t rtc_to_reg(uint8_t b, unsigned int v)
{
	if (b & RTC_B_DM_BINARY)
		return v;
	return ((v / 10) << 4) | (v % 10);
}

static unsigned int rtc_from_reg(uint8_t b, uint8_t v)
{
	if (b & RTC_B_DM_BINARY)
		return v;
	return (v >> 4) * 10 + (v & 0x0f);
}

static uint8_t rtc_hour_to_reg(uint8_t b, unsigned int hour)
{
	unsigned int h12;

	if (b & RTC_B_24H)
		return rtc_to_reg(b, hour);
	h12 = hour % 12 ? hour % 12 : 12;
	return rtc_to_reg(b, h12) | (hour >= 12 ? 0x80 : 0);
}

static unsigned int rtc_hour_from_reg(uint8_t b, uint8_t v)
{
	unsigned int h;

	if (b & RTC_B_24H)
		return rtc_from_reg(b, v);
	h = rtc_from_reg(b, v & 0x7f) % 12;
	return v & 0x80 ? h + 12 : h;
}

/* The value of time register @idx at guest time @sec, in format @b. */
static uint8_t rtc_time_reg(uint8_t b, uint8_t idx, int64_t sec)
{
	time_t t = sec;
	struct tm tm;

	if (!gmtime_r(&t, &tm))
		return 0;
	switch (idx) {
	case RTC_SECONDS:
		return rtc_to_reg(b, tm.tm_sec);
	case RTC_MINUTES:
		return rtc_to_reg(b, tm.tm_min);
	case RTC_HOURS:
		return rtc_hour_to_reg(b, tm.tm_hour);
	case RTC_DAY_OF_WEEK:
		return rtc_to_reg(b, tm.tm_wday + 1);
	case RTC_DAY_OF_MONTH:
		return rtc_to_reg(b, tm.tm_mday);
	case RTC_MONTH:
		return rtc_to_reg(b, tm.tm_mon + 1);
	case RTC_YEAR:
		return rtc_to_reg(b, tm.tm_year % 100);
	case RTC_CENTURY:
		return rtc_to_reg(b, (tm.tm_year + 1900) / 100);
	}
	return 0;
}

/* Copies the current time into the CMOS array (SET goes to 1). */
static void rtc_freeze(struct rtc *r, uint8_t b)
{
	int64_t sec, nsec;

	rtc_guest_time(r, &sec, &nsec);
	for (size_t i = 0; i < sizeof(rtc_time_regs); i++)
		r->cmos[rtc_time_regs[i]] = rtc_time_reg(b, rtc_time_regs[i], sec);
}

/* Makes the time in the CMOS array, in format @b, the current time. */
static void rtc_commit(struct rtc *r, uint8_t b)
{
	struct timespec ts;
	unsigned int year = rtc_from_reg(b, r->cmos[RTC_YEAR]);
	unsigned int century = rtc_from_reg(b, r->cmos[RTC_CENTURY]);
	struct tm tm = {
		.tm_sec = rtc_from_reg(b, r->cmos[RTC_SECONDS]),
		.tm_min = rtc_from_reg(b, r->cmos[RTC_MINUTES]),
		.tm_hour = rtc_hour_from_reg(b, r->cmos[RTC_HOURS]),
		.tm_mday = rtc_from_reg(b, r->cmos[RTC_DAY_OF_MONTH]),
		.tm_mon = (int)rtc_from_reg(b, r->cmos[RTC_MONTH]) - 1,
	};
	time_t t;

	/* A guest that does not know the century register leaves garbage. */
	if (century < 19 || century > 99)
		century = year < 70 ? 20 : 19;
	tm.tm_year = century * 100 + year - 1900;
	t = timegm(&tm);
	r->now(r->now_ctx, &ts);
	r->offset = (int64_t)t - (int64_t)ts.tv_sec;
	/* Register C counts from the new time, not across the jump. */
	rtc_guest_time(r, &r->c_sec, &r->c_nsec);
}

static int64_t rtc_floor_mod(int64_t a, int64_t m)
{
	int64_t v = a % m;

	return v < 0 ? v + m : v;
}

static bool rtc_alarm_field(uint8_t alarm, uint8_t now)
{
	return (alarm & 0xc0) == 0xc0 || alarm == now;
}

static bool rtc_alarm_matches(const struct rtc *r, uint8_t b, int64_t sec)
{
	int64_t day = rtc_floor_mod(sec, RTC_SECS_PER_DAY);

	return rtc_alarm_field(r->cmos[RTC_SECONDS_ALARM], rtc_to_reg(b, day % 60)) &&
	       rtc_alarm_field(r->cmos[RTC_MINUTES_ALARM],
			       rtc_to_reg(b, day / 60 % 60)) &&
	       rtc_alarm_field(r->cmos[RTC_HOURS_ALARM], rtc_hour_to_reg(b, day / 3600));
}

/* Periodic interrupt frequency for rate select @rs, 0 when off. */
static int64_t rtc_periodic_hz(uint8_t a)
{
	unsigned int rs = a & RTC_A_RS_MASK;

	if ((a & RTC_A_DV_MASK) != RTC_A_DV_32K || !rs)
		return 0;
	if (rs <= 2)
		rs += 7; /* 256 and 128 Hz, as rates 8 and 9 */
	return 32768 >> (rs - 1);
}

static uint8_t rtc_read_c(struct rtc *r)
{
	uint8_t a = r->cmos[RTC_REG_A], b = r->cmos[RTC_REG_B];
	int64_t sec, nsec, hz = rtc_periodic_hz(a);
	uint8_t c = 0;

	rtc_guest_time(r, &sec, &nsec);
	if (hz && sec * hz + nsec * hz / NSEC_PER_SEC !=
			  r->c_sec * hz + r->c_nsec * hz / NSEC_PER_SEC)
		c |= RTC_C_PF;
	if (!(b & RTC_B_SET) && sec > r->c_sec) {
		int64_t n = sec - r->c_sec;

		c |= RTC_C_UF;
		if (n > RTC_SECS_PER_DAY)
			n = RTC_SECS_PER_DAY;
		for (int64_t t = sec - n + 1; t <= sec; t++) {
			if (rtc_alarm_matches(r, b, t)) {
				c |= RTC_C_AF;
				break;
			}
		}
	}
	if (c & b & (RTC_B_PIE | RTC_B_AIE | RTC_B_UIE))
		c |= RTC_C_IRQF;
	r->c_sec = sec;
	r->c_nsec = nsec;
	return c;
}

static uint8_t rtc_read_a(struct rtc *r)
{
	uint8_t a = r->cmos[RTC_REG_A];
	int64_t sec, nsec;

	if (r->cmos[RTC_REG_B] & RTC_B_SET || (a & RTC_A_DV_MASK) != RTC_A_DV_32K)
		return a;
	rtc_guest_time(r, &sec, &nsec);
	if (nsec >= NSEC_PER_SEC - RTC_UIP_NS)
		a |= RTC_A_UIP;
	return a;
}

static uint8_t rtc_read_reg(struct rtc *r, uint8_t idx)
{
	uint8_t b = r->cmos[RTC_REG_B];
	int64_t sec, nsec;

	switch (idx) {
	case RTC_REG_A:
		return rtc_read_a(r);
	case RTC_REG_C:
		return rtc_read_c(r);
	case RTC_REG_D:
		return RTC_D_VRT;
	}
	if (rtc_is_time_reg(idx) && !(b & RTC_B_SET)) {
		rtc_guest_time(r, &sec, &nsec);
		return rtc_time_reg(b, idx, sec);
	}
	return r->cmos[idx];
}

static void rtc_write_b(struct rtc *r, uint8_t v)
{
	uint8_t old = r->cmos[RTC_REG_B];

	/* Setting SET clears UIE. */
	if (v & RTC_B_SET)
		v &= ~RTC_B_UIE;
	if ((v & RTC_B_SET) && !(old & RTC_B_SET))
		rtc_freeze(r, v);
	else if (!(v & RTC_B_SET) && (old & RTC_B_SET))
		rtc_commit(r, old); /* written in the format in force then */
	r->cmos[RTC_REG_B] = v;
}

static void rtc_write_reg(struct rtc *r, uint8_t idx, uint8_t v)
{
	uint8_t b = r->cmos[RTC_REG_B];

	switch (idx) {
	case RTC_REG_A:
		r->cmos[RTC_REG_A] = v & ~RTC_A_UIP;
		return;
	case RTC_REG_B:
		rtc_write_b(r, v);
		return;
	case RTC_REG_C:
	case RTC_REG_D:
		return; /* read-only */
	}
	if (rtc_is_time_reg(idx) && !(b & RTC_B_SET)) {
		rtc_freeze(r, b);
		r->cmos[idx] = v;
		rtc_commit(r, b);
		return;
	}
	r->cmos[idx] = v;
}

static void rtc_pio_read(void *dev, uint64_t off, uint8_t *data, uint32_t len)
{
	struct rtc *r = dev;

	pthread_mutex_lock(&r->lock);
	for (uint32_t i = 0; i < len; i++) {
		/* The index register is write-only. */
		if (off + i == 1)
			data[i] = rtc_read_reg(r, r->index & 0x7f);
		else
			data[i] = 0xff;
	}
	pthread_mutex_unlock(&r->lock);
}

static void rtc_pio_write(void *dev, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct rtc *r = dev;

	pthread_mutex_lock(&r->lock);
	for (uint32_t i = 0; i < len; i++) {
		if (off + i == 0)
			r->index = data[i];
		else if (off + i == 1)
			rtc_write_reg(r, r->index & 0x7f, data[i]);
	}
	pthread_mutex_unlock(&r->lock);
}

static const struct bus_ops rtc_ops = {
	.read = rtc_pio_read,
	.write = rtc_pio_write,
};

struct rtc *rtc_create(struct irq_line irq)
{
	struct rtc *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	if (pthread_mutex_init(&r->lock, NULL)) {
		free(r);
		return NULL;
	}
	r->irq = irq;
	r->now = rtc_host_clock;
	/* 32.768 kHz time base, 1024 Hz periodic rate; 24 hour BCD. */
	r->cmos[RTC_REG_A] = RTC_A_DV_32K | 0x06;
	r->cmos[RTC_REG_B] = RTC_B_24H;
	rtc_guest_time(r, &r->c_sec, &r->c_nsec);
	return r;
}

void rtc_destroy(struct rtc *r)
{
	if (!r)
		return;
	if (r->pio)
		bus_unregister(r->pio, RTC_INDEX_PORT, r);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

int rtc_attach(struct rtc *r, struct bus *pio)
{
	int ret;

	if (r->pio)
		return -EBUSY;
	ret = bus_register(pio, RTC_INDEX_PORT, 2, &rtc_ops, r, "rtc");
	if (ret)
		return ret;
	r->pio = pio;
	return 0;
}

void rtc_set_clock(struct rtc *r, void (*now)(void *ctx, struct timespec *ts), void *ctx)
{
	pthread_mutex_lock(&r->lock);
	r->now = now ? now : rtc_host_clock;
	r->now_ctx = ctx;
	rtc_guest_time(r, &r->c_sec, &r->c_nsec);
	pthread_mutex_unlock(&r->lock);
}

int rtc_nmi_masked(struct rtc *r)
{
	int v;

	pthread_mutex_lock(&r->lock);
	v = !!(r->index & 0x80);
	pthread_mutex_unlock(&r->lock);
	return v;
}
