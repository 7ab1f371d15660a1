/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_DEVICES_PVPANIC_H
#define KVMBOX_DEVICES_PVPANIC_H

#include <stdint.h>

#include "devices/pci.h"
#include "util/err.h"

/*
 * The pvpanic PCI device (1b36:0011) Linux's pvpanic-pci driver binds to.
 * BAR0 is a 16-byte 32-bit memory BAR: reading offset 0 gives the events
 * the host supports, writing offset 0 reports events, passed to @event on
 * the writing vCPU's thread.
 */
struct pvpanic;

#define PVPANIC_VENDOR_ID 0x1b36
#define PVPANIC_DEVICE_ID 0x0011
#define PVPANIC_CLASS 0x088000 /* system peripheral, other */
#define PVPANIC_BAR_SIZE 16

#define PVPANIC_PANICKED 0x01 /* the guest panicked */
#define PVPANIC_CRASH_LOADED 0x02 /* the guest panicked and runs a crash kernel */

/* NULL on allocation failure. */
struct pvpanic *pvpanic_create(void (*event)(void *ctx, uint8_t ev), void *ctx);
/* Takes the device off its PCI bus (if still on one) and frees it. */
void pvpanic_destroy(struct pvpanic *p);
int pvpanic_attach(struct pvpanic *p, struct pci_bus *pb, struct kb_err *err);
/* The device's PCI function, e.g. to find its BAR. */
struct pci_device *pvpanic_pci_device(struct pvpanic *p);

#endif
