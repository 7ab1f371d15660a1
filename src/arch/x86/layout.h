/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_ARCH_X86_LAYOUT_H
#define KVMBOX_ARCH_X86_LAYOUT_H

/*
 * Guest-physical layout of an x86 kvmbox VM. See docs/architecture.md.
 *
 *   0x00000500  GDT (boot)            0x00007000  boot_params (zero page)
 *   0x00009000  PML4                  0x0000a000  PDPT
 *   0x0000b000  4 page directories (identity map of the first 4 GiB, 2 MiB pages)
 *   0x00020000  kernel command line (up to 64 KiB)
 *   0x00030000  setup_data chain (RNG seed, ...)
 *   0x0009fc00  MP table (EBDA), reserved up to 1 MiB
 *   0x01000000  default kernel load address
 *   end of low RAM: initrd, as high as the kernel allows
 *   0xc0000000  PCI MMIO window (32-bit BARs) up to the IOAPIC
 *   0xfec00000  IOAPIC                0xfee00000  local APIC
 *   4 GiB       RAM above the hole, if any
 */
#define X86_LOWMEM_MAX 0xc0000000ULL
#define X86_HIGHMEM_BASE 0x100000000ULL

#define X86_GDT_ADDR 0x500ULL
#define X86_BOOT_PARAMS_ADDR 0x7000ULL
#define X86_BOOT_STACK 0x8ff0ULL /* initial RSP: between zero page and PML4 */
#define X86_PML4_ADDR 0x9000ULL
#define X86_PDPT_ADDR 0xa000ULL
#define X86_PD_ADDR 0xb000ULL
#define X86_CMDLINE_ADDR 0x20000ULL
#define X86_CMDLINE_MAX 0x10000ULL
#define X86_SETUP_DATA_ADDR 0x30000ULL
#define X86_EBDA_ADDR 0x9fc00ULL
#define X86_MPTABLE_ADDR X86_EBDA_ADDR
#define X86_BIOS_END 0x100000ULL
#define X86_KERNEL_ADDR 0x1000000ULL

#define X86_PCI_MMIO_BASE 0xc0000000ULL
#define X86_PCI_MMIO_END 0xfec00000ULL
#define X86_IOAPIC_ADDR 0xfec00000ULL
#define X86_LAPIC_ADDR 0xfee00000ULL

/* INTA of PCI slot s goes to IOAPIC pin 16 + s % 8 (level, active low);
 * the MP table describes the same routing. */
#define X86_PCI_INTX_GSI(slot) (16u + ((unsigned int)(slot) % 8u))

/* KVM wants three pages for the real-mode TSS and one for the identity map,
 * below 4 GiB and outside RAM and MMIO. */
#define X86_TSS_ADDR 0xfffbd000ULL
#define X86_IDENTITY_MAP_ADDR 0xfffbc000ULL

/* `run --raw`: default load address; code must lie below 4 GiB. */
#define X86_RAW_DEFAULT_ADDR 0x1000ULL
#define X86_RAW_ADDR_LIMIT 0x100000000ULL

/* Segment selectors the 64-bit boot protocol expects. */
#define X86_BOOT_CS 0x10
#define X86_BOOT_DS 0x18

#endif
