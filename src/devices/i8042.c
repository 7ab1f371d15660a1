// SPDX-License-Identifier: GPL-2.0-only
/*
 * 8042 keyboard controller (PS/2 style), as far as an operating system
 * probing it needs: the controller commands, the configuration byte, the
 * output port with the CPU reset line, and a keyboard that acknowledges its
 * commands so that a driver probing it does not wait for timeouts.
 *
 * There is no AUX device and no IRQ 12. The AUX loop command (0xd3) answers
 * with 0xff instead of the byte written and the AUX interface test (0xa9)
 * reports "clock line stuck high" (0x02): a driver concludes at once that
 * there is no AUX port, without waiting for an interrupt that cannot come.
 *
 * IRQ 1 is raised while the output buffer holds a byte and the configuration
 * byte enables the keyboard interrupt. The line is edge-triggered on a PC,
 * so when the guest reads a byte and another one follows, the line is
 * lowered and raised again to signal it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "devices/i8042.h"

#define I8042_QUEUE_SIZE 16
#define I8042_Q_AUX 0x100 /* queue entry flag: byte from the AUX channel */

/* Keyboard replies. */
#define KBD_ACK 0xfa
#define KBD_RESEND 0xfe
#define KBD_BAT_OK 0xaa
#define KBD_ECHO 0xee

struct i8042 {
	pthread_mutex_t lock;
	struct irq_line irq;
	void (*reset)(void *ctx);
	void *ctx;
	struct bus *pio;

	uint8_t ram[32]; /* ram[0] is the configuration byte */
	uint8_t status; /* SYSFLAG and CMDDAT; OBF and AUXDATA are computed */
	uint8_t outport;
	uint8_t pending_cmd; /* controller command waiting for its data byte */
	uint8_t kbd_pending; /* keyboard command waiting for its parameter */
	uint8_t last; /* last byte read from the output buffer */
	bool kbd_enabled; /* keyboard scanning (0xf4/0xf5) */
	int irq_level;

	uint16_t queue[I8042_QUEUE_SIZE];
	unsigned int q_head, q_count;
};

static void i8042_push(struct i8042 *k, uint16_t v)
{
	if (k->q_count == I8042_QUEUE_SIZE)
		return;
	k->queue[(k->q_head + k->q_count) % I8042_QUEUE_SIZE] = v;
	k->q_count++;
}

static int i8042_level(const struct i8042 *k)
{
	return k->q_count && !(k->queue[k->q_head] & I8042_Q_AUX) &&
	       (k->ram[0] & I8042_CTR_KBDINT);
}

/* @pulse: a byte was just taken and another one is behind it. */
static void i8042_update_irq(struct i8042 *k, bool pulse)
{
	int level = i8042_level(k);

	if (pulse && level && k->irq_level) {
		irq_line_set(&k->irq, 0);
		irq_line_set(&k->irq, 1);
		return;
	}
	if (level != k->irq_level) {
		k->irq_level = level;
		irq_line_set(&k->irq, level);
	}
}

static uint8_t i8042_read_status(const struct i8042 *k)
{
	uint8_t v = k->status | I8042_STR_KEYLOCK;

	if (k->q_count) {
		v |= I8042_STR_OBF;
		if (k->queue[k->q_head] & I8042_Q_AUX)
			v |= I8042_STR_AUXDATA;
	}
	return v;
}

static uint8_t i8042_read_data(struct i8042 *k)
{
	if (k->q_count) {
		k->last = k->queue[k->q_head] & 0xff;
		k->q_head = (k->q_head + 1) % I8042_QUEUE_SIZE;
		k->q_count--;
	}
	return k->last;
}

/* A command byte sent to the keyboard (data port write, no controller
 * command pending). The replies go to the output buffer. */
