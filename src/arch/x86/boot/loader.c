// SPDX-License-Identifier: GPL-2.0-only
/*
 * x86_linux_load(): puts a Linux kernel (ELF vmlinux or bzImage), its
 * initrd, command line and everything the 64-bit boot protocol needs into
 * guest memory. The format is decided by content, never by file name.
 *
 * A bzImage whose payload the host can decompress is booted like a vmlinux:
 * the ELF inside the payload is loaded at its physical addresses and
 * entered at startup_64, with the bzImage's setup header in boot_params.
 * Otherwise the protected-mode part is loaded as is and entered at +0x200,
 * and the kernel decompresses itself.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/boot/boot.h"
#include "arch/x86/boot/boot_params.h"
#include "arch/x86/boot/bzimage.h"
#include "arch/x86/boot/decompress.h"
#include "arch/x86/boot/elf.h"
#include "arch/x86/layout.h"
#include "arch/x86/mptable.h"

#define KERNEL_FILE_MAX (512ULL << 20)

#define HOW_ELF "ELF vmlinux"
#define HOW_GUEST "bzImage (guest decompresses)"
#define HOW_FALLBACK "bzImage, guest decompresses "

/* What the kernel-specific part hands to the common part. */
struct loaded_kernel {
	uint64_t entry;
	uint64_t end; /* initrd goes above this */
	bool have_hdr; /* hdr comes from a bzImage */
	struct setup_header hdr;
	uint64_t cmdline_max; /* without the NUL */
	uint64_t initrd_limit;
	const char *how;
};

/* info->how must stay valid: only string literals. */
static const char *host_how(enum decomp_format fmt)
{
	switch (fmt) {
	case DECOMP_GZIP:
		return "bzImage payload decompressed on the host (gzip)";
	case DECOMP_XZ:
		return "bzImage payload decompressed on the host (xz)";
	case DECOMP_LZ4:
		return "bzImage payload decompressed on the host (lz4)";
	case DECOMP_ZSTD:
		return "bzImage payload decompressed on the host (zstd)";
	default:
		return "bzImage payload loaded on the host (uncompressed ELF)";
	}
}

static const char *fallback_how(enum decomp_format fmt)
{
	switch (fmt) {
	case DECOMP_BZIP2:
		return HOW_FALLBACK "(payload bzip2 not supported on the host)";
	case DECOMP_LZMA:
		return HOW_FALLBACK "(payload lzma not supported on the host)";
	case DECOMP_LZO:
		return HOW_FALLBACK "(payload lzo not supported on the host)";
	default:
		return HOW_FALLBACK "(payload compression unknown to the host)";
	}
}

static int load_elf(struct guest_mem *mem, const char *path, const void *buf, size_t len,
		    struct loaded_kernel *k, struct kb_err *err)
{
	struct elf_image img;
	int ret;

	ret = elf_load(mem, buf, len, &img, err);
	if (ret) {
		kb_err_prefix(err, "kernel %s", path);
		return ret;
	}
	k->entry = img.entry;
	k->end = img.high;
	k->have_hdr = false;
	k->cmdline_max = X86_CMDLINE_MAX - 1;
	k->initrd_limit = (uint64_t)BOOT_ELF_INITRD_ADDR_MAX + 1;
	k->how = HOW_ELF;
	return 0;
}

/* Decompresses the payload on the host and loads the ELF inside it. */
static int load_payload(struct guest_mem *mem, const char *path, const struct bzimage *bz,
			enum decomp_format fmt, struct loaded_kernel *k,
			struct kb_err *err)
{
	size_t max = DECOMP_DEFAULT_MAX_OUT, out_len;
	struct elf_image img;
	void *out;
	int ret;

	/* Whatever decompresses to more than guest RAM cannot be loaded. */
	if (mem->ram_size < max)
		max = (size_t)mem->ram_size;
	ret = decomp_payload(bz->payload, bz->payload_len, max, &out, &out_len, err);
	if (ret) {
		kb_err_prefix(err, "kernel %s: bzImage payload", path);
		return ret;
	}
	if (!elf_probe(out, out_len)) {
		free(out);
		return kb_err_set(
			err, -ENOEXEC,
			"kernel %s: the decompressed %s payload is not an ELF image",
			path, decomp_name(fmt));
	}
	ret = elf_load(mem, out, out_len, &img, err);
	free(out);
	if (ret) {
		kb_err_prefix(err, "kernel %s: decompressed %s payload", path,
			      decomp_name(fmt));
		return ret;
	}
	k->entry = img.entry;
	k->end = img.high;
	k->how = host_how(fmt);
	return 0;
}

/* Loads the protected-mode kernel for the guest to decompress. */
static int load_protected_mode(struct guest_mem *mem, const char *path,
			       const struct bzimage *bz, struct loaded_kernel *k,
			       struct kb_err *err)
{
	uint64_t addr = bz->pref_address ? bz->pref_address : X86_KERNEL_ADDR;
	uint64_t align = bz->kernel_alignment;

