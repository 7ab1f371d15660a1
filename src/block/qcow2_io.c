// SPDX-License-Identifier: GPL-2.0-only
/*
 * qcow2 data path, synchronous: guest offsets mapped through the L1 and L2
 * tables to host clusters, zero clusters, compressed clusters (deflate,
 * zstd) and the backing chain for what the image does not hold.
 *
 * A write to a cluster the image holds with refcount 1 (the COPIED flag)
 * goes in place. Any other cluster gets a new one: its refcount is
 * written, then its whole content (old data merged with the new), then the
 * L2 entry, and only then the old cluster's reference is dropped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>
#include <zstd.h>

#include "block/qcow2.h"
#include "util/log.h"

#define MAX_ALLOC_BYTES (8u << 20)
#define SLICE_MAX 1024

enum map_type { MAP_UNALLOC, MAP_ZERO, MAP_NORMAL, MAP_COMPRESSED };

struct qmap {
	enum map_type type;
	uint64_t host; /* NORMAL: host offset of the guest offset */
	uint64_t len; /* guest bytes with this mapping */
	uint64_t entry; /* the L2 entry of the first cluster */
};

/* Up to @max iovecs for bytes [skip, skip + len) of @iov: the count, or -1
 * when @max is too small. */
static int iov_slice(const struct iovec *iov, int cnt, uint64_t skip, uint64_t len,
		     struct iovec *out, int max)
{
	int n = 0;

