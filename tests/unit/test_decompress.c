// SPDX-License-Identifier: GPL-2.0-only
/* Payload decompression: round trips, truncation, corruption, bombs. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "arch/x86/boot/decompress.h"
#include "kernel_images.h"

static const enum decomp_format host_formats[] = { DECOMP_GZIP, DECOMP_XZ, DECOMP_LZ4,
						   DECOMP_ZSTD };
#define NR_HOST_FORMATS (sizeof(host_formats) / sizeof(host_formats[0]))

static void expect_msg(const struct kb_err *err, const char *needle)
{
	if (!strstr(err->msg, needle))
		fail_msg("message \"%s\" lacks \"%s\"", err->msg, needle);
}

static void roundtrip(enum decomp_format fmt, size_t n, int trailer)
{
	uint8_t *data = tk_malloc(n), *comp;
	struct kb_err err = { 0 };
	size_t clen, out_len;
	void *out;
	int ret;

	tk_fill(data, n, (uint32_t)fmt);
	comp = tk_compress(fmt, data, n, trailer, &clen);
	assert_int_equal(decomp_detect(comp, clen), fmt);
	ret = decomp_payload(comp, clen, DECOMP_DEFAULT_MAX_OUT, &out, &out_len, &err);
	if (ret)
		fail_msg("%s: %s", decomp_name(fmt), err.msg);
	assert_int_equal(out_len, n);
	assert_memory_equal(out, data, n);
	free(out);
	free(comp);
	free(data);
}

static void test_detect(void **state)
{
	static const struct {
		const char *magic;
		size_t len;
		enum decomp_format fmt;
		const char *name;
	} cases[] = {
		{ "\177ELF", 4, DECOMP_NONE, "none" },
		{ "\x1f\x8b\x08", 3, DECOMP_GZIP, "gzip" },
		{ "\3757zXZ\0", 6, DECOMP_XZ, "xz" },
		{ "\x02\x21\x4c\x18", 4, DECOMP_LZ4, "lz4" },
		{ "\x28\xb5\x2f\xfd", 4, DECOMP_ZSTD, "zstd" },
		{ "BZh9", 4, DECOMP_BZIP2, "bzip2" },
		{ "\x5d\x00\x00\x80", 4, DECOMP_LZMA, "lzma" },
		{ "\x89LZO\0", 5, DECOMP_LZO, "lzo" },
		{ "MZ\x90\x00", 4, DECOMP_UNKNOWN, "unknown" },
		{ "\3757zX", 4, DECOMP_UNKNOWN, "unknown" }, /* too short for xz */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum decomp_format f = decomp_detect(cases[i].magic, cases[i].len);

		assert_int_equal(f, cases[i].fmt);
		assert_string_equal(decomp_name(f), cases[i].name);
	}
	assert_int_equal(decomp_detect("", 0), DECOMP_UNKNOWN);
	assert_true(decomp_host_supported(DECOMP_XZ));
	assert_true(decomp_host_supported(DECOMP_NONE));
	assert_false(decomp_host_supported(DECOMP_LZO));
	assert_false(decomp_host_supported(DECOMP_UNKNOWN));
}

static void test_roundtrip(void **state)
{
	for (size_t i = 0; i < NR_HOST_FORMATS; i++) {
		roundtrip(host_formats[i], 300000, 1);
		roundtrip(host_formats[i], 300000, 0);
		roundtrip(host_formats[i], 1, 1);
	}
}