	addr = (addr + align - 1) & ~(align - 1);
	if (addr < X86_BIOS_END) /* aligning wrapped around */
		return kb_err_set(
			err, -ENOEXEC,
			"kernel %s: pref_address 0x%llx cannot be aligned to 0x%llx",
			path, (unsigned long long)bz->pref_address,
			(unsigned long long)align);
	if (!guest_mem_ptr(mem, addr, bz->init_size))
		return kb_err_set(
			err, -ENOMEM,
			"kernel %s: needs init_size 0x%llx bytes of RAM from 0x%llx, guest RAM is %llu MiB",
			path, (unsigned long long)bz->init_size, (unsigned long long)addr,
			(unsigned long long)(mem->ram_size >> 20));
	if (guest_mem_write(mem, addr, bz->pm, bz->pm_len))
		return kb_err_set(err, -EFAULT, "kernel %s: cannot write at 0x%llx", path,
				  (unsigned long long)addr);
	k->hdr.code32_start = (uint32_t)addr;
	k->entry = addr + BZ_ENTRY64_OFFSET;
	k->end = addr + bz->init_size;
	return 0;
}

static int load_bzimage(struct guest_mem *mem, const struct linux_boot_config *cfg,
			const void *buf, size_t len, struct loaded_kernel *k,
			struct kb_err *err)
{
	struct bzimage bz;
	int ret;

	ret = bzimage_parse(buf, len, &bz, err);
	if (ret) {
		kb_err_prefix(err, "kernel %s", cfg->kernel_path);
		return ret;
	}
	k->have_hdr = true;
	k->hdr = bz.hdr;
	k->cmdline_max = bz.cmdline_max;
	k->initrd_limit = bz.initrd_limit;
	k->how = HOW_GUEST;

	if (cfg->host_decompress) {
		enum decomp_format fmt;

		if (!bz.payload) {
			k->how = HOW_FALLBACK "(no payload fields before protocol 2.08)";
		} else {
			fmt = decomp_detect(bz.payload, bz.payload_len);
			if (decomp_host_supported(fmt))
				return load_payload(mem, cfg->kernel_path, &bz, fmt, k,
						    err);
			k->how = fallback_how(fmt);
		}
	}
	return load_protected_mode(mem, cfg->kernel_path, &bz, k, err);
}

static int load_kernel(struct guest_mem *mem, const struct linux_boot_config *cfg,
		       struct loaded_kernel *k, struct kb_err *err)
{
	const uint8_t *p;
	size_t len;
	void *buf;
	int ret;

	ret = boot_read_file("kernel", cfg->kernel_path, KERNEL_FILE_MAX, &buf, &len,
			     err);
	if (ret)
		return ret;
	p = buf;
	if (elf_probe(buf, len))
		ret = load_elf(mem, cfg->kernel_path, buf, len, k, err);
	else if (bzimage_probe(buf, len))
		ret = load_bzimage(mem, cfg, buf, len, k, err);
	else
		ret = kb_err_set(
			err, -ENOEXEC,
			"kernel %s: not a bzImage or ELF vmlinux (magic %02x %02x %02x %02x)",
			cfg->kernel_path, p[0], len > 1 ? p[1] : 0, len > 2 ? p[2] : 0,
			len > 3 ? p[3] : 0);
	free(buf);
	return ret;
}

int x86_linux_load(struct guest_mem *mem, const struct linux_boot_config *cfg,
		   struct linux_boot_info *info, struct kb_err *err)
{
	struct loaded_kernel k;
	struct zero_page zp = { .cmdline_addr = X86_CMDLINE_ADDR,
				.setup_data = X86_SETUP_DATA_ADDR };
	int ret;

	memset(info, 0, sizeof(*info));
	memset(&k, 0, sizeof(k));
	if (!cfg->kernel_path)
		return kb_err_set(err, -EINVAL, "no kernel given");
	ret = load_kernel(mem, cfg, &k, err);
	if (ret)
		return ret;

	if (cfg->initrd_path) {
		ret = boot_initrd_load(mem, cfg->initrd_path, k.end, k.initrd_limit,
				       &zp.initrd_addr, &zp.initrd_size, err);
		if (ret)
			return ret;
	}
	ret = boot_cmdline_write(mem, X86_CMDLINE_ADDR, cfg->cmdline ? cfg->cmdline : "",
				 k.cmdline_max, err);
	if (ret)
		return ret;
	ret = boot_rng_seed_write(mem, X86_SETUP_DATA_ADDR, 0, err);
	if (ret)
		return ret;
	zp.hdr = k.have_hdr ? &k.hdr : NULL;
	ret = boot_params_write(mem, X86_BOOT_PARAMS_ADDR, &zp, err);
	if (ret)
		return ret;
	ret = x86_write_boot_gdt_and_pagetables(mem, err);
	if (ret)
		return ret;
	ret = mptable_write(mem, X86_MPTABLE_ADDR, cfg->nr_cpus, err);
	if (ret)
		return ret;

	info->entry = k.entry;
	info->boot_params = X86_BOOT_PARAMS_ADDR;
	info->how = k.how;
	return 0;
}
