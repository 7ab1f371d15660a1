// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/x86/cpu.h"
#include "util/log.h"

#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102

#define MISC_ENABLE_FAST_STRING 1ULL
#define MTRR_ENABLE (1ULL << 11)
#define MTRR_TYPE_WB 6ULL

int x86_msrs_init(int vcpu_fd, struct kb_err *err)
{
	static const struct {
		uint32_t index;
		uint64_t value;
	} init[] = {
		{ MSR_IA32_SYSENTER_CS, 0 },
		{ MSR_IA32_SYSENTER_ESP, 0 },
		{ MSR_IA32_SYSENTER_EIP, 0 },
		{ MSR_STAR, 0 },
		{ MSR_LSTAR, 0 },
		{ MSR_CSTAR, 0 },
		{ MSR_SYSCALL_MASK, 0 },
		{ MSR_KERNEL_GS_BASE, 0 },
		{ MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING },
		{ MSR_MTRR_DEF_TYPE, MTRR_ENABLE | MTRR_TYPE_WB },
	};
	size_t n = sizeof(init) / sizeof(init[0]);
	struct kvm_msrs *msrs =
		calloc(1, sizeof(*msrs) + n * sizeof(struct kvm_msr_entry));
	int ret;

	if (!msrs)
		return kb_err_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		msrs->entries[i].index = init[i].index;
		msrs->entries[i].data = init[i].value;
	}
	msrs->nmsrs = n;
	ret = ioctl(vcpu_fd, KVM_SET_MSRS, msrs);
	if (ret < 0) {
		ret = kb_err_set(err, -errno, "KVM_SET_MSRS: %s", strerror(errno));
	} else {
		/* KVM stops at the first MSR it refuses; that one is not fatal. */
		if ((size_t)ret < n)
			log_debug("KVM_SET_MSRS: MSR %#x refused, continuing",
				  msrs->entries[ret].index);
		ret = 0;
	}
	free(msrs);
	return ret;
}

#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_MODE_NMI 0x4
#define APIC_MODE_EXTINT 0x7

static void lapic_set_lvt(struct kvm_lapic_state *s, int reg, uint32_t mode)
{
	uint32_t v;

	memcpy(&v, &s->regs[reg], 4);
	v = (v & ~0x700u & ~(1u << 16)) | (mode << 8);
	memcpy(&s->regs[reg], &v, 4);
}

int x86_lapic_init(int vcpu_fd, struct kb_err *err)
{
	struct kvm_lapic_state s;

	if (ioctl(vcpu_fd, KVM_GET_LAPIC, &s) < 0)
		return kb_err_set(err, -errno, "KVM_GET_LAPIC: %s", strerror(errno));
	lapic_set_lvt(&s, APIC_LVT_LINT0, APIC_MODE_EXTINT);
	lapic_set_lvt(&s, APIC_LVT_LINT1, APIC_MODE_NMI);
	if (ioctl(vcpu_fd, KVM_SET_LAPIC, &s) < 0)
		return kb_err_set(err, -errno, "KVM_SET_LAPIC: %s", strerror(errno));
	return 0;
}