/* More than one 8 MiB lz4 chunk, and frames concatenated (magic again). */
static void test_lz4_multi_chunk_and_frames(void **state)
{
	size_t n = 20u << 20, c1, c2, out_len;
	uint8_t *data = tk_malloc(n), *a, *b, *cat;
	struct kb_err err = { 0 };
	void *out;

	roundtrip(DECOMP_LZ4, n, 1);

	tk_fill(data, n, 7);
	a = tk_compress(DECOMP_LZ4, data, n / 2, 0, &c1);
	b = tk_compress(DECOMP_LZ4, data + n / 2, n / 2, 1, &c2);
	cat = tk_malloc(c1 + c2);
	memcpy(cat, a, c1);
	memcpy(cat + c1, b, c2);
	/* The kernel's size trailer covers both frames. */
	tk_put_le32(cat + c1 + c2 - 4, (uint32_t)n);
	assert_int_equal(decomp_payload(cat, c1 + c2, DECOMP_DEFAULT_MAX_OUT, &out,
					&out_len, &err),
			 0);
	assert_int_equal(out_len, n);
	assert_memory_equal(out, data, n);
	free(out);
	free(cat);
	free(a);
	free(b);
	free(data);
}

static void test_truncated(void **state)
{
	size_t n = 200000;
	uint8_t *data = tk_malloc(n);

	tk_fill(data, n, 3);
	for (size_t i = 0; i < NR_HOST_FORMATS; i++) {
		struct kb_err err = { 0 };
		size_t clen, out_len = 99;
		void *out = (void *)1;
		uint8_t *comp = tk_compress(host_formats[i], data, n, 0, &clen);

		assert_int_equal(decomp_payload(comp, clen / 2, DECOMP_DEFAULT_MAX_OUT,
						&out, &out_len, &err),
				 -EINVAL);
		expect_msg(&err, "truncated");
		expect_msg(&err, decomp_name(host_formats[i]));
		assert_null(out);
		assert_int_equal(out_len, 0);
		free(comp);
	}
	free(data);
}

/* lz4 cut exactly after a chunk: the size trailer gives it away. */
static void test_lz4_truncated_at_chunk_boundary(void **state)
{
	size_t n = 10u << 20, clen, first, out_len;
	uint8_t *data = tk_malloc(n), *comp;
	struct kb_err err = { 0 };
	void *out;

	tk_fill(data, n, 4);
	comp = tk_compress(DECOMP_LZ4, data, n, 1, &clen);
	/* Keep the magic and the first chunk, then the size trailer. */
	first = 4 + 4 + (comp[4] | comp[5] << 8 | comp[6] << 16 | (size_t)comp[7] << 24);
	memcpy(comp + first, comp + clen - 4, 4);
	assert_int_equal(decomp_payload(comp, first + 4, DECOMP_DEFAULT_MAX_OUT, &out,
					&out_len, &err),
			 -EINVAL);
	expect_msg(&err, "size trailer says 10485760");
	free(comp);
	free(data);
}

static void test_corrupt(void **state)
{
	size_t n = 200000;
	uint8_t *data = tk_malloc(n);

	tk_fill(data, n, 5);
	for (size_t i = 0; i < NR_HOST_FORMATS; i++) {
		enum decomp_format fmt = host_formats[i];
		struct kb_err err = { 0 };
		size_t clen, out_len;
		void *out;
		uint8_t *comp = tk_compress(fmt, data, n, 1, &clen);

		if (fmt == DECOMP_LZ4) /* no checksum: break the block structure */
			memset(comp + 8, 0xff, clen - 12);
		else
			for (size_t j = clen / 3; j < clen / 3 + 64; j++)
				comp[j] ^= 0x5a;
		assert_int_equal(decomp_payload(comp, clen, DECOMP_DEFAULT_MAX_OUT, &out,
						&out_len, &err),
				 -EINVAL);
		expect_msg(&err, "corrupt");
		expect_msg(&err, decomp_name(fmt));
		free(comp);
	}
	free(data);
}

static void test_lz4_bad_chunk_length(void **state)
{
	uint8_t buf[16];
	struct kb_err err = { 0 };
	size_t out_len;
	void *out;

	tk_put_le32(buf, DECOMP_LZ4_LEGACY_MAGIC);
	tk_put_le32(buf + 4, 0x7fffffff);
	memset(buf + 8, 0, 8);
	assert_int_equal(decomp_payload(buf, sizeof(buf), 1 << 20, &out, &out_len, &err),
			 -EINVAL);
	expect_msg(&err, "chunk of 2147483647 bytes");
}

