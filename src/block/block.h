/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_BLOCK_BLOCK_H
#define KVMBOX_BLOCK_BLOCK_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "util/err.h"
#include "vm/event.h"

/*
 * Block backends: a disk image opened from a spec string, served
 * asynchronously. Requests are submitted from any thread (normally the
 * event-loop thread) and complete later: the backend does the I/O off the
 * caller's thread (io_uring, or a small thread pool) and calls each
 * request's done() on the event-loop thread, so device code that submits
 * and completes there runs on one thread.
 *
 * Every submitted request (block_submit() returned 0) gets exactly one
 * done() call: from the event loop, or from block_close() on the thread
 * that closes.
 */

/* The virtio-blk ID size: a serial longer than this cannot be reported. */
#define BLOCK_SERIAL_MAX 20

enum block_format {
	BLOCK_FORMAT_AUTO, /* qcow2 if the file starts with its magic, else raw */
	BLOCK_FORMAT_RAW,
	BLOCK_FORMAT_QCOW2,
};

enum block_aio {
	BLOCK_AIO_AUTO, /* io_uring if built in and the kernel allows it */
	BLOCK_AIO_IO_URING,
	BLOCK_AIO_THREADS,
};

/* FILE[,ro][,direct][,serial=ID][,format=raw|qcow2][,aio=io_uring|threads] */
struct block_spec {
	char file[PATH_MAX];
	bool ro;
	bool direct; /* O_DIRECT: bypass the host page cache */
	char serial[BLOCK_SERIAL_MAX + 1]; /* "" when not given */
	enum block_format format;
	enum block_aio aio;
};

/*
 * Parses @spec. A "," inside the file name (or a value) is written ",,".
 * Flags take no value or on/off. Errors (-EINVAL) name the key and the
 * value: unknown key, empty file name, a key given twice, a bad value, a
 * serial longer than BLOCK_SERIAL_MAX bytes, a format other than raw or
 * qcow2. Without format=, block_open() detects it from the file's content.
 */
int block_parse_spec(const char *spec, struct block_spec *out, struct kb_err *err);

enum block_op {
	BLOCK_OP_READ,
	BLOCK_OP_WRITE,
	BLOCK_OP_FLUSH, /* fdatasync */
	BLOCK_OP_DISCARD, /* deallocate; may be a no-op */
	BLOCK_OP_WRITE_ZEROES,
};

struct block_req;
/* @res: 0 (a transfer is always complete) or -errno. */
typedef void (*block_done_fn)(struct block_req *r, int res);

/*
 * One request, owned by the caller and left alone by it until done().
 * READ/WRITE transfer the iovecs' total length at @offset: the backend may
 * rewrite the iovec array (to resume short transfers), not the data
 * pointers' memory other than for reads. DISCARD/WRITE_ZEROES cover
 * [offset, offset + len). Offsets and lengths are in bytes; the device
 * layer keeps them sector-aligned (and block-aligned for direct I/O).
 */
struct block_req {
	enum block_op op;
	struct iovec *iov;
	int iovcnt;
	uint64_t offset;
	uint64_t len; /* DISCARD/WRITE_ZEROES (READ/WRITE: set by submit) */
	bool may_unmap; /* WRITE_ZEROES may deallocate */
	block_done_fn done;
	void *opaque;

	/* Private to the backend. */
	struct block_req *next;
	int fd;
	uint64_t file_offset; /* where the I/O engine works: offset translated */
	int stage;
	int res;
	uint64_t progress;
	void *bounce;
	struct iovec tmp_iov;
};

struct block_dev;
struct aio_ctx;

/* A format driver (raw, qcow2). Each submit function starts the
 * request or returns -errno without calling done(). */
struct block_ops {
	const char *format;
	/* Opens spec->file into @b (block_open_file() does the common part)
	 * and sets b->aio up. */
	int (*open)(struct block_dev *b, const struct block_spec *spec,
		    struct kb_err *err);
	int (*readv)(struct block_dev *b, struct block_req *r);
	int (*writev)(struct block_dev *b, struct block_req *r);
	int (*flush)(struct block_dev *b, struct block_req *r);
	int (*discard)(struct block_dev *b, struct block_req *r);
	int (*write_zeroes)(struct block_dev *b, struct block_req *r);
	/* Virtual disk size in bytes. */
	uint64_t (*size)(struct block_dev *b);
	/* Waits until no submitted request touches memory or the file any
	 * more (done() calls may still be pending for the event loop). */
	void (*drain)(struct block_dev *b);
	/* Drains, delivers the pending done() calls on this thread and frees
	 * the driver's state (not @b). */
	void (*close)(struct block_dev *b);
	/* Optional: the batch callback (else b->aio's is used). */
	void (*set_batch_fn)(struct block_dev *b, void (*fn)(void *arg), void *arg);
};

struct block_dev {
	const struct block_ops *ops;
	char file[PATH_MAX];
	int fd;
	bool ro;
	bool direct;
	uint32_t logical_block_size; /* 512 or the host device's */
	uint32_t physical_block_size;
	/* direct: buffers are aligned to dio_mem_align and their lengths to
	 * dio_len_align (else the engine bounces them). */
	uint32_t dio_mem_align;
	uint32_t dio_len_align;
	struct event_loop *loop;
	struct aio_ctx *aio;
	void *priv; /* the driver's */
};

/*
 * Opens the image of @spec: the file read-write (read-only with ro, with
 * O_DIRECT with direct), locked against other processes (an OFD write
 * lock, a read lock when ro: "in use by another process" if held), sized
 * (regular file or block device). Completions go to @loop.
 */
int block_open(const struct block_spec *spec, struct event_loop *loop,
	       struct block_dev **out, struct kb_err *err);
/* Checks @r against the disk (range, read-only, zero length) and starts it:
 * 0 (done() will be called) or -errno (-EROFS, -EINVAL out of range). */
int block_submit(struct block_dev *b, struct block_req *r);
/* Submissions between plug and unplug may be held back and started
 * together at unplug (one system call for a batch). */
void block_plug(struct block_dev *b);
void block_unplug(struct block_dev *b);
uint64_t block_size(struct block_dev *b);
void block_drain(struct block_dev *b);
/* Called on the event-loop thread after each batch of done() calls (a
 * place to raise one interrupt for many completions); NULL to clear. */
void block_set_batch_fn(struct block_dev *b, void (*fn)(void *arg), void *arg);
/* Drains, delivers pending completions on the calling thread (which must
 * not hold a lock that a done() callback takes), closes and frees. */
void block_close(struct block_dev *b);

/* For drivers: the open, lock and size steps of block_open(). Sets b->fd,
 * ->file, ->ro, ->direct, ->*_block_size and *size. */
int block_open_file(struct block_dev *b, const struct block_spec *spec, uint64_t *size,
		    struct kb_err *err);
/* Drops @n transferred bytes (and any empty entries) from the front of an
 * iovec array, to resume a short transfer (inline: the fuzz targets build
 * the qcow2 files without block.c). */
static inline void block_iov_advance(struct iovec **iov, int *cnt, size_t n)
{
	while (*cnt > 0 && n >= (*iov)->iov_len) {
		n -= (*iov)->iov_len;
		(*iov)++;
		(*cnt)--;
	}
	if (*cnt > 0 && n) {
		(*iov)->iov_base = (uint8_t *)(*iov)->iov_base + n;
		(*iov)->iov_len -= n;
	}
}

extern const struct block_ops block_raw_ops;
extern const struct block_ops block_qcow2_ops;

#endif
