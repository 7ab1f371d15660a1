// SPDX-License-Identifier: GPL-2.0-only
/* bzImage header parsing: valid images and each malformation. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "arch/x86/boot/bzimage.h"
#include "kernel_images.h"

static const uint8_t payload[] = "\x28\xb5\x2f\xfd fake zstd payload bytes";

static uint8_t *image(const struct tk_bz_opts *o, size_t *len)
{
	return tk_build_bzimage(o, payload, sizeof(payload), len);
}

/* Parses @buf expecting failure with @code and @needle in the message. */
static void expect_error(const uint8_t *buf, size_t len, int code, const char *needle)
{
	struct bzimage bz;
	struct kb_err err = { 0 };

	assert_int_equal(bzimage_parse(buf, len, &bz, &err), code);
	if (!strstr(err.msg, needle))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, needle);
}

static void test_valid(void **state)
{
	struct tk_bz_opts o;
	struct bzimage bz;
	struct kb_err err = { 0 };
	size_t len;
	uint8_t *buf;

	tk_bz_defaults(&o);
	buf = image(&o, &len);
	assert_true(bzimage_probe(buf, len));
	assert_int_equal(bzimage_parse(buf, len, &bz, &err), 0);
	assert_int_equal(bz.version, 0x020f);
	assert_int_equal(bz.setup_size, 1024);
	assert_ptr_equal(bz.pm, buf + 1024);
	assert_int_equal(bz.pm_len, TK_PAYLOAD_OFFSET + sizeof(payload) + TK_PM_TAIL);
	assert_ptr_equal(bz.payload, buf + 1024 + TK_PAYLOAD_OFFSET);
	assert_int_equal(bz.payload_len, sizeof(payload));
	assert_memory_equal(bz.payload, payload, sizeof(payload));
	assert_true(bz.relocatable);
	assert_int_equal(bz.kernel_alignment, 0x200000);
	assert_int_equal(bz.pref_address, 0x1000000);
	assert_int_equal(bz.init_size, 4 << 20);
	assert_int_equal(bz.cmdline_max, 2047);
	assert_true(bz.initrd_limit == UINT64_MAX); /* XLF_CAN_BE_LOADED_ABOVE_4G */
	assert_int_equal(bz.hdr.boot_flag, 0xaa55);
	assert_int_equal(bz.hdr.header, 0x53726448);
	assert_int_equal(bz.hdr.xloadflags, XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G);
	free(buf);
}

static void test_setup_sects_zero_means_4(void **state)
{
	struct tk_bz_opts o;
	struct bzimage bz;
	struct kb_err err = { 0 };
	size_t len;
	uint8_t *buf;

	tk_bz_defaults(&o);
	o.setup_sects = 0;
	buf = image(&o, &len);
	assert_int_equal(bzimage_parse(buf, len, &bz, &err), 0);
	assert_int_equal(bz.setup_size, 5 * 512);
	assert_memory_equal(bz.pm + 0x1f8, "ENTRY64!", 8);
	free(buf);
}

static void test_initrd_limit_below_4g(void **state)
{
	struct tk_bz_opts o;
	struct bzimage bz;
	struct kb_err err = { 0 };
	size_t len;
	uint8_t *buf;

	tk_bz_defaults(&o);
	o.xloadflags = XLF_KERNEL_64;
	buf = image(&o, &len);
	assert_int_equal(bzimage_parse(buf, len, &bz, &err), 0);
	assert_true(bz.initrd_limit == 0x80000000ULL);
	free(buf);

	o.initrd_addr_max = 0; /* legacy default 0x37ffffff */
	buf = image(&o, &len);
	assert_int_equal(bzimage_parse(buf, len, &bz, &err), 0);
	assert_true(bz.initrd_limit == 0x38000000ULL);
	free(buf);
}

static void test_old_protocol_2_07(void **state)
{
	struct tk_bz_opts o;
	struct bzimage bz;
	struct kb_err err = { 0 };
	size_t len;
	uint8_t *buf;

	tk_bz_defaults(&o);
	o.version = 0x0207;
	o.hdr_len_byte = 0x3a; /* header ends at 0x23c, after cmdline_size */
	buf = image(&o, &len);
	assert_int_equal(bzimage_parse(buf, len, &bz, &err), 0);
	assert_null(bz.payload); /* payload fields are 2.08+ */
	assert_int_equal(bz.init_size, (uint64_t)bz.pm_len * 4);
	assert_int_equal(bz.pref_address, 0);
	/* Bytes past the declared header end are not copied. */
	assert_int_equal(bz.hdr.payload_length, 0);
	assert_int_equal(bz.hdr.pref_address, 0);
	free(buf);
}

static void test_too_old_version(void **state)
{
	struct tk_bz_opts o;
	size_t len;
	uint8_t *buf;

	tk_bz_defaults(&o);
	o.version = 0x0205;
	buf = image(&o, &len);
	expect_error(buf, len, -ENOEXEC, "version 2.05 is too old");
	free(buf);
}

