// SPDX-License-Identifier: GPL-2.0-only
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "devices/i8042.h"

#define KBD_GSI 1

struct fixture {
	struct bus pio;
	struct i8042 *k;
	int resets;
	int level, rises, falls;
};

static void on_reset(void *ctx)
{
	struct fixture *f = ctx;

	f->resets++;
}

static void rec_irq(void *ctx, uint32_t gsi, int level)
{
	struct fixture *f = ctx;

	assert_int_equal(gsi, KBD_GSI);
	if (level)
		f->rises++;
	else
		f->falls++;
	f->level = level;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct irq_line irq = { .set = rec_irq, .ctx = f, .gsi = KBD_GSI };

	assert_non_null(f);
	bus_init(&f->pio);
	f->k = i8042_create(irq, on_reset, f);
	assert_non_null(f->k);
	assert_int_equal(i8042_attach(f->k, &f->pio), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	i8042_destroy(f->k);
	assert_int_equal(f->pio.nr, 0);
	bus_destroy(&f->pio);
	free(f);
	return 0;
}

static uint8_t inb(struct fixture *f, uint16_t port)
{
	uint8_t v = 0;

	assert_true(bus_access(&f->pio, port, &v, 1, false));
	return v;
}

static void outb(struct fixture *f, uint16_t port, uint8_t v)
{
	assert_true(bus_access(&f->pio, port, &v, 1, true));
}

/* What Linux's i8042_command() does: the command, an optional parameter
 * byte (@param < 0: none), then the reply byte if there is one (else -1). */
static int command(struct fixture *f, uint8_t cmd, int param)
{
	assert_int_equal(inb(f, I8042_CMD_PORT) & I8042_STR_IBF, 0);
	outb(f, I8042_CMD_PORT, cmd);
	if (param >= 0)
		outb(f, I8042_DATA_PORT, param);
	if (!(inb(f, I8042_CMD_PORT) & I8042_STR_OBF))
		return -1;
	return inb(f, I8042_DATA_PORT);
}

static void test_ports(void **state)
{
	struct fixture *f = *state;
	uint8_t v;

	/* Only 0x60 and 0x64: 0x61 belongs to the PIT. */
	assert_false(bus_access(&f->pio, 0x61, &v, 1, false));
	assert_false(bus_access(&f->pio, 0x65, &v, 1, false));
	/* Empty output buffer, not inhibited, system flag set. */
	assert_int_equal(inb(f, I8042_CMD_PORT), I8042_STR_KEYLOCK | I8042_STR_SYSFLAG);
}

static void test_reset_fe(void **state)
{
	struct fixture *f = *state;

	/* Linux's reboot: wait for IBF clear, then 0xfe. */
	assert_int_equal(inb(f, I8042_CMD_PORT) & I8042_STR_IBF, 0);
	outb(f, I8042_CMD_PORT, 0xfe);
	assert_int_equal(f->resets, 1);
	/* Pulses that leave bit 0 alone do not reset. */
	outb(f, I8042_CMD_PORT, 0xff);
	outb(f, I8042_CMD_PORT, 0xfd);
	assert_int_equal(f->resets, 1);
	outb(f, I8042_CMD_PORT, 0xf0);
	assert_int_equal(f->resets, 2);
}

static void test_reset_d1(void **state)
{
	struct fixture *f = *state;

	/* Output port write keeping the reset line high: no reset. */
	outb(f, I8042_CMD_PORT, 0xd1);
	assert_int_equal(f->resets, 0);
	outb(f, I8042_DATA_PORT, 0x03);
	assert_int_equal(f->resets, 0);
	assert_int_equal(command(f, 0xd0, -1), 0x03);
	outb(f, I8042_CMD_PORT, 0xd1);
	outb(f, I8042_DATA_PORT, 0x02); /* bit 0 clear */
	assert_int_equal(f->resets, 1);
	/* The data byte was consumed by 0xd1, not sent to the keyboard. */
	assert_int_equal(inb(f, I8042_CMD_PORT) & I8042_STR_OBF, 0);
}

static void test_self_tests(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(command(f, 0xaa, -1), 0x55);
	assert_int_equal(command(f, 0xab, -1), 0x00);
	assert_int_equal(inb(f, I8042_CMD_PORT) & I8042_STR_OBF, 0);
	/* Reading an empty buffer returns the last byte again. */
	assert_int_equal(inb(f, I8042_DATA_PORT), 0x00);
	assert_int_equal(f->resets, 0);
}

static void test_config_byte(void **state)
{
	struct fixture *f = *state;
	int ctr = command(f, 0x20, -1);

	assert_int_equal(ctr, I8042_CTR_KBDINT | I8042_CTR_SYSFLAG | I8042_CTR_AUXDIS |
				      I8042_CTR_XLATE);
	/* As i8042_controller_init(): keyboard off, interrupt off. */
	ctr = (ctr | I8042_CTR_KBDDIS) & ~I8042_CTR_KBDINT;
	assert_int_equal(command(f, 0x60, ctr), -1);
	assert_int_equal(command(f, 0x20, -1), ctr);
	/* Enable/disable commands edit the same byte. */
	command(f, 0xae, -1);
	command(f, 0xa8, -1);
	assert_int_equal(command(f, 0x20, -1),
			 ctr & ~(I8042_CTR_KBDDIS | I8042_CTR_AUXDIS));
	command(f, 0xad, -1);
	command(f, 0xa7, -1);
	assert_int_equal(command(f, 0x20, -1), ctr);
	/* Other controller RAM bytes are plain storage. */
	command(f, 0x65, 0x42);
	assert_int_equal(command(f, 0x25, -1), 0x42);
	/* Command/data bit of the status register. */
	outb(f, I8042_CMD_PORT, 0xad);
	assert_true(inb(f, I8042_CMD_PORT) & I8042_STR_CMDDAT);
	outb(f, I8042_CMD_PORT, 0x60);
	outb(f, I8042_DATA_PORT, ctr);
	assert_false(inb(f, I8042_CMD_PORT) & I8042_STR_CMDDAT);
	/* Only the first reply, before KBDINT was cleared, raised IRQ 1. */
	assert_int_equal(f->rises, 1);
}

static void test_irq(void **state)
{
	struct fixture *f = *state;

	/* KBDINT is on at reset: a reply raises IRQ 1, reading it lowers it. */
	outb(f, I8042_CMD_PORT, 0xaa);
	assert_int_equal(f->level, 1);
	assert_int_equal(inb(f, I8042_DATA_PORT), 0x55);
	assert_int_equal(f->level, 0);

	/* Keyboard identify: three bytes, one edge each. */
	outb(f, I8042_DATA_PORT, 0xf2);
	assert_int_equal(f->rises, 2);
	assert_int_equal(inb(f, I8042_DATA_PORT), 0xfa);
	assert_int_equal(f->rises, 3);
	assert_int_equal(inb(f, I8042_DATA_PORT), 0xab);
	assert_int_equal(f->rises, 4);
	assert_int_equal(inb(f, I8042_DATA_PORT), 0x41); /* translated 0x83 */
	assert_int_equal(f->level, 0);
	assert_int_equal(f->falls, f->rises);

	/* With KBDINT off, no interrupt; turning it on with data waiting does. */
	assert_int_equal(command(f, 0x60, I8042_CTR_XLATE), -1);
	assert_int_equal(f->rises, 4);
	outb(f, I8042_DATA_PORT, 0xff); /* keyboard reset: ack, BAT passed */
	assert_int_equal(f->rises, 4);
	outb(f, I8042_CMD_PORT, 0x60);
	outb(f, I8042_DATA_PORT, I8042_CTR_XLATE | I8042_CTR_KBDINT);
	assert_int_equal(f->rises, 5);
	assert_int_equal(inb(f, I8042_DATA_PORT), 0xfa);
	assert_int_equal(inb(f, I8042_DATA_PORT), 0xaa);
	assert_int_equal(f->level, 0);
}

static void test_keyboard_commands(void **state)
{
	struct fixture *f = *state;

	command(f, 0x60, I8042_CTR_SYSFLAG); /* no interrupt, no translation */
	outb(f, I8042_DATA_PORT, 0xf2);
	assert_int_equal(inb(f, I8042_DATA_PORT), 0xfa);
	assert_int_equal(inb(f, I8042_DATA_PORT), 0xab);
	assert_int_equal(inb(f, I8042_DATA_PORT), 0x83);
	/* Set LEDs takes a parameter: two acks. */
	outb(f, I8042_DATA_PORT, 0xed);
	assert_int_equal(inb(f, I8042_DATA_PORT), 0xfa);
	outb(f, I8042_DATA_PORT, 0x07);
	assert_int_equal(inb(f, I8042_DATA_PORT), 0xfa);
	assert_int_equal(inb(f, I8042_CMD_PORT) & I8042_STR_OBF, 0);
	outb(f, I8042_DATA_PORT, 0xf0);
	inb(f, I8042_DATA_PORT);
	outb(f, I8042_DATA_PORT, 0x00);
	assert_int_equal(inb(f, I8042_DATA_PORT), 0xfa);
	assert_int_equal(inb(f, I8042_DATA_PORT), 0x02);
	outb(f, I8042_DATA_PORT, 0xee);
	assert_int_equal(inb(f, I8042_DATA_PORT), 0xee);
	outb(f, I8042_DATA_PORT, 0x12); /* not a command */
	assert_int_equal(inb(f, I8042_DATA_PORT), 0xfe);
}

/* Linux's i8042_check_aux(): the loop test must not echo (or the driver
 * waits 250 ms for an IRQ 12 we do not have), and the interface test must
 * fail. Neither may leave a byte behind. */
static void test_no_aux(void **state)
{
	struct fixture *f = *state;
	uint8_t str;

	outb(f, I8042_CMD_PORT, 0xd3);
	outb(f, I8042_DATA_PORT, 0x5a);
	str = inb(f, I8042_CMD_PORT);
	assert_int_equal(str & (I8042_STR_OBF | I8042_STR_AUXDATA),
			 I8042_STR_OBF | I8042_STR_AUXDATA);
	assert_int_not_equal(inb(f, I8042_DATA_PORT), 0x5a);
	assert_int_equal(f->rises, 0); /* AUX data is not keyboard IRQ material */
	str = command(f, 0xa9, -1);
	assert_true(str != 0x00 && str != 0xfa && str != 0xff);
	assert_int_equal(inb(f, I8042_CMD_PORT) & I8042_STR_OBF, 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_ports),
		T(test_reset_fe),
		T(test_reset_d1),
		T(test_self_tests),
		T(test_config_byte),
		T(test_irq),
		T(test_keyboard_commands),
		T(test_no_aux),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
