// SPDX-License-Identifier: GPL-2.0-only
/* e820 builder, zero page fields, command line, RNG seed, initrd, files. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "arch/x86/boot/boot_params.h"
#include "arch/x86/layout.h"
#include "kernel_images.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

static void expect_msg(const struct kb_err *err, const char *needle)
{
	if (!strstr(err->msg, needle))
		fail_msg("message \"%s\" lacks \"%s\"", err->msg, needle);
}

/* A guest_mem laid out like guest_mem_alloc() would, without mapping. */
static struct guest_mem fake_mem(uint64_t ram)
{
	struct guest_mem m;

	memset(&m, 0, sizeof(m));
	m.ram_size = ram;
	m.region[0].gpa = 0;
	m.region[0].size = ram < X86_LOWMEM_MAX ? ram : X86_LOWMEM_MAX;
	m.nr_regions = 1;
	if (ram > X86_LOWMEM_MAX) {
		m.region[1].gpa = X86_HIGHMEM_BASE;
		m.region[1].size = ram - X86_LOWMEM_MAX;
		m.nr_regions = 2;
	}
	return m;
}

static void check_sorted(const struct boot_e820_entry *t, int n)
{
	for (int i = 1; i < n; i++)
		assert_true(t[i - 1].addr + t[i - 1].size <= t[i].addr);
}

static void test_e820_small(void **state)
{
	struct guest_mem m = fake_mem(64 * MiB);
	struct boot_e820_entry t[E820_MAX_ENTRIES_ZEROPAGE];
	struct kb_err err = { 0 };

	assert_int_equal(e820_build(&m, t, E820_MAX_ENTRIES_ZEROPAGE, &err), 3);
	assert_int_equal(t[0].addr, 0);
	assert_int_equal(t[0].size, 0x9fc00);
	assert_int_equal(t[0].type, E820_RAM);
	assert_int_equal(t[1].addr, 0x9fc00);
	assert_int_equal(t[1].size, 0x100000 - 0x9fc00);
	assert_int_equal(t[1].type, E820_RESERVED);
	assert_int_equal(t[2].addr, 0x100000);
	assert_int_equal(t[2].size, 63 * MiB);
	assert_int_equal(t[2].type, E820_RAM);
	check_sorted(t, 3);
}

static void test_e820_high(void **state)
{
	struct guest_mem m = fake_mem(5 * GiB);
	struct boot_e820_entry t[E820_MAX_ENTRIES_ZEROPAGE];
	struct kb_err err = { 0 };
	uint64_t ram = 0;

	assert_int_equal(e820_build(&m, t, E820_MAX_ENTRIES_ZEROPAGE, &err), 4);
	assert_int_equal(t[2].addr + t[2].size, X86_LOWMEM_MAX);
	assert_int_equal(t[3].addr, 4 * GiB);
	assert_int_equal(t[3].size, 5 * GiB - X86_LOWMEM_MAX);
	assert_int_equal(t[3].type, E820_RAM);
	check_sorted(t, 4);
	for (int i = 0; i < 4; i++)
		if (t[i].type == E820_RAM)
			ram += t[i].size;
	/* All RAM but the reserved EBDA..1 MiB is usable. */
	assert_int_equal(ram, 5 * GiB - (0x100000 - 0x9fc00));

	/* Exactly X86_LOWMEM_MAX: no high entry. */
	m = fake_mem(X86_LOWMEM_MAX);
	assert_int_equal(e820_build(&m, t, E820_MAX_ENTRIES_ZEROPAGE, &err), 3);
}

static void test_e820_errors(void **state)
{
	struct guest_mem m = fake_mem(512 * 1024);
	struct boot_e820_entry t[4];
	struct kb_err err = { 0 };

	assert_int_equal(e820_build(&m, t, 4, &err), -EINVAL);
	expect_msg(&err, "512 KiB");
	m = fake_mem(5 * GiB);
	assert_int_equal(e820_build(&m, t, 3, &err), -ENOSPC);
	expect_msg(&err, "4 entries");
	m.region[1].gpa = 0x200000000ULL;
	assert_int_equal(e820_build(&m, t, 4, &err), -EINVAL);
	expect_msg(&err, "0x200000000");
}

