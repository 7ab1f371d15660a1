/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_BLOCK_WORKPOOL_H
#define KVMBOX_BLOCK_WORKPOOL_H

#include "block/block.h"
#include "util/err.h"
#include "vm/event.h"

/*
 * Runs block_reqs on a pool of worker threads and hands their done()
 * calls to the event loop through an eventfd registered with event_add():
 * the mechanism under aio.c's thread engine and the qcow2 driver.
 *
 * A worker takes the requests in submission order and runs work() on
 * each, unlocked (so requests run in parallel, up to the thread count);
 * the request then goes to the done list and the eventfd is kicked. The
 * loop calls reap() (requests finished elsewhere, handed over with
 * workpool_complete()), then each done(r, r->res), then the batch
 * callback if any done() ran.
 *
 * Locking: the pool's lock is never held while work(), reap() or a done()
 * callback runs, so callbacks may submit again; workpool_submit() and
 * workpool_complete() may be called under a lock of the caller's.
 */
struct workpool;

struct workpool_conf {
	const char *name; /* in messages: "block", "qcow2" */
	const char *thread_name;
	/* On a worker thread: does @r and sets r->res. */
	void (*work)(void *arg, struct block_req *r);
	/* Optional, on the loop: completes what finished off the pool. */
	void (*reap)(void *arg);
	void *arg;
};

/* The eventfd, not yet on the loop, no threads yet. */
int workpool_create(struct workpool **out, struct event_loop *loop,
		    const struct workpool_conf *conf, struct kb_err *err);
/* Starts @nr_threads workers (0: completions only) and registers with the
 * loop. */
int workpool_start(struct workpool *p, int nr_threads, struct kb_err *err);
/* The completion eventfd (e.g. for io_uring to signal). */
int workpool_efd(const struct workpool *p);
/* Queues @r for a worker: 0, or -ESHUTDOWN (done() not called). */
int workpool_submit(struct workpool *p, struct block_req *r);
/* @r (not submitted to the pool) is over: its done() is due, with
 * workpool_kick() or the next wakeup of the eventfd. */
void workpool_complete(struct workpool *p, struct block_req *r);
void workpool_kick(struct workpool *p);
/* Waits until the workers have finished every submitted request (their
 * done() calls are left to the loop). Any thread. */
void workpool_drain(struct workpool *p);
void workpool_set_batch_fn(struct workpool *p, void (*fn)(void *arg), void *arg);
/* Shuts down, drains, unregisters from the loop, stops the workers, calls
 * the remaining done()s on this thread and frees. NULL is a no-op. */
void workpool_destroy(struct workpool *p);

#endif
