// SPDX-License-Identifier: GPL-2.0-only
/* ELF loading into guest memory: valid images and each malformation. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "arch/x86/boot/elf.h"
#include "arch/x86/layout.h"
#include "kernel_images.h"

#define RAM (64ULL << 20)

struct fixture {
	struct guest_mem mem;
	struct tk_vmlinux v;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || guest_mem_alloc(&f->mem, RAM, X86_LOWMEM_MAX))
		return -1;
	/* Poison, so that zeroed bss and untouched memory are visible. */
	memset(guest_mem_ptr(&f->mem, TK_KERNEL_PADDR, 8 << 20), 0xaa, 8 << 20);
	tk_make_vmlinux(&f->v, 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	free(f->v.elf);
	guest_mem_free(&f->mem);
	free(f);
	return 0;
}

static Elf64_Ehdr *ehdr(struct fixture *f)
{
	return (Elf64_Ehdr *)f->v.elf;
}

static Elf64_Phdr *phdr(struct fixture *f, int i)
{
	return (Elf64_Phdr *)(f->v.elf + sizeof(Elf64_Ehdr)) + i;
}

static void expect_error(struct fixture *f, size_t len, int code, const char *needle)
{
	struct elf_image img;
	struct kb_err err = { 0 };
	const uint8_t *k = guest_mem_ptr(&f->mem, TK_KERNEL_PADDR, 1);

	assert_int_equal(elf_load(&f->mem, f->v.elf, len, &img, &err), code);
	if (!strstr(err.msg, needle))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, needle);
	/* Nothing was written. */
	assert_int_equal(*k, 0xaa);
}

static void test_load(void **state)
{
	struct fixture *f = *state;
	struct elf_image img;
	struct kb_err err = { 0 };
	const uint8_t *p;

	assert_true(elf_probe(f->v.elf, f->v.len));
	assert_int_equal(elf_load(&f->mem, f->v.elf, f->v.len, &img, &err), 0);
	assert_int_equal(img.entry, TK_KERNEL_PADDR + 0x40);
	assert_int_equal(img.low, TK_KERNEL_PADDR);
	assert_int_equal(img.high, TK_VMLINUX_END);
	assert_int_equal(img.nr_segments, 2);
	p = guest_mem_ptr(&f->mem, TK_KERNEL_PADDR, TK_TEXT_LEN);
	assert_memory_equal(p, f->v.text, TK_TEXT_LEN);
	p = guest_mem_ptr(&f->mem, TK_DATA_PADDR, TK_DATA_MEMSZ);
	assert_memory_equal(p, f->v.data, TK_DATA_LEN);
	for (size_t i = TK_DATA_LEN; i < TK_DATA_MEMSZ; i++)
		if (p[i])
			fail_msg("bss byte %zu is 0x%02x", i, p[i]);
	/* Past the segments, memory is untouched. */
	assert_int_equal(p[TK_DATA_MEMSZ], 0xaa);
	assert_int_equal(
		*(uint8_t *)guest_mem_ptr(&f->mem, TK_KERNEL_PADDR + TK_TEXT_LEN, 1),
		0xaa);
}

static void test_virtual_entry(void **state)
{
	struct fixture *f = *state;
	struct elf_image img;
	struct kb_err err = { 0 };

	ehdr(f)->e_entry = TK_KERNEL_VADDR + 0x1234;
	assert_int_equal(elf_load(&f->mem, f->v.elf, f->v.len, &img, &err), 0);
	assert_int_equal(img.entry, TK_KERNEL_PADDR + 0x1234);
	/* A virtual entry outside every segment's vaddr range. */
	ehdr(f)->e_entry = TK_KERNEL_VADDR + 0x100000;
	assert_int_equal(elf_load(&f->mem, f->v.elf, f->v.len, &img, &err), -ENOEXEC);
	assert_non_null(strstr(err.msg, "e_entry 0xffffffff81100000"));
}

static void test_entry_outside(void **state)
{
	struct fixture *f = *state;

	ehdr(f)->e_entry = 0x5000000;
	expect_error(f, f->v.len, -ENOEXEC, "e_entry 0x5000000 is outside every PT_LOAD");
}