static void i8042_kbd_write(struct i8042 *k, uint8_t v)
{
	bool xlate = k->ram[0] & I8042_CTR_XLATE;

	if (k->kbd_pending) {
		uint8_t cmd = k->kbd_pending;

		k->kbd_pending = 0;
		i8042_push(k, KBD_ACK);
		/* 0xf0 0x00: which scan code set? Always set 2. */
		if (cmd == 0xf0 && v == 0)
			i8042_push(k, 0x02);
		return;
	}
	switch (v) {
	case 0xed: /* set LEDs */
	case 0xf0: /* get/set scan code set */
	case 0xf3: /* set typematic rate */
		i8042_push(k, KBD_ACK);
		k->kbd_pending = v;
		break;
	case 0xee:
		i8042_push(k, KBD_ECHO);
		break;
	case 0xf2: /* identify: MF2 keyboard, 0x83 reads 0x41 translated */
		i8042_push(k, KBD_ACK);
		i8042_push(k, 0xab);
		i8042_push(k, xlate ? 0x41 : 0x83);
		break;
	case 0xf4:
		k->kbd_enabled = true;
		i8042_push(k, KBD_ACK);
		break;
	case 0xf5:
		k->kbd_enabled = false;
		i8042_push(k, KBD_ACK);
		break;
	case 0xf6: /* set defaults */
	case 0xf7:
	case 0xf8:
	case 0xf9:
	case 0xfa:
	case 0xfb:
	case 0xfc:
	case 0xfd:
		i8042_push(k, KBD_ACK);
		break;
	case 0xfe: /* resend: nothing was sent */
		break;
	case 0xff:
		k->kbd_enabled = true;
		i8042_push(k, KBD_ACK);
		i8042_push(k, KBD_BAT_OK);
		break;
	default:
		i8042_push(k, KBD_RESEND);
		break;
	}
}

/* Returns true when the CPU reset line is pulsed. */
static bool i8042_write_data(struct i8042 *k, uint8_t v)
{
	uint8_t cmd = k->pending_cmd;

	k->status &= ~I8042_STR_CMDDAT;
	k->pending_cmd = 0;
	switch (cmd) {
	case 0:
		i8042_kbd_write(k, v);
		break;
	case 0x60:
		k->ram[0] = v;
		k->status = (k->status & ~I8042_STR_SYSFLAG) | (v & I8042_CTR_SYSFLAG);
		break;
	case 0x61 ... 0x7f:
		k->ram[cmd & 0x1f] = v;
		break;
	case 0xd1: /* write output port: bit 0 is the (active low) reset */
		k->outport = v;
		if (!(v & 1)) {
			k->outport |= 1;
			return true;
		}
		break;
	case 0xd2: /* write keyboard output buffer */
		i8042_push(k, v);
		break;
	case 0xd3: /* write AUX output buffer: no AUX channel, see above */
		i8042_push(k, I8042_Q_AUX | 0xff);
		break;
	case 0xd4: /* write to the AUX device: nobody listens */
		break;
	}
	return false;
}

static bool i8042_write_cmd(struct i8042 *k, uint8_t cmd)
{
	k->status |= I8042_STR_CMDDAT;
	k->pending_cmd = 0;
	switch (cmd) {
	case 0x20 ... 0x3f: /* read controller RAM, 0x20: configuration byte */
		i8042_push(k, k->ram[cmd & 0x1f]);
		break;
	case 0x60 ... 0x7f: /* write controller RAM: the byte follows */
	case 0xd1:
	case 0xd2:
	case 0xd3:
	case 0xd4:
		k->pending_cmd = cmd;
		break;
	case 0xa7: /* disable AUX interface */
		k->ram[0] |= I8042_CTR_AUXDIS;
		break;
	case 0xa8: /* enable AUX interface */
		k->ram[0] &= ~I8042_CTR_AUXDIS;
		break;
	case 0xa9: /* AUX interface test: clock line stuck high (no device) */
		i8042_push(k, 0x02);
		break;
	case 0xaa: /* controller self-test */
		k->status |= I8042_STR_SYSFLAG;
		i8042_push(k, 0x55);
		break;
	case 0xab: /* keyboard interface test */
		i8042_push(k, 0x00);
		break;
	case 0xad: /* disable keyboard interface */
		k->ram[0] |= I8042_CTR_KBDDIS;
		break;
	case 0xae: /* enable keyboard interface */
		k->ram[0] &= ~I8042_CTR_KBDDIS;
		break;
	case 0xd0: /* read output port */
		i8042_push(k, k->outport);
		break;
	case 0xdd: /* A20 off */
		k->outport &= ~2;
		break;
	case 0xdf: /* A20 on */
		k->outport |= 2;
		break;
	case 0xf0 ... 0xff: /* pulse output port bits 0-3 whose mask bit is 0 */
		return !(cmd & 1);
	default:
		break;
	}
	return false;
}

