// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vm/bus.h"

void bus_init(struct bus *b)
{
	memset(b, 0, sizeof(*b));
	pthread_rwlock_init(&b->lock, NULL);
}

void bus_destroy(struct bus *b)
{
	free(b->ranges);
	pthread_rwlock_destroy(&b->lock);
	memset(b, 0, sizeof(*b));
}

/* Index of the first range whose end is above @addr. */
static size_t bus_lower_bound(const struct bus *b, uint64_t addr)
{
	size_t lo = 0, hi = b->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct bus_range *r = &b->ranges[mid];

		if (r->base + r->len <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int bus_register(struct bus *b, uint64_t base, uint64_t len, const struct bus_ops *ops,
		 void *dev, const char *name)
{
	size_t i;
	int ret = 0;

	if (!len || base + len < base)
		return -EINVAL;
	pthread_rwlock_wrlock(&b->lock);
	i = bus_lower_bound(b, base);
	if (i < b->nr && b->ranges[i].base < base + len) {
		ret = -EEXIST;
		goto out;
	}
	if (b->nr == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		struct bus_range *n = realloc(b->ranges, cap * sizeof(*n));

		if (!n) {
			ret = -ENOMEM;
			goto out;
		}
		b->ranges = n;
		b->cap = cap;
	}
	memmove(&b->ranges[i + 1], &b->ranges[i], (b->nr - i) * sizeof(*b->ranges));
	b->ranges[i] = (struct bus_range){ base, len, ops, dev, name };
	b->nr++;
out:
	pthread_rwlock_unlock(&b->lock);
	return ret;
}

int bus_unregister(struct bus *b, uint64_t base, void *dev)
{
	int ret = -ENOENT;

	pthread_rwlock_wrlock(&b->lock);
	for (size_t i = 0; i < b->nr; i++) {
		if (b->ranges[i].base == base && b->ranges[i].dev == dev) {
			memmove(&b->ranges[i], &b->ranges[i + 1],
				(b->nr - i - 1) * sizeof(*b->ranges));
			b->nr--;
			ret = 0;
			break;
		}
	}
	pthread_rwlock_unlock(&b->lock);
	return ret;
}

bool bus_access(struct bus *b, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	const struct bus_range *r = NULL;
	size_t i;

	pthread_rwlock_rdlock(&b->lock);
	i = bus_lower_bound(b, addr);
	if (i < b->nr && b->ranges[i].base <= addr)
		r = &b->ranges[i];
	if (r) {
		uint64_t off = addr - r->base;

		if (is_write) {
			if (r->ops->write)
				r->ops->write(r->dev, off, data, len);
		} else if (r->ops->read) {
			r->ops->read(r->dev, off, data, len);
		} else {
			memset(data, 0xff, len);
		}
	} else if (!is_write) {
		memset(data, 0xff, len);
	}
	pthread_rwlock_unlock(&b->lock);
	return r != NULL;
}
