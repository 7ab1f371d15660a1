/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_BLOCK_QCOW2_H
#define KVMBOX_BLOCK_QCOW2_H

/*
 * qcow2 images (versions 2 and 3), internal interface shared by
 * qcow2_meta.c (header, L1/L2 tables, caches), qcow2_refcount.c (refcounts
 * and cluster allocation), qcow2_io.c (synchronous reads and writes on an
 * image and its backing chain) and qcow2.c (the block driver).
 *
 * Locking: q->lock protects the table caches, the refcount state and the
 * in-memory L1/refcount tables; every metadata function below expects it
 * held. Mappings (L1/L2/refcount contents) only change through
 * qcow2_write(..., alloc = true), qcow2_zero() and qcow2_discard(), which
 * the caller runs exclusively (no other reader or writer of @q): so a
 * reader may look a mapping up under q->lock and do its data I/O after
 * dropping it.
 *
 * Metadata is written through (pwrite as soon as it changes), in an order
 * that keeps the image consistent if the process dies between any two
 * writes: a cluster's refcount is raised before anything points to it,
 * a table's content is written before the entry pointing to it, and
 * refcounts are dropped only after the last pointer is gone (a crash
 * leaks clusters, never corrupts).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "util/err.h"

#define QCOW2_MAGIC 0x514649fbu /* "QFI\xfb" */
#define QCOW2_MIN_CLUSTER_BITS 9
#define QCOW2_MAX_CLUSTER_BITS 21
#define QCOW2_MAX_BACKING_DEPTH 16
#define QCOW2_MAX_L1_BYTES (32u << 20)
#define QCOW2_MAX_REFTABLE_BYTES (8u << 20)
#define QCOW2_MAX_SIZE (1ull << 56) /* virtual size and host offsets */

#define QCOW2_OFLAG_COPIED (1ull << 63)
#define QCOW2_OFLAG_COMPRESSED (1ull << 62)
#define QCOW2_OFLAG_ZERO 1ull
#define QCOW2_OFFSET_MASK 0x00fffffffffffe00ull

#define QCOW2_INCOMPAT_DIRTY (1ull << 0)
#define QCOW2_INCOMPAT_CORRUPT (1ull << 1)
#define QCOW2_INCOMPAT_DATA_FILE (1ull << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ull << 3)
#define QCOW2_INCOMPAT_EXTL2 (1ull << 4)

enum qcow2_compression {
	QCOW2_COMPRESS_DEFLATE = 0,
	QCOW2_COMPRESS_ZSTD = 1,
};

/* The header fields, parsed and checked against the file size. */
struct qcow2_header {
	uint32_t version;
	uint32_t cluster_bits;
	uint64_t size;
	uint64_t backing_offset;
	uint32_t backing_size;
	uint32_t crypt_method;
	uint32_t l1_size;
	uint64_t l1_offset;
	uint64_t reftable_offset;
	uint32_t reftable_clusters;
	uint32_t nb_snapshots;
	uint64_t snapshots_offset;
	uint64_t incompat;
	uint64_t compat;
	uint64_t autoclear;
	uint32_t refcount_order;
	uint32_t header_length;
	uint32_t compression;
	char backing_file[1024]; /* "" when none */
	char backing_fmt[32]; /* from the header extension, "" when none */
};

/* A cached cluster-sized table (L2 table or refcount block), big-endian as
 * on disk. */
struct qcow2_cache_ent {
	uint64_t offset; /* 0: empty */
	uint64_t used; /* LRU stamp */
	uint8_t *data;
};

struct qcow2_cache {
	struct qcow2_cache_ent *ent;
	unsigned int n;
	uint64_t clock;
};

struct qimg;

struct qcow2 {
	int fd;
	char file[4096];
	bool ro;
	struct qcow2_header h;
	uint64_t cluster_size;
	uint32_t l2_bits; /* log2 of entries per L2 table */
	uint64_t file_size; /* bytes, kept up to date on writes (atomic) */

	uint64_t *l1; /* host order */
	uint64_t *reftable; /* host order */
	uint64_t reftable_entries;
	uint32_t refcount_bits;
	uint64_t refblock_entries;
	uint64_t refcount_max;
	uint64_t free_hint; /* no free cluster below this index */

	/* Cluster offsets of L2 tables and refcount blocks, sorted: a write
	 * that would land on metadata is refused. */
	uint64_t *meta;
	size_t nr_meta, meta_cap;

	struct qcow2_cache l2c, rbc;
	pthread_mutex_t lock;

	struct qimg *backing;
};

/* An image in a backing chain: raw or qcow2, read-only. */
struct qimg {
	int fd;
	bool qcow2;
	uint64_t size;
	struct qcow2 *q;
};

/* ---- qcow2_meta.c ---- */

