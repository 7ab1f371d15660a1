// SPDX-License-Identifier: GPL-2.0-only
/* x86_linux_load() end to end, from synthetic files in a temporary dir. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "arch/x86/boot/boot.h"
#include "arch/x86/boot/boot_params.h"
#include "arch/x86/boot/pagetables.h"
#include "arch/x86/layout.h"
#include "arch/x86/mptable.h"
#include "kernel_images.h"

#define MiB (1ULL << 20)
#define RAM (128 * MiB)
#define INITRD_LEN (5 * 4096 + 77)

struct fixture {
	struct guest_mem mem;
	struct tk_tmp tmp;
	struct tk_vmlinux v;
	uint8_t initrd[INITRD_LEN];
	const char *initrd_path;
	struct linux_boot_config cfg;
	struct linux_boot_info info;
	struct kb_err err;
};

static int setup_ram(void **state, uint64_t ram)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || guest_mem_alloc(&f->mem, ram, X86_LOWMEM_MAX))
		return -1;
	tk_tmp_init(&f->tmp);
	tk_make_vmlinux(&f->v, 0);
	tk_fill(f->initrd, INITRD_LEN, 11);
	f->initrd_path = tk_tmp_write(&f->tmp, "initrd", f->initrd, INITRD_LEN);
	f->cfg.cmdline = "console=ttyS0 root=/dev/vda";
	f->cfg.nr_cpus = 2;
	f->cfg.host_decompress = true;
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_ram(state, RAM);
}

static int setup_small(void **state)
{
	return setup_ram(state, 32 * MiB);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	tk_tmp_cleanup(&f->tmp);
	free(f->v.elf);
	guest_mem_free(&f->mem);
	free(f);
	return 0;
}

static int load(struct fixture *f, const char *kernel)
{
	memset(&f->err, 0, sizeof(f->err));
	f->cfg.kernel_path = kernel;
	return x86_linux_load(&f->mem, &f->cfg, &f->info, &f->err);
}

static void load_ok(struct fixture *f, const char *kernel)
{
	if (load(f, kernel))
		fail_msg("x86_linux_load: %s", f->err.msg);
}

static void expect_fail(struct fixture *f, const char *kernel, int code,
			const char *needle)
{
	assert_int_equal(load(f, kernel), code);
	if (!strstr(f->err.msg, needle))
		fail_msg("message \"%s\" lacks \"%s\"", f->err.msg, needle);
}

static uint64_t u64_at(struct fixture *f, uint64_t gpa)
{
	uint64_t v;

	assert_int_equal(guest_mem_read(&f->mem, gpa, &v, sizeof(v)), 0);
	return v;
}

/* What every successful load leaves behind, whatever the kernel format. */
static void check_common(struct fixture *f, struct boot_params *bp, uint64_t kernel_end)
{
	struct mptable_info mp;
	struct setup_data sd;
	struct kvm_segment cs, ds;

	assert_int_equal(f->info.boot_params, X86_BOOT_PARAMS_ADDR);
	assert_int_equal(guest_mem_read(&f->mem, X86_BOOT_PARAMS_ADDR, bp, sizeof(*bp)),
			 0);
	assert_int_equal(bp->hdr.type_of_loader, 0xff);
	assert_int_equal(bp->hdr.cmd_line_ptr, X86_CMDLINE_ADDR);
	assert_string_equal(guest_mem_ptr(&f->mem, X86_CMDLINE_ADDR, 64), f->cfg.cmdline);

	/* Initrd: page aligned, above the kernel, at the top of low RAM. */
	assert_int_equal(bp->hdr.ramdisk_size, INITRD_LEN);
	assert_int_equal(bp->hdr.ramdisk_image & 0xfff, 0);
	assert_true(bp->hdr.ramdisk_image >= kernel_end);
	assert_int_equal(bp->hdr.ramdisk_image,
			 (f->mem.ram_size - INITRD_LEN) & ~0xfffULL);
	assert_memory_equal(guest_mem_ptr(&f->mem, bp->hdr.ramdisk_image, INITRD_LEN),
			    f->initrd, INITRD_LEN);

	assert_int_equal(bp->e820_entries, 3);
	assert_int_equal(bp->e820_table[2].addr + bp->e820_table[2].size,
			 f->mem.ram_size);

	assert_int_equal(bp->hdr.setup_data, X86_SETUP_DATA_ADDR);
	assert_int_equal(guest_mem_read(&f->mem, X86_SETUP_DATA_ADDR, &sd, sizeof(sd)),
			 0);
	assert_int_equal(sd.type, SETUP_RNG_SEED);
	assert_int_equal(sd.len, 32);
	assert_int_equal(sd.next, 0);

	/* GDT and segments agree; identity map with 2 MiB pages. */
	x86_boot_segments(&cs, &ds);
	assert_int_equal(u64_at(f, X86_GDT_ADDR), 0);
	assert_int_equal(u64_at(f, X86_GDT_ADDR + 8), 0);
	assert_int_equal(u64_at(f, X86_GDT_ADDR + X86_BOOT_CS), 0x00af9b000000ffffULL);
	assert_int_equal(u64_at(f, X86_GDT_ADDR + X86_BOOT_DS), 0x00cf93000000ffffULL);
	assert_int_equal(x86_gdt_descriptor(&cs), 0x00af9b000000ffffULL);
	assert_int_equal(cs.selector, X86_BOOT_CS);
	assert_int_equal(ds.selector, X86_BOOT_DS);
	/* User (DPL 3) data and 64-bit code after them, for --raw-mode user. */
	assert_int_equal(X86_BOOT_GDT_LIMIT, 6 * 8 - 1);
	assert_int_equal(u64_at(f, X86_GDT_ADDR + X86_USER_DS), 0x00cff3000000ffffULL);
	assert_int_equal(u64_at(f, X86_GDT_ADDR + X86_USER_CS), 0x00affb000000ffffULL);
	x86_user_segments(&cs, &ds);
	assert_int_equal(cs.selector, 0x2b);
	assert_int_equal(ds.selector, 0x23);
	assert_int_equal(cs.dpl, 3);
	assert_int_equal(ds.dpl, 3);
	assert_int_equal(cs.l, 1);
	/* Present, writable, user (U/S) at every level. */
	assert_int_equal(u64_at(f, X86_PML4_ADDR), X86_PDPT_ADDR | 7);
	assert_int_equal(u64_at(f, X86_PML4_ADDR + 8), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(u64_at(f, X86_PDPT_ADDR + 8 * i),
				 (X86_PD_ADDR + 0x1000 * i) | 7);
	assert_int_equal(u64_at(f, X86_PDPT_ADDR + 32), 0);
	assert_int_equal(u64_at(f, X86_PD_ADDR), 0x87);
	assert_int_equal(u64_at(f, X86_PD_ADDR + 8 * 8), (16 * MiB) | 0x87);
	assert_int_equal(u64_at(f, X86_PD_ADDR + 0x3000 + 8 * 511),
			 (4096 * MiB - 2 * MiB) | 0x87);

	assert_int_equal(mptable_check(&f->mem, X86_MPTABLE_ADDR, &mp, &f->err), 0);
	assert_int_equal(mp.nr_processors, f->cfg.nr_cpus);
}

static void check_vmlinux_loaded(struct fixture *f)
{
	assert_memory_equal(guest_mem_ptr(&f->mem, TK_KERNEL_PADDR, TK_TEXT_LEN),
			    f->v.text, TK_TEXT_LEN);
	assert_memory_equal(guest_mem_ptr(&f->mem, TK_DATA_PADDR, TK_DATA_LEN), f->v.data,
			    TK_DATA_LEN);
}

static void test_elf_vmlinux(void **state)
{
	struct fixture *f = *state;
	struct boot_params bp;

	f->cfg.initrd_path = f->initrd_path;
	load_ok(f, tk_tmp_write(&f->tmp, "vmlinux", f->v.elf, f->v.len));
	assert_string_equal(f->info.how, "ELF vmlinux");
	assert_int_equal(f->info.entry, TK_KERNEL_PADDR + 0x40);
	check_vmlinux_loaded(f);
	check_common(f, &bp, TK_VMLINUX_END);
	assert_int_equal(bp.hdr.version, 0x020f);
	assert_int_equal(bp.hdr.header, 0x53726448);
	assert_int_equal(bp.hdr.kernel_alignment, 2 * MiB);
}

static const char *write_bzimage(struct fixture *f, const struct tk_bz_opts *o,
				 const void *payload, size_t len)
{
	size_t n;
	uint8_t *bz = tk_build_bzimage(o, payload, len, &n);
	const char *path = tk_tmp_write(&f->tmp, "bzImage", bz, n);

	free(bz);
	return path;
}

static void test_bzimage_host_decompress(void **state)
{
	static const enum decomp_format fmts[] = { DECOMP_GZIP, DECOMP_XZ, DECOMP_LZ4,
						   DECOMP_ZSTD };
	static const char *const hows[] = {
		"bzImage payload decompressed on the host (gzip)",
		"bzImage payload decompressed on the host (xz)",
		"bzImage payload decompressed on the host (lz4)",
		"bzImage payload decompressed on the host (zstd)",
	};
	struct fixture *f = *state;
	struct tk_bz_opts o;
	struct boot_params bp;

	tk_bz_defaults(&o);
	o.cmdline_size = 1234;
	f->cfg.initrd_path = f->initrd_path;
	for (int i = 0; i < 4; i++) {
		size_t clen;
		uint8_t *comp = tk_compress(fmts[i], f->v.elf, f->v.len, 1, &clen);

		memset(guest_mem_ptr(&f->mem, TK_KERNEL_PADDR, 4 * MiB), 0, 4 * MiB);
		load_ok(f, write_bzimage(f, &o, comp, clen));
		assert_string_equal(f->info.how, hows[i]);
		assert_int_equal(f->info.entry, TK_KERNEL_PADDR + 0x40);
		check_vmlinux_loaded(f);
		check_common(f, &bp, TK_VMLINUX_END);
		/* The bzImage's own header went into boot_params. */
		assert_int_equal(bp.hdr.cmdline_size, 1234);
		assert_int_equal(bp.hdr.xloadflags,
				 XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G);
		assert_int_equal(bp.hdr.setup_sects, 1);
		free(comp);
	}
}

static void test_bzimage_guest_decompress(void **state)
{
	struct fixture *f = *state;
	struct tk_bz_opts o;
	struct boot_params bp;
	size_t clen;
	uint8_t *comp = tk_compress(DECOMP_XZ, f->v.elf, f->v.len, 1, &clen);
	const uint8_t *k;

	tk_bz_defaults(&o);
	o.init_size = 6 * MiB;
	f->cfg.initrd_path = f->initrd_path;
	f->cfg.host_decompress = false;
	load_ok(f, write_bzimage(f, &o, comp, clen));
	assert_string_equal(f->info.how, "bzImage (guest decompresses)");
	assert_int_equal(f->info.entry, TK_KERNEL_PADDR + 0x200);
	k = guest_mem_ptr(&f->mem, TK_KERNEL_PADDR, 0x400);
	assert_memory_equal(k + 0x1f8, "ENTRY64!", 8);
	assert_memory_equal(k + TK_PAYLOAD_OFFSET, comp, 64);
	check_common(f, &bp, TK_KERNEL_PADDR + 6 * MiB);
	assert_int_equal(bp.hdr.code32_start, TK_KERNEL_PADDR);
	assert_int_equal(bp.hdr.init_size, 6 * MiB);
	free(comp);
}

/* A misaligned pref_address is rounded up to kernel_alignment. */
static void test_bzimage_alignment(void **state)
{
	struct fixture *f = *state;
	struct tk_bz_opts o;

	tk_bz_defaults(&o);
	o.pref_address = TK_KERNEL_PADDR + 0x1000;
	f->cfg.host_decompress = false;
	load_ok(f, write_bzimage(f, &o, "\x1f\x8b", 2));
	assert_int_equal(f->info.entry, TK_KERNEL_PADDR + 2 * MiB + 0x200);
	/* Aligning an absurd address must not wrap into the boot area. */
	o.pref_address = 0xffffffffffe00001ULL;
	expect_fail(f, write_bzimage(f, &o, "\x1f\x8b", 2), -ENOEXEC,
		    "pref_address 0xffffffffffe00001 cannot be aligned to 0x200000");
}

static void test_bzimage_unsupported_falls_back(void **state)
{
	static const struct {
		const char *magic;
		const char *how;
	} cases[] = {
		{ "\x89LZO\0\r\n\x1a\n",
		  "bzImage, guest decompresses (payload lzo not supported on the host)" },
		{ "BZh91AY&SY",
		  "bzImage, guest decompresses (payload bzip2 not supported on the host)" },
		{ "\x5d\0\0\x80\0\0\0\0\0",
		  "bzImage, guest decompresses (payload lzma not supported on the host)" },
		{ "garbage!!",
		  "bzImage, guest decompresses (payload compression unknown to the host)" },
	};
	struct fixture *f = *state;
	struct tk_bz_opts o;

	tk_bz_defaults(&o);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		load_ok(f, write_bzimage(f, &o, cases[i].magic, 9));
		assert_string_equal(f->info.how, cases[i].how);
		assert_int_equal(f->info.entry, TK_KERNEL_PADDR + 0x200);
	}
	/* Protocol 2.07: no payload fields, so no host decompression. */
	o.version = 0x0207;
	o.hdr_len_byte = 0x3a;
	load_ok(f, write_bzimage(f, &o, "\x1f\x8b", 2));
	assert_string_equal(
		f->info.how,
		"bzImage, guest decompresses (no payload fields before protocol 2.08)");
}

