/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_ARCH_X86_BOOT_BOOT_PARAMS_H
#define KVMBOX_ARCH_X86_BOOT_BOOT_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include <asm/bootparam.h>
#include <asm/e820.h>

#include "util/err.h"
#include "vm/memory.h"

#define BOOT_LOADER_TYPE 0xff /* "undefined" boot loader */
#define BOOT_HEAP_END_PTR 0xde00 /* heap end 0xe000, minus 0x200 */
#define BOOT_RNG_SEED_LEN 32
#define BOOT_ELF_PROTOCOL 0x020f /* header version written for an ELF vmlinux */
#define BOOT_ELF_INITRD_ADDR_MAX 0x7fffffffU /* as an x86-64 kernel declares */
#define BOOT_ELF_KERNEL_ALIGN 0x200000U

/*
 * Fills @table with the guest's memory map, derived from @mem's regions:
 *   [0, EBDA) RAM, [EBDA, 1 MiB) reserved, [1 MiB, end of low RAM) RAM,
 *   [4 GiB, 4 GiB + high RAM) RAM when there is RAM above the hole.
 * Entries are sorted and do not overlap. Returns the number of entries, or
 * -EINVAL (low RAM not above 1 MiB, unexpected region) / -ENOSPC (@max).
 * Only reads the regions' gpa and size, so tests may fake @mem.
 */
int e820_build(const struct guest_mem *mem, struct boot_e820_entry *table,
	       unsigned int max, struct kb_err *err);

/* The setup header written for an ELF vmlinux, which has none: "HdrS",
 * version 2.15, LOADED_HIGH | CAN_USE_HEAP, 2 MiB alignment, ... */
void boot_minimal_setup_header(struct setup_header *hdr);

struct zero_page {
	const struct setup_header *hdr; /* the bzImage's, or NULL: minimal header */
	uint64_t cmdline_addr;
	uint64_t initrd_addr; /* 0 and 0: no initrd */
	uint64_t initrd_size;
	uint64_t setup_data; /* head of the setup_data chain, 0: none */
};

/*
 * Writes a struct boot_params at @addr: a zeroed page with the setup header,
 * type_of_loader 0xff, heap_end_ptr, cmd_line_ptr, ramdisk_image/size (the
 * ext_ fields carry the high halves), setup_data and the e820 table.
 */
int boot_params_write(struct guest_mem *mem, uint64_t addr, const struct zero_page *zp,
		      struct kb_err *err);

/* Copies @cmdline (NUL-terminated) to @addr. Fails with -E2BIG naming the
 * limit if it is longer than @kernel_max (the kernel's cmdline_size) or than
 * the X86_CMDLINE_MAX area. */
int boot_cmdline_write(struct guest_mem *mem, uint64_t addr, const char *cmdline,
		       uint64_t kernel_max, struct kb_err *err);

/* Writes a setup_data node of type SETUP_RNG_SEED with BOOT_RNG_SEED_LEN
 * bytes from getrandom() at @addr, linking to @next (0: end of chain). */
int boot_rng_seed_write(struct guest_mem *mem, uint64_t addr, uint64_t next,
			struct kb_err *err);

/*
 * Reads the initrd at @path straight into guest memory, page-aligned, as
 * high as possible below min(@limit, end of low RAM) and not below
 * @kernel_end. Sets @addr and @size. Errors name the file.
 */
int boot_initrd_load(struct guest_mem *mem, const char *path, uint64_t kernel_end,
		     uint64_t limit, uint64_t *addr, uint64_t *size, struct kb_err *err);

/*
 * Reads a whole regular file into a malloc()ed buffer (caller frees).
 * Errors say "<what> <path>: ..." (missing, unreadable, a directory, empty,
 * larger than @max bytes).
 */
int boot_read_file(const char *what, const char *path, size_t max, void **buf,
		   size_t *len, struct kb_err *err);

#endif
