/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_DEVICES_PCI_H
#define KVMBOX_DEVICES_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"
#include "vm/bus.h"

/*
 * PCI bus 0, reached through configuration mechanism #1 (address at 0xcf8,
 * data at 0xcfc-0xcff). Devices are single-function, one per slot; the host
 * bridge takes 00:00.0. There is no firmware: pci_bus_add() does what a BIOS
 * would, giving each BAR an address, writing it, enabling decoding in the
 * command register and mapping the BAR on the MMIO bus (I/O BARs: in the
 * bus's own I/O window, see pci.c). The guest may then size and move BARs
 * and turn decoding off and on; the bus keeps the mappings in step.
 *
 * Config writes that move memory BARs take the MMIO bus's write lock, so
 * BAR handlers (which run under its read lock) must not call pci_bus_*.
 */
struct pci_bus;

#define PCI_CFG_SPACE_SIZE 256
#define PCI_MAX_SLOTS 32
#define PCI_NUM_BARS 6

#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA 0xcfc
#define PCI_CONFIG_ENABLE 0x80000000u

/* I/O BARs are given ports from, and only decode in, this window. */
#define PCI_IO_BASE 0xc000
#define PCI_IO_END 0x10000

/* Type 0 configuration header. */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_REVISION_ID 0x08
#define PCI_CLASS_PROG 0x09
#define PCI_CLASS_DEVICE 0x0a
#define PCI_CACHE_LINE_SIZE 0x0c
#define PCI_LATENCY_TIMER 0x0d
#define PCI_HEADER_TYPE 0x0e
#define PCI_BASE_ADDRESS_0 0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID 0x2e
#define PCI_ROM_ADDRESS 0x30
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN 0x3d

#define PCI_COMMAND_IO 0x0001
#define PCI_COMMAND_MEMORY 0x0002
#define PCI_COMMAND_MASTER 0x0004
#define PCI_COMMAND_PARITY 0x0040
#define PCI_COMMAND_SERR 0x0100
#define PCI_COMMAND_INTX_DISABLE 0x0400

#define PCI_STATUS_CAP_LIST 0x0010

#define PCI_BASE_ADDRESS_SPACE_IO 0x01
#define PCI_BASE_ADDRESS_MEM_TYPE_64 0x04
#define PCI_BASE_ADDRESS_MEM_PREFETCH 0x08

#define PCI_CAP_FIRST 0x40 /* capabilities start after the header */

struct pci_bar {
	uint64_t size; /* a power of two (memory >= 16, I/O 4..256); 0: none */
	bool is_io;
	bool is_64bit; /* memory only; also takes the next BAR register */
	bool prefetchable; /* memory only */
	const struct bus_ops *ops; /* offsets are relative to the BAR */
	void *dev;

	/* Owned by pci.c. */
	bool mapped;
	uint64_t mapped_addr;
};

struct pci_device {
	const char *name;
	uint8_t config[PCI_CFG_SPACE_SIZE];
	uint8_t wmask[PCI_CFG_SPACE_SIZE]; /* bits the guest can write */
	uint8_t w1cmask[PCI_CFG_SPACE_SIZE]; /* bits a guest 1 clears */
	struct pci_bar bar[PCI_NUM_BARS];
	/*
	 * Optional: called after a guest write to [off, off + len) of the
	 * configuration space, with the bus lock held (it must not call
	 * pci_bus_* functions).
	 */
	void (*config_write)(struct pci_device *d, uint32_t off, uint32_t len);
	void *priv; /* the owner's */

	/* Owned by pci.c. */
	struct pci_bus *bus;
	uint8_t devfn;
	uint8_t cap_next; /* first free byte for capabilities */
};

/*
 * Clears @d and fills a type 0 header: IDs, class (0xCCSSPP: class,
 * subclass, programming interface), revision, and the write masks of the
 * command, status, cache line, latency timer and interrupt line registers.
 * The caller then fills bar[] (and capabilities) before pci_bus_add().
 */
void pci_device_init(struct pci_device *d, const char *name, uint16_t vendor,
		     uint16_t device, uint32_t class_code, uint8_t revision);

/*
 * Appends a capability of @size bytes (>= 2, header included) with ID @id to
 * the capability list; returns its offset in configuration space, or
 * -ENOSPC. The body is read-only until the caller sets its wmask bytes.
 * Call before pci_bus_add().
 */
int pci_add_capability(struct pci_device *d, uint8_t id, uint8_t size);

/* The address BAR @i is programmed to (not necessarily mapped). */
uint64_t pci_bar_address(const struct pci_device *d, int i);

/* Memory BARs are placed in [mmio_base, mmio_end) on @mmio. NULL on error. */
struct pci_bus *pci_bus_create(struct bus *mmio, uint64_t mmio_base, uint64_t mmio_end);
/*
 * Claims ports 0xcf8-0xcfb, 0xcfc-0xcff and the I/O BAR window
 * [PCI_IO_BASE, PCI_IO_END) on @pio; I/O BARs decode from then on.
 */
int pci_bus_attach(struct pci_bus *pb, struct bus *pio);
/*
 * Unmaps every BAR and the configuration ports and detaches the devices
 * (which stay the caller's). Call before destroying the buses.
 */
void pci_bus_destroy(struct pci_bus *pb);

/*
 * Puts @d in the next free slot, allocates and maps its BARs. @d must stay
 * valid until pci_bus_remove() or pci_bus_destroy().
 * -EINVAL (bad BAR description), -ENOSPC (no slot or address space left).
 */
int pci_bus_add(struct pci_bus *pb, struct pci_device *d, struct kb_err *err);
/* Unmaps @d's BARs and frees its slot. No-op if @d is not on a bus. */
void pci_bus_remove(struct pci_device *d);

#endif
