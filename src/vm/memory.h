/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_VM_MEMORY_H
#define KVMBOX_VM_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Guest RAM: at most two host mappings (below the 32-bit MMIO hole and above
 * 4 GiB). Every access from kvmbox to guest memory goes through these
 * helpers, which check that [gpa, gpa + len) lies wholly inside RAM.
 * This module knows nothing of KVM, so unit tests use it as it is.
 */
struct guest_mem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
};

struct guest_mem {
	struct guest_mem_region region[2];
	int nr_regions;
	uint64_t ram_size; /* total bytes of RAM */
};

/* Lays out @ram_size bytes (low part up to @lowmem_max, rest from 4 GiB)
 * and maps them anonymous, private, MAP_NORESERVE. */
int guest_mem_alloc(struct guest_mem *m, uint64_t ram_size, uint64_t lowmem_max);
void guest_mem_free(struct guest_mem *m);

/* Host pointer for [gpa, gpa + len), or NULL if any byte is not RAM or the
 * range wraps. len 0 is treated as 1. */
void *guest_mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len);

/* Copies; return 0 or -EFAULT when the range is not wholly RAM. */
int guest_mem_write(const struct guest_mem *m, uint64_t gpa, const void *src,
		    uint64_t len);
int guest_mem_read(const struct guest_mem *m, uint64_t gpa, void *dst, uint64_t len);

/* End of the RAM region that contains @gpa (exclusive), or 0. */
uint64_t guest_mem_region_end(const struct guest_mem *m, uint64_t gpa);

#endif
