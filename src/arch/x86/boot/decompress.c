// SPDX-License-Identifier: GPL-2.0-only
/*
 * Host-side decompression of a bzImage payload. The kernel build appends
 * the decompressed size as 4 little-endian bytes after the compressed
 * stream (gzip's own trailer ends the same way); the decoders stop at the
 * end of their stream, so those bytes are ignored except as a size hint.
 *
 * The output never grows past max_out (+1 byte to notice the overflow, or
 * one lz4 chunk), so a decompression bomb is an error, not an OOM.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include "arch/x86/boot/decompress.h"

#define XZ_MEMLIMIT (256ULL << 20)
#define MIN_OUT_CAP (64U << 10)

struct outbuf {
	uint8_t *p;
	size_t len;
	size_t cap;
	size_t max;
	const char *fmt; /* for messages */
};

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

enum decomp_format decomp_detect(const void *buf, size_t len)
{
	static const uint8_t elf[] = { 0x7f, 'E', 'L', 'F' };
	static const uint8_t xz[] = { 0xfd, '7', 'z', 'X', 'Z', 0x00 };
	static const uint8_t lzop[] = { 0x89, 'L', 'Z', 'O' };
	const uint8_t *p = buf;

	if (len >= sizeof(elf) && !memcmp(p, elf, sizeof(elf)))
		return DECOMP_NONE;
	if (len >= 2 && p[0] == 0x1f && p[1] == 0x8b)
		return DECOMP_GZIP;
	if (len >= sizeof(xz) && !memcmp(p, xz, sizeof(xz)))
		return DECOMP_XZ;
	if (len >= 4 && get_le32(p) == DECOMP_LZ4_LEGACY_MAGIC)
		return DECOMP_LZ4;
	if (len >= 4 && get_le32(p) == 0xfd2fb528U)
		return DECOMP_ZSTD;
	if (len >= 3 && p[0] == 'B' && p[1] == 'Z' && p[2] == 'h')
		return DECOMP_BZIP2;
	if (len >= 3 && p[0] == 0x5d && p[1] == 0 && p[2] == 0)
		return DECOMP_LZMA;
	if (len >= sizeof(lzop) && !memcmp(p, lzop, sizeof(lzop)))
		return DECOMP_LZO;
	return DECOMP_UNKNOWN;
}

const char *decomp_name(enum decomp_format fmt)
{
	switch (fmt) {
	case DECOMP_NONE:
		return "none";
	case DECOMP_GZIP:
		return "gzip";
	case DECOMP_XZ:
		return "xz";
	case DECOMP_LZ4:
		return "lz4";
	case DECOMP_ZSTD:
		return "zstd";
	case DECOMP_BZIP2:
		return "bzip2";
	case DECOMP_LZMA:
		return "lzma";
	case DECOMP_LZO:
		return "lzo";
	case DECOMP_UNKNOWN:
		break;
	}
	return "unknown";
}

bool decomp_host_supported(enum decomp_format fmt)
{
	switch (fmt) {
	case DECOMP_NONE:
	case DECOMP_GZIP:
	case DECOMP_XZ:
	case DECOMP_LZ4:
	case DECOMP_ZSTD:
		return true;
	default:
		return false;
	}
}

static int outbuf_resize(struct outbuf *o, size_t cap, struct kb_err *err)
{
	uint8_t *p;

	if (cap <= o->cap)
		return 0;
	p = realloc(o->p, cap);
	if (!p)
		return kb_err_set(
			err, -ENOMEM,
			"out of memory growing the %s output buffer to %zu bytes", o->fmt,
			cap);
	o->p = p;
	o->cap = cap;
	return 0;
}

/* Output room for a streaming decoder: grows the buffer when full, but
 * never past max + 1 bytes (one byte more tells an overflow apart). */
