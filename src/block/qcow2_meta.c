// SPDX-License-Identifier: GPL-2.0-only
/*
 * qcow2: the header and its extensions, opening an image and its backing
 * chain, the L1 table and the cluster-sized table caches (L2 tables and
 * refcount blocks). Everything read from the file is checked before use:
 * a table outside the file, overlapping another or of an absurd size is
 * refused at open; a bad L2 table offset found later fails that request
 * with -EIO.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/block.h"
#include "block/qcow2.h"
#include "util/log.h"

#define EXT_END 0
#define EXT_BACKING_FMT 0xe2792acau
#define EXT_FEATURE_NAMES 0x6803f857u
#define EXT_DATA_FILE 0x44415441u
#define HDR_V2_LEN 72
#define HDR_V3_LEN 104
#define CACHE_BYTES (4u << 20)

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

uint64_t qcow2_be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

void qcow2_put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return alen && blen && a < b + blen && b < a + alen;
}

/* The name the feature name table gives bit @bit of @type, or NULL. */
static const char *feature_name(const uint8_t *tab, uint32_t len, int type, int bit,
				char *buf, size_t size)
{
	for (uint32_t i = 0; i + 48 <= len; i += 48) {
		if (tab[i] == type && tab[i + 1] == bit) {
			snprintf(buf, size, "%.46s", (const char *)tab + i + 2);
			return buf;
		}
	}
	return NULL;
}

static int check_incompat(const struct qcow2_header *h, const uint8_t *names,
			  uint32_t names_len, const char *file, struct kb_err *err)
{
	const uint64_t known = QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT |
			       QCOW2_INCOMPAT_DATA_FILE | QCOW2_INCOMPAT_COMPRESSION |
			       QCOW2_INCOMPAT_EXTL2;
	uint64_t unknown = h->incompat & ~known;
	char name[64];

	if (h->incompat & QCOW2_INCOMPAT_DATA_FILE)
		return kb_err_set(
			err, -ENOTSUP,
			"%s: qcow2 feature 'external data file' is not supported", file);
	if (h->incompat & QCOW2_INCOMPAT_EXTL2)
		return kb_err_set(
			err, -ENOTSUP,
			"%s: qcow2 feature 'extended L2 entries' (subclusters) is not supported",
			file);
	if (unknown) {
		int bit = __builtin_ctzll(unknown);
		const char *n =
			feature_name(names, names_len, 0, bit, name, sizeof(name));

		return kb_err_set(
			err, -ENOTSUP,
			"%s: unknown qcow2 incompatible feature bit %d%s%s%s (incompatible_features 0x%llx)",
			file, bit, n ? " ('" : "", n ? n : "", n ? "')" : "",
			(unsigned long long)h->incompat);
	}
	if (!!(h->incompat & QCOW2_INCOMPAT_COMPRESSION) != (h->compression != 0))
		return kb_err_set(
			err, -EINVAL,
			"%s: qcow2 compression_type %u does not match the compression incompatible bit",
			file, h->compression);
	if (h->compression > QCOW2_COMPRESS_ZSTD)
		return kb_err_set(err, -ENOTSUP,
				  "%s: qcow2 compression_type %u is not supported", file,
				  h->compression);
	return 0;
}

/* Header extensions from @start to the end of the first cluster (or the
 * backing file name). */
static int parse_extensions(const uint8_t *buf, size_t end, size_t start,
			    struct qcow2_header *h, const uint8_t **names,
			    uint32_t *names_len, const char *file, struct kb_err *err)
{
	size_t p = start;

	while (p + 8 <= end) {
		uint32_t type = be32(buf + p), len = be32(buf + p + 4);
		size_t padded = ((size_t)len + 7) & ~(size_t)7;

		if (type == EXT_END)
			return 0;
		p += 8;
		if (padded > end - p)
			return kb_err_set(
				err, -EINVAL,
				"%s: qcow2 header extension 0x%08x (length %u) runs past the header cluster",
				file, type, len);
		if (type == EXT_BACKING_FMT) {
			if (len >= sizeof(h->backing_fmt))
				return kb_err_set(
					err, -EINVAL,
					"%s: qcow2 backing format extension too long (%u bytes)",
					file, len);
			memcpy(h->backing_fmt, buf + p, len);
			h->backing_fmt[len] = '\0';
		} else if (type == EXT_FEATURE_NAMES) {
			*names = buf + p;
			*names_len = len;
		}
		p += padded;
	}
	return 0;
}

