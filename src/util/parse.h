/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_UTIL_PARSE_H
#define KVMBOX_UTIL_PARSE_H

#include <stdint.h>

/* "512M", "1G", "65536K", "2T"; a bare number is MiB (as QEMU's -m).
 * Returns 0 or -EINVAL (garbage, bad suffix) / -ERANGE (overflow). */
int parse_size(const char *s, uint64_t *out);
/* Decimal, 0x hex or 0 octal, whole string, no sign. */
int parse_u64(const char *s, uint64_t *out);

#endif
