/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_ARCH_X86_BOOT_BZIMAGE_H
#define KVMBOX_ARCH_X86_BOOT_BZIMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <asm/bootparam.h>

#include "util/err.h"

/* Offsets inside the file (Documentation/x86/boot.rst). */
#define BZ_HDR_OFFSET 0x1f1 /* struct setup_header */
#define BZ_BOOT_FLAG_OFFSET 0x1fe
#define BZ_JUMP_OFFSET 0x200 /* short jump; its operand gives the header end */
#define BZ_MAGIC_OFFSET 0x202 /* "HdrS" */
#define BZ_BOOT_FLAG 0xaa55
#define BZ_HDRS_MAGIC 0x53726448 /* "HdrS" little-endian */
#define BZ_MIN_VERSION 0x0206
#define BZ_ENTRY64_OFFSET 0x200 /* 64-bit entry from the protected-mode start */

/*
 * What the loader needs from a bzImage. The pointers point into the buffer
 * given to bzimage_parse(), which must outlive this struct.
 */
struct bzimage {
	/* Copy of the file's setup header; bytes past the end the kernel
	 * declares (0x202 + byte at 0x201) are zero. */
	struct setup_header hdr;
	uint16_t version; /* boot protocol, e.g. 0x020f */
	size_t setup_size; /* (setup_sects + 1) * 512 */
	const uint8_t *pm; /* protected-mode kernel */
	size_t pm_len;
	const uint8_t *payload; /* payload inside pm, NULL if not described */
	size_t payload_len;
	bool relocatable;
	uint64_t kernel_alignment; /* power of two */
	uint64_t pref_address; /* preferred load address, 0 if none */
	uint64_t init_size; /* bytes needed from the load address, >= pm_len */
	uint32_t cmdline_max; /* longest command line, NUL excluded */
	uint64_t initrd_limit; /* initrd bytes must lie below this (exclusive) */
};

/* True if @buf carries a boot sector flag or the "HdrS" magic, i.e. it is
 * meant to be a bzImage (bzimage_parse() then says what is wrong). */
bool bzimage_probe(const void *buf, size_t len);

/*
 * Validates the bzImage in [@buf, @buf + @len) and fills @bz. Returns 0, or
 * -ENOEXEC / -EINVAL with a message in @err naming the field at fault (the
 * caller prefixes the file name).
 */
int bzimage_parse(const void *buf, size_t len, struct bzimage *bz, struct kb_err *err);

#endif
