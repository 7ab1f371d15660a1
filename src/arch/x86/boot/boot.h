/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_ARCH_X86_BOOT_H
#define KVMBOX_ARCH_X86_BOOT_H

#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"
#include "vm/memory.h"

/* What the caller asks for. */
struct linux_boot_config {
	const char *kernel_path;
	const char *initrd_path; /* NULL: none */
	const char *cmdline; /* complete command line, "" allowed */
	int nr_cpus; /* for the MP table */
	bool host_decompress; /* decompress a bzImage payload on the host */
};

/* What the boot vCPU needs once the guest is loaded. */
struct linux_boot_info {
	uint64_t entry; /* 64-bit entry RIP (guest-physical = identity mapped) */
	uint64_t boot_params; /* guest-physical address of the zero page, goes in RSI */
	const char *how; /* "ELF vmlinux", "bzImage (guest decompresses)",
				 "bzImage payload decompressed on the host (xz)"... */
};

/*
 * Loads kernel, initrd, command line, boot_params (with e820 map and a
 * SETUP_RNG_SEED setup_data entry), the boot GDT and identity page tables,
 * and the MP table into @mem. On error returns -errno with a message in
 * @err that names the file and what is wrong with it.
 */
int x86_linux_load(struct guest_mem *mem, const struct linux_boot_config *cfg,
		   struct linux_boot_info *info, struct kb_err *err);

/* Writes the boot GDT and identity page tables (first 4 GiB, 2 MiB pages);
 * also used by `run --raw --raw-mode long`. */
int x86_write_boot_gdt_and_pagetables(struct guest_mem *mem, struct kb_err *err);

#endif
