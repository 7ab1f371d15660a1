/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_ARCH_X86_BOOT_PAGETABLES_H
#define KVMBOX_ARCH_X86_BOOT_PAGETABLES_H

#include <stdint.h>

#include <asm/processor-flags.h>
#include <linux/kvm.h>

#include "arch/x86/layout.h"

/*
 * The boot GDT written by x86_write_boot_gdt_and_pagetables() at
 * X86_GDT_ADDR: 0x00 null, 0x08 null, 0x10 flat 64-bit code (X86_BOOT_CS),
 * 0x18 flat data (X86_BOOT_DS), 0x20 flat user data, DPL 3 (X86_USER_DS),
 * 0x28 flat user 64-bit code, DPL 3 (X86_USER_CS). Load it with gdt.base =
 * X86_GDT_ADDR, gdt.limit = X86_BOOT_GDT_LIMIT. The user pair (data below
 * code) is the order SYSRET expects; `run --raw-mode user` runs on it.
 */
#define X86_USER_DS 0x20
#define X86_USER_CS 0x28
#define X86_BOOT_GDT_ENTRIES 6
#define X86_BOOT_GDT_LIMIT (X86_BOOT_GDT_ENTRIES * 8 - 1)

/* Identity map of the first 4 GiB: PML4 -> PDPT -> 4 PDs of 2 MiB pages. */
#define X86_BOOT_IDENTITY_GIB 4
#define X86_PTE_PRESENT (1ULL << 0)
#define X86_PTE_WRITE (1ULL << 1)
#define X86_PTE_USER (1ULL << 2)
#define X86_PTE_PS (1ULL << 7)

/* Control registers for entering the kernel in 64-bit mode. */
#define X86_BOOT_EFER_LME (1ULL << 8)
#define X86_BOOT_EFER_LMA (1ULL << 10)
#define X86_BOOT_CR0 ((uint64_t)(X86_CR0_PE | X86_CR0_ET | X86_CR0_NE | X86_CR0_PG))
#define X86_BOOT_CR3 X86_PML4_ADDR
#define X86_BOOT_CR4 ((uint64_t)X86_CR4_PAE)
#define X86_BOOT_EFER (X86_BOOT_EFER_LME | X86_BOOT_EFER_LMA)
#define X86_BOOT_RFLAGS 0x2ULL /* reserved bit 1 only: interrupts off */
/* `run --raw-mode user`: IOPL 3 (in/out allowed at CPL 3), interrupts off. */
#define X86_USER_RFLAGS (X86_BOOT_RFLAGS | X86_EFLAGS_IOPL)

/*
 * KVM segment registers matching the GDT: @cs is selector 0x10, base 0,
 * limit 0xffffffff, type 0xb (execute/read, accessed), s=1, dpl=0,
 * present=1, l=1, db=0, g=1; @ds is selector 0x18, type 0x3 (read/write,
 * accessed), l=0, db=1, otherwise the same. Use @ds for DS, ES, FS, GS
 * and SS.
 */
void x86_boot_segments(struct kvm_segment *cs, struct kvm_segment *ds);

/*
 * The user (CPL 3) pair: @cs is selector 0x2b (X86_USER_CS, RPL 3), @ds
 * 0x23 (X86_USER_DS, RPL 3), both DPL 3, otherwise as x86_boot_segments().
 */
void x86_user_segments(struct kvm_segment *cs, struct kvm_segment *ds);

/* Encodes a segment as an 8-byte GDT descriptor (limit in bytes, scaled by
 * 4 KiB when g=1). */
uint64_t x86_gdt_descriptor(const struct kvm_segment *seg);

#endif
