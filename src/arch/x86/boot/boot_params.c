// SPDX-License-Identifier: GPL-2.0-only
/*
 * The zero page (struct boot_params) and what it points to: command line,
 * initrd, setup_data chain and the e820 memory map. See
 * Documentation/x86/boot.rst and zero-page.rst.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/x86/boot/boot_params.h"
#include "arch/x86/layout.h"

#define PAGE_SIZE_4K 0x1000ULL

static void e820_add(struct boot_e820_entry *t, unsigned int *n, uint64_t addr,
		     uint64_t size, uint32_t type)
{
	t[*n].addr = addr;
	t[*n].size = size;
	t[*n].type = type;
	(*n)++;
}

int e820_build(const struct guest_mem *mem, struct boot_e820_entry *table,
	       unsigned int max, struct kb_err *err)
{
	const struct guest_mem_region *low = NULL, *high = NULL;
	struct boot_e820_entry tmp[4];
	unsigned int n = 0;

	for (int i = 0; i < mem->nr_regions; i++) {
		const struct guest_mem_region *r = &mem->region[i];

		if (r->gpa == 0 && !low)
			low = r;
		else if (r->gpa == X86_HIGHMEM_BASE && !high)
			high = r;
		else
			return kb_err_set(err, -EINVAL,
					  "e820: unexpected guest RAM region at 0x%llx",
					  (unsigned long long)r->gpa);
	}
	if (!low || low->size <= X86_BIOS_END)
		return kb_err_set(
			err, -EINVAL,
			"e820: guest RAM below 4 GiB is %llu KiB, it must extend above 1 MiB",
			low ? (unsigned long long)(low->size >> 10) : 0ULL);
	if (low->size > X86_LOWMEM_MAX)
		return kb_err_set(
			err, -EINVAL,
			"e820: low guest RAM of 0x%llx bytes runs into the MMIO hole at 0x%llx",
			(unsigned long long)low->size, X86_LOWMEM_MAX);

	e820_add(tmp, &n, 0, X86_EBDA_ADDR, E820_RAM);
	e820_add(tmp, &n, X86_EBDA_ADDR, X86_BIOS_END - X86_EBDA_ADDR, E820_RESERVED);
	e820_add(tmp, &n, X86_BIOS_END, low->size - X86_BIOS_END, E820_RAM);
	if (high && high->size)
		e820_add(tmp, &n, high->gpa, high->size, E820_RAM);
	if (n > max)
		return kb_err_set(err, -ENOSPC,
				  "e820: %u entries do not fit in a table of %u", n, max);
	memcpy(table, tmp, n * sizeof(tmp[0]));
	return (int)n;
}

void boot_minimal_setup_header(struct setup_header *hdr)
{
	memset(hdr, 0, sizeof(*hdr));
	hdr->boot_flag = 0xaa55;
	hdr->header = 0x53726448; /* "HdrS" */
	hdr->version = BOOT_ELF_PROTOCOL;
	hdr->type_of_loader = BOOT_LOADER_TYPE;
	hdr->loadflags = LOADED_HIGH | CAN_USE_HEAP;
	hdr->heap_end_ptr = BOOT_HEAP_END_PTR;
	hdr->kernel_alignment = BOOT_ELF_KERNEL_ALIGN;
	hdr->initrd_addr_max = BOOT_ELF_INITRD_ADDR_MAX;
	hdr->cmdline_size = X86_CMDLINE_MAX - 1;
	hdr->xloadflags = XLF_KERNEL_64;
}

int boot_params_write(struct guest_mem *mem, uint64_t addr, const struct zero_page *zp,
		      struct kb_err *err)
{
	struct boot_params bp;
	int n;

	/* A clean page with only the setup header copied (boot.rst): the
	 * sentinel stays 0, so the kernel trusts every field. */
	memset(&bp, 0, sizeof(bp));
	if (zp->hdr)
		bp.hdr = *zp->hdr;
	else
		boot_minimal_setup_header(&bp.hdr);

	bp.hdr.type_of_loader = BOOT_LOADER_TYPE;
	bp.hdr.loadflags |= CAN_USE_HEAP;
	bp.hdr.heap_end_ptr = BOOT_HEAP_END_PTR;
	bp.hdr.cmd_line_ptr = (uint32_t)zp->cmdline_addr;
	bp.ext_cmd_line_ptr = (uint32_t)(zp->cmdline_addr >> 32);
	bp.hdr.ramdisk_image = (uint32_t)zp->initrd_addr;
	bp.ext_ramdisk_image = (uint32_t)(zp->initrd_addr >> 32);
	bp.hdr.ramdisk_size = (uint32_t)zp->initrd_size;
	bp.ext_ramdisk_size = (uint32_t)(zp->initrd_size >> 32);
	bp.hdr.setup_data = zp->setup_data;

	n = e820_build(mem, bp.e820_table, E820_MAX_ENTRIES_ZEROPAGE, err);
	if (n < 0)
		return n;
	bp.e820_entries = (uint8_t)n;

	if (guest_mem_write(mem, addr, &bp, sizeof(bp)))
		return kb_err_set(err, -EFAULT,
				  "boot_params at 0x%llx is outside guest RAM",
				  (unsigned long long)addr);
	return 0;
}

int boot_cmdline_write(struct guest_mem *mem, uint64_t addr, const char *cmdline,
		       uint64_t kernel_max, struct kb_err *err)
{
	size_t len = strlen(cmdline);

	if (len > kernel_max)
		return kb_err_set(
			err, -E2BIG,
			"command line is %zu bytes, longer than the kernel's cmdline_size limit of %llu bytes",
			len, (unsigned long long)kernel_max);
	if (len >= X86_CMDLINE_MAX)
		return kb_err_set(
			err, -E2BIG,
			"command line is %zu bytes, longer than kvmbox's limit of %llu bytes",
			len, X86_CMDLINE_MAX - 1);
	if (guest_mem_write(mem, addr, cmdline, len + 1))
		return kb_err_set(err, -EFAULT,
				  "command line at 0x%llx is outside guest RAM",
				  (unsigned long long)addr);
	return 0;
}

