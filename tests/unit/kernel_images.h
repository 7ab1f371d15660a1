/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Synthetic kernels for the boot unit tests: a tiny ELF "vmlinux", a fake
 * bzImage around a payload, the payload compressors (the kernel's legacy
 * lz4 framing written by hand) and temporary files. Header-only; every
 * helper aborts the test on a host failure.
 */
#ifndef KVMBOX_TESTS_KERNEL_IMAGES_H
#define KVMBOX_TESTS_KERNEL_IMAGES_H

#include <elf.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <asm/bootparam.h>
#include <lz4.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include "arch/x86/boot/decompress.h"

#define TK_KERNEL_PADDR 0x1000000ULL
#define TK_KERNEL_VADDR 0xffffffff81000000ULL

static inline void tk_die(const char *what)
{
	fprintf(stderr, "test helper failed: %s\n", what);
	abort();
}

static inline void *tk_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		tk_die("malloc");
	return p;
}

static inline void tk_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Deterministic, somewhat compressible bytes. */
static inline void tk_fill(uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761U + 1;

	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245U + 12345U;
		p[i] = (i & 64) ? (uint8_t)(x >> 24) : (uint8_t)(i / 7);
	}
}

struct tk_seg {
	uint64_t paddr;
	uint64_t vaddr;
	const void *data;
	size_t filesz;
	uint64_t memsz;
	uint32_t type; /* 0: PT_LOAD */
};

/* An ELF64 x86-64 ET_EXEC with the given segments; data follow the
 * program headers, 16-byte aligned. */
static inline uint8_t *tk_build_elf(const struct tk_seg *segs, int n, uint64_t entry,
				    size_t *len)
{
	size_t off = sizeof(Elf64_Ehdr) + n * sizeof(Elf64_Phdr), total = off;
	Elf64_Ehdr eh;
	uint8_t *buf;

	for (int i = 0; i < n; i++)
		total = ((total + 15) & ~(size_t)15) + segs[i].filesz;
	buf = tk_malloc(total);
	memset(buf, 0, total);
	memset(&eh, 0, sizeof(eh));
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_entry = entry;
	eh.e_phoff = sizeof(Elf64_Ehdr);
	eh.e_ehsize = sizeof(Elf64_Ehdr);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = (uint16_t)n;
	memcpy(buf, &eh, sizeof(eh));
	for (int i = 0; i < n; i++) {
		Elf64_Phdr ph;

		off = (off + 15) & ~(size_t)15;
		memset(&ph, 0, sizeof(ph));
		ph.p_type = segs[i].type ? segs[i].type : PT_LOAD;
		ph.p_flags = PF_R | PF_X;
		ph.p_offset = off;
		ph.p_vaddr = segs[i].vaddr;
		ph.p_paddr = segs[i].paddr;
		ph.p_filesz = segs[i].filesz;
		ph.p_memsz = segs[i].memsz;
		ph.p_align = 0x200000;
		memcpy(buf + sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr), &ph,
		       sizeof(ph));
		if (segs[i].filesz)
			memcpy(buf + off, segs[i].data, segs[i].filesz);
		off += segs[i].filesz;
	}
	*len = total;
	return buf;
}

/* Text and data of the standard test vmlinux. */
#define TK_TEXT_LEN 0x3000
#define TK_DATA_PADDR (TK_KERNEL_PADDR + 0x200000)
#define TK_DATA_LEN 0x1800
#define TK_DATA_MEMSZ 0x9000 /* bss after the data */
#define TK_VMLINUX_END (TK_DATA_PADDR + TK_DATA_MEMSZ)

struct tk_vmlinux {
	uint8_t text[TK_TEXT_LEN];
	uint8_t data[TK_DATA_LEN];
	uint8_t *elf;
	size_t len;
};

/* A vmlinux-like ELF: text at 16 MiB (vaddr in the kernel map), data with
 * bss at 18 MiB, a PT_NOTE; entry physical (startup_64 = 16 MiB + 0x40)
 * or virtual. */
static inline void tk_make_vmlinux(struct tk_vmlinux *v, int virtual_entry)
{
	static const char note[16] = "note";
	struct tk_seg segs[3] = {
		{ TK_KERNEL_PADDR, TK_KERNEL_VADDR, v->text, TK_TEXT_LEN, TK_TEXT_LEN,
		  0 },
		{ TK_DATA_PADDR, TK_KERNEL_VADDR + 0x200000, v->data, TK_DATA_LEN,
		  TK_DATA_MEMSZ, 0 },
		{ 0, 0, note, sizeof(note), sizeof(note), PT_NOTE },
	};

	tk_fill(v->text, sizeof(v->text), 1);
	tk_fill(v->data, sizeof(v->data), 2);
	v->elf = tk_build_elf(
		segs, 3, virtual_entry ? TK_KERNEL_VADDR + 0x40 : TK_KERNEL_PADDR + 0x40,
		&v->len);
}

