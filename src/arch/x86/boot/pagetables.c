// SPDX-License-Identifier: GPL-2.0-only
/*
 * Boot GDT and identity page tables for entering a kernel in 64-bit mode
 * (Documentation/x86/boot.rst, "64-bit Boot Protocol"), also used by raw
 * programs in long mode and in user mode (CPL 3).
 */
#include <errno.h>
#include <string.h>

#include "arch/x86/boot/boot.h"
#include "arch/x86/boot/pagetables.h"

#define TABLE_SIZE 0x1000ULL
#define TABLE_ENTRIES 512
#define PAGE_2M (2ULL << 20)
#define PAGE_1G (1ULL << 30)

static void flat_segment(struct kvm_segment *s, uint16_t sel, uint8_t type)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->dpl = 0;
	s->s = 1;
	s->g = 1;
}

void x86_boot_segments(struct kvm_segment *cs, struct kvm_segment *ds)
{
	flat_segment(cs, X86_BOOT_CS, 0xb); /* execute/read, accessed */
	cs->l = 1;
	cs->db = 0; /* must be 0 when l=1 */
	flat_segment(ds, X86_BOOT_DS, 0x3); /* read/write, accessed */
	ds->db = 1;
}

void x86_user_segments(struct kvm_segment *cs, struct kvm_segment *ds)
{
	x86_boot_segments(cs, ds);
	cs->selector = X86_USER_CS | 3;
	cs->dpl = 3;
	ds->selector = X86_USER_DS | 3;
	ds->dpl = 3;
}

uint64_t x86_gdt_descriptor(const struct kvm_segment *seg)
{
	uint64_t limit = seg->g ? seg->limit >> 12 : seg->limit;
	uint64_t base = seg->base;

	return (limit & 0xffff) | (base & 0xffffff) << 16 |
	       (uint64_t)(seg->type & 0xf) << 40 | (uint64_t)(seg->s & 1) << 44 |
	       (uint64_t)(seg->dpl & 3) << 45 | (uint64_t)(seg->present & 1) << 47 |
	       ((limit >> 16) & 0xf) << 48 | (uint64_t)(seg->avl & 1) << 52 |
	       (uint64_t)(seg->l & 1) << 53 | (uint64_t)(seg->db & 1) << 54 |
	       (uint64_t)(seg->g & 1) << 55 | ((base >> 24) & 0xff) << 56;
}

/* Zeroes the 4 KiB table at @gpa and returns its host address in @t. */
static int table(struct guest_mem *mem, uint64_t gpa, uint64_t **t, struct kb_err *err)
{
	*t = guest_mem_ptr(mem, gpa, TABLE_SIZE);
	if (!*t)
		return kb_err_set(err, -EFAULT,
				  "boot page table at 0x%llx is outside guest RAM",
				  (unsigned long long)gpa);
	memset(*t, 0, TABLE_SIZE);
	return 0;
}

int x86_write_boot_gdt_and_pagetables(struct guest_mem *mem, struct kb_err *err)
{
	uint64_t gdt[X86_BOOT_GDT_ENTRIES] = { 0 };
	struct kvm_segment cs, ds, ucs, uds;
	/*
	 * Every level has U/S set so that a raw program at CPL 3 can use the
	 * identity map (`run --raw-mode user`). Harmless for Linux: it loads
	 * its own page tables early in startup_64, long before it turns on
	 * SMEP/SMAP, and never runs user code on these.
	 */
	const uint64_t flags = X86_PTE_PRESENT | X86_PTE_WRITE | X86_PTE_USER;
	uint64_t *pml4, *pdpt;
	int ret;

	x86_boot_segments(&cs, &ds);
	x86_user_segments(&ucs, &uds);
	gdt[X86_BOOT_CS / 8] = x86_gdt_descriptor(&cs);
	gdt[X86_BOOT_DS / 8] = x86_gdt_descriptor(&ds);
	gdt[X86_USER_DS / 8] = x86_gdt_descriptor(&uds);
	gdt[X86_USER_CS / 8] = x86_gdt_descriptor(&ucs);
	if (guest_mem_write(mem, X86_GDT_ADDR, gdt, sizeof(gdt)))
		return kb_err_set(err, -EFAULT, "boot GDT at 0x%llx is outside guest RAM",
				  X86_GDT_ADDR);

	ret = table(mem, X86_PML4_ADDR, &pml4, err);
	if (ret)
		return ret;
	ret = table(mem, X86_PDPT_ADDR, &pdpt, err);
	if (ret)
		return ret;
	pml4[0] = X86_PDPT_ADDR | flags;

	for (int i = 0; i < X86_BOOT_IDENTITY_GIB; i++) {
		uint64_t pd_gpa = X86_PD_ADDR + i * TABLE_SIZE;
		uint64_t *pd;

		ret = table(mem, pd_gpa, &pd, err);
		if (ret)
			return ret;
		pdpt[i] = pd_gpa | flags;
		for (int j = 0; j < TABLE_ENTRIES; j++)
			pd[j] = (i * PAGE_1G + j * PAGE_2M) | flags | X86_PTE_PS;
	}
	return 0;
}