int boot_rng_seed_write(struct guest_mem *mem, uint64_t addr, uint64_t next,
			struct kb_err *err)
{
	uint8_t buf[sizeof(struct setup_data) + BOOT_RNG_SEED_LEN];
	struct setup_data sd = { .next = next,
				 .type = SETUP_RNG_SEED,
				 .len = BOOT_RNG_SEED_LEN };
	size_t got = 0;
	int ret;

	memcpy(buf, &sd, sizeof(sd));
	while (got < BOOT_RNG_SEED_LEN) {
		ssize_t r = getrandom(buf + sizeof(sd) + got, BOOT_RNG_SEED_LEN - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return kb_err_set(
				err, r < 0 ? -errno : -EIO,
				"getrandom for the SETUP_RNG_SEED setup_data failed: %s",
				r < 0 ? strerror(errno) : "no data");
		got += (size_t)r;
	}
	ret = guest_mem_write(mem, addr, buf, sizeof(buf));
	/* The seed is secret: do not leave it on the host stack. */
	explicit_bzero(buf, sizeof(buf));
	if (ret)
		return kb_err_set(err, -EFAULT,
				  "setup_data at 0x%llx is outside guest RAM",
				  (unsigned long long)addr);
	return 0;
}

static int open_regular(const char *what, const char *path, struct stat *st,
			struct kb_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return kb_err_set(err, -errno, "%s %s: cannot open: %s", what, path,
				  strerror(errno));
	if (fstat(fd, st)) {
		int e = errno;

		close(fd);
		return kb_err_set(err, -e, "%s %s: cannot stat: %s", what, path,
				  strerror(e));
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return kb_err_set(err, S_ISDIR(st->st_mode) ? -EISDIR : -EINVAL,
				  "%s %s: cannot read: %s", what, path,
				  S_ISDIR(st->st_mode) ? "is a directory" :
							 "not a regular file");
	}
	if (st->st_size == 0) {
		close(fd);
		return kb_err_set(err, -EINVAL, "%s %s: file is empty", what, path);
	}
	return fd;
}

/* Reads exactly @len bytes; the file may not shrink under us. */
static int read_all(int fd, void *dst, size_t len, const char *what, const char *path,
		    struct kb_err *err)
{
	uint8_t *p = dst;
	size_t done = 0;

	while (done < len) {
		ssize_t r = read(fd, p + done, len - done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return kb_err_set(err, -errno, "%s %s: read error: %s", what,
					  path, strerror(errno));
		if (r == 0)
			return kb_err_set(
				err, -EIO,
				"%s %s: short read: %zu of %zu bytes (file changed?)",
				what, path, done, len);
		done += (size_t)r;
	}
	return 0;
}

int boot_read_file(const char *what, const char *path, size_t max, void **buf,
		   size_t *len, struct kb_err *err)
{
	struct stat st;
	void *p;
	int fd, ret;

	*buf = NULL;
	*len = 0;
	fd = open_regular(what, path, &st, err);
	if (fd < 0)
		return fd;
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return kb_err_set(err, -EFBIG,
				  "%s %s: too big (%llu bytes, the limit is %zu)", what,
				  path, (unsigned long long)st.st_size, max);
	}
	p = malloc((size_t)st.st_size);
	if (!p) {
		close(fd);
		return kb_err_set(err, -ENOMEM, "%s %s: out of memory for %llu bytes",
				  what, path, (unsigned long long)st.st_size);
	}
	ret = read_all(fd, p, (size_t)st.st_size, what, path, err);
	close(fd);
	if (ret) {
		free(p);
		return ret;
	}
	*buf = p;
	*len = (size_t)st.st_size;
	return 0;
}

int boot_initrd_load(struct guest_mem *mem, const char *path, uint64_t kernel_end,
		     uint64_t limit, uint64_t *addr, uint64_t *size, struct kb_err *err)
{
	uint64_t top = guest_mem_region_end(mem, 0), floor, start, len;
	struct stat st;
	void *dst;
	int fd, ret;

	fd = open_regular("initrd", path, &st, err);
	if (fd < 0)
		return fd;
	len = (uint64_t)st.st_size;
	if (limit < top)
		top = limit;
	floor = (kernel_end + PAGE_SIZE_4K - 1) & ~(PAGE_SIZE_4K - 1);
	if (floor < kernel_end || len > top ||
	    ((top - len) & ~(PAGE_SIZE_4K - 1)) < floor) {
		close(fd);
		return kb_err_set(
			err, -ENOSPC,
			"initrd %s: %llu bytes do not fit in guest RAM between the kernel's end 0x%llx and 0x%llx",
			path, (unsigned long long)len, (unsigned long long)kernel_end,
			(unsigned long long)top);
	}
	start = (top - len) & ~(PAGE_SIZE_4K - 1);
	dst = guest_mem_ptr(mem, start, len);
	if (!dst) {
		close(fd);
		return kb_err_set(err, -EFAULT,
				  "initrd %s: [0x%llx, 0x%llx) is not guest RAM", path,
				  (unsigned long long)start,
				  (unsigned long long)(start + len));
	}
	ret = read_all(fd, dst, len, "initrd", path, err);
	close(fd);
	if (ret)
		return ret;
	*addr = start;
	*size = len;
	return 0;
}