/* 16 MiB of zeros against a 1 MiB limit, for every format. */
static void test_bomb(void **state)
{
	size_t n = 16u << 20;
	uint8_t *zeros = calloc(1, n);

	assert_non_null(zeros);
	for (size_t i = 0; i < NR_HOST_FORMATS; i++) {
		struct kb_err err = { 0 };
		size_t clen, out_len;
		void *out = NULL;
		uint8_t *comp = tk_compress(host_formats[i], zeros, n, 1, &clen);

		assert_true(clen < n / 100);
		assert_int_equal(
			decomp_payload(comp, clen, 1 << 20, &out, &out_len, &err),
			-EFBIG);
		expect_msg(&err, "limit of 1048576 bytes");
		assert_null(out);
		free(comp);
	}
	free(zeros);
}

/* Output of exactly the limit is fine, one byte more is not. */
static void test_limit_boundary(void **state)
{
	size_t n = 100000;
	uint8_t *data = tk_malloc(n);

	tk_fill(data, n, 6);
	for (size_t i = 0; i < NR_HOST_FORMATS; i++) {
		struct kb_err err = { 0 };
		size_t clen, out_len;
		void *out;
		uint8_t *comp = tk_compress(host_formats[i], data, n, 1, &clen);

		assert_int_equal(decomp_payload(comp, clen, n, &out, &out_len, &err), 0);
		assert_int_equal(out_len, n);
		free(out);
		assert_int_equal(decomp_payload(comp, clen, n - 1, &out, &out_len, &err),
				 -EFBIG);
		free(comp);
	}
	free(data);
}

static void test_unsupported(void **state)
{
	static const struct {
		const char *magic;
		size_t len;
		const char *name;
	} cases[] = {
		{ "BZh91AY&SY", 10, "bzip2" },
		{ "\x5d\x00\x00\x80\x00\x00\x00", 7, "lzma" },
		{ "\x89LZO\0\r\n\x1a\n", 9, "lzo" },
	};
	char want[128];

	for (int i = 0; i < 3; i++) {
		struct kb_err err = { 0 };
		size_t out_len;
		void *out;

		assert_int_equal(decomp_payload(cases[i].magic, cases[i].len, 1 << 20,
						&out, &out_len, &err),
				 -EOPNOTSUPP);
		snprintf(want, sizeof(want),
			 "unsupported payload compression %s; use --no-host-decompress",
			 cases[i].name);
		assert_string_equal(err.msg, want);
	}
	{
		struct kb_err err = { 0 };
		size_t out_len;
		void *out;

		assert_int_equal(decomp_payload("\xde\xad\xbe\xef", 4, 1 << 20, &out,
						&out_len, &err),
				 -EOPNOTSUPP);
		expect_msg(&err, "magic de ad be ef");
		assert_int_equal(decomp_payload("", 0, 1 << 20, &out, &out_len, &err),
				 -EOPNOTSUPP);
	}
}

static void test_uncompressed_elf(void **state)
{
	struct tk_vmlinux v;
	struct kb_err err = { 0 };
	size_t out_len;
	void *out;

	tk_make_vmlinux(&v, 0);
	assert_int_equal(decomp_payload(v.elf, v.len, 1 << 20, &out, &out_len, &err), 0);
	assert_int_equal(out_len, v.len);
	assert_memory_equal(out, v.elf, v.len);
	free(out);
	assert_int_equal(decomp_payload(v.elf, v.len, 100, &out, &out_len, &err), -EFBIG);
	free(v.elf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_detect),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_lz4_multi_chunk_and_frames),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_lz4_truncated_at_chunk_boundary),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_lz4_bad_chunk_length),
		cmocka_unit_test(test_bomb),
		cmocka_unit_test(test_limit_boundary),
		cmocka_unit_test(test_unsupported),
		cmocka_unit_test(test_uncompressed_elf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
