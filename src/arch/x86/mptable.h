/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_ARCH_X86_MPTABLE_H
#define KVMBOX_ARCH_X86_MPTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "vm/memory.h"

/*
 * Intel MultiProcessor Specification 1.4 table: the floating pointer
 * structure at @addr (16-byte aligned), the configuration table right after
 * it. CPUs get APIC ids 0..nr_cpus-1 (0 is the BSP), the IOAPIC gets id
 * nr_cpus, so nr_cpus is at most 254 (0xff is the broadcast id).
 */
#define MPTABLE_MAX_CPUS 254
#define MPTABLE_ISA_IRQS 16
#define MPTABLE_PCI_SLOTS 32
#define MPTABLE_BUS_PCI 0
#define MPTABLE_BUS_ISA 1
#define MPTABLE_IOAPIC_VERSION 0x11
#define MPTABLE_LAPIC_VERSION 0x14
#define MPTABLE_OEM_ID "KVMBOX"

/* Entry types (MP spec 1.4, table 4-3). */
enum mptable_entry_type {
	MP_ENTRY_PROCESSOR = 0,
	MP_ENTRY_BUS = 1,
	MP_ENTRY_IOAPIC = 2,
	MP_ENTRY_IO_INTERRUPT = 3,
	MP_ENTRY_LOCAL_INTERRUPT = 4,
};

/* Interrupt types of I/O and local interrupt entries. */
enum mptable_irq_type {
	MP_IRQ_INT = 0,
	MP_IRQ_NMI = 1,
	MP_IRQ_SMI = 2,
	MP_IRQ_EXTINT = 3,
};

/* Bytes the whole structure takes for @nr_cpus processors. */
size_t mptable_size(int nr_cpus);

/*
 * Writes the MP table at @addr. Returns 0, or -EINVAL (nr_cpus not in
 * 1..MPTABLE_MAX_CPUS, @addr not 16-byte aligned, the table would not end
 * below 1 MiB) / -EFAULT (not guest RAM) with a message in @err.
 */
int mptable_write(struct guest_mem *mem, uint64_t addr, int nr_cpus, struct kb_err *err);

/* What mptable_check() found. */
struct mptable_info {
	uint64_t config_addr; /* physical address of the "PCMP" table */
	uint16_t entry_count; /* from the header */
	uint32_t lapic_addr;
	int nr_processors;
	int nr_buses;
	int nr_ioapics;
	int nr_io_interrupts;
	int nr_local_interrupts;
	int bsp_apic_id; /* -1 if no processor has the BP flag */
	int nr_bsp; /* processors flagged BP */
	int ioapic_id; /* of the last IOAPIC entry */
	uint32_t ioapic_addr;
	/* io_irq_pin[i]: IOAPIC pin of ISA IRQ i, -1 if none. */
	int io_irq_pin[MPTABLE_ISA_IRQS];
	/* pci_inta_pin[s]: IOAPIC pin of PCI slot s's INTA, -1 if none. */
	int pci_inta_pin[MPTABLE_PCI_SLOTS];
};

/*
 * Parses and verifies a table at @addr (signatures, lengths, both checksums
 * sum to 0, entry_count matches, entry types known and in order). For
 * tests and debugging. Returns 0 or -EINVAL with a message.
 */
int mptable_check(const struct guest_mem *mem, uint64_t addr, struct mptable_info *info,
		  struct kb_err *err);

#endif