struct tk_bz_opts {
	uint16_t version;
	uint8_t setup_sects;
	uint8_t loadflags;
	uint16_t xloadflags;
	uint8_t relocatable;
	uint32_t kernel_alignment;
	uint64_t pref_address;
	uint32_t init_size; /* 0: 4 MiB */
	uint32_t cmdline_size;
	uint32_t initrd_addr_max;
	uint8_t hdr_len_byte; /* byte at 0x201; 0: the full header */
};

static inline void tk_bz_defaults(struct tk_bz_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->version = 0x020f;
	o->setup_sects = 1;
	o->loadflags = LOADED_HIGH;
	o->xloadflags = XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G;
	o->relocatable = 1;
	o->kernel_alignment = 0x200000;
	o->pref_address = TK_KERNEL_PADDR;
	o->cmdline_size = 2047;
	o->initrd_addr_max = 0x7fffffff;
}

/* Where tk_build_bzimage() puts the payload inside the protected-mode part. */
#define TK_PAYLOAD_OFFSET 0x300
#define TK_PM_TAIL 0x100 /* bytes after the payload */

/* A fake bzImage: setup sectors with the header, then a protected-mode
 * part: 0x200 bytes of stub ("ENTRY64!" at 0x200 - 8), padding to 0x300,
 * the payload, 0x100 bytes of tail. */
static inline uint8_t *tk_build_bzimage(const struct tk_bz_opts *o, const void *payload,
					size_t payload_len, size_t *len)
{
	unsigned int sects = o->setup_sects ? o->setup_sects : 4;
	size_t setup = ((size_t)sects + 1) * 512;
	size_t pm_len = TK_PAYLOAD_OFFSET + payload_len + TK_PM_TAIL;
	struct setup_header h;
	uint8_t *buf;

	*len = setup + pm_len;
	buf = tk_malloc(*len);
	memset(buf, 0, *len);
	memset(&h, 0, sizeof(h));
	h.setup_sects = o->setup_sects;
	h.syssize = (uint32_t)((pm_len + 15) / 16);
	h.vid_mode = 0xffff;
	h.boot_flag = 0xaa55;
	h.jump = 0xeb | (uint16_t)((o->hdr_len_byte ? o->hdr_len_byte :
						      (0x1f1 + sizeof(h) - 0x202))
				   << 8);
	h.header = 0x53726448;
	h.version = o->version;
	h.loadflags = o->loadflags;
	h.code32_start = 0x100000;
	h.initrd_addr_max = o->initrd_addr_max;
	h.kernel_alignment = o->kernel_alignment;
	h.relocatable_kernel = o->relocatable;
	h.min_alignment = 21;
	h.xloadflags = o->xloadflags;
	h.cmdline_size = o->cmdline_size;
	h.payload_offset = payload_len ? TK_PAYLOAD_OFFSET : 0;
	h.payload_length = (uint32_t)payload_len;
	h.pref_address = o->pref_address;
	h.init_size = o->init_size ? o->init_size : (4U << 20);
	memcpy(buf + 0x1f1, &h, sizeof(h));
	memset(buf + setup, 0x90, 0x200);
	memcpy(buf + setup + 0x200 - 8, "ENTRY64!", 8);
	memcpy(buf + setup + 0x200, "\x48\x31\xc0\xf4", 4); /* xor rax,rax; hlt */
	if (payload_len)
		memcpy(buf + setup + TK_PAYLOAD_OFFSET, payload, payload_len);
	memset(buf + setup + TK_PAYLOAD_OFFSET + payload_len, 0xcc, TK_PM_TAIL);
	return buf;
}

/* Compresses like the kernel build: the stream, then (except for gzip,
 * whose trailer already ends with it) the le32 decompressed size if
 * @trailer. */