static int check_table(const char *file, const char *what, uint64_t off, uint64_t bytes,
		       uint64_t cs, uint64_t file_size, struct kb_err *err)
{
	if (off & (cs - 1))
		return kb_err_set(err, -EINVAL,
				  "%s: qcow2 %s offset 0x%llx is not cluster-aligned",
				  file, what, (unsigned long long)off);
	if (off < cs)
		return kb_err_set(err, -EINVAL,
				  "%s: qcow2 %s offset 0x%llx overlaps the header", file,
				  what, (unsigned long long)off);
	if (off > file_size || bytes > file_size - off)
		return kb_err_set(
			err, -EINVAL,
			"%s: qcow2 %s (offset 0x%llx, %llu bytes) is beyond the end of the file (%llu bytes: truncated?)",
			file, what, (unsigned long long)off, (unsigned long long)bytes,
			(unsigned long long)file_size);
	return 0;
}

static int parse_fields(const uint8_t *buf, size_t len, const char *file,
			struct qcow2_header *h, struct kb_err *err)
{
	memset(h, 0, sizeof(*h));
	if (len < HDR_V2_LEN)
		return kb_err_set(err, -EINVAL,
				  "%s: qcow2 header truncated (%zu bytes, at least %d)",
				  file, len, HDR_V2_LEN);
	if (be32(buf) != QCOW2_MAGIC)
		return kb_err_set(err, -EINVAL, "%s: not a qcow2 image (bad magic)",
				  file);
	h->version = be32(buf + 4);
	h->backing_offset = qcow2_be64(buf + 8);
	h->backing_size = be32(buf + 16);
	h->cluster_bits = be32(buf + 20);
	h->size = qcow2_be64(buf + 24);
	h->crypt_method = be32(buf + 32);
	h->l1_size = be32(buf + 36);
	h->l1_offset = qcow2_be64(buf + 40);
	h->reftable_offset = qcow2_be64(buf + 48);
	h->reftable_clusters = be32(buf + 56);
	h->nb_snapshots = be32(buf + 60);
	h->snapshots_offset = qcow2_be64(buf + 64);
	h->refcount_order = 4;
	h->header_length = HDR_V2_LEN;
	if (h->version != 2 && h->version != 3)
		return kb_err_set(err, -ENOTSUP,
				  "%s: qcow2 version %u is not supported (2 or 3)", file,
				  h->version);
	if (h->version == 3) {
		if (len < HDR_V3_LEN)
			return kb_err_set(err, -EINVAL,
					  "%s: qcow2 v3 header truncated (%zu bytes)",
					  file, len);
		h->incompat = qcow2_be64(buf + 72);
		h->compat = qcow2_be64(buf + 80);
		h->autoclear = qcow2_be64(buf + 88);
		h->refcount_order = be32(buf + 96);
		h->header_length = be32(buf + 100);
		if (h->header_length < HDR_V3_LEN || h->header_length % 8 ||
		    h->header_length > len)
			return kb_err_set(err, -EINVAL,
					  "%s: qcow2 header_length %u is invalid", file,
					  h->header_length);
		if (h->header_length > HDR_V3_LEN)
			h->compression = buf[104];
	}
	if (h->cluster_bits < QCOW2_MIN_CLUSTER_BITS ||
	    h->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
		return kb_err_set(err, -EINVAL,
				  "%s: qcow2 cluster_bits %u is out of range (%d to %d)",
				  file, h->cluster_bits, QCOW2_MIN_CLUSTER_BITS,
				  QCOW2_MAX_CLUSTER_BITS);
	if (h->crypt_method)
		return kb_err_set(
			err, -ENOTSUP,
			"%s: qcow2 feature 'encryption' (crypt_method %u) is not supported",
			file, h->crypt_method);
	if (h->refcount_order > 6)
		return kb_err_set(err, -EINVAL,
				  "%s: qcow2 refcount_order %u is out of range (0 to 6)",
				  file, h->refcount_order);
	return 0;
}

int qcow2_parse_header(const uint8_t *buf, size_t len, uint64_t file_size,
		       const char *file, struct qcow2_header *h, struct kb_err *err)
{
	const uint8_t *names = NULL;
	uint32_t names_len = 0;
	uint64_t cs, l2_cover, need;
	size_t end;
	int ret;

	ret = parse_fields(buf, len, file, h, err);
	if (ret)
		return ret;
	cs = 1ull << h->cluster_bits;
	end = len < cs ? len : (size_t)cs;
	if (h->backing_offset) {
		if (h->backing_size == 0 || h->backing_size >= sizeof(h->backing_file) ||
		    h->backing_offset >= end || h->backing_size > end - h->backing_offset)
			return kb_err_set(
				err, -EINVAL,
				"%s: qcow2 backing file name (offset %llu, %u bytes) is not inside the header cluster",
				file, (unsigned long long)h->backing_offset,
				h->backing_size);
		memcpy(h->backing_file, buf + h->backing_offset, h->backing_size);
		h->backing_file[h->backing_size] = '\0';
		if (strlen(h->backing_file) != h->backing_size)
			return kb_err_set(err, -EINVAL,
					  "%s: qcow2 backing file name holds a NUL byte",
					  file);
		if (h->backing_offset >= h->header_length)
			end = (size_t)h->backing_offset;
	}
	ret = parse_extensions(buf, end, h->header_length, h, &names, &names_len, file,
			       err);
	if (ret)
		return ret;
	ret = check_incompat(h, names, names_len, file, err);
	if (ret)
		return ret;
	if (h->size > QCOW2_MAX_SIZE)
		return kb_err_set(err, -EINVAL,
				  "%s: qcow2 virtual size %llu is absurd (at most 2^56)",
				  file, (unsigned long long)h->size);
	l2_cover = cs * (cs / 8);
	need = (h->size + l2_cover - 1) / l2_cover;
	if (h->l1_size < need)
		return kb_err_set(
			err, -EINVAL,
			"%s: qcow2 l1_size %u is too small for the virtual size (%llu entries needed)",
			file, h->l1_size, (unsigned long long)need);
	if ((uint64_t)h->l1_size * 8 > QCOW2_MAX_L1_BYTES)
		return kb_err_set(err, -EINVAL, "%s: qcow2 l1_size %u is absurd", file,
				  h->l1_size);
	if (h->l1_size) {
		ret = check_table(file, "L1 table", h->l1_offset, h->l1_size * 8ull, cs,
				  file_size, err);
		if (ret)
			return ret;
	}
	if (!h->reftable_clusters ||
	    (uint64_t)h->reftable_clusters * cs > QCOW2_MAX_REFTABLE_BYTES)
		return kb_err_set(err, -EINVAL,
				  "%s: qcow2 refcount_table_clusters %u is absurd", file,
				  h->reftable_clusters);
	ret = check_table(file, "refcount table", h->reftable_offset,
			  h->reftable_clusters * cs, cs, file_size, err);
	if (ret)
		return ret;
	if (ranges_overlap(h->l1_offset, h->l1_size * 8ull, h->reftable_offset,
			   h->reftable_clusters * cs))
		return kb_err_set(err, -EINVAL,
				  "%s: qcow2 L1 table and refcount table overlap", file);
	return 0;
}

void qcow2_note_end(struct qcow2 *q, uint64_t end)
{
	uint64_t cur = __atomic_load_n(&q->file_size, __ATOMIC_RELAXED);

	while (end > cur &&
	       !__atomic_compare_exchange_n(&q->file_size, &cur, end, true,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

uint64_t qcow2_file_size(const struct qcow2 *q)
{
	return __atomic_load_n(&q->file_size, __ATOMIC_RELAXED);
}

/*
 * preadv, or pwritev (@wq: the image written, whose end is noted), of the
 * whole vector @v (moved along) at @off, resuming short transfers: 0,
 * -errno, or -ENODATA when a transfer moved nothing (the end of the file),
 * with *v and *n what is left.
 */
static int xfer(int fd, struct qcow2 *wq, struct iovec **v, int *n, uint64_t off)
{
	ssize_t r = 0;

	for (;;) {
		block_iov_advance(v, n, (size_t)r);
		if (*n <= 0)
			return 0;
		r = wq ? pwritev(fd, *v, *n, (off_t)off) : preadv(fd, *v, *n, (off_t)off);
		if (r < 0 && errno == EINTR) {
			r = 0;
			continue;
		}
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ENODATA;
		off += (uint64_t)r;
		if (wq)
			qcow2_note_end(wq, off);
	}
}

int qcow2_preadv(int fd, struct iovec *v, int n, uint64_t off, bool zero_past_end)
{
	int ret = xfer(fd, NULL, &v, &n, off);

	if (ret != -ENODATA)
		return ret;
	if (!zero_past_end)
		return -EIO;
	for (int i = 0; i < n; i++)
		memset(v[i].iov_base, 0, v[i].iov_len);
	return 0;
}

int qcow2_pread(int fd, void *buf, size_t len, uint64_t off)
{
	struct iovec v = { buf, len };

	return qcow2_preadv(fd, &v, 1, off, false);
}

int qcow2_pwritev(struct qcow2 *q, struct iovec *v, int n, uint64_t off)
{
	int ret = xfer(q->fd, q, &v, &n, off);

	return ret == -ENODATA ? -EIO : ret;
}

int qcow2_pwrite(struct qcow2 *q, const void *buf, size_t len, uint64_t off)
{
	struct iovec v = { (void *)buf, len };

	if (q->ro)
		return -EROFS;
	if (off > QCOW2_MAX_SIZE || len > QCOW2_MAX_SIZE - off)
		return -EIO;
	return qcow2_pwritev(q, &v, 1, off);
}

/* ---- Metadata overlap set ---- */

static size_t meta_lower(const struct qcow2 *q, uint64_t v)
{
	size_t lo = 0, hi = q->nr_meta;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (q->meta[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int qcow2_meta_add(struct qcow2 *q, uint64_t off)
{
	size_t i = meta_lower(q, off);

	if (i < q->nr_meta && q->meta[i] == off)
		return 0;
	if (q->nr_meta == q->meta_cap) {
		size_t cap = q->meta_cap ? q->meta_cap * 2 : 64;
		uint64_t *m = realloc(q->meta, cap * sizeof(*m));

		if (!m)
			return -ENOMEM;
		q->meta = m;
		q->meta_cap = cap;
	}
	memmove(q->meta + i + 1, q->meta + i, (q->nr_meta - i) * sizeof(*q->meta));
	q->meta[i] = off;
	q->nr_meta++;
	return 0;
}

bool qcow2_overlaps_meta(const struct qcow2 *q, uint64_t off, uint64_t len)
{
	uint64_t cs = q->cluster_size;
	size_t i;

	if (ranges_overlap(off, len, 0, cs) ||
	    ranges_overlap(off, len, q->h.l1_offset, q->h.l1_size * 8ull) ||
	    ranges_overlap(off, len, q->h.reftable_offset, q->reftable_entries * 8))
		return true;
	i = meta_lower(q, off >= cs ? off - cs + 1 : 0);
	return i < q->nr_meta && q->meta[i] < off + len;
}

/* ---- Caches ---- */

static int cache_init(struct qcow2_cache *c, uint64_t cs)
{
	uint64_t n = CACHE_BYTES / cs;

	c->n = (unsigned int)(n < 8 ? 8 : n > 64 ? 64 : n);
	c->ent = calloc(c->n, sizeof(*c->ent));
	if (!c->ent)
		return -ENOMEM;
	for (unsigned int i = 0; i < c->n; i++) {
		c->ent[i].data = malloc(cs);
		if (!c->ent[i].data)
			return -ENOMEM;
	}
	return 0;
}

static void cache_free(struct qcow2_cache *c)
{
	for (unsigned int i = 0; c->ent && i < c->n; i++)
		free(c->ent[i].data);
	free(c->ent);
	c->ent = NULL;
}

struct qcow2_cache_ent *qcow2_cache_find(const struct qcow2_cache *c, uint64_t off)
{
	for (unsigned int i = 0; off && i < c->n; i++) {
		if (c->ent[i].offset == off)
			return &c->ent[i];
	}
	return NULL;
}

int qcow2_cache_get(struct qcow2 *q, struct qcow2_cache *c, uint64_t off, bool fill_zero,
		    struct qcow2_cache_ent **ent)
{
	struct qcow2_cache_ent *victim = qcow2_cache_find(c, off);
	uint64_t fsize;
	int ret;

	if (victim) {
		victim->used = ++c->clock;
		if (fill_zero)
			memset(victim->data, 0, q->cluster_size);
		*ent = victim;
		return 0;
	}
	victim = &c->ent[0];
	for (unsigned int i = 1; i < c->n; i++) {
		if (c->ent[i].used < victim->used)
			victim = &c->ent[i];
	}
	victim->offset = 0;
	if (fill_zero) {
		memset(victim->data, 0, q->cluster_size);
	} else {
		fsize = qcow2_file_size(q);
		if (off > fsize || q->cluster_size > fsize - off)
			return -EIO;
		ret = qcow2_pread(q->fd, victim->data, q->cluster_size, off);
		if (ret)
			return ret;
	}
	victim->offset = off;
	victim->used = ++c->clock;
	*ent = victim;
	return 0;
}

bool qcow2_bad_table(const struct qcow2 *q, uint64_t off)
{
	uint64_t cs = q->cluster_size;

	return (off & (cs - 1)) || off < cs ||
	       ranges_overlap(off, cs, q->h.l1_offset, q->h.l1_size * 8ull) ||
	       ranges_overlap(off, cs, q->h.reftable_offset, q->reftable_entries * 8);
}

int qcow2_l2_get(struct qcow2 *q, uint64_t l1i, struct qcow2_cache_ent **ent)
{
	uint64_t off;

	*ent = NULL;
	if (l1i >= q->h.l1_size)
		return 0;
	off = q->l1[l1i] & QCOW2_OFFSET_MASK;
	if (!off)
		return 0;
	if (qcow2_bad_table(q, off)) {
		log_warn("%s: L1 entry %llu points to a bad L2 table offset 0x%llx",
			 q->file, (unsigned long long)l1i, (unsigned long long)off);
		return -EIO;
	}
	return qcow2_cache_get(q, &q->l2c, off, false, ent);
}

/* ---- Open and close ---- */

static int read_table(struct qcow2 *q, uint64_t off, uint64_t n, uint64_t **out)
{
	uint64_t *t = malloc(n ? n * 8 : 8);
	int ret;

	if (!t)
		return -ENOMEM;
	ret = qcow2_pread(q->fd, t, n * 8, off);
	if (ret) {
		free(t);
		return ret;
	}
	for (uint64_t i = 0; i < n; i++)
		t[i] = qcow2_be64((const uint8_t *)&t[i]);
	*out = t;
	return 0;
}

/* Refusals for read-write use; clears the autoclear bits (no feature they
 * guard is kept up to date here). */
static int check_writable(struct qcow2 *q, struct kb_err *err)
{
	uint8_t zero[8] = { 0 };

	if (q->h.incompat & QCOW2_INCOMPAT_DIRTY)
		return kb_err_set(
			err, -ENOTSUP,
			"%s: qcow2 dirty bit set (lazy refcounts not brought up to date): run 'qemu-img check -r all' on it first, or add ',ro'",
			q->file);
	if (q->h.incompat & QCOW2_INCOMPAT_CORRUPT)
		return kb_err_set(
			err, -ENOTSUP,
			"%s: qcow2 image is marked corrupt: repair it with 'qemu-img check -r all', or add ',ro'",
			q->file);
	if (q->h.nb_snapshots)
		return kb_err_set(
			err, -ENOTSUP,
			"%s: qcow2 internal snapshots (%u) are not supported for writing: add ',ro'",
			q->file, q->h.nb_snapshots);
	if (q->h.autoclear) {
		if (qcow2_pwrite(q, zero, sizeof(zero), 88))
			return kb_err_set(err, -EIO, "%s: clearing autoclear_features",
					  q->file);
		q->h.autoclear = 0;
	}
	return 0;
}

/* @st: the image's own (for the loop check). */
static int open_backing(struct qcow2 *q, const struct stat *st, int depth,
			const uint64_t *chain, struct kb_err *err)
{
	char path[PATH_MAX + 1024];
	const char *slash = strrchr(q->file, '/');
	uint64_t *next = malloc((size_t)(depth + 1) * 2 * sizeof(*next));
	int ret;

	if (!next)
		return kb_err_set(err, -ENOMEM, "out of memory");
	if (depth)
		memcpy(next, chain, (size_t)depth * 2 * sizeof(*next));
	next[depth * 2] = st->st_dev;
	next[depth * 2 + 1] = st->st_ino;
	if (q->h.backing_file[0] == '/' || !slash)
		snprintf(path, sizeof(path), "%s", q->h.backing_file);
	else
		snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - q->file), q->file,
			 q->h.backing_file);
	ret = qimg_open(path, q->h.backing_fmt, depth + 1, next, &q->backing, err);
	free(next);
	if (ret)
		kb_err_prefix(err, "%s: backing file", q->file);
	return ret;
}

int qcow2_open(int fd, const char *file, bool ro, int depth, const uint64_t *chain,
	       struct qcow2 **out, struct kb_err *err)
{
	struct qcow2 *q = calloc(1, sizeof(*q));
	size_t hlen = 1u << QCOW2_MAX_CLUSTER_BITS;
	uint8_t *buf = NULL;
	struct stat st;
	int ret;

	*out = NULL;
	if (!q)
		return kb_err_set(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&q->lock, NULL);
	q->fd = fd;
	q->ro = ro;
	snprintf(q->file, sizeof(q->file), "%s", file);
	if (fstat(fd, &st) < 0) {
		ret = kb_err_set(err, -errno, "%s: %s", file, strerror(errno));
		goto fail;
	}
	q->file_size = (uint64_t)st.st_size;
	if (hlen > q->file_size)
		hlen = (size_t)q->file_size;
	buf = malloc(hlen ? hlen : 1);
	if (!buf) {
		ret = kb_err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	if (qcow2_pread(fd, buf, hlen, 0)) {
		ret = kb_err_set(err, -EIO, "%s: reading the qcow2 header failed", file);
		goto fail;
	}
	ret = qcow2_parse_header(buf, hlen, q->file_size, file, &q->h, err);
	if (ret)
		goto fail;
	q->cluster_size = 1ull << q->h.cluster_bits;
	q->l2_bits = q->h.cluster_bits - 3;
	q->refcount_bits = 1u << q->h.refcount_order;
	q->refblock_entries = q->cluster_size * 8 / q->refcount_bits;
	q->refcount_max =
		q->refcount_bits == 64 ? UINT64_MAX : (1ull << q->refcount_bits) - 1;
	q->reftable_entries = q->h.reftable_clusters * q->cluster_size / 8;
	ret = read_table(q, q->h.l1_offset, q->h.l1_size, &q->l1);
	if (!ret)
		ret = read_table(q, q->h.reftable_offset, q->reftable_entries,
				 &q->reftable);
	if (ret) {
		ret = kb_err_set(err, ret, "%s: reading the qcow2 tables: %s", file,
				 strerror(-ret));
		goto fail;
	}
	for (uint64_t i = 0; i < q->h.l1_size; i++) {
		uint64_t off = q->l1[i] & QCOW2_OFFSET_MASK;

		if (off && !(off & (q->cluster_size - 1)) && qcow2_meta_add(q, off))
			goto nomem;
	}
	for (uint64_t i = 0; i < q->reftable_entries; i++) {
		uint64_t off = q->reftable[i] & ~511ull;

		if (off && !(off & (q->cluster_size - 1)) && qcow2_meta_add(q, off))
			goto nomem;
	}
	if (cache_init(&q->l2c, q->cluster_size) || cache_init(&q->rbc, q->cluster_size))
		goto nomem;
	if (!ro) {
		ret = check_writable(q, err);
		if (ret)
			goto fail;
	}
	if (q->h.backing_file[0]) {
		ret = open_backing(q, &st, depth, chain, err);
		if (ret)
			goto fail;
	}
	free(buf);
	*out = q;
	return 0;
nomem:
	ret = kb_err_set(err, -ENOMEM, "out of memory");
fail:
	free(buf);
	qcow2_close(q);
	return ret;
}

void qcow2_close(struct qcow2 *q)
{
	if (!q)
		return;
	qimg_close(q->backing);
	cache_free(&q->l2c);
	cache_free(&q->rbc);
	free(q->l1);
	free(q->reftable);
	free(q->meta);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

int qimg_open(const char *file, const char *fmt, int depth, const uint64_t *chain,
	      struct qimg **out, struct kb_err *err)
{
	struct qimg *img;
	uint8_t magic[4] = { 0 };
	struct stat st;
	int ret;

	*out = NULL;
	if (depth > QCOW2_MAX_BACKING_DEPTH)
		return kb_err_set(err, -ELOOP, "%s: backing chain deeper than %d images",
				  file, QCOW2_MAX_BACKING_DEPTH);
	if (fmt[0] && strcmp(fmt, "raw") && strcmp(fmt, "qcow2"))
		return kb_err_set(
			err, -ENOTSUP,
			"%s: backing format '%s' is not supported (raw or qcow2)", file,
			fmt);
	img = calloc(1, sizeof(*img));
	if (!img)
		return kb_err_set(err, -ENOMEM, "out of memory");
	img->fd = open(file, O_RDONLY | O_CLOEXEC);
	if (img->fd < 0) {
		ret = kb_err_set(err, -errno, "%s: %s", file, strerror(errno));
		goto fail;
	}
	if (fstat(img->fd, &st) < 0 || (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))) {
		ret = kb_err_set(err, -EINVAL, "%s: not a regular file", file);
		goto fail;
	}
	for (int i = 0; i < depth; i++) {
		if (chain[2 * i] == st.st_dev && chain[2 * i + 1] == st.st_ino) {
			ret = kb_err_set(err, -ELOOP, "%s: backing chain loop", file);
			goto fail;
		}
	}
	/* A shared lock: no kvmbox writes a backing file while it is in use. */
	if (fcntl(img->fd, F_OFD_SETLK,
		  &(struct flock){ .l_type = F_RDLCK, .l_whence = SEEK_SET }) < 0 &&
	    (errno == EAGAIN || errno == EACCES)) {
		ret = kb_err_set(err, -EBUSY,
				 "%s: in use by another process (it holds a write lock)",
				 file);
		goto fail;
	}
	img->size = (uint64_t)st.st_size;
	if (S_ISBLK(st.st_mode)) {
		off_t end = lseek(img->fd, 0, SEEK_END);

		img->size = end > 0 ? (uint64_t)end : 0;
	}
	if (pread(img->fd, magic, 4, 0) == 4 && be32(magic) == QCOW2_MAGIC &&
	    strcmp(fmt, "raw"))
		img->qcow2 = true;
	if (!strcmp(fmt, "qcow2"))
		img->qcow2 = true;
	if (img->qcow2) {
		ret = qcow2_open(img->fd, file, true, depth, chain, &img->q, err);
		if (ret)
			goto fail;
		img->size = img->q->h.size;
	}
	*out = img;
	return 0;
fail:
	qimg_close(img);
	return ret;
}

void qimg_close(struct qimg *img)
{
	if (!img)
		return;
	qcow2_close(img->q);
	if (img->fd >= 0)
		close(img->fd);
	free(img);
}
