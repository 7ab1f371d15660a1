// SPDX-License-Identifier: GPL-2.0-only
/*
 * Loading of an ELF vmlinux (or any static x86-64 ELF executable) into guest
 * memory by physical address. Headers are copied out with memcpy, so the
 * buffer needs no particular alignment.
 */
#include <elf.h>
#include <errno.h>
#include <string.h>

#include "arch/x86/boot/elf.h"
#include "arch/x86/layout.h"

bool elf_probe(const void *buf, size_t len)
{
	return len >= SELFMAG && !memcmp(buf, ELFMAG, SELFMAG);
}

static int check_ehdr(const Elf64_Ehdr *eh, size_t len, struct kb_err *err)
{
	uint64_t ph_end;

	if (eh->e_ident[EI_CLASS] != ELFCLASS64)
		return kb_err_set(err, -ENOEXEC, "ELF class %u is not ELFCLASS64",
				  eh->e_ident[EI_CLASS]);
	if (eh->e_ident[EI_DATA] != ELFDATA2LSB)
		return kb_err_set(err, -ENOEXEC,
				  "ELF data encoding %u is not little-endian",
				  eh->e_ident[EI_DATA]);
	if (eh->e_ident[EI_VERSION] != EV_CURRENT || eh->e_version != EV_CURRENT)
		return kb_err_set(err, -ENOEXEC, "ELF version %u is not EV_CURRENT",
				  eh->e_ident[EI_VERSION]);
	if (eh->e_machine != EM_X86_64)
		return kb_err_set(err, -ENOEXEC, "ELF e_machine %u is not EM_X86_64 (62)",
				  eh->e_machine);
	if (eh->e_type != ET_EXEC)
		return kb_err_set(err, -ENOEXEC, "ELF e_type %u is not ET_EXEC",
				  eh->e_type);
	if (eh->e_phentsize != sizeof(Elf64_Phdr))
		return kb_err_set(err, -ENOEXEC, "ELF e_phentsize %u is not %zu",
				  eh->e_phentsize, sizeof(Elf64_Phdr));
	if (!eh->e_phnum || eh->e_phnum > ELF_MAX_PHNUM)
		return kb_err_set(err, -ENOEXEC, "ELF e_phnum %u is not in 1..%d",
				  eh->e_phnum, ELF_MAX_PHNUM);
	ph_end = (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr);
	if (eh->e_phoff > len || ph_end > len - eh->e_phoff)
		return kb_err_set(
			err, -ENOEXEC,
			"ELF program headers (e_phoff 0x%llx, %u entries) run past the end of the %zu-byte image",
			(unsigned long long)eh->e_phoff, eh->e_phnum, len);
	return 0;
}

static int check_load(const struct guest_mem *mem, const Elf64_Phdr *ph, int i,
		      size_t len, struct kb_err *err)
{
	if (ph->p_filesz > ph->p_memsz)
		return kb_err_set(
			err, -ENOEXEC,
			"ELF segment %d: p_filesz 0x%llx exceeds p_memsz 0x%llx", i,
			(unsigned long long)ph->p_filesz,
			(unsigned long long)ph->p_memsz);
	if (ph->p_offset > len || ph->p_filesz > len - ph->p_offset)
		return kb_err_set(
			err, -ENOEXEC,
			"ELF segment %d: p_offset 0x%llx + p_filesz 0x%llx run past the end of the %zu-byte image (truncated?)",
			i, (unsigned long long)ph->p_offset,
			(unsigned long long)ph->p_filesz, len);
	if (!ph->p_memsz)
		return 0; /* loads nothing */
	if (ph->p_paddr + ph->p_memsz < ph->p_paddr)
		return kb_err_set(
			err, -ENOEXEC,
			"ELF segment %d: p_paddr 0x%llx + p_memsz 0x%llx overflows", i,
			(unsigned long long)ph->p_paddr, (unsigned long long)ph->p_memsz);
	if (ph->p_paddr < X86_BIOS_END)
		return kb_err_set(
			err, -ENOEXEC,
			"ELF segment %d: p_paddr 0x%llx is below 1 MiB (the boot area)",
			i, (unsigned long long)ph->p_paddr);
	if (!guest_mem_ptr(mem, ph->p_paddr, ph->p_memsz))
		return kb_err_set(
			err, -EFAULT,
			"ELF segment %d: [0x%llx, 0x%llx) is not inside guest RAM (%llu MiB)",
			i, (unsigned long long)ph->p_paddr,
			(unsigned long long)(ph->p_paddr + ph->p_memsz),
			(unsigned long long)(mem->ram_size >> 20));
	return 0;
}

