// SPDX-License-Identifier: GPL-2.0-only
/*
 * bzImage parsing, following the x86 boot protocol
 * (Documentation/x86/boot.rst): the first (setup_sects + 1) * 512 bytes are
 * the real-mode setup code with the setup header at 0x1f1; the rest of the
 * file is the protected-mode kernel, whose compressed payload is described
 * by payload_offset/payload_length (protocol 2.08+).
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "arch/x86/boot/bzimage.h"

/* Legacy limit for protocol 2.02 and older (boot.rst, initrd_addr_max). */
#define BZ_LEGACY_INITRD_MAX 0x37ffffffULL
#define BZ_LEGACY_LOAD_ADDR 0x100000ULL
#define BZ_MAX_ALIGNMENT (1ULL << 30)

/* File offset just past a setup_header field. */
#define HDR_FIELD_END(f)                                    \
	(BZ_HDR_OFFSET + offsetof(struct setup_header, f) + \
	 sizeof(((struct setup_header *)0)->f))

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

bool bzimage_probe(const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (len >= BZ_MAGIC_OFFSET + 4 && get_le32(p + BZ_MAGIC_OFFSET) == BZ_HDRS_MAGIC)
		return true;
	return len >= BZ_BOOT_FLAG_OFFSET + 2 &&
	       get_le16(p + BZ_BOOT_FLAG_OFFSET) == BZ_BOOT_FLAG;
}

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* The header length the kernel declares must cover the fields its version
 * promises, or we would read zeros and think they were the kernel's. */
static size_t header_needed(uint16_t version)
{
	if (version >= 0x020a)
		return HDR_FIELD_END(init_size);
	if (version >= 0x0208)
		return HDR_FIELD_END(payload_length);
	return HDR_FIELD_END(cmdline_size);
}

static int parse_header(const uint8_t *p, size_t len, struct bzimage *bz,
			struct kb_err *err)
{
	struct setup_header *h = &bz->hdr;
	size_t hdr_end, copy;
	uint16_t flag;

	if (len < BZ_MAGIC_OFFSET + 4)
		return kb_err_set(
			err, -ENOEXEC,
			"truncated bzImage: %zu bytes, smaller than a boot sector and setup header",
			len);
	flag = get_le16(p + BZ_BOOT_FLAG_OFFSET);
	if (flag != BZ_BOOT_FLAG)
		return kb_err_set(
			err, -ENOEXEC,
			"bad boot_flag 0x%04x at offset 0x1fe (expected 0xaa55)", flag);
	if (get_le32(p + BZ_MAGIC_OFFSET) != BZ_HDRS_MAGIC)
		return kb_err_set(
			err, -ENOEXEC,
			"no \"HdrS\" setup header magic at offset 0x202 (a pre-2.00 zImage or not a kernel)");

	bz->version =
		get_le16(p + BZ_HDR_OFFSET + offsetof(struct setup_header, version));
	if (bz->version < BZ_MIN_VERSION)
		return kb_err_set(
			err, -ENOEXEC,
			"boot protocol version %u.%02u is too old (need 2.06 or later)",
			bz->version >> 8, bz->version & 0xff);

	/* The jump at 0x200 skips the header: its end is 0x202 + operand. */
	hdr_end = 0x202 + (size_t)p[BZ_JUMP_OFFSET + 1];
	if (hdr_end > len)
		return kb_err_set(
			err, -ENOEXEC,
			"truncated bzImage: the setup header ends at 0x%zx, the file has %zu bytes",
			hdr_end, len);
	if (hdr_end < header_needed(bz->version))
		return kb_err_set(
			err, -ENOEXEC,
			"setup header ends at 0x%zx, too short for boot protocol %u.%02u (needs 0x%zx)",
			hdr_end, bz->version >> 8, bz->version & 0xff,
			header_needed(bz->version));

	memset(h, 0, sizeof(*h));
	copy = hdr_end - BZ_HDR_OFFSET;
	if (copy > sizeof(*h))
		copy = sizeof(*h);
	memcpy(h, p + BZ_HDR_OFFSET, copy);
	return 0;
}

static int parse_sizes(const uint8_t *p, size_t len, struct bzimage *bz,
		       struct kb_err *err)
{
	const struct setup_header *h = &bz->hdr;
	unsigned int sects = h->setup_sects ? h->setup_sects : 4;