struct fixture {
	struct guest_mem mem;
	struct tk_tmp tmp;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || guest_mem_alloc(&f->mem, 64 * MiB, X86_LOWMEM_MAX))
		return -1;
	tk_tmp_init(&f->tmp);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	tk_tmp_cleanup(&f->tmp);
	guest_mem_free(&f->mem);
	free(f);
	return 0;
}

static void read_bp(struct fixture *f, struct boot_params *bp)
{
	assert_int_equal(guest_mem_read(&f->mem, X86_BOOT_PARAMS_ADDR, bp, sizeof(*bp)),
			 0);
}

static void test_zero_page_from_bzimage_header(void **state)
{
	struct fixture *f = *state;
	struct setup_header h;
	struct zero_page zp = { .hdr = &h,
				.cmdline_addr = X86_CMDLINE_ADDR,
				.initrd_addr = 0x123456000ULL,
				.initrd_size = 0x100001000ULL,
				.setup_data = X86_SETUP_DATA_ADDR };
	struct boot_params bp;
	struct kb_err err = { 0 };

	memset(&h, 0, sizeof(h));
	h.boot_flag = 0xaa55;
	h.header = 0x53726448;
	h.version = 0x020d;
	h.type_of_loader = 0x12;
	h.loadflags = LOADED_HIGH;
	h.kernel_alignment = 0x1000000;
	h.cmdline_size = 4095;
	h.init_size = 0x2000000;
	/* Garbage outside the header must not survive. */
	memset(guest_mem_ptr(&f->mem, X86_BOOT_PARAMS_ADDR, 4096), 0x77, 4096);
	assert_int_equal(boot_params_write(&f->mem, X86_BOOT_PARAMS_ADDR, &zp, &err), 0);
	read_bp(f, &bp);
	assert_int_equal(sizeof(bp), 4096);
	assert_int_equal(bp.hdr.version, 0x020d);
	assert_int_equal(bp.hdr.kernel_alignment, 0x1000000);
	assert_int_equal(bp.hdr.cmdline_size, 4095);
	assert_int_equal(bp.hdr.init_size, 0x2000000);
	assert_int_equal(bp.hdr.type_of_loader, 0xff);
	assert_int_equal(bp.hdr.loadflags, LOADED_HIGH | CAN_USE_HEAP);
	assert_int_equal(bp.hdr.heap_end_ptr, 0xde00);
	assert_int_equal(bp.hdr.cmd_line_ptr, X86_CMDLINE_ADDR);
	assert_int_equal(bp.ext_cmd_line_ptr, 0);
	assert_int_equal(bp.hdr.ramdisk_image, 0x23456000);
	assert_int_equal(bp.ext_ramdisk_image, 1);
	assert_int_equal(bp.hdr.ramdisk_size, 0x1000);
	assert_int_equal(bp.ext_ramdisk_size, 1);
	assert_int_equal(bp.hdr.setup_data, X86_SETUP_DATA_ADDR);
	assert_int_equal(bp.sentinel, 0);
	assert_int_equal(bp.acpi_rsdp_addr, 0);
	assert_int_equal(bp.e820_entries, 3);
	assert_int_equal(bp.e820_table[2].addr, 0x100000);
	assert_int_equal(bp.e820_table[2].size, 63 * MiB);
	assert_int_equal(bp.e820_table[3].size, 0);
}