static int stream_room(struct outbuf *o, struct kb_err *err)
{
	size_t limit = o->max < SIZE_MAX ? o->max + 1 : SIZE_MAX;
	size_t want;

	if (o->len < o->cap)
		return 0;
	want = o->cap > SIZE_MAX / 2 ? SIZE_MAX : o->cap * 2;
	if (want < MIN_OUT_CAP)
		want = MIN_OUT_CAP;
	if (want > limit)
		want = limit;
	return outbuf_resize(o, want, err);
}

static int too_big(struct outbuf *o, struct kb_err *err)
{
	return kb_err_set(
		err, -EFBIG,
		"%s payload decompresses to more than the limit of %zu bytes (corrupt, or a decompression bomb)",
		o->fmt, o->max);
}

static int truncated(struct outbuf *o, struct kb_err *err)
{
	return kb_err_set(
		err, -EINVAL,
		"truncated %s payload: input ended after %zu bytes of output, before the end of the stream",
		o->fmt, o->len);
}

static int inflate_gzip(const uint8_t *in, size_t in_len, struct outbuf *o,
			struct kb_err *err)
{
	z_stream zs;
	int ret, zr;

	if (in_len > UINT_MAX)
		return kb_err_set(err, -EFBIG, "gzip payload of %zu bytes is too large",
				  in_len);
	memset(&zs, 0, sizeof(zs));
	zr = inflateInit2(&zs, 16 + MAX_WBITS); /* gzip wrapper only */
	if (zr != Z_OK)
		return kb_err_set(err, -ENOMEM, "cannot initialise zlib (%d)", zr);
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)in_len;
	for (;;) {
		size_t room;

		ret = stream_room(o, err);
		if (ret)
			break;
		room = o->cap - o->len;
		if (room > UINT_MAX)
			room = UINT_MAX;
		zs.next_out = o->p + o->len;
		zs.avail_out = (uInt)room;
		zr = inflate(&zs, Z_NO_FLUSH);
		o->len += room - zs.avail_out;
		if (zr == Z_MEM_ERROR) {
			ret = kb_err_set(err, -ENOMEM, "out of memory in zlib");
			break;
		}
		if (zr == Z_DATA_ERROR || zr == Z_NEED_DICT || zr == Z_STREAM_ERROR) {
			ret = kb_err_set(err, -EINVAL, "corrupt gzip payload: %s",
					 zs.msg ? zs.msg : "data error");
			break;
		}
		if (o->len > o->max) {
			ret = too_big(o, err);
			break;
		}
		if (zr == Z_STREAM_END) {
			ret = 0;
			break;
		}
		/* Z_OK or Z_BUF_ERROR: stuck with room left means truncated. */
		if (zs.avail_out && (!zs.avail_in || zr == Z_BUF_ERROR)) {
			ret = truncated(o, err);
			break;
		}
	}
	inflateEnd(&zs);
	return ret;
}

static int xz_error(lzma_ret lr, struct outbuf *o, struct kb_err *err)
{
	switch (lr) {
	case LZMA_MEM_ERROR:
		return kb_err_set(err, -ENOMEM, "out of memory in liblzma");
	case LZMA_MEMLIMIT_ERROR:
		return kb_err_set(err, -EINVAL,
				  "xz payload needs more than %llu MiB of decoder memory",
				  XZ_MEMLIMIT >> 20);
	case LZMA_FORMAT_ERROR:
		return kb_err_set(err, -EINVAL, "corrupt xz payload: bad stream header");
	case LZMA_OPTIONS_ERROR:
		return kb_err_set(err, -EINVAL,
				  "xz payload uses options liblzma does not support");
	case LZMA_DATA_ERROR:
		return kb_err_set(
			err, -EINVAL,
			"corrupt xz payload (data or CRC error after %zu bytes of output)",
			o->len);
	case LZMA_BUF_ERROR:
		return truncated(o, err);
	default:
		return kb_err_set(err, -EINVAL, "xz decoding failed (liblzma error %d)",
				  lr);
	}
}

