// SPDX-License-Identifier: GPL-2.0-only
/*
 * Debug exit port. It has no state after creation, so it needs no lock.
 * A write anywhere in the 4 ports counts: the first byte written is the
 * low byte of the value (little-endian), so outb, outw and outl of V at the
 * base port all exit with V & 0xff.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/debug_exit.h"

struct debug_exit {
	void (*exit)(void *ctx, int code);
	void *ctx;
	struct bus *pio;
	uint16_t port;
};

static void debug_exit_read(void *dev, uint64_t off, uint8_t *data, uint32_t len)
{
	memset(data, 0, len);
}

static void debug_exit_write(void *dev, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct debug_exit *d = dev;

	if (d->exit && len)
		d->exit(d->ctx, data[0]);
}

static const struct bus_ops debug_exit_ops = {
	.read = debug_exit_read,
	.write = debug_exit_write,
};

struct debug_exit *debug_exit_create(void (*exit)(void *ctx, int code), void *ctx)
{
	struct debug_exit *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->exit = exit;
	d->ctx = ctx;
	return d;
}

void debug_exit_destroy(struct debug_exit *d)
{
	if (!d)
		return;
	if (d->pio)
		bus_unregister(d->pio, d->port, d);
	free(d);
}

int debug_exit_attach(struct debug_exit *d, struct bus *pio, uint16_t port)
{
	int ret;

	if (d->pio)
		return -EBUSY;
	ret = bus_register(pio, port, DEBUG_EXIT_NR_PORTS, &debug_exit_ops, d,
			   "debug-exit");
	if (ret)
		return ret;
	d->pio = pio;
	d->port = port;
	return 0;
}