static inline uint8_t *tk_compress(enum decomp_format fmt, const void *in, size_t in_len,
				   int trailer, size_t *out_len)
{
	size_t cap = in_len + in_len / 2 + (1 << 16), pos = 0;
	uint8_t *out = tk_malloc(cap + 4);

	switch (fmt) {
	case DECOMP_GZIP: {
		z_stream zs;

		memset(&zs, 0, sizeof(zs));
		if (deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8,
				 Z_DEFAULT_STRATEGY) != Z_OK)
			tk_die("deflateInit2");
		zs.next_in = (Bytef *)in;
		zs.avail_in = (uInt)in_len;
		zs.next_out = out;
		zs.avail_out = (uInt)cap;
		if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
			tk_die("deflate");
		pos = zs.total_out;
		deflateEnd(&zs);
		trailer = 0;
		break;
	}
	case DECOMP_XZ: {
		/* Like the kernel: x86 BCJ filter, LZMA2, CRC32 check. */
		lzma_options_lzma opt;
		lzma_filter filters[3];

		if (lzma_lzma_preset(&opt, 1))
			tk_die("lzma_lzma_preset");
		filters[0].id = LZMA_FILTER_X86;
		filters[0].options = NULL;
		filters[1].id = LZMA_FILTER_LZMA2;
		filters[1].options = &opt;
		filters[2].id = LZMA_VLI_UNKNOWN;
		filters[2].options = NULL;
		if (lzma_stream_buffer_encode(filters, LZMA_CHECK_CRC32, NULL, in, in_len,
					      out, &pos, cap) != LZMA_OK)
			tk_die("lzma_stream_buffer_encode");
		break;
	}
	case DECOMP_LZ4: {
		/* Legacy frame: magic, then [le32 length][block] per 8 MiB. */
		const uint8_t *src = in;
		size_t done = 0;

		tk_put_le32(out, DECOMP_LZ4_LEGACY_MAGIC);
		pos = 4;
		while (done < in_len) {
			size_t n = in_len - done;
			int c;

			if (n > DECOMP_LZ4_LEGACY_CHUNK)
				n = DECOMP_LZ4_LEGACY_CHUNK;
			c = LZ4_compress_default((const char *)src + done,
						 (char *)out + pos + 4, (int)n,
						 (int)(cap - pos - 4));
			if (c <= 0)
				tk_die("LZ4_compress_default");
			tk_put_le32(out + pos, (uint32_t)c);
			pos += 4 + (size_t)c;
			done += n;
		}
		break;
	}
	case DECOMP_ZSTD: {
		ZSTD_CCtx *cc = ZSTD_createCCtx();
		size_t r;

		if (!cc)
			tk_die("ZSTD_createCCtx");
		ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 3);
		ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
		r = ZSTD_compress2(cc, out, cap, in, in_len);
		ZSTD_freeCCtx(cc);
		if (ZSTD_isError(r))
			tk_die("ZSTD_compress2");
		pos = r;
		break;
	}
	default:
		tk_die("tk_compress: format");
	}
	if (trailer) {
		tk_put_le32(out + pos, (uint32_t)in_len);
		pos += 4;
	}
	*out_len = pos;
	return out;
}

/* Temporary directory with files; tk_tmp_cleanup() removes them all. */
struct tk_tmp {
	char dir[64];
	char *files[16];
	int nr;
};

static inline void tk_tmp_init(struct tk_tmp *t)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->dir, sizeof(t->dir), "/tmp/kvmbox-boot-test-XXXXXX");
	if (!mkdtemp(t->dir))
		tk_die("mkdtemp");
}

/* Path of @name in the directory (remembered for cleanup). */
static inline const char *tk_tmp_path(struct tk_tmp *t, const char *name)
{
	char *p = tk_malloc(strlen(t->dir) + strlen(name) + 2);

	sprintf(p, "%s/%s", t->dir, name);
	for (int i = 0; i < t->nr; i++) {
		if (!strcmp(t->files[i], p)) {
			free(p);
			return t->files[i];
		}
	}
	if (t->nr >= 16)
		tk_die("tk_tmp_path: too many files");
	t->files[t->nr++] = p;
	return p;
}

static inline const char *tk_tmp_write(struct tk_tmp *t, const char *name,
				       const void *data, size_t len)
{
	const char *path = tk_tmp_path(t, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	const uint8_t *p = data;

	if (fd < 0)
		tk_die("open");
	while (len) {
		ssize_t w = write(fd, p, len);

		if (w <= 0)
			tk_die("write");
		p += w;
		len -= (size_t)w;
	}
	close(fd);
	return path;
}

/* A sparse file of @size bytes (no disk used). */
static inline const char *tk_tmp_sparse(struct tk_tmp *t, const char *name, off_t size)
{
	const char *path = tk_tmp_path(t, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || ftruncate(fd, size))
		tk_die("sparse file");
	close(fd);
	return path;
}

static inline void tk_tmp_cleanup(struct tk_tmp *t)
{
	for (int i = t->nr - 1; i >= 0; i--) {
		if (unlink(t->files[i]))
			rmdir(t->files[i]);
		free(t->files[i]);
	}
	rmdir(t->dir);
	t->nr = 0;
}

#endif