static int inflate_xz(const uint8_t *in, size_t in_len, struct outbuf *o,
		      struct kb_err *err)
{
	lzma_stream s = LZMA_STREAM_INIT;
	lzma_ret lr;
	int ret;

	/* One stream only: what follows it is the kernel's size trailer. */
	lr = lzma_stream_decoder(&s, XZ_MEMLIMIT, 0);
	if (lr != LZMA_OK)
		return xz_error(lr, o, err);
	s.next_in = in;
	s.avail_in = in_len;
	for (;;) {
		size_t room;

		ret = stream_room(o, err);
		if (ret)
			break;
		room = o->cap - o->len;
		s.next_out = o->p + o->len;
		s.avail_out = room;
		lr = lzma_code(&s, LZMA_FINISH);
		o->len += room - s.avail_out;
		if (o->len > o->max) {
			ret = too_big(o, err);
			break;
		}
		if (lr == LZMA_STREAM_END) {
			ret = 0;
			break;
		}
		if (lr == LZMA_BUF_ERROR && !s.avail_out)
			continue; /* only wants more room */
		if (lr != LZMA_OK) {
			ret = xz_error(lr, o, err);
			break;
		}
	}
	lzma_end(&s);
	return ret;
}

static int inflate_zstd(const uint8_t *in, size_t in_len, struct outbuf *o,
			struct kb_err *err)
{
	ZSTD_DStream *ds = ZSTD_createDStream();
	ZSTD_inBuffer ib = { in, in_len, 0 };
	size_t zr;
	int ret;

	if (!ds)
		return kb_err_set(err, -ENOMEM, "out of memory creating a zstd decoder");
	zr = ZSTD_initDStream(ds);
	if (ZSTD_isError(zr)) {
		ZSTD_freeDStream(ds);
		return kb_err_set(err, -ENOMEM, "cannot initialise zstd: %s",
				  ZSTD_getErrorName(zr));
	}
	for (;;) {
		ZSTD_outBuffer ob;

		ret = stream_room(o, err);
		if (ret)
			break;
		ob.dst = o->p + o->len;
		ob.size = o->cap - o->len;
		ob.pos = 0;
		zr = ZSTD_decompressStream(ds, &ob, &ib);
		o->len += ob.pos;
		if (ZSTD_isError(zr)) {
			ret = kb_err_set(err, -EINVAL, "corrupt zstd payload: %s",
					 ZSTD_getErrorName(zr));
			break;
		}
		if (o->len > o->max) {
			ret = too_big(o, err);
			break;
		}
		if (zr == 0) { /* frame complete and flushed */
			ret = 0;
			break;
		}
		if (ib.pos == ib.size && ob.pos < ob.size) {
			ret = truncated(o, err);
			break;
		}
	}
	ZSTD_freeDStream(ds);
	return ret;
}

/*
 * The kernel's "legacy" lz4 format (lz4 -l): magic 0x184c2102, then chunks
 * of [le32 compressed length][data], each decompressing to at most 8 MiB;
 * the magic may repeat (concatenated frames). The kernel appends the total
 * decompressed size, which looks like one more chunk length with no data:
 * accept it only if it matches what was decompressed.
 */
static int inflate_lz4(const uint8_t *in, size_t in_len, struct outbuf *o,
		       struct kb_err *err)
{
	const size_t bound = (size_t)LZ4_compressBound(DECOMP_LZ4_LEGACY_CHUNK);
	size_t pos = 4;
	int ret;