static bool overlaps(const Elf64_Phdr *a, const Elf64_Phdr *b)
{
	return a->p_paddr < b->p_paddr + b->p_memsz &&
	       b->p_paddr < a->p_paddr + a->p_memsz;
}

static int find_entry(const Elf64_Ehdr *eh, const Elf64_Phdr *phs, uint64_t *entry,
		      struct kb_err *err)
{
	uint64_t e = eh->e_entry;

	for (int i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *ph = &phs[i];

		if (ph->p_type != PT_LOAD || !ph->p_memsz)
			continue;
		if (e >= ELF_KERNEL_VIRT_BASE) {
			if (e >= ph->p_vaddr && e - ph->p_vaddr < ph->p_memsz) {
				*entry = e - ph->p_vaddr + ph->p_paddr;
				return 0;
			}
		} else if (e >= ph->p_paddr && e - ph->p_paddr < ph->p_memsz) {
			*entry = e;
			return 0;
		}
	}
	return kb_err_set(err, -ENOEXEC,
			  "ELF e_entry 0x%llx is outside every PT_LOAD segment",
			  (unsigned long long)e);
}

int elf_load(struct guest_mem *mem, const void *buf, size_t len, struct elf_image *img,
	     struct kb_err *err)
{
	const uint8_t *p = buf;
	Elf64_Phdr phs[ELF_MAX_PHNUM];
	Elf64_Ehdr eh;
	uint64_t entry = 0;
	int ret, nr = 0;

	memset(img, 0, sizeof(*img));
	if (len < sizeof(eh))
		return kb_err_set(
			err, -ENOEXEC,
			"truncated ELF: %zu bytes, smaller than an ELF64 header", len);
	if (!elf_probe(buf, len))
		return kb_err_set(err, -ENOEXEC, "no ELF magic (%02x %02x %02x %02x)",
				  p[0], p[1], p[2], p[3]);
	memcpy(&eh, p, sizeof(eh));
	ret = check_ehdr(&eh, len, err);
	if (ret)
		return ret;
	memcpy(phs, p + eh.e_phoff, eh.e_phnum * sizeof(Elf64_Phdr));

	/* Validate everything before writing anything. */
	img->low = UINT64_MAX;
	for (int i = 0; i < eh.e_phnum; i++) {
		const Elf64_Phdr *ph = &phs[i];

		if (ph->p_type != PT_LOAD)
			continue;
		ret = check_load(mem, ph, i, len, err);
		if (ret)
			return ret;
		if (!ph->p_memsz)
			continue;
		for (int j = 0; j < i; j++) {
			if (phs[j].p_type == PT_LOAD && phs[j].p_memsz &&
			    overlaps(ph, &phs[j]))
				return kb_err_set(
					err, -ENOEXEC,
					"ELF segments %d and %d overlap at p_paddr 0x%llx",
					j, i, (unsigned long long)ph->p_paddr);
		}
		if (ph->p_paddr < img->low)
			img->low = ph->p_paddr;
		if (ph->p_paddr + ph->p_memsz > img->high)
			img->high = ph->p_paddr + ph->p_memsz;
		nr++;
	}
	if (!nr)
		return kb_err_set(err, -ENOEXEC, "ELF has no non-empty PT_LOAD segment");
	ret = find_entry(&eh, phs, &entry, err);
	if (ret)
		return ret;

	for (int i = 0; i < eh.e_phnum; i++) {
		const Elf64_Phdr *ph = &phs[i];
		uint8_t *dst;

		if (ph->p_type != PT_LOAD || !ph->p_memsz)
			continue;
		dst = guest_mem_ptr(mem, ph->p_paddr, ph->p_memsz);
		if (!dst) /* checked above */
			return kb_err_set(err, -EFAULT,
					  "ELF segment %d: not in guest RAM", i);
		memcpy(dst, p + ph->p_offset, ph->p_filesz);
		memset(dst + ph->p_filesz, 0, ph->p_memsz - ph->p_filesz);
	}
	img->entry = entry;
	img->nr_segments = (unsigned int)nr;
	return 0;
}
