/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_VM_BUS_H
#define KVMBOX_VM_BUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A bus maps port or guest-physical address ranges to devices. There is one
 * for port I/O and one for MMIO. Handlers get the offset inside their range;
 * @len is 1, 2, 4 or 8 and @data is little-endian. Handlers run on vCPU
 * threads: a device that other threads also touch locks itself.
 * Ranges may be added or moved while vCPUs run (PCI BARs), hence the lock.
 */
struct bus_ops {
	void (*read)(void *dev, uint64_t off, uint8_t *data, uint32_t len);
	void (*write)(void *dev, uint64_t off, const uint8_t *data, uint32_t len);
};

struct bus_range {
	uint64_t base;
	uint64_t len;
	const struct bus_ops *ops;
	void *dev;
	const char *name;
};

struct bus {
	pthread_rwlock_t lock;
	struct bus_range *ranges; /* sorted by base, never overlapping */
	size_t nr, cap;
};

void bus_init(struct bus *b);
void bus_destroy(struct bus *b);
/* -EEXIST if the range overlaps one already there, -EINVAL if empty/wraps. */
int bus_register(struct bus *b, uint64_t base, uint64_t len, const struct bus_ops *ops,
		 void *dev, const char *name);
int bus_unregister(struct bus *b, uint64_t base, void *dev);
/* Returns false when no device claims @addr; reads then see all-ones. */
bool bus_access(struct bus *b, uint64_t addr, uint8_t *data, uint32_t len, bool is_write);

#endif