static void test_truncated(void **state)
{
	struct fixture *f = *state;

	expect_error(f, 40, -ENOEXEC, "truncated ELF: 40 bytes");
	/* Cut inside the data segment (the PT_NOTE after it is not loaded). */
	expect_error(f, phdr(f, 1)->p_offset + TK_DATA_LEN - 1, -ENOEXEC,
		     "segment 1: p_offset");
	expect_error(f, sizeof(Elf64_Ehdr) + 10, -ENOEXEC, "program headers");
}

static void test_bad_ident(void **state)
{
	struct fixture *f = *state;

	f->v.elf[EI_CLASS] = ELFCLASS32;
	expect_error(f, f->v.len, -ENOEXEC, "ELFCLASS64");
	f->v.elf[EI_CLASS] = ELFCLASS64;
	f->v.elf[EI_DATA] = ELFDATA2MSB;
	expect_error(f, f->v.len, -ENOEXEC, "little-endian");
	f->v.elf[EI_DATA] = ELFDATA2LSB;
	f->v.elf[0] = 0x7e;
	expect_error(f, f->v.len, -ENOEXEC, "no ELF magic");
}

static void test_bad_header_fields(void **state)
{
	struct fixture *f = *state;

	ehdr(f)->e_machine = EM_386;
	expect_error(f, f->v.len, -ENOEXEC, "e_machine 3");
	ehdr(f)->e_machine = EM_X86_64;
	ehdr(f)->e_type = ET_DYN;
	expect_error(f, f->v.len, -ENOEXEC, "ET_EXEC");
	ehdr(f)->e_type = ET_EXEC;
	ehdr(f)->e_phentsize = 32;
	expect_error(f, f->v.len, -ENOEXEC, "e_phentsize 32");
	ehdr(f)->e_phentsize = sizeof(Elf64_Phdr);
	ehdr(f)->e_phnum = 0;
	expect_error(f, f->v.len, -ENOEXEC, "e_phnum 0");
	ehdr(f)->e_phnum = 0xffff;
	expect_error(f, f->v.len, -ENOEXEC, "e_phnum 65535");
	ehdr(f)->e_phnum = 3;
	ehdr(f)->e_phoff = UINT64_MAX - 8; /* would wrap */
	expect_error(f, f->v.len, -ENOEXEC, "e_phoff");
}

static void test_bad_segments(void **state)
{
	struct fixture *f = *state;
	Elf64_Phdr *ph = phdr(f, 1), saved = *ph;

	ph->p_filesz = ph->p_memsz + 1;
	expect_error(f, f->v.len, -ENOEXEC, "p_filesz 0x9001 exceeds p_memsz 0x9000");
	*ph = saved;
	ph->p_offset = UINT64_MAX - 0x10; /* offset + filesz wraps */
	expect_error(f, f->v.len, -ENOEXEC, "segment 1: p_offset 0xffffffffffffffef");
	*ph = saved;
	ph->p_paddr = UINT64_MAX - 0x1000; /* paddr + memsz wraps */
	expect_error(f, f->v.len, -ENOEXEC, "overflows");
	*ph = saved;
	ph->p_paddr = RAM - 0x1000; /* runs past the end of RAM */
	expect_error(f, f->v.len, -EFAULT, "not inside guest RAM (64 MiB)");
	*ph = saved;
	ph->p_paddr = 0x90000; /* the boot area */
	expect_error(f, f->v.len, -ENOEXEC, "below 1 MiB");
	*ph = saved;
	ph->p_paddr = TK_KERNEL_PADDR + 0x1000; /* overlaps the text */
	expect_error(f, f->v.len, -ENOEXEC, "segments 0 and 1 overlap");
	*ph = saved;
	/* Only the PT_NOTE left loadable? Then nothing is loaded. */
	phdr(f, 0)->p_type = PT_NULL;
	ph->p_type = PT_NULL;
	expect_error(f, f->v.len, -ENOEXEC, "no non-empty PT_LOAD");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_virtual_entry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_entry_outside, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_ident, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_header_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_segments, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