static void test_bzimage_bad_payload(void **state)
{
	struct fixture *f = *state;
	struct tk_bz_opts o;
	size_t clen;
	uint8_t *comp = tk_compress(DECOMP_XZ, f->v.elf, f->v.len, 1, &clen);
	const char *path;

	tk_bz_defaults(&o);
	comp[clen / 2] ^= 0xff;
	path = write_bzimage(f, &o, comp, clen);
	expect_fail(f, path, -EINVAL, path);
	expect_fail(f, path, -EINVAL, "bzImage payload: corrupt xz payload");
	free(comp);

	/* Decompresses fine, but is no ELF. */
	comp = tk_compress(DECOMP_GZIP, "not an elf at all", 17, 1, &clen);
	path = write_bzimage(f, &o, comp, clen);
	expect_fail(f, path, -ENOEXEC, "decompressed gzip payload is not an ELF image");
	free(comp);
}

/* Zeros that decompress to far more than guest RAM: refused, no OOM. */
static void test_bzimage_bomb(void **state)
{
	struct fixture *f = *state;
	size_t n = 256 * MiB, clen;
	uint8_t *zeros = calloc(1, n), *comp;
	struct tk_bz_opts o;
	const char *path;

	assert_non_null(zeros);
	comp = tk_compress(DECOMP_ZSTD, zeros, n, 1, &clen);
	free(zeros);
	tk_bz_defaults(&o);
	path = write_bzimage(f, &o, comp, clen);
	expect_fail(f, path, -EFBIG, "limit of 134217728 bytes");
	expect_fail(f, path, -EFBIG, path);
	free(comp);
}