/*
 * Parses the header in @buf (the first @len bytes of the file, at least
 * the first cluster where the file has one) of a file of @file_size bytes.
 * Refuses, with a message naming @file and the field or feature, what this
 * driver cannot use or what cannot be right.
 */
int qcow2_parse_header(const uint8_t *buf, size_t len, uint64_t file_size,
		       const char *file, struct qcow2_header *h, struct kb_err *err);
/*
 * Opens the qcow2 image on @fd (owned by the caller, who closes it after
 * qcow2_close()), its tables and its backing chain (@depth images above).
 * @ro: never written. @chain: st_ino/st_dev pairs of the images above, for
 * the loop check.
 */
int qcow2_open(int fd, const char *file, bool ro, int depth, const uint64_t *chain,
	       struct qcow2 **out, struct kb_err *err);
void qcow2_close(struct qcow2 *q);
/* Opens the image @file read-only as a backing file (format by content,
 * or @fmt when given). */
int qimg_open(const char *file, const char *fmt, int depth, const uint64_t *chain,
	      struct qimg **out, struct kb_err *err);
void qimg_close(struct qimg *img);

/* L2 table of L1 index @l1i into the cache: *ent, or NULL when the L1
 * entry is empty. -EIO on a bad table offset. */
int qcow2_l2_get(struct qcow2 *q, uint64_t l1i, struct qcow2_cache_ent **ent);
/* The cached table at @off, or NULL (no LRU update). */
struct qcow2_cache_ent *qcow2_cache_find(const struct qcow2_cache *c, uint64_t off);
/* A cluster-sized table at @off through @c (read from the file if not
 * cached). */
int qcow2_cache_get(struct qcow2 *q, struct qcow2_cache *c, uint64_t off, bool fill_zero,
		    struct qcow2_cache_ent **ent);
/* Whether @off cannot hold an L2 table or refcount block: unaligned, on
 * the header, the L1 table or the refcount table. */
bool qcow2_bad_table(const struct qcow2 *q, uint64_t off);
/* Whether [off, off + len) touches the header, L1 table, refcount table,
 * an L2 table or a refcount block. */
bool qcow2_overlaps_meta(const struct qcow2 *q, uint64_t off, uint64_t len);
int qcow2_meta_add(struct qcow2 *q, uint64_t off);
/* The file now reaches at least @end (any thread). */
void qcow2_note_end(struct qcow2 *q, uint64_t end);
uint64_t qcow2_file_size(const struct qcow2 *q);
/* pread/pwrite of the whole length: short reads are -EIO. */
int qcow2_pread(int fd, void *buf, size_t len, uint64_t off);
int qcow2_pwrite(struct qcow2 *q, const void *buf, size_t len, uint64_t off);
/* The same for a vector (moved along); with @zero_past_end, what lies past
 * the end of the file reads as zeroes. */
int qcow2_preadv(int fd, struct iovec *v, int n, uint64_t off, bool zero_past_end);
int qcow2_pwritev(struct qcow2 *q, struct iovec *v, int n, uint64_t off);
uint64_t qcow2_be64(const uint8_t *p);
void qcow2_put_be64(uint8_t *p, uint64_t v);

/* ---- qcow2_refcount.c ---- */

int qcow2_refcount_get(struct qcow2 *q, uint64_t cluster, uint64_t *val);
/* Allocates @n contiguous clusters (refcount 1, written): *off. */
int qcow2_alloc(struct qcow2 *q, uint64_t n, uint64_t *off);
/* Drops one reference on each cluster of [off, off + len). */
int qcow2_free(struct qcow2 *q, uint64_t off, uint64_t len);

/* ---- qcow2_io.c ---- */

/* Reads [off, off + len) of the virtual disk into @iov. */
int qcow2_readv(struct qcow2 *q, uint64_t off, const struct iovec *iov, int cnt);
/* Writes; with !alloc, only clusters that can be written in place are
 * and -EAGAIN tells that the rest needs qcow2_writev(alloc = true), run
 * exclusively. */
int qcow2_writev(struct qcow2 *q, uint64_t off, const struct iovec *iov, int cnt,
		 bool alloc);
/* Under q->lock, without I/O: the host offset of [off, off + len) if it
 * is one run of allocated clusters (writable in place with @write) whose
 * L2 table is cached; else -EAGAIN. */
int qcow2_map_cached(struct qcow2 *q, uint64_t off, uint64_t len, bool write,
		     uint64_t *host);
/* Exclusive: WRITE_ZEROES (deallocates with @unmap) and DISCARD. */
int qcow2_zero(struct qcow2 *q, uint64_t off, uint64_t len, bool unmap);
int qcow2_discard(struct qcow2 *q, uint64_t off, uint64_t len);

#endif
