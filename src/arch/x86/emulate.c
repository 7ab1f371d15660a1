// SPDX-License-Identifier: GPL-2.0-only
/*
 * Fallback for instructions the host's KVM could not emulate (exit
 * KVM_EXIT_INTERNAL_ERROR, suberror KVM_INTERNAL_ERROR_EMULATION). On an
 * emulation-only KVM (kvm_pvm) every guest kernel instruction goes through
 * the host's emulator, which lacks a few; see docs/host-quirks.md.
 * Only instructions whose effect is fully known here are handled; anything
 * else is decoded for the report and the VM stops.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/x86/cpu.h"

#define X86_VEC_BP 3
#define RFLAGS_AC (1ULL << 18)

struct prefixes {
	size_t len; /* bytes of legacy and REX prefixes */
	bool rep; /* F3 */
	bool repne; /* F2 */
	bool lock; /* F0 */
	uint8_t rex; /* 0 when absent */
};

static void scan_prefixes(const uint8_t *c, size_t len, struct prefixes *p)
{
	memset(p, 0, sizeof(*p));
	while (p->len < len) {
		uint8_t b = c[p->len];

		if (b == 0xf3)
			p->rep = true;
		else if (b == 0xf2)
			p->repne = true;
		else if (b == 0xf0)
			p->lock = true;
		else if (!(b == 0x66 || b == 0x67 || b == 0x2e || b == 0x36 ||
			   b == 0x3e || b == 0x26 || b == 0x64 || b == 0x65))
			break;
		p->len++;
	}
	if (p->len < len && (c[p->len] & 0xf0) == 0x40)
		p->rex = c[p->len++];
}

static unsigned int modrm_reg(uint8_t modrm)
{
	return (modrm >> 3) & 7;
}

void x86_decode_for_report(const uint8_t *code, size_t len, struct emul_insn *out)
{
	struct prefixes p;
	const uint8_t *c;
	size_t n;

	memset(out, 0, sizeof(*out));
	scan_prefixes(code, len, &p);
	c = code + p.len;
	n = len - p.len;
	if (n < 1)
		return;
	if (c[0] == 0xcc) {
		out->name = "int3";
		out->len = p.len + 1;
	} else if (c[0] == 0x9b) {
		out->name = "fwait";
		out->len = p.len + 1;
	} else if (c[0] == 0xf4) {
		out->name = "hlt";
		out->len = p.len + 1;
	} else if (c[0] == 0x0f && n >= 2) {
		switch (c[1]) {
		case 0x01:
			if (n >= 3 && c[2] == 0xca)
				out->name = "clac";
			else if (n >= 3 && c[2] == 0xcb)
				out->name = "stac";
			else if (n >= 3 && c[2] == 0xc1)
				out->name = "vmcall";
			else if (n >= 3 && c[2] == 0xd9)
				out->name = "vmmcall";
			else if (n >= 3 && c[2] == 0xd0)
				out->name = "xgetbv";
			else if (n >= 3 && c[2] == 0xf9)
				out->name = "rdtscp";
			if (out->name)
				out->len = p.len + 3;
			break;
		case 0x0b:
			out->name = "ud2";
			out->len = p.len + 2;
			break;
		case 0xa2:
			out->name = "cpuid";
			out->len = p.len + 2;
			break;
		case 0xae:
			if (n >= 3) {
				static const char *const grp15[8] = {
					"fxsave", "fxrstor", "ldmxcsr",	 "stmxcsr",
					"xsave",  "xrstor",  "xsaveopt", "clflush"
				};
				out->name = grp15[modrm_reg(c[2])];
			}
			break;
		case 0xb8:
			if (p.rep)
				out->name = "popcnt";
			break;
		case 0xbc:
			if (p.rep)
				out->name = "tzcnt";
			break;
		case 0xbd:
			if (p.rep)
				out->name = "lzcnt";
			break;
		case 0xc7:
			if (n >= 3) {
				unsigned int r = modrm_reg(c[2]);

				if (r == 1)
					out->name =
						(p.rex & 8) ? "cmpxchg16b" : "cmpxchg8b";
				else if (r == 6)
					out->name = "rdrand";
				else if (r == 7)
					out->name = "rdseed";
				else if (r == 3 || r == 5)
					out->name = r == 3 ? "xrstors" : "xsaves";
			}
			break;
		case 0x38:
			if (n >= 3 && c[2] == 0xf0)
				out->name = "movbe/crc32";
			break;
		}
	}
}

static int adjust_rip(int fd, size_t len, uint64_t set_flags, uint64_t clear_flags)
{
	struct kvm_regs regs;

	if (ioctl(fd, KVM_GET_REGS, &regs) < 0)
		return -errno;
	regs.rip += len;
	regs.rflags = (regs.rflags | set_flags) & ~clear_flags;
	if (ioctl(fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}

static int inject_exception(int fd, uint8_t vector)
{
	struct kvm_vcpu_events ev;

	if (ioctl(fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
		return -errno;
	ev.exception.injected = 1;
	ev.exception.nr = vector;
	ev.exception.has_error_code = 0;
	ev.exception.error_code = 0;
	ev.flags = 0;
	if (ioctl(fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
		return -errno;
	return 0;
}

enum emul_result x86_emulate_fallback(int vcpu_fd, const uint8_t *code, size_t len,
				      struct emul_insn *out)
{
	const char *name;

	x86_decode_for_report(code, len, out);
	name = out->name;
	if (!name || !out->len)
		return EMUL_UNKNOWN;
	if (!strcmp(name, "int3")) {
		/* #BP is a trap: the saved RIP is the byte after int3. */
		if (adjust_rip(vcpu_fd, out->len, 0, 0) ||
		    inject_exception(vcpu_fd, X86_VEC_BP))
			return EMUL_UNKNOWN;
		out->action = "advanced RIP and injected #BP";
		return EMUL_HANDLED;
	}
	if (!strcmp(name, "fwait")) {
		/* No x87 exception is ever pending for a guest kernel here. */
		if (adjust_rip(vcpu_fd, out->len, 0, 0))
			return EMUL_UNKNOWN;
		out->action = "skipped";
		return EMUL_HANDLED;
	}
	if (!strcmp(name, "clac") || !strcmp(name, "stac")) {
		bool set = name[0] == 's';

		if (adjust_rip(vcpu_fd, out->len, set ? RFLAGS_AC : 0,
			       set ? 0 : RFLAGS_AC))
			return EMUL_UNKNOWN;
		out->action =
			set ? "emulated (set RFLAGS.AC)" : "emulated (cleared RFLAGS.AC)";
		return EMUL_HANDLED;
	}
	return EMUL_UNKNOWN;
}