	for (int i = 0; i < cnt && len; i++) {
		uint64_t l = iov[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		if (n == max)
			return -1;
		out[n].iov_base = (uint8_t *)iov[i].iov_base + skip;
		out[n].iov_len = l - skip < len ? l - skip : len;
		len -= out[n].iov_len;
		skip = 0;
		n++;
	}
	return n;
}

static void iov_zero(const struct iovec *v, int n)
{
	for (int i = 0; i < n; i++)
		memset(v[i].iov_base, 0, v[i].iov_len);
}

static void iov_from_buf(struct iovec *v, int n, const uint8_t *buf)
{
	for (int i = 0; i < n; i++) {
		memcpy(v[i].iov_base, buf, v[i].iov_len);
		buf += v[i].iov_len;
	}
}

static void iov_to_buf(const struct iovec *v, int n, uint8_t *buf)
{
	for (int i = 0; i < n; i++) {
		memcpy(buf, v[i].iov_base, v[i].iov_len);
		buf += v[i].iov_len;
	}
}

static enum map_type entry_type(const struct qcow2 *q, uint64_t e)
{
	if (e & QCOW2_OFLAG_COMPRESSED)
		return MAP_COMPRESSED;
	if (q->h.version >= 3 && (e & QCOW2_OFLAG_ZERO))
		return MAP_ZERO;
	return (e & QCOW2_OFFSET_MASK) ? MAP_NORMAL : MAP_UNALLOC;
}

/* Under q->lock: the mapping of guest @off, for at most @max bytes. */
static int map(struct qcow2 *q, uint64_t off, uint64_t max, struct qmap *m)
{
	uint64_t cs = q->cluster_size, ci = off >> q->h.cluster_bits;
	uint64_t per = 1ull << q->l2_bits, l2i = ci & (per - 1);
	uint64_t in = off & (cs - 1), host0 = 0;
	struct qcow2_cache_ent *e;
	uint64_t len, i;
	int ret;

	ret = qcow2_l2_get(q, ci >> q->l2_bits, &e);
	if (ret)
		return ret;
	if (!e) {
		m->type = MAP_UNALLOC;
		m->entry = 0;
		len = (per - l2i) * cs - in;
		m->len = len < max ? len : max;
		return 0;
	}
	m->entry = qcow2_be64(e->data + l2i * 8);
	m->type = entry_type(q, m->entry);
	if (m->type == MAP_NORMAL) {
		host0 = m->entry & QCOW2_OFFSET_MASK;
		if (host0 & (cs - 1)) {
			log_warn("%s: L2 entry 0x%llx is not cluster-aligned", q->file,
				 (unsigned long long)m->entry);
			return -EIO;
		}
		m->host = host0 + in;
	}
	len = cs - in;
	for (i = l2i + 1; i < per && len < max && m->type != MAP_COMPRESSED; i++) {
		uint64_t x = qcow2_be64(e->data + i * 8);

		if (entry_type(q, x) != m->type)
			break;
		if (m->type == MAP_NORMAL &&
		    ((x & QCOW2_OFFSET_MASK) != host0 + (i - l2i) * cs ||
		     (x & QCOW2_OFLAG_COPIED) != (m->entry & QCOW2_OFLAG_COPIED)))
			break;
		len += cs;
	}
	m->len = len < max ? len : max;
	return 0;
}

int qcow2_map_cached(struct qcow2 *q, uint64_t off, uint64_t len, bool write,
		     uint64_t *host)
{
	uint64_t cs = q->cluster_size, ci = off >> q->h.cluster_bits;
	uint64_t per = 1ull << q->l2_bits, l2i = ci & (per - 1), l1i = ci >> q->l2_bits;
	uint64_t need = ((off & (cs - 1)) + len + cs - 1) / cs, l2off, h0 = 0;
	const struct qcow2_cache_ent *ent;
	const uint8_t *t;

	if (!len || l1i >= q->h.l1_size || l2i + need > per)
		return -EAGAIN;
	l2off = q->l1[l1i] & QCOW2_OFFSET_MASK;
	ent = qcow2_cache_find(&q->l2c, l2off);
	if (!ent)
		return -EAGAIN;
	t = ent->data;
	for (uint64_t i = 0; i < need; i++) {
		uint64_t e = qcow2_be64(t + (l2i + i) * 8);

		if (entry_type(q, e) != MAP_NORMAL ||
		    (write && !(e & QCOW2_OFLAG_COPIED)))
			return -EAGAIN;
		if (!i)
			h0 = e & QCOW2_OFFSET_MASK;
		if ((e & QCOW2_OFFSET_MASK) != h0 + i * cs || (h0 & (cs - 1)))
			return -EAGAIN;
	}
	*host = h0 + (off & (cs - 1));
	if (*host + len > qcow2_file_size(q) ||
	    (write && qcow2_overlaps_meta(q, *host, len)))
		return -EAGAIN;
	return 0;
}

/* Decompresses a compressed cluster (@src, @slen) into @dst (@dlen). */
static int decompress(int type, const uint8_t *src, size_t slen, uint8_t *dst,
		      size_t dlen)
{
	if (type == 0) {
		z_stream z = { 0 };
		int ret;

		if (inflateInit2(&z, -15) != Z_OK)
			return -ENOMEM;
		z.next_in = (Bytef *)src;
		z.avail_in = (uInt)slen;
		z.next_out = dst;
		z.avail_out = (uInt)dlen;
		ret = inflate(&z, Z_FINISH);
		inflateEnd(&z);
		/* The compressed data may be followed by garbage up to the
		 * sector end: what counts is a full cluster out. */
		if ((ret != Z_STREAM_END && ret != Z_BUF_ERROR && ret != Z_OK) ||
		    z.avail_out)
			return -EIO;
		return 0;
	}
	if (type == 1) {
		ZSTD_DCtx *d = ZSTD_createDCtx();
		ZSTD_inBuffer in = { src, slen, 0 };
		ZSTD_outBuffer out = { dst, dlen, 0 };
		size_t r = 0;

		if (!d)
			return -ENOMEM;
		while (out.pos < out.size && in.pos < in.size) {
			r = ZSTD_decompressStream(d, &out, &in);
			if (ZSTD_isError(r) || (r == 0 && out.pos < out.size))
				break;
		}
		ZSTD_freeDCtx(d);
		return out.pos == out.size && !ZSTD_isError(r) ? 0 : -EIO;
	}
	return -EIO;
}

/* The host bytes [*host, end) holding a compressed cluster's data (the
 * sectors they lie in start at *host & ~511): the end. */
static uint64_t compressed_span(const struct qcow2 *q, uint64_t e, uint64_t *host)
{
	uint32_t sbits = q->h.cluster_bits - 8, x = 62 - sbits;
	uint64_t nsect = (e >> x) & ((1ull << sbits) - 1);

	*host = e & ((1ull << x) - 1);
	return (*host & ~511ull) + (nsect + 1) * 512;
}

/* The host bytes whose references L2 entry @e holds: *start, and the
 * length (0: none). */
static uint64_t entry_refs(const struct qcow2 *q, uint64_t e, uint64_t *start)
{
	uint64_t host;

	if (e & QCOW2_OFLAG_COMPRESSED) {
		uint64_t end = compressed_span(q, e, &host);

		*start = host & ~511ull;
		return end - *start;
	}
	*start = e & QCOW2_OFFSET_MASK;
	return *start ? q->cluster_size : 0;
}

static int read_compressed(struct qcow2 *q, uint64_t entry, uint8_t *cluster)
{
	uint64_t host, clen = compressed_span(q, entry, &host);
	uint64_t fsize = qcow2_file_size(q);
	uint8_t *src;
	int ret;

	clen -= host;
	if (host >= fsize)
		return -EIO;
	if (clen > fsize - host)
		clen = fsize - host;
	src = malloc(clen);
	if (!src)
		return -ENOMEM;
	ret = qcow2_pread(q->fd, src, clen, host);
	if (!ret)
		ret = decompress((int)q->h.compression, src, clen, cluster,
				 q->cluster_size);
	if (ret)
		log_warn("%s: compressed cluster at 0x%llx cannot be read", q->file,
			 (unsigned long long)host);
	free(src);
	return ret;
}

static int backing_readv(struct qimg *img, uint64_t off, struct iovec *v, int n,
			 uint64_t len)
{
	uint64_t avail = off < img->size ? img->size - off : 0;
	struct iovec tail[SLICE_MAX];
	int tn;

	if (avail < len) {
		tn = iov_slice(v, n, avail, len - avail, tail, SLICE_MAX);
		if (tn < 0)
			return -EINVAL;
		iov_zero(tail, tn);
		len = avail;
		n = iov_slice(v, n, 0, len, tail, SLICE_MAX);
		v = tail;
	}
	if (!len)
		return 0;
	if (img->qcow2)
		return qcow2_readv(img->q, off, v, n);
	return qcow2_preadv(img->fd, v, n, off, true);
}

int qcow2_readv(struct qcow2 *q, uint64_t off, const struct iovec *iov, int cnt)
{
	struct iovec v[SLICE_MAX];
	uint64_t total = 0, pos = 0;
	uint8_t *cbuf = NULL;
	int ret = 0;

	for (int i = 0; i < cnt; i++)
		total += iov[i].iov_len;
	while (pos < total && !ret) {
		struct qmap m;
		int n;

		pthread_mutex_lock(&q->lock);
		ret = map(q, off + pos, total - pos, &m);
		pthread_mutex_unlock(&q->lock);
		if (ret)
			break;
		n = iov_slice(iov, cnt, pos, m.len, v, SLICE_MAX);
		if (n < 0) {
			ret = -EINVAL;
			break;
		}
		switch (m.type) {
		case MAP_UNALLOC:
			if (q->backing)
				ret = backing_readv(q->backing, off + pos, v, n, m.len);
			else
				iov_zero(v, n);
			break;
		case MAP_ZERO:
			iov_zero(v, n);
			break;
		case MAP_NORMAL:
			if ((m.host & ~(q->cluster_size - 1)) >= qcow2_file_size(q)) {
				log_warn(
					"%s: data cluster 0x%llx is beyond the end of the file",
					q->file, (unsigned long long)m.host);
				ret = -EIO;
				break;
			}
			ret = qcow2_preadv(q->fd, v, n, m.host, true);
			break;
		case MAP_COMPRESSED:
			if (!cbuf)
				cbuf = malloc(q->cluster_size);
			if (!cbuf) {
				ret = -ENOMEM;
				break;
			}
			ret = read_compressed(q, m.entry, cbuf);
			if (!ret)
				iov_from_buf(
					v, n,
					cbuf + ((off + pos) & (q->cluster_size - 1)));
			break;
		}
		pos += m.len;
	}
	free(cbuf);
	return ret;
}

/* Under q->lock: the L2 table for @l1i, allocated (zeroed, then pointed
 * to by the L1 entry) if the image has none. */
static int l2_for_write(struct qcow2 *q, uint64_t l1i, struct qcow2_cache_ent **ent)
{
	uint64_t cs = q->cluster_size, off;
	uint8_t be[8];
	int ret;

	ret = qcow2_l2_get(q, l1i, ent);
	if (ret || *ent)
		return ret;
	if (l1i >= q->h.l1_size)
		return -EIO;
	ret = qcow2_alloc(q, 1, &off);
	if (ret)
		return ret;
	ret = qcow2_cache_get(q, &q->l2c, off, true, ent);
	if (!ret)
		ret = qcow2_pwrite(q, (*ent)->data, cs, off);
	if (!ret) {
		qcow2_put_be64(be, off | QCOW2_OFLAG_COPIED);
		ret = qcow2_pwrite(q, be, 8, q->h.l1_offset + l1i * 8);
	}
	if (ret) {
		if (*ent)
			(*ent)->offset = 0;
		return ret;
	}
	q->l1[l1i] = off | QCOW2_OFLAG_COPIED;
	return qcow2_meta_add(q, off);
}

/* Under q->lock: drops the references an old L2 entry held. */
static int release_entry(struct qcow2 *q, uint64_t e)
{
	uint64_t start, len = entry_refs(q, e, &start);

	return qcow2_free(q, start, len);
}

/*
 * Under q->lock: points clusters [ci, ci + n) of one L2 table at @host
 * (consecutive clusters; 0 with @flags for zero/unallocated entries) and
 * releases what they pointed to before.
 */
static int set_entries(struct qcow2 *q, uint64_t ci, uint64_t n, uint64_t host,
		       uint64_t flags, bool keep_zero_alloc)
{
	uint64_t per = 1ull << q->l2_bits, l2i = ci & (per - 1);
	struct qcow2_cache_ent *e;
	uint64_t *old = malloc(n * sizeof(*old));
	int ret;

	if (!old)
		return -ENOMEM;
	ret = l2_for_write(q, ci >> q->l2_bits, &e);
	if (ret)
		goto out;
	for (uint64_t i = 0; i < n; i++) {
		uint8_t *p = e->data + (l2i + i) * 8;
		uint64_t v = host ? (host + i * q->cluster_size) | flags : flags;

		old[i] = qcow2_be64(p);
		if (keep_zero_alloc && entry_type(q, old[i]) == MAP_NORMAL &&
		    (old[i] & QCOW2_OFLAG_COPIED)) {
			v = old[i] | QCOW2_OFLAG_ZERO;
			old[i] = 0;
		}
		qcow2_put_be64(p, v);
	}
	ret = qcow2_pwrite(q, e->data + l2i * 8, n * 8, e->offset + l2i * 8);
	if (ret) {
		e->offset = 0;
		goto out;
	}
	for (uint64_t i = 0; i < n && !ret; i++)
		ret = release_entry(q, old[i]);
out:
	free(old);
	return ret;
}

/* Under q->lock: every host cluster the L2 entries of [c0, c0 + n) hold
 * (all that release_entry() would drop) has a refcount, else it could be
 * allocated again while still in use. */
static int check_old_refs(struct qcow2 *q, uint64_t c0, uint64_t n)
{
	uint64_t per = 1ull << q->l2_bits, cs = q->cluster_size;
	struct qcow2_cache_ent *e;
	int ret = qcow2_l2_get(q, c0 >> q->l2_bits, &e);

	for (uint64_t i = 0; !ret && e && i < n; i++) {
		uint64_t x = qcow2_be64(e->data + ((c0 + i) & (per - 1)) * 8);
		uint64_t start, len = entry_refs(q, x, &start), v;

		for (uint64_t c = start / cs; len && !ret && c <= (start + len - 1) / cs;
		     c++) {
			ret = qcow2_refcount_get(q, c, &v);
			if (!ret && !v) {
				log_warn("%s: cluster 0x%llx is in use with refcount 0",
					 q->file, (unsigned long long)(c * cs));
				ret = -EIO;
			}
		}
	}
	return ret;
}

/* Exclusive: writes [off, off + len) (inside one L2 table) to new clusters. */
static int alloc_write(struct qcow2 *q, uint64_t off, uint64_t len,
		       const struct iovec *src, int cnt, uint64_t skip)
{
	uint64_t cs = q->cluster_size, c0 = off / cs, c1 = (off + len - 1) / cs;
	uint64_t n = c1 - c0 + 1, head = off - c0 * cs, host;
	struct iovec v[SLICE_MAX], one;
	uint8_t *buf = malloc(n * cs);
	int ret = 0, k;

	if (!buf)
		return -ENOMEM;
	if (head) {
		one = (struct iovec){ buf, cs };
		ret = qcow2_readv(q, c0 * cs, &one, 1);
	}
	if (!ret && (off + len) % cs && (n > 1 || !head)) {
		one = (struct iovec){ buf + (n - 1) * cs, cs };
		ret = qcow2_readv(q, c1 * cs, &one, 1);
	}
	k = iov_slice(src, cnt, skip, len, v, SLICE_MAX);
	if (ret || k < 0) {
		free(buf);
		return ret ? ret : -EINVAL;
	}
	iov_to_buf(v, k, buf + head);
	pthread_mutex_lock(&q->lock);
	ret = check_old_refs(q, c0, n);
	if (!ret)
		ret = qcow2_alloc(q, n, &host);
	if (!ret && qcow2_overlaps_meta(q, host, n * cs)) {
		log_warn("%s: refcounts show metadata at 0x%llx as free", q->file,
			 (unsigned long long)host);
		ret = -EIO;
	}
	if (!ret)
		ret = qcow2_pwrite(q, buf, n * cs, host);
	if (!ret)
		ret = set_entries(q, c0, n, host, QCOW2_OFLAG_COPIED, false);
	pthread_mutex_unlock(&q->lock);
	free(buf);
	return ret;
}

int qcow2_writev(struct qcow2 *q, uint64_t off, const struct iovec *iov, int cnt,
		 bool alloc)
{
	uint64_t total = 0, pos = 0, cs = q->cluster_size;
	struct iovec v[SLICE_MAX];
	int ret = 0;

	for (int i = 0; i < cnt; i++)
		total += iov[i].iov_len;
	while (pos < total && !ret) {
		struct qmap m;
		uint64_t cur = off + pos;
		int n;

		pthread_mutex_lock(&q->lock);
		ret = map(q, cur, total - pos, &m);
		pthread_mutex_unlock(&q->lock);
		if (ret)
			break;
		if (m.type == MAP_NORMAL && (m.entry & QCOW2_OFLAG_COPIED)) {
			if ((m.host & ~(cs - 1)) >= qcow2_file_size(q) ||
			    qcow2_overlaps_meta(q, m.host, m.len)) {
				log_warn(
					"%s: data cluster 0x%llx is beyond the end of the file or on metadata",
					q->file, (unsigned long long)m.host);
				ret = -EIO;
				break;
			}
			n = iov_slice(iov, cnt, pos, m.len, v, SLICE_MAX);
			ret = n < 0 ? -EINVAL : qcow2_pwritev(q, v, n, m.host);
		} else if (!alloc) {
			ret = -EAGAIN;
		} else {
			uint64_t cap = MAX_ALLOC_BYTES > cs ? MAX_ALLOC_BYTES : cs;
			uint64_t end = (cur & ~(cap - 1)) + cap;

			/* At most @cap bytes of new clusters at a time. */
			if (m.len > end - cur)
				m.len = end - cur;
			ret = alloc_write(q, cur, m.len, iov, cnt, pos);
		}
		pos += m.len;
	}
	return ret;
}

static int write_zero_buf(struct qcow2 *q, uint64_t off, uint64_t len)
{
	uint8_t *z = calloc(1, len);
	struct iovec v = { z, len };
	int ret;

	if (!z)
		return -ENOMEM;
	ret = qcow2_writev(q, off, &v, 1, true);
	free(z);
	return ret;
}

/* Exclusive: clusters [c0, c0 + n) read as zeroes (@discard: or as
 * anything, if that is cheaper). */
static int zero_clusters(struct qcow2 *q, uint64_t c0, uint64_t n, bool unmap,
			 bool discard)
{
	uint64_t per = 1ull << q->l2_bits, cs = q->cluster_size;
	int ret = 0;

	if (q->h.version < 3 && q->backing) {
		if (discard)
			return 0;
		for (uint64_t c = c0; c < c0 + n && !ret; c++)
			ret = write_zero_buf(q, c * cs, cs);
		return ret;
	}
	while (n && !ret) {
		uint64_t cnt = per - (c0 & (per - 1));
		struct qcow2_cache_ent *e;

		if (cnt > n)
			cnt = n;
		pthread_mutex_lock(&q->lock);
		ret = qcow2_l2_get(q, c0 >> q->l2_bits, &e);
		/* Without a backing file an absent table already reads 0. */
		if (!ret && (e || q->backing))
			ret = set_entries(q, c0, cnt, 0,
					  q->backing ? QCOW2_OFLAG_ZERO : 0,
					  !unmap && q->h.version >= 3);
		pthread_mutex_unlock(&q->lock);
		c0 += cnt;
		n -= cnt;
	}
	return ret;
}

int qcow2_zero(struct qcow2 *q, uint64_t off, uint64_t len, bool unmap)
{
	uint64_t cs = q->cluster_size;
	uint64_t first = (off + cs - 1) / cs, last = (off + len) / cs;
	int ret = 0;

	if (first >= last) /* inside one cluster */
		return write_zero_buf(q, off, len);
	if (off < first * cs)
		ret = write_zero_buf(q, off, first * cs - off);
	if (!ret)
		ret = zero_clusters(q, first, last - first, unmap, false);
	if (!ret && off + len > last * cs)
		ret = write_zero_buf(q, last * cs, off + len - last * cs);
	return ret;
}

int qcow2_discard(struct qcow2 *q, uint64_t off, uint64_t len)
{
	uint64_t cs = q->cluster_size;
	uint64_t first = (off + cs - 1) / cs, last = (off + len) / cs;

	if (first >= last)
		return 0;
	return zero_clusters(q, first, last - first, true, true);
}
