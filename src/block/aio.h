/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_BLOCK_AIO_H
#define KVMBOX_BLOCK_AIO_H

#include <stdint.h>

#include "block/block.h"
#include "util/err.h"
#include "vm/event.h"

/*
 * The I/O engine under the block drivers: runs block_reqs on a file
 * descriptor off the caller's thread and hands the completions to the
 * event loop (an eventfd registered with event_add()). Two engines:
 * io_uring (liburing, when built with it and the kernel allows it) and a
 * pool of worker threads doing the same system calls synchronously.
 *
 * Per request: READ/WRITE loop until the whole length is transferred
 * (short transfers are resumed, 0 bytes is -EIO); FLUSH is fdatasync;
 * DISCARD punches a hole (keeping the size; -EOPNOTSUPP counts as done:
 * discarding is a hint); WRITE_ZEROES tries FALLOC_FL_ZERO_RANGE, then
 * FALLOC_FL_PUNCH_HOLE (first when may_unmap), then writes zeroes.
 * With @mem_align (direct I/O), buffers not aligned to it (address, and
 * length to @len_align) go through an aligned bounce buffer.
 */
struct aio_ctx;

int aio_create(struct aio_ctx **out, struct event_loop *loop, enum block_aio kind,
	       uint32_t mem_align, uint32_t len_align, struct kb_err *err);
/* Runs @r on @fd at file offset @off (r->offset is left alone; READ/WRITE
 * take r->len as block_submit() set it): 0, or -errno with done() not
 * called (-ESHUTDOWN while closing). */
int aio_submit(struct aio_ctx *c, int fd, uint64_t off, struct block_req *r);
/* Waits until every submitted request has finished its I/O; their done()
 * calls are left to the event loop. Any thread; takes no lock a done()
 * callback could hold. */
void aio_drain(struct aio_ctx *c);
/* Between plug and unplug, io_uring submissions are queued and go to the
 * kernel in one system call at unplug (no-op for the thread pool). */
void aio_plug(struct aio_ctx *c);
void aio_unplug(struct aio_ctx *c);
void aio_set_batch_fn(struct aio_ctx *c, void (*fn)(void *arg), void *arg);
/* "io_uring" or "threads". */
const char *aio_engine_name(const struct aio_ctx *c);
/* Drains, unregisters from the loop, calls the remaining done()s on this
 * thread (later submissions get -ESHUTDOWN) and frees. */
void aio_destroy(struct aio_ctx *c);

#endif
