// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/x86/cpu.h"

#define CPUID_MAX_ENTRIES 256

struct kvm_cpuid2 *x86_cpuid_get_supported(int kvm_fd, struct kb_err *err)
{
	struct kvm_cpuid2 *c;
	size_t sz = sizeof(*c) + CPUID_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2);

	c = calloc(1, sz);
	if (!c) {
		kb_err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	c->nent = CPUID_MAX_ENTRIES;
	if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
		kb_err_set(err, -errno, "KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
		free(c);
		return NULL;
	}
	return c;
}

static unsigned int order_of(unsigned int n)
{
	unsigned int o = 0;

	while ((1u << o) < n)
		o++;
	return o;
}

void x86_cpuid_set_topology(struct kvm_cpuid2 *c, int cpu_id, int nr_cpus)
{
	unsigned int shift = order_of(nr_cpus);

	/* One package, one thread per core, nr_cpus cores; APIC ID = index. */
	for (unsigned int i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case 1:
			e->ebx &= 0x0000ffff;
			e->ebx |= (uint32_t)cpu_id << 24;
			e->ebx |= (uint32_t)(nr_cpus & 0xff) << 16;
			if (nr_cpus > 1)
				e->edx |= 1u << 28; /* HTT: the count field is valid */
			e->ecx |= 1u << 31; /* running on a hypervisor */
			break;
		case 4:
			e->eax &= 0x03ffffff;
			e->eax |= (uint32_t)(nr_cpus - 1) << 26;
			e->eax &= ~(0xfffu << 14); /* each cache shared by one thread */
			break;
		case 0xb:
		case 0x1f:
			/* Level 0: SMT, one thread; level 1: core, nr_cpus. */
			e->edx = cpu_id;
			if (e->index == 0) {
				e->eax = 0;
				e->ebx = 1;
				e->ecx = (1u << 8) | 0;
			} else if (e->index == 1) {
				e->eax = shift;
				e->ebx = nr_cpus;
				e->ecx = (2u << 8) | 1;
			} else {
				e->eax = 0;
				e->ebx = 0;
				e->ecx = e->index;
			}
			break;
		}
	}
}

struct kvm_cpuid2 *x86_cpuid_for_vcpu(const struct kvm_cpuid2 *sup, int cpu_id,
				      int nr_cpus)
{
	size_t sz = sizeof(*sup) + sup->nent * sizeof(struct kvm_cpuid_entry2);
	struct kvm_cpuid2 *c = malloc(sz);

	if (!c)
		return NULL;
	memcpy(c, sup, sz);
	x86_cpuid_set_topology(c, cpu_id, nr_cpus);
	return c;
}
