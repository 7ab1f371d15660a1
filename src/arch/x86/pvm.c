// SPDX-License-Identifier: GPL-2.0-only
/*
 * Emulation-only KVM ("kvm_pvm", pagetable-based virtual machine): /dev/kvm
 * works but guest kernel code runs through the host's instruction emulator.
 * Its quirks are listed in docs/host-quirks.md. Detection is at run time:
 * the same binary runs on hardware KVM with none of this active.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86/cpu.h"

static bool cpuinfo_has_flag(const char *flag)
{
	char line[8192];
	bool found = false;
	FILE *f = fopen("/proc/cpuinfo", "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *p;

		if (strncmp(line, "flags", 5))
			continue;
		for (p = strtok(line, " \t\n"); p; p = strtok(NULL, " \t\n"))
			if (!strcmp(p, flag))
				found = true;
		break;
	}
	fclose(f);
	return found;
}

void x86_host_kvm_probe(struct host_kvm_info *info)
{
	memset(info, 0, sizeof(*info));
	info->pvm = access("/sys/module/kvm_pvm", F_OK) == 0;
	if (cpuinfo_has_flag("vmx"))
		snprintf(info->cpu_vendor, sizeof(info->cpu_vendor), "vmx");
	else if (cpuinfo_has_flag("svm"))
		snprintf(info->cpu_vendor, sizeof(info->cpu_vendor), "svm");
	info->hw_virt = info->cpu_vendor[0] != 0;
}

const char *x86_pvm_guest_cmdline(void)
{
	/*
	 * CPUID masks set by the VMM do not reach an emulated guest kernel,
	 * so features whose instructions the host's emulator lacks are turned
	 * off on the command line. noxsave also clears what depends on XSAVE
	 * (avx, avx2, avx512*, fma, vaes, vpclmulqdq, pku, xsaveopt/c/s).
	 * Linux 6.1 reads clearcpuid= into a 128-byte buffer, too short for
	 * the names, so the rest go as feature numbers (CPUID word * 32 + bit,
	 * stable since they mirror CPUID registers), in this order: smap smep
	 * cx16 umip fsgsbase rdpid rdseed rdrand erms fsrm popcnt bmi1 bmi2
	 * movbe abm adx aes pclmulqdq sha_ni f16c gfni clwb clflushopt sse4_2
	 * sse4_1 ssse3. nopv: the host's PV CPUID leaves leak through and PV
	 * IPIs hang secondary CPUs.
	 */
	return "nopv noxsave clearcpuid=308,295,141,514,288,534,306,158,297,580,151,291,296,"
	       "150,197,307,153,129,317,157,520,312,311,148,147,137";
}