static void test_file_errors(void **state)
{
	struct fixture *f = *state;
	const char *path;

	expect_fail(f, "/nonexistent/vmlinuz", -ENOENT,
		    "kernel /nonexistent/vmlinuz: cannot open: No such file");
	expect_fail(f, f->tmp.dir, -EISDIR, "is a directory");
	expect_fail(f, tk_tmp_write(&f->tmp, "empty", "", 0), -EINVAL, "is empty");
	path = tk_tmp_sparse(&f->tmp, "huge", 513 * MiB);
	expect_fail(f, path, -EFBIG, "too big (537919488 bytes");
	path = tk_tmp_write(&f->tmp, "pe", "MZ\x90\0 this is a PE file, not a kernel",
			    36);
	expect_fail(f, path, -ENOEXEC,
		    "not a bzImage or ELF vmlinux (magic 4d 5a 90 00)");
	path = tk_tmp_write(&f->tmp, "tiny", "x", 1);
	expect_fail(f, path, -ENOEXEC, "(magic 78 00 00 00)");
}

static void test_truncated_kernels(void **state)
{
	struct fixture *f = *state;
	struct tk_bz_opts o;
	size_t n;
	uint8_t *bz;
	const char *path;

	tk_bz_defaults(&o);
	bz = tk_build_bzimage(&o, "\x1f\x8b", 2, &n);
	path = tk_tmp_write(&f->tmp, "cut-bz", bz, 0x300);
	expect_fail(f, path, -ENOEXEC, "truncated bzImage");
	expect_fail(f, path, -ENOEXEC, path);
	free(bz);
	path = tk_tmp_write(&f->tmp, "cut-elf", f->v.elf, 300);
	expect_fail(f, path, -ENOEXEC, "run past the end");
}