	bz->setup_size = ((size_t)sects + 1) * 512;
	if (bz->setup_size >= len)
		return kb_err_set(
			err, -ENOEXEC,
			"truncated bzImage: setup_sects %u means %zu bytes of setup code, the file has only %zu bytes",
			sects, bz->setup_size, len);
	bz->pm = p + bz->setup_size;
	bz->pm_len = len - bz->setup_size;

	/* syssize counts 16-byte paragraphs of the protected-mode kernel. */
	if ((uint64_t)h->syssize * 16 > (uint64_t)bz->pm_len + 15)
		return kb_err_set(
			err, -ENOEXEC,
			"truncated bzImage: syssize 0x%x says the protected-mode kernel is %llu bytes, the file holds %zu",
			h->syssize, (unsigned long long)h->syssize * 16, bz->pm_len);

	bz->payload = NULL;
	bz->payload_len = 0;
	if (bz->version >= 0x0208 && h->payload_length) {
		if (h->payload_offset > bz->pm_len ||
		    h->payload_length > bz->pm_len - h->payload_offset)
			return kb_err_set(
				err, -ENOEXEC,
				"payload_offset 0x%x + payload_length 0x%x run past the protected-mode kernel (%zu bytes): truncated or corrupt",
				h->payload_offset, h->payload_length, bz->pm_len);
		bz->payload = bz->pm + h->payload_offset;
		bz->payload_len = h->payload_length;
	}
	return 0;
}

static int parse_placement(struct bzimage *bz, struct kb_err *err)
{
	const struct setup_header *h = &bz->hdr;

	if (!(h->loadflags & LOADED_HIGH))
		return kb_err_set(
			err, -ENOEXEC,
			"loadflags 0x%02x lacks LOADED_HIGH: a zImage loaded at 0x10000 is not supported",
			h->loadflags);
	/* Before 2.12 there is no xloadflags; x86-64 kernels of that age
	 * have startup_64 at 0x200 anyway, 32-bit ones fail later. */
	if (bz->version >= 0x020c && !(h->xloadflags & XLF_KERNEL_64))
		return kb_err_set(
			err, -ENOEXEC,
			"xloadflags 0x%04x lacks XLF_KERNEL_64: not a 64-bit kernel (no 64-bit entry point)",
			h->xloadflags);

	bz->relocatable = h->relocatable_kernel != 0;
	bz->pref_address = bz->version >= 0x020a ? h->pref_address : 0;
	if (bz->relocatable) {
		if (!is_pow2(h->kernel_alignment) ||
		    h->kernel_alignment > BZ_MAX_ALIGNMENT)
			return kb_err_set(
				err, -ENOEXEC,
				"kernel_alignment 0x%x is not a power of two up to 1 GiB",
				h->kernel_alignment);
		bz->kernel_alignment = h->kernel_alignment;
	} else {
		bz->kernel_alignment = 1;
		if (!bz->pref_address)
			bz->pref_address = BZ_LEGACY_LOAD_ADDR;
	}
	if (bz->pref_address && bz->pref_address < BZ_LEGACY_LOAD_ADDR)
		return kb_err_set(err, -ENOEXEC, "pref_address 0x%llx is below 1 MiB",
				  (unsigned long long)bz->pref_address);

	if (bz->version >= 0x020a) {
		if (h->init_size < bz->pm_len)
			return kb_err_set(
				err, -ENOEXEC,
				"init_size 0x%x is smaller than the protected-mode kernel (%zu bytes)",
				h->init_size, bz->pm_len);
		bz->init_size = h->init_size;
	} else {
		/* No init_size before 2.10: room to decompress in place. */
		bz->init_size = (uint64_t)bz->pm_len * 4;
	}

	bz->cmdline_max = h->cmdline_size;

	if (bz->version >= 0x020c && (h->xloadflags & XLF_CAN_BE_LOADED_ABOVE_4G))
		bz->initrd_limit = UINT64_MAX;
	else if (h->initrd_addr_max)
		bz->initrd_limit = (uint64_t)h->initrd_addr_max + 1;
	else
		bz->initrd_limit = BZ_LEGACY_INITRD_MAX + 1;
	return 0;
}

int bzimage_parse(const void *buf, size_t len, struct bzimage *bz, struct kb_err *err)
{
	const uint8_t *p = buf;
	int ret;

	memset(bz, 0, sizeof(*bz));
	ret = parse_header(p, len, bz, err);
	if (ret)
		return ret;
	ret = parse_sizes(p, len, bz, err);
	if (ret)
		return ret;
	return parse_placement(bz, err);
}