static void i8042_data_read(void *dev, uint64_t off, uint8_t *data, uint32_t len)
{
	struct i8042 *k = dev;
	bool had;

	pthread_mutex_lock(&k->lock);
	had = k->q_count > 0;
	memset(data, 0xff, len);
	data[0] = i8042_read_data(k);
	i8042_update_irq(k, had && k->q_count > 0);
	pthread_mutex_unlock(&k->lock);
}

static void i8042_data_write(void *dev, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct i8042 *k = dev;
	bool reset;

	pthread_mutex_lock(&k->lock);
	reset = i8042_write_data(k, data[0]);
	i8042_update_irq(k, false);
	pthread_mutex_unlock(&k->lock);
	if (reset && k->reset)
		k->reset(k->ctx);
}

static void i8042_cmd_read(void *dev, uint64_t off, uint8_t *data, uint32_t len)
{
	struct i8042 *k = dev;

	pthread_mutex_lock(&k->lock);
	memset(data, 0xff, len);
	data[0] = i8042_read_status(k);
	pthread_mutex_unlock(&k->lock);
}

static void i8042_cmd_write(void *dev, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct i8042 *k = dev;
	bool reset;

	pthread_mutex_lock(&k->lock);
	reset = i8042_write_cmd(k, data[0]);
	i8042_update_irq(k, false);
	pthread_mutex_unlock(&k->lock);
	if (reset && k->reset)
		k->reset(k->ctx);
}

int i8042_send_ctrl_alt_del(struct i8042 *k)
{
	/* Ctrl, Alt, Del pressed then released: set 1 (what the controller
	 * sends with translation on) and set 2 (translation off). */
	static const uint8_t set1[] = { 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d };
	static const uint8_t set2[] = { 0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0,
					0x71, 0xf0, 0x11, 0xf0, 0x14 };
	const uint8_t *codes;
	size_t n;
	int ret = 0;

	pthread_mutex_lock(&k->lock);
	if (k->ram[0] & I8042_CTR_XLATE) {
		codes = set1;
		n = sizeof(set1);
	} else {
		codes = set2;
		n = sizeof(set2);
	}
	if (!k->kbd_enabled || (k->ram[0] & I8042_CTR_KBDDIS))
		ret = -ENODEV;
	else if (I8042_QUEUE_SIZE - k->q_count < n)
		ret = -EAGAIN;
	for (size_t i = 0; !ret && i < n; i++)
		i8042_push(k, codes[i]);
	if (!ret)
		i8042_update_irq(k, false);
	pthread_mutex_unlock(&k->lock);
	return ret;
}

static const struct bus_ops i8042_data_ops = {
	.read = i8042_data_read,
	.write = i8042_data_write,
};

static const struct bus_ops i8042_cmd_ops = {
	.read = i8042_cmd_read,
	.write = i8042_cmd_write,
};

struct i8042 *i8042_create(struct irq_line kbd_irq, void (*reset)(void *ctx), void *ctx)
{
	struct i8042 *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	if (pthread_mutex_init(&k->lock, NULL)) {
		free(k);
		return NULL;
	}
	k->irq = kbd_irq;
	k->reset = reset;
	k->ctx = ctx;
	/* As a BIOS leaves it: keyboard interrupt on, translation on, AUX off,
	 * system flag set (POST passed). */
	k->ram[0] =
		I8042_CTR_KBDINT | I8042_CTR_SYSFLAG | I8042_CTR_AUXDIS | I8042_CTR_XLATE;
	k->status = I8042_STR_SYSFLAG;
	k->outport = 0x03; /* reset line inactive, A20 enabled */
	k->kbd_enabled = true;
	return k;
}

void i8042_destroy(struct i8042 *k)
{
	if (!k)
		return;
	if (k->pio) {
		bus_unregister(k->pio, I8042_DATA_PORT, k);
		bus_unregister(k->pio, I8042_CMD_PORT, k);
	}
	pthread_mutex_destroy(&k->lock);
	free(k);
}

int i8042_attach(struct i8042 *k, struct bus *pio)
{
	int ret;

	if (k->pio)
		return -EBUSY;
	ret = bus_register(pio, I8042_DATA_PORT, 1, &i8042_data_ops, k, "i8042-data");
	if (ret)
		return ret;
	ret = bus_register(pio, I8042_CMD_PORT, 1, &i8042_cmd_ops, k, "i8042-cmd");
	if (ret) {
		bus_unregister(pio, I8042_DATA_PORT, k);
		return ret;
	}
	k->pio = pio;
	return 0;
}
