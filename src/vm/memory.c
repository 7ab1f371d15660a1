// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "vm/memory.h"

#define HIGHMEM_BASE 0x100000000ULL

static int map_region(struct guest_mem_region *r, uint64_t gpa, uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return -errno;
	/* Guest RAM is never worth a core dump, and THP makes boot faster. */
	madvise(p, size, MADV_DONTDUMP);
	madvise(p, size, MADV_HUGEPAGE);
	r->gpa = gpa;
	r->size = size;
	r->hva = p;
	return 0;
}

int guest_mem_alloc(struct guest_mem *m, uint64_t ram_size, uint64_t lowmem_max)
{
	uint64_t low = ram_size < lowmem_max ? ram_size : lowmem_max;
	int ret;

	memset(m, 0, sizeof(*m));
	if (!ram_size || (ram_size & 0xfff))
		return -EINVAL;
	ret = map_region(&m->region[0], 0, low);
	if (ret)
		return ret;
	m->nr_regions = 1;
	if (ram_size > low) {
		ret = map_region(&m->region[1], HIGHMEM_BASE, ram_size - low);
		if (ret) {
			guest_mem_free(m);
			return ret;
		}
		m->nr_regions = 2;
	}
	m->ram_size = ram_size;
	return 0;
}

void guest_mem_free(struct guest_mem *m)
{
	for (int i = 0; i < m->nr_regions; i++)
		munmap(m->region[i].hva, m->region[i].size);
	memset(m, 0, sizeof(*m));
}

void *guest_mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	if (!len)
		len = 1;
	for (int i = 0; i < m->nr_regions; i++) {
		const struct guest_mem_region *r = &m->region[i];

		if (gpa < r->gpa)
			continue;
		/* Written so that no addition can overflow. */
		if (gpa - r->gpa >= r->size || len > r->size - (gpa - r->gpa))
			continue;
		return r->hva + (gpa - r->gpa);
	}
	return NULL;
}

int guest_mem_write(const struct guest_mem *m, uint64_t gpa, const void *src,
		    uint64_t len)
{
	void *p = guest_mem_ptr(m, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(p, src, len);
	return 0;
}

int guest_mem_read(const struct guest_mem *m, uint64_t gpa, void *dst, uint64_t len)
{
	void *p = guest_mem_ptr(m, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(dst, p, len);
	return 0;
}

uint64_t guest_mem_region_end(const struct guest_mem *m, uint64_t gpa)
{
	for (int i = 0; i < m->nr_regions; i++) {
		const struct guest_mem_region *r = &m->region[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size)
			return r->gpa + r->size;
	}
	return 0;
}