static void test_zero_page_minimal_header(void **state)
{
	struct fixture *f = *state;
	struct zero_page zp = { .cmdline_addr = X86_CMDLINE_ADDR };
	struct boot_params bp;
	struct kb_err err = { 0 };

	assert_int_equal(boot_params_write(&f->mem, X86_BOOT_PARAMS_ADDR, &zp, &err), 0);
	read_bp(f, &bp);
	assert_int_equal(bp.hdr.boot_flag, 0xaa55);
	assert_int_equal(bp.hdr.header, 0x53726448);
	assert_int_equal(bp.hdr.version, 0x020f);
	assert_int_equal(bp.hdr.type_of_loader, 0xff);
	assert_int_equal(bp.hdr.loadflags, LOADED_HIGH | CAN_USE_HEAP);
	assert_int_equal(bp.hdr.kernel_alignment, 2 * MiB);
	assert_int_equal(bp.hdr.cmdline_size, X86_CMDLINE_MAX - 1);
	assert_int_equal(bp.hdr.ramdisk_image, 0);
	assert_int_equal(bp.hdr.ramdisk_size, 0);
	assert_int_equal(bp.hdr.setup_data, 0);
	/* boot_params outside RAM is an error. */
	assert_int_equal(boot_params_write(&f->mem, 64 * MiB - 100, &zp, &err), -EFAULT);
	expect_msg(&err, "boot_params at 0x3ffff9c");
}

static void test_cmdline(void **state)
{
	struct fixture *f = *state;
	struct kb_err err = { 0 };
	char *big;

	assert_int_equal(boot_cmdline_write(&f->mem, X86_CMDLINE_ADDR,
					    "console=ttyS0 quiet", 2047, &err),
			 0);
	assert_string_equal(guest_mem_ptr(&f->mem, X86_CMDLINE_ADDR, 20),
			    "console=ttyS0 quiet");
	/* Exactly the limit fits (cmdline_size excludes the NUL)... */
	assert_int_equal(
		boot_cmdline_write(&f->mem, X86_CMDLINE_ADDR, "0123456789", 10, &err), 0);
	/* ...one more does not, and the message names the limit. */
	assert_int_equal(
		boot_cmdline_write(&f->mem, X86_CMDLINE_ADDR, "0123456789a", 10, &err),
		-E2BIG);
	expect_msg(&err, "command line is 11 bytes");
	expect_msg(&err, "cmdline_size limit of 10 bytes");
	assert_int_equal(boot_cmdline_write(&f->mem, X86_CMDLINE_ADDR, "", 0, &err), 0);
	assert_int_equal(*(char *)guest_mem_ptr(&f->mem, X86_CMDLINE_ADDR, 1), 0);

	big = tk_malloc(X86_CMDLINE_MAX + 1);
	memset(big, 'x', X86_CMDLINE_MAX);
	big[X86_CMDLINE_MAX] = 0;
	assert_int_equal(
		boot_cmdline_write(&f->mem, X86_CMDLINE_ADDR, big, UINT32_MAX, &err),
		-E2BIG);
	expect_msg(&err, "kvmbox's limit of 65535 bytes");
	free(big);
}

static void test_rng_seed(void **state)
{
	struct fixture *f = *state;
	struct kb_err err = { 0 };
	struct setup_data sd;
	uint8_t seed1[BOOT_RNG_SEED_LEN], seed2[BOOT_RNG_SEED_LEN],
		zero[BOOT_RNG_SEED_LEN];

	assert_int_equal(boot_rng_seed_write(&f->mem, X86_SETUP_DATA_ADDR, 0, &err), 0);
	assert_int_equal(guest_mem_read(&f->mem, X86_SETUP_DATA_ADDR, &sd, sizeof(sd)),
			 0);
	assert_int_equal(sd.next, 0);
	assert_int_equal(sd.type, SETUP_RNG_SEED);
	assert_int_equal(sd.len, 32);
	guest_mem_read(&f->mem, X86_SETUP_DATA_ADDR + sizeof(sd), seed1, sizeof(seed1));
	memset(zero, 0, sizeof(zero));
	assert_memory_not_equal(seed1, zero, sizeof(zero));

	assert_int_equal(boot_rng_seed_write(&f->mem, X86_SETUP_DATA_ADDR, 0x31000, &err),
			 0);
	assert_int_equal(guest_mem_read(&f->mem, X86_SETUP_DATA_ADDR, &sd, sizeof(sd)),
			 0);
	assert_int_equal(sd.next, 0x31000);
	guest_mem_read(&f->mem, X86_SETUP_DATA_ADDR + sizeof(sd), seed2, sizeof(seed2));
	assert_memory_not_equal(seed1, seed2, sizeof(seed1));

	assert_int_equal(boot_rng_seed_write(&f->mem, 64 * MiB - 8, 0, &err), -EFAULT);
	expect_msg(&err, "setup_data at 0x3fffff8");
}

