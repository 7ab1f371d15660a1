/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_ARCH_X86_BOOT_DECOMPRESS_H
#define KVMBOX_ARCH_X86_BOOT_DECOMPRESS_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

/* Default bound on decompressed output (guards against bombs). */
#define DECOMP_DEFAULT_MAX_OUT (1ULL << 30)

/* Chunk size of the kernel's legacy lz4 format (lz4 -l). */
#define DECOMP_LZ4_LEGACY_MAGIC 0x184c2102U
#define DECOMP_LZ4_LEGACY_CHUNK (8U << 20)

enum decomp_format {
	DECOMP_UNKNOWN = 0,
	DECOMP_NONE, /* not compressed: an ELF image */
	DECOMP_GZIP, /* 1f 8b */
	DECOMP_XZ, /* fd 37 7a 58 5a 00 */
	DECOMP_LZ4, /* 02 21 4c 18, legacy frame */
	DECOMP_ZSTD, /* 28 b5 2f fd */
	DECOMP_BZIP2, /* 42 5a 68, not supported on the host */
	DECOMP_LZMA, /* 5d 00 00, not supported on the host */
	DECOMP_LZO, /* 89 4c 5a 4f (lzop), not supported on the host */
};

/* Identifies the payload format by its magic number. */
enum decomp_format decomp_detect(const void *buf, size_t len);

/* "gzip", "xz", "lz4", "zstd", "bzip2", "lzma", "lzo", "none", "unknown". */
const char *decomp_name(enum decomp_format fmt);

/* True for the formats decomp_payload() can decompress (and DECOMP_NONE). */
bool decomp_host_supported(enum decomp_format fmt);

/*
 * Decompresses [@in, @in + @in_len) into a malloc()ed buffer returned in
 * @out / @out_len (caller frees). Data after the end of the compressed
 * stream (the kernel appends the 4-byte decompressed size) is ignored.
 * An uncompressed ELF is copied. Errors, with a message in @err:
 *   -EOPNOTSUPP  bzip2/lzma/lzo/unknown ("... use --no-host-decompress")
 *   -EFBIG       output would exceed @max_out bytes
 *   -EINVAL      truncated or corrupt input
 *   -ENOMEM      out of host memory
 */
int decomp_payload(const void *in, size_t in_len, size_t max_out, void **out,
		   size_t *out_len, struct kb_err *err);

#endif
