/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_ARCH_X86_CPU_H
#define KVMBOX_ARCH_X86_CPU_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* cpuid.c: what KVM supports, then per vCPU topology and APIC IDs. */
struct kvm_cpuid2 *x86_cpuid_get_supported(int kvm_fd, struct kb_err *err);
struct kvm_cpuid2 *x86_cpuid_for_vcpu(const struct kvm_cpuid2 *sup, int cpu_id,
				      int nr_cpus);
/* Fills the topology of @c in place (exposed for unit tests). */
void x86_cpuid_set_topology(struct kvm_cpuid2 *c, int cpu_id, int nr_cpus);

/* msr.c: architectural MSRs a freshly reset CPU has, as Linux expects. */
int x86_msrs_init(int vcpu_fd, struct kb_err *err);
/* LAPIC LINT0 = ExtINT, LINT1 = NMI, as firmware leaves it. */
int x86_lapic_init(int vcpu_fd, struct kb_err *err);

/* emulate.c: instructions the host's KVM could not emulate. */
enum emul_result {
	EMUL_HANDLED, /* state updated; resume the vCPU */
	EMUL_UNKNOWN, /* not something we know: report and stop */
};

struct emul_insn {
	const char *name; /* decoded mnemonic, or NULL */
	const char *action; /* what was done about it */
	size_t len; /* length in bytes when known, else 0 */
};

/* Decodes the instruction at @code (up to @len bytes) for a report. */
void x86_decode_for_report(const uint8_t *code, size_t len, struct emul_insn *out);
/* Emulates or injects for the instruction; vCPU state is changed through
 * @vcpu_fd. Returns EMUL_HANDLED only when it did so. */
enum emul_result x86_emulate_fallback(int vcpu_fd, const uint8_t *code, size_t len,
				      struct emul_insn *out);

/* pvm.c: emulation-only KVM detection and the guest options it needs. */
struct host_kvm_info {
	bool pvm; /* module kvm_pvm loaded */
	bool hw_virt; /* vmx or svm in /proc/cpuinfo */
	char cpu_vendor[16]; /* "vmx", "svm" or "" */
};
void x86_host_kvm_probe(struct host_kvm_info *info);
/* Guest command-line options that keep Linux clear of this host's quirks. */
const char *x86_pvm_guest_cmdline(void);

#endif
