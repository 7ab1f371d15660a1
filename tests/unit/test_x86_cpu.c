// SPDX-License-Identifier: GPL-2.0-only
/* CPUID topology and the instruction decoder of the emulation fallback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "arch/x86/cpu.h"

static struct kvm_cpuid2 *make_cpuid(void)
{
	static const uint32_t fns[][2] = {
		{ 1, 0 }, { 4, 0 }, { 0xb, 0 }, { 0xb, 1 }, { 0xb, 2 }
	};
	size_t n = sizeof(fns) / sizeof(fns[0]);
	struct kvm_cpuid2 *c =
		calloc(1, sizeof(*c) + n * sizeof(struct kvm_cpuid_entry2));

	c->nent = n;
	for (size_t i = 0; i < n; i++) {
		c->entries[i].function = fns[i][0];
		c->entries[i].index = fns[i][1];
		c->entries[i].ebx = 0xffffffff;
		c->entries[i].eax = 0xffffffff;
	}
	return c;
}

static struct kvm_cpuid_entry2 *leaf(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == idx)
			return &c->entries[i];
	return NULL;
}

static void test_topology(void **state)
{
	struct kvm_cpuid2 *sup = make_cpuid();
	struct kvm_cpuid2 *c = x86_cpuid_for_vcpu(sup, 3, 4);

	assert_int_equal(leaf(c, 1, 0)->ebx >> 24, 3); /* initial APIC ID */
	assert_int_equal((leaf(c, 1, 0)->ebx >> 16) & 0xff, 4); /* logical count */
	assert_int_equal(leaf(c, 1, 0)->ebx & 0xffff, 0xffff); /* rest kept */
	assert_true(leaf(c, 1, 0)->ecx & (1u << 31)); /* hypervisor */
	assert_int_equal(leaf(c, 4, 0)->eax >> 26, 3); /* cores - 1 */
	assert_int_equal(leaf(c, 0xb, 0)->edx, 3); /* x2APIC ID */
	assert_int_equal(leaf(c, 0xb, 1)->ebx, 4);
	assert_int_equal(leaf(c, 0xb, 1)->eax, 2); /* shift: 4 CPUs need 2 bits */
	assert_int_equal((leaf(c, 0xb, 1)->ecx >> 8) & 0xff, 2);
	assert_int_equal(leaf(c, 0xb, 2)->ebx, 0);
	/* The supported set itself is not changed. */
	assert_int_equal(sup->entries[0].ebx, 0xffffffff);
	free(c);
	c = x86_cpuid_for_vcpu(sup, 0, 3);
	assert_int_equal(leaf(c, 0xb, 1)->eax, 2);
	free(c);
	free(sup);
}

static const char *decode(const char *bytes, size_t len)
{
	static struct emul_insn insn;

	x86_decode_for_report((const uint8_t *)bytes, len, &insn);
	return insn.name ? insn.name : "?";
}

static void test_decode(void **state)
{
	assert_string_equal(decode("\xcc", 1), "int3");
	assert_string_equal(decode("\x9b", 1), "fwait");
	assert_string_equal(decode("\x0f\x01\xca", 3), "clac");
	assert_string_equal(decode("\x0f\x01\xcb", 3), "stac");
	assert_string_equal(decode("\xf0\x48\x0f\xc7\x0e", 5), "cmpxchg16b");
	assert_string_equal(decode("\x0f\xc7\x0e", 3), "cmpxchg8b");
	assert_string_equal(decode("\x48\x0f\xae\x2f", 4), "xrstor");
	assert_string_equal(decode("\xf3\x48\x0f\xb8\xc7", 5), "popcnt");
	assert_string_equal(decode("\x0f\x01\xc1", 3), "vmcall");
	assert_string_equal(decode("\x0f\xb8", 2), "?"); /* jmpe, not popcnt */
	assert_string_equal(decode("\x90", 1), "?");
	assert_string_equal(decode("\x66\x66", 2), "?"); /* only prefixes */
	assert_string_equal(decode("\x0f", 1), "?"); /* truncated */
}

static void test_lengths(void **state)
{
	struct emul_insn insn;

	x86_decode_for_report((const uint8_t *)"\x3e\xcc", 2, &insn);
	assert_int_equal(insn.len, 2);
	x86_decode_for_report((const uint8_t *)"\x0f\x01\xca\x90", 4, &insn);
	assert_int_equal(insn.len, 3);
}

static void test_pvm_cmdline_fits_linux(void **state)
{
	const char *c = strstr(x86_pvm_guest_cmdline(), "clearcpuid=");
	const char *end;

	/* Linux 6.1 copies the value into a 128-byte buffer: longer is cut. */
	assert_non_null(c);
	c += strlen("clearcpuid=");
	end = strchr(c, ' ');
	assert_true((end ? (size_t)(end - c) : strlen(c)) < 128);
	assert_non_null(strstr(x86_pvm_guest_cmdline(), "nopv"));
	assert_non_null(strstr(x86_pvm_guest_cmdline(), "noxsave"));
	/* smap (9*32+20) and popcnt (4*32+23) are among the features cleared. */
	assert_non_null(strstr(c, "308,"));
	assert_non_null(strstr(c, ",151,"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_topology),
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_pvm_cmdline_fits_linux),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
