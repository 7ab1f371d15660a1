// SPDX-License-Identifier: GPL-2.0-only
/* MP table: layout, checksums, entry counts, nr_cpus bounds. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "arch/x86/layout.h"
#include "arch/x86/mptable.h"

static int setup(void **state)
{
	struct guest_mem *m = calloc(1, sizeof(*m));

	if (!m || guest_mem_alloc(m, 16 << 20, X86_LOWMEM_MAX))
		return -1;
	*state = m;
	return 0;
}

static int teardown(void **state)
{
	guest_mem_free(*state);
	free(*state);
	return 0;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s += *p++;
	return s;
}

static uint32_t le32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* Checks the raw bytes independently of mptable_check(). */
static void check_raw(struct guest_mem *m, int nr_cpus)
{
	const uint8_t *fp = guest_mem_ptr(m, X86_MPTABLE_ADDR, 16), *ct;
	uint16_t len;

	assert_memory_equal(fp, "_MP_", 4);
	assert_int_equal(le32(fp + 4), X86_MPTABLE_ADDR + 16);
	assert_int_equal(fp[8], 1); /* length in paragraphs */
	assert_int_equal(fp[9], 4); /* spec 1.4 */
	assert_int_equal(fp[11], 0); /* feature1: table present */
	assert_int_equal(sum(fp, 16), 0);

	ct = guest_mem_ptr(m, X86_MPTABLE_ADDR + 16, 44);
	assert_memory_equal(ct, "PCMP", 4);
	len = le16(ct + 4);
	assert_int_equal(len, mptable_size(nr_cpus) - 16);
	assert_int_equal(ct[6], 4);
	assert_memory_equal(ct + 8, "KVMBOX  ", 8);
	assert_memory_equal(ct + 16, "KVMBOX      ", 12);
	/* entry count: CPUs, 2 buses, IOAPIC, 16 ISA + 31 PCI, 2 local */
	assert_int_equal(le16(ct + 34), nr_cpus + 2 + 1 + 16 + 31 + 2);
	assert_int_equal(le32(ct + 36), X86_LAPIC_ADDR);
	assert_int_equal(sum(guest_mem_ptr(m, X86_MPTABLE_ADDR + 16, len), len), 0);
	/* The first processor entry is the enabled BSP with APIC id 0. */
	assert_int_equal(ct[44], 0);
	assert_int_equal(ct[45], 0);
	assert_int_equal(ct[47], 0x03);
	/* Buses follow the processors. */
	assert_memory_equal(ct + 44 + 20 * nr_cpus + 2, "PCI   ", 6);
	assert_memory_equal(ct + 44 + 20 * nr_cpus + 10, "ISA   ", 6);
}

static void check_table(struct guest_mem *m, int nr_cpus)
{
	struct mptable_info info;
	struct kb_err err = { 0 };

	assert_int_equal(mptable_write(m, X86_MPTABLE_ADDR, nr_cpus, &err), 0);
	check_raw(m, nr_cpus);
	if (mptable_check(m, X86_MPTABLE_ADDR, &info, &err))
		fail_msg("%d cpus: %s", nr_cpus, err.msg);
	assert_int_equal(info.config_addr, X86_MPTABLE_ADDR + 16);
	assert_int_equal(info.nr_processors, nr_cpus);
	assert_int_equal(info.nr_bsp, 1);
	assert_int_equal(info.bsp_apic_id, 0);
	assert_int_equal(info.nr_buses, 2);
	assert_int_equal(info.nr_ioapics, 1);
	assert_int_equal(info.ioapic_id, nr_cpus);
	assert_int_equal(info.ioapic_addr, X86_IOAPIC_ADDR);
	/* 16 ISA IRQs plus INTA of PCI slots 1..31. */
	assert_int_equal(info.nr_io_interrupts, 16 + 31);
	assert_int_equal(info.pci_inta_pin[0], -1);
	for (int slot = 1; slot < MPTABLE_PCI_SLOTS; slot++)
		assert_int_equal(info.pci_inta_pin[slot], X86_PCI_INTX_GSI(slot));
	assert_int_equal(info.nr_local_interrupts, 2);
	assert_int_equal(info.lapic_addr, X86_LAPIC_ADDR);
	for (int irq = 0; irq < 16; irq++)
		assert_int_equal(info.io_irq_pin[irq], irq);
	/* Fits below 1 MiB. */
	assert_true(X86_MPTABLE_ADDR + mptable_size(nr_cpus) <= X86_BIOS_END);
}

static void test_cpu_counts(void **state)
{
	check_table(*state, 1);
	check_table(*state, 4);
	check_table(*state, 64);
	check_table(*state, MPTABLE_MAX_CPUS);
}

static void test_nr_cpus_bounds(void **state)
{
	static const int bad[] = { 0, -1, MPTABLE_MAX_CPUS + 1, 1000 };
	struct kb_err err = { 0 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(mptable_write(*state, X86_MPTABLE_ADDR, bad[i], &err),
				 -EINVAL);
		assert_non_null(strstr(err.msg, "out of range 1..254"));
	}
}

static void test_placement_errors(void **state)
{
	struct guest_mem small;
	struct kb_err err = { 0 };

	assert_int_equal(mptable_write(*state, 0xfff00, 4, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "do not fit below 1 MiB"));
	assert_int_equal(mptable_write(*state, X86_MPTABLE_ADDR + 8, 4, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not 16-byte aligned"));
	assert_int_equal(guest_mem_alloc(&small, 512 << 10, X86_LOWMEM_MAX), 0);
	assert_int_equal(mptable_write(&small, X86_MPTABLE_ADDR, 4, &err), -EFAULT);
	assert_non_null(strstr(err.msg, "not guest RAM"));
	guest_mem_free(&small);
}

/* The verifier catches a broken checksum, so the checks above can fail. */
static void test_check_detects_corruption(void **state)
{
	struct guest_mem *m = *state;
	struct mptable_info info;
	struct kb_err err = { 0 };
	uint8_t *p;

	assert_int_equal(mptable_write(m, X86_MPTABLE_ADDR, 2, &err), 0);
	p = guest_mem_ptr(m, X86_MPTABLE_ADDR + 16 + 50, 1);
	*p ^= 1;
	assert_int_equal(mptable_check(m, X86_MPTABLE_ADDR, &info, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "configuration table checksum"));
	*p ^= 1;
	p = guest_mem_ptr(m, X86_MPTABLE_ADDR + 12, 1);
	*p ^= 1;
	assert_int_equal(mptable_check(m, X86_MPTABLE_ADDR, &info, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "floating pointer checksum"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cpu_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nr_cpus_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_placement_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_detects_corruption, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