	while (in_len - pos >= 4) {
		uint32_t csize = get_le32(in + pos);
		size_t rem = in_len - pos - 4;
		int n;

		if (csize == DECOMP_LZ4_LEGACY_MAGIC) {
			pos += 4;
			continue;
		}
		if (!csize)
			break;
		if (csize > rem) {
			if (!rem && csize == (uint32_t)o->len)
				break; /* the size trailer */
			if (!rem)
				return kb_err_set(
					err, -EINVAL,
					"truncated lz4 payload: stream ends after %zu bytes of output, its size trailer says %u",
					o->len, csize);
			return kb_err_set(
				err, -EINVAL,
				"truncated lz4 payload: chunk of %u bytes at offset %zu, only %zu bytes left",
				csize, pos, rem);
		}
		if (csize > bound)
			return kb_err_set(
				err, -EINVAL,
				"corrupt lz4 payload: chunk length %u at offset %zu exceeds the maximum %zu",
				csize, pos, bound);
		if (o->len > SIZE_MAX - DECOMP_LZ4_LEGACY_CHUNK)
			return too_big(o, err);
		ret = outbuf_resize(o, o->len + DECOMP_LZ4_LEGACY_CHUNK, err);
		if (ret)
			return ret;
		n = LZ4_decompress_safe((const char *)in + pos + 4, (char *)o->p + o->len,
					(int)csize, (int)DECOMP_LZ4_LEGACY_CHUNK);
		if (n < 0)
			return kb_err_set(
				err, -EINVAL,
				"corrupt lz4 payload: chunk at offset %zu does not decode",
				pos);
		o->len += (size_t)n;
		if (o->len > o->max)
			return too_big(o, err);
		pos += 4 + (size_t)csize;
	}
	return 0;
}

static size_t initial_capacity(const uint8_t *in, size_t in_len, size_t max)
{
	size_t hint = 0, cap;

	/* The kernel's size trailer, trusted only as far as it is plausible. */
	if (in_len >= 8)
		hint = get_le32(in + in_len - 4);
	if (!hint || hint / 32 > in_len)
		hint = in_len <= SIZE_MAX / 4 ? in_len * 4 : SIZE_MAX;
	cap = hint < MIN_OUT_CAP ? MIN_OUT_CAP : hint;
	if (max < SIZE_MAX && cap > max + 1)
		cap = max + 1;
	return cap;
}

int decomp_payload(const void *in, size_t in_len, size_t max_out, void **out,
		   size_t *out_len, struct kb_err *err)
{
	enum decomp_format fmt = decomp_detect(in, in_len);
	const uint8_t *p = in;
	struct outbuf o = { .max = max_out, .fmt = decomp_name(fmt) };
	int ret;

	*out = NULL;
	*out_len = 0;
	if (fmt == DECOMP_UNKNOWN)
		return kb_err_set(
			err, -EOPNOTSUPP,
			"unknown payload compression (magic %02x %02x %02x %02x); use --no-host-decompress",
			in_len > 0 ? p[0] : 0, in_len > 1 ? p[1] : 0,
			in_len > 2 ? p[2] : 0, in_len > 3 ? p[3] : 0);
	if (!decomp_host_supported(fmt))
		return kb_err_set(
			err, -EOPNOTSUPP,
			"unsupported payload compression %s; use --no-host-decompress",
			decomp_name(fmt));
	if (fmt == DECOMP_NONE) {
		if (in_len > max_out)
			return kb_err_set(
				err, -EFBIG,
				"uncompressed payload of %zu bytes exceeds the limit of %zu bytes",
				in_len, max_out);
		ret = outbuf_resize(&o, in_len ? in_len : 1, err);
		if (ret)
			return ret;
		memcpy(o.p, in, in_len);
		o.len = in_len;
		goto done;
	}

	ret = outbuf_resize(&o, initial_capacity(p, in_len, max_out), err);
	if (ret)
		return ret;
	switch (fmt) {
	case DECOMP_GZIP:
		ret = inflate_gzip(p, in_len, &o, err);
		break;
	case DECOMP_XZ:
		ret = inflate_xz(p, in_len, &o, err);
		break;
	case DECOMP_ZSTD:
		ret = inflate_zstd(p, in_len, &o, err);
		break;
	default:
		ret = inflate_lz4(p, in_len, &o, err);
		break;
	}
	if (ret) {
		free(o.p);
		return ret;
	}
done:
	*out = o.p;
	*out_len = o.len;
	return 0;
}
