// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvpanic PCI device. Apart from its PCI function, which the PCI bus locks,
 * it has no state after creation, so it needs no lock of its own.
 * Writes of any width at offset 0 report the low byte as the events; only
 * the supported bits are passed on, and a write with none of them is
 * ignored.
 */
#include <stdlib.h>
#include <string.h>

#include "devices/pvpanic.h"

#define PVPANIC_EVENTS (PVPANIC_PANICKED | PVPANIC_CRASH_LOADED)

struct pvpanic {
	struct pci_device pci;
	void (*event)(void *ctx, uint8_t ev);
	void *ctx;
};

static void pvpanic_read(void *dev, uint64_t off, uint8_t *data, uint32_t len)
{
	memset(data, 0, len);
	if (off == 0)
		data[0] = PVPANIC_EVENTS;
}

static void pvpanic_write(void *dev, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct pvpanic *p = dev;
	uint8_t ev;

	if (off != 0)
		return;
	ev = data[0] & PVPANIC_EVENTS;
	if (ev && p->event)
		p->event(p->ctx, ev);
}

static const struct bus_ops pvpanic_ops = {
	.read = pvpanic_read,
	.write = pvpanic_write,
};

struct pvpanic *pvpanic_create(void (*event)(void *ctx, uint8_t ev), void *ctx)
{
	struct pvpanic *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->event = event;
	p->ctx = ctx;
	pci_device_init(&p->pci, "pvpanic", PVPANIC_VENDOR_ID, PVPANIC_DEVICE_ID,
			PVPANIC_CLASS, 1);
	p->pci.bar[0] = (struct pci_bar){
		.size = PVPANIC_BAR_SIZE,
		.ops = &pvpanic_ops,
		.dev = p,
	};
	p->pci.priv = p;
	return p;
}

void pvpanic_destroy(struct pvpanic *p)
{
	if (!p)
		return;
	pci_bus_remove(&p->pci);
	free(p);
}

int pvpanic_attach(struct pvpanic *p, struct pci_bus *pb, struct kb_err *err)
{
	return pci_bus_add(pb, &p->pci, err);
}

struct pci_device *pvpanic_pci_device(struct pvpanic *p)
{
	return &p->pci;
}