static void test_config_errors(void **state)
{
	struct fixture *f = *state;
	struct tk_bz_opts o;
	const char *vmlinux = tk_tmp_write(&f->tmp, "vmlinux", f->v.elf, f->v.len);
	const char *path;

	f->cfg.initrd_path = "/nonexistent/initrd.img";
	expect_fail(f, vmlinux, -ENOENT, "initrd /nonexistent/initrd.img: cannot open");
	f->cfg.initrd_path = NULL;

	f->cfg.nr_cpus = 0;
	expect_fail(f, vmlinux, -EINVAL, "MP table: 0 CPUs is out of range");
	f->cfg.nr_cpus = 255;
	expect_fail(f, vmlinux, -EINVAL, "255 CPUs");
	f->cfg.nr_cpus = 1;

	tk_bz_defaults(&o);
	o.cmdline_size = 16;
	f->cfg.host_decompress = false;
	path = write_bzimage(f, &o, "\x1f\x8b", 2);
	expect_fail(f, path, -E2BIG, "cmdline_size limit of 16 bytes");
	f->cfg.cmdline = "0123456789abcdef";
	load_ok(f, path);
}

/* 32 MiB of RAM: room for the kernel, not for large things around it. */
static void test_small_ram(void **state)
{
	struct fixture *f = *state;
	struct tk_bz_opts o;
	struct tk_seg seg = { 40 * MiB, 40 * MiB, "x", 1, 4096, 0 };
	size_t n;
	uint8_t *elf = tk_build_elf(&seg, 1, 40 * MiB, &n);
	const char *path;

	expect_fail(f, tk_tmp_write(&f->tmp, "high-elf", elf, n), -EFAULT,
		    "not inside guest RAM (32 MiB)");
	free(elf);

	tk_bz_defaults(&o);
	o.init_size = 20 * MiB;
	f->cfg.host_decompress = false;
	path = write_bzimage(f, &o, "\x1f\x8b", 2);
	expect_fail(f, path, -ENOMEM, "needs init_size 0x1400000 bytes");

	/* The kernel fits, a 15 MiB initrd above it does not. */
	f->cfg.initrd_path = tk_tmp_sparse(&f->tmp, "big-initrd", 15 * MiB);
	expect_fail(f, tk_tmp_write(&f->tmp, "vmlinux", f->v.elf, f->v.len), -ENOSPC,
		    "big-initrd: 15728640 bytes do not fit");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_elf_vmlinux, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bzimage_host_decompress, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bzimage_guest_decompress, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bzimage_alignment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bzimage_unsupported_falls_back,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_bzimage_bad_payload, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bzimage_bomb, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_kernels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_small_ram, setup_small, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
