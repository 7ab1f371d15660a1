/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_DEVICES_RTC_H
#define KVMBOX_DEVICES_RTC_H

#include <stdint.h>
#include <time.h>

#include "vm/bus.h"
#include "vm/irq.h"

/*
 * MC146818 real-time clock and 128 bytes of CMOS RAM on ports 0x70 (index,
 * bit 7 masks NMI) and 0x71 (data). The time is the host's UTC clock plus an
 * offset the guest changes by setting the time. No interrupts are raised:
 * register C's flags are worked out when it is read (see rtc.c).
 */
struct rtc;

#define RTC_INDEX_PORT 0x70
#define RTC_DATA_PORT 0x71

#define RTC_SECONDS 0x00
#define RTC_SECONDS_ALARM 0x01
#define RTC_MINUTES 0x02
#define RTC_MINUTES_ALARM 0x03
#define RTC_HOURS 0x04
#define RTC_HOURS_ALARM 0x05
#define RTC_DAY_OF_WEEK 0x06
#define RTC_DAY_OF_MONTH 0x07
#define RTC_MONTH 0x08
#define RTC_YEAR 0x09
#define RTC_REG_A 0x0a
#define RTC_REG_B 0x0b
#define RTC_REG_C 0x0c
#define RTC_REG_D 0x0d
#define RTC_CENTURY 0x32

#define RTC_A_UIP 0x80
#define RTC_A_DV_MASK 0x70
#define RTC_A_DV_32K 0x20 /* normal operation from a 32.768 kHz crystal */
#define RTC_A_RS_MASK 0x0f

#define RTC_B_SET 0x80
#define RTC_B_PIE 0x40
#define RTC_B_AIE 0x20
#define RTC_B_UIE 0x10
#define RTC_B_SQWE 0x08
#define RTC_B_DM_BINARY 0x04
#define RTC_B_24H 0x02
#define RTC_B_DSE 0x01

#define RTC_C_IRQF 0x80
#define RTC_C_PF 0x40
#define RTC_C_AF 0x20
#define RTC_C_UF 0x10

#define RTC_D_VRT 0x80

/* NULL on allocation failure. @irq (IRQ 8) is kept for a later model with
 * interrupts; this one never raises it. */
struct rtc *rtc_create(struct irq_line irq);
/* Unregisters from the bus it was attached to; call before bus_destroy(). */
void rtc_destroy(struct rtc *r);
int rtc_attach(struct rtc *r, struct bus *pio);

/* Replaces the host clock (CLOCK_REALTIME), for tests. */
void rtc_set_clock(struct rtc *r, void (*now)(void *ctx, struct timespec *ts), void *ctx);
/* Whether the guest masked NMIs through port 0x70 bit 7. */
int rtc_nmi_masked(struct rtc *r);

#endif