static void test_initrd(void **state)
{
	struct fixture *f = *state;
	size_t n = 3 * 4096 + 123;
	uint8_t *data = tk_malloc(n);
	struct kb_err err = { 0 };
	uint64_t addr, size;
	const char *path;

	tk_fill(data, n, 9);
	path = tk_tmp_write(&f->tmp, "initrd.img", data, n);
	/* As high as possible in 64 MiB of RAM, page aligned. */
	assert_int_equal(
		boot_initrd_load(&f->mem, path, 20 * MiB, UINT64_MAX, &addr, &size, &err),
		0);
	assert_int_equal(size, n);
	assert_int_equal(addr, (64 * MiB - n) & ~0xfffULL);
	assert_memory_equal(guest_mem_ptr(&f->mem, addr, n), data, n);
	/* Below the kernel's initrd_addr_max + 1. */
	assert_int_equal(
		boot_initrd_load(&f->mem, path, 20 * MiB, 32 * MiB, &addr, &size, &err),
		0);
	assert_int_equal(addr, (32 * MiB - n) & ~0xfffULL);
	assert_true(addr + size <= 32 * MiB);
	/* Does not fit above the kernel end. */
	assert_int_equal(boot_initrd_load(&f->mem, path, 64 * MiB - 8192, UINT64_MAX,
					  &addr, &size, &err),
			 -ENOSPC);
	expect_msg(&err, path);
	expect_msg(&err, "do not fit");
	/* A missing file is named. */
	assert_int_equal(boot_initrd_load(&f->mem, "/nonexistent/initrd", 20 * MiB,
					  UINT64_MAX, &addr, &size, &err),
			 -ENOENT);
	expect_msg(&err, "initrd /nonexistent/initrd: cannot open: No such file");
	free(data);
}

static void test_read_file(void **state)
{
	struct fixture *f = *state;
	struct kb_err err = { 0 };
	const char *empty = tk_tmp_write(&f->tmp, "empty", "", 0);
	const char *small = tk_tmp_write(&f->tmp, "small", "hello", 5);
	size_t len;
	void *buf;

	assert_int_equal(boot_read_file("kernel", small, 100, &buf, &len, &err), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(buf, "hello", 5);
	free(buf);
	assert_int_equal(boot_read_file("kernel", small, 4, &buf, &len, &err), -EFBIG);
	expect_msg(&err, "too big (5 bytes, the limit is 4)");
	assert_int_equal(boot_read_file("kernel", empty, 100, &buf, &len, &err), -EINVAL);
	expect_msg(&err, "is empty");
	assert_int_equal(boot_read_file("kernel", f->tmp.dir, 100, &buf, &len, &err),
			 -EISDIR);
	expect_msg(&err, "is a directory");
	assert_int_equal(boot_read_file("kernel", "/dev/null", 100, &buf, &len, &err),
			 -EINVAL);
	expect_msg(&err, "not a regular file");
	assert_null(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_e820_small),
		cmocka_unit_test(test_e820_high),
		cmocka_unit_test(test_e820_errors),
		cmocka_unit_test_setup_teardown(test_zero_page_from_bzimage_header, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_zero_page_minimal_header, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cmdline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rng_seed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_initrd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_file, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