static void test_bad_boot_flag(void **state)
{
	struct tk_bz_opts o;
	size_t len;
	uint8_t *buf;

	tk_bz_defaults(&o);
	buf = image(&o, &len);
	buf[0x1fe] = 0x12;
	expect_error(buf, len, -ENOEXEC, "boot_flag 0xaa12");
	free(buf);
}

static void test_no_hdrs(void **state)
{
	struct tk_bz_opts o;
	size_t len;
	uint8_t *buf;

	tk_bz_defaults(&o);
	buf = image(&o, &len);
	memcpy(buf + 0x202, "HdrX", 4);
	expect_error(buf, len, -ENOEXEC, "\"HdrS\"");
	free(buf);
}

static void test_truncated(void **state)
{
	struct tk_bz_opts o;
	size_t len;
	uint8_t *buf;

	tk_bz_defaults(&o);
	buf = image(&o, &len);
	expect_error(buf, 100, -ENOEXEC, "truncated bzImage: 100 bytes");
	expect_error(buf, 0x240, -ENOEXEC, "the setup header ends at 0x26c");
	expect_error(buf, 1024, -ENOEXEC, "setup_sects 1");
	/* Cut inside the protected-mode part: syssize disagrees. */
	expect_error(buf, len - 64, -ENOEXEC, "syssize");
	free(buf);
}

static void test_payload_out_of_bounds(void **state)
{
	struct tk_bz_opts o;
	struct setup_header h;
	size_t len;
	uint8_t *buf;

	tk_bz_defaults(&o);
	buf = image(&o, &len);
	memcpy(&h, buf + 0x1f1, sizeof(h));
	h.payload_length = 0x10000;
	memcpy(buf + 0x1f1, &h, sizeof(h));
	expect_error(buf, len, -ENOEXEC, "payload_length 0x10000");
	h.payload_length = 16;
	h.payload_offset = 0xfffffff8; /* offset + length wraps in 32 bits */
	memcpy(buf + 0x1f1, &h, sizeof(h));
	expect_error(buf, len, -ENOEXEC, "payload_offset 0xfffffff8");
	free(buf);
}

static void test_flags(void **state)
{
	struct tk_bz_opts o;
	size_t len;
	uint8_t *buf;

	tk_bz_defaults(&o);
	o.loadflags = 0;
	buf = image(&o, &len);
	expect_error(buf, len, -ENOEXEC, "LOADED_HIGH");
	free(buf);

	tk_bz_defaults(&o);
	o.xloadflags = XLF_CAN_BE_LOADED_ABOVE_4G;
	buf = image(&o, &len);
	expect_error(buf, len, -ENOEXEC, "XLF_KERNEL_64");
	free(buf);
}

static void test_bad_alignment_and_sizes(void **state)
{
	struct tk_bz_opts o;
	size_t len;
	uint8_t *buf;

	tk_bz_defaults(&o);
	o.kernel_alignment = 0x300000;
	buf = image(&o, &len);
	expect_error(buf, len, -ENOEXEC, "kernel_alignment 0x300000");
	free(buf);

	tk_bz_defaults(&o);
	o.init_size = 0x100; /* smaller than the protected-mode part */
	buf = image(&o, &len);
	expect_error(buf, len, -ENOEXEC, "init_size 0x100");
	free(buf);

	tk_bz_defaults(&o);
	o.hdr_len_byte = 0x3a; /* too short for the 2.15 fields */
	buf = image(&o, &len);
	expect_error(buf, len, -ENOEXEC, "too short for boot protocol 2.15");
	free(buf);

	tk_bz_defaults(&o);
	o.relocatable = 0;
	o.pref_address = 0x80000; /* non-relocatable below 1 MiB */
	buf = image(&o, &len);
	expect_error(buf, len, -ENOEXEC, "pref_address 0x80000");
	free(buf);
}

static void test_probe(void **state)
{
	uint8_t junk[1024];

	memset(junk, 0x5a, sizeof(junk));
	assert_false(bzimage_probe(junk, sizeof(junk)));
	assert_false(bzimage_probe(junk, 10));
	junk[0x1fe] = 0x55;
	junk[0x1ff] = 0xaa;
	assert_true(bzimage_probe(junk, sizeof(junk)));
	/* A boot sector without HdrS is refused with a clear message. */
	expect_error(junk, sizeof(junk), -ENOEXEC, "HdrS");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_setup_sects_zero_means_4),
		cmocka_unit_test(test_initrd_limit_below_4g),
		cmocka_unit_test(test_old_protocol_2_07),
		cmocka_unit_test(test_too_old_version),
		cmocka_unit_test(test_bad_boot_flag),
		cmocka_unit_test(test_no_hdrs),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_payload_out_of_bounds),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_bad_alignment_and_sizes),
		cmocka_unit_test(test_probe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
