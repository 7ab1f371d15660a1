/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_ARCH_X86_BOOT_ELF_H
#define KVMBOX_ARCH_X86_BOOT_ELF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "vm/memory.h"

#define ELF_MAX_PHNUM 128
/* Entries at or above this are kernel virtual addresses (x86-64
 * __START_KERNEL_map); they are translated through p_vaddr -> p_paddr. */
#define ELF_KERNEL_VIRT_BASE 0xffffffff80000000ULL

struct elf_image {
	uint64_t entry; /* guest-physical entry point */
	uint64_t low; /* lowest loaded guest-physical address */
	uint64_t high; /* end (exclusive) of the highest loaded byte */
	unsigned int nr_segments; /* PT_LOAD segments loaded */
};

/* True if @buf starts with the ELF magic. */
bool elf_probe(const void *buf, size_t len);

/*
 * Validates an ELF64 little-endian x86-64 ET_EXEC image and copies its
 * PT_LOAD segments to their p_paddr in @mem (bss zeroed). Segments must lie
 * in guest RAM, at or above 1 MiB (the boot area stays free), and must not
 * overlap. Nothing is written unless the whole image is valid. Returns 0 or
 * -ENOEXEC / -EFAULT with a message naming the field or segment.
 */
int elf_load(struct guest_mem *mem, const void *buf, size_t len, struct elf_image *img,
	     struct kb_err *err);

#endif
