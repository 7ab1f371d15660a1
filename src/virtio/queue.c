// SPDX-License-Identifier: GPL-2.0-only
/*
 * Split virtqueues, device side (virtio 1.x, 2.7; section numbers are those
 * of virtio 1.2).
 *
 * The driver (the guest) owns the descriptor table and the available ring,
 * the device owns the used ring; both run concurrently on different CPUs.
 * Everything the guest wrote is read once into a local and checked there:
 * a second read could see a different value (time-of-check/time-of-use).
 * Every guest address goes through guest_mem_ptr() with its full length.
 *
 * Memory ordering (the guest side is the Linux driver's virtio_ring.c):
 *  - avail->idx is read with acquire semantics before the ring entries and
 *    the descriptors it publishes;
 *  - used ring entries are written before used->idx is published (release);
 *  - a full fence separates "publish something" from "read the other side's
 *    suppression field" (used->idx vs used_event/avail->flags, avail_event
 *    or used->flags vs avail->idx), otherwise the store could be delayed
 *    past the load and both sides could decide not to notify.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include "virtio/queue.h"

/* Indirect tables may be larger than the queue (Linux sizes them by the
 * request's segment count), but not without bound. */
#define VIRTQ_MAX_INDIRECT VIRTQ_MAX_SIZE

static inline struct vring_desc *vq_desc(const struct virtq *q)
{
	return q->desc;
}

static inline struct vring_avail *vq_avail(const struct virtq *q)
{
	return q->avail;
}

static inline struct vring_used *vq_used(const struct virtq *q)
{
	return q->used;
}

/* Compiler barrier: nothing read before it is re-read from guest memory
 * after it, and the values copied before it are the ones used after. */
static inline void compiler_barrier(void)
{
	__asm__ __volatile__("" : : : "memory");
}

static inline void full_fence(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static inline uint16_t load16(const void *p)
{
	return le16toh(__atomic_load_n((const uint16_t *)p, __ATOMIC_RELAXED));
}

static inline uint16_t load16_acquire(const void *p)
{
	return le16toh(__atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE));
}

static inline void store16(void *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)p, htole16(v), __ATOMIC_RELAXED);
}

static inline void store16_release(void *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)p, htole16(v), __ATOMIC_RELEASE);
}

static inline void store32(void *p, uint32_t v)
{
	__atomic_store_n((uint32_t *)p, htole32(v), __ATOMIC_RELAXED);
}

/* avail->ring[size]: written by the driver, "interrupt me after this". */
static inline uint16_t *used_event_ptr(const struct virtq *q)
{
	return (uint16_t *)&vq_avail(q)->ring[q->size];
}

/* used->ring[size]: written by the device, "kick me after this". */
static inline uint16_t *avail_event_ptr(const struct virtq *q)
{
	return (uint16_t *)&vq_used(q)->ring[q->size];
}

/*
 * The event-index test (2.7.7.2 / 2.7.10): the other side asked to be
 * told once the index moves past @event; the index moved from @old to
 * @new since we last checked. True iff @event lies in [old, new), computed
 * modulo 2^16 so that it works across wrap-around.
 */
static inline bool event_crossed(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

/*
 * Copies one descriptor out of guest memory. The table may be at any
 * address inside RAM (an indirect table has no alignment requirement we
 * could rely on), hence memcpy. The barrier keeps the compiler from
 * replacing later uses of *d with fresh reads of *p.
 */
static void read_desc(const void *p, struct vring_desc *d)
{
	memcpy(d, p, sizeof(*d));
	compiler_barrier();
	d->addr = le64toh(d->addr);
	d->len = le32toh(d->len);
	d->flags = le16toh(d->flags);
	d->next = le16toh(d->next);
}

void virtq_reset(struct virtq *q)
{
	memset(q, 0, sizeof(*q));
}

static bool is_aligned(uint64_t v, uint64_t align)
{
	return !(v & (align - 1));
}

static void virtq_stop(struct virtq *q)
{
	q->mem = NULL;
	q->desc = NULL;
	q->avail = NULL;
	q->used = NULL;
}

int virtq_start(struct virtq *q, const struct guest_mem *mem, bool event_idx,
		bool indirect)
{
	uint64_t size = q->size;
	void *desc, *avail, *used;

	virtq_stop(q);
	if (!mem || !size || size > VIRTQ_MAX_SIZE || (size & (size - 1)))
		return -EINVAL;
	if (!is_aligned(q->desc_gpa, VRING_DESC_ALIGN_SIZE) ||
	    !is_aligned(q->avail_gpa, VRING_AVAIL_ALIGN_SIZE) ||
	    !is_aligned(q->used_gpa, VRING_USED_ALIGN_SIZE))
		return -EINVAL;
	/* 2.7: desc 16 * size; avail 6 + 2 * size and used 6 + 8 * size, both
	 * with their trailing event field whether EVENT_IDX is used or not. */
	desc = guest_mem_ptr(mem, q->desc_gpa, 16 * size);
	avail = guest_mem_ptr(mem, q->avail_gpa, 6 + 2 * size);
	used = guest_mem_ptr(mem, q->used_gpa, 6 + 8 * size);
	if (!desc || !avail || !used)
		return -EINVAL;

	q->mem = mem;
	q->event_idx = event_idx;
	q->indirect = indirect;
	q->desc = desc;
	q->avail = avail;
	q->used = used;
	q->last_avail = 0;
	q->used_idx = 0;
	/* The driver's used_event starts at 0: the first used buffer is
	 * signalled, exactly as if we had checked at used_idx 0. */
	q->signalled_used = 0;
	q->signalled_used_valid = true;
	q->broken = false;
	q->no_notify = false;

	/* The device owns used->flags and avail_event: start with "kick me". */
	store16(&vq_used(q)->flags, 0);
	if (event_idx)
		store16(avail_event_ptr(q), 0);
	return 0;
}

static bool virtq_started(const struct virtq *q)
{
	return q->desc != NULL;
}

static int virtq_fail(struct virtq *q)
{
	q->broken = true;
	return -EINVAL;
}

/* Number of entries the driver made available; -1 if it claims more than
 * the ring can hold (it can never have more than @size outstanding). */
static int avail_pending(const struct virtq *q, uint16_t avail_idx)
{
	uint16_t n = avail_idx - q->last_avail;

	return n > q->size ? -1 : n;
}

static void set_avail_event(struct virtq *q)
{
	store16(avail_event_ptr(q), q->last_avail);
}

/* Walk state of one chain. */
struct chain {
	struct iovec *iov;
	int max_iov;
	int n; /* buffers seen (may exceed max_iov) */
	int nr_out; /* stored readable buffers */
	int nr_in; /* stored writable buffers */
	uint64_t out_len;
	uint64_t in_len;
	bool seen_write;
};

/* A plain (non-indirect) descriptor: check it and record its buffer. */
static int chain_add(const struct virtq *q, struct chain *c, const struct vring_desc *d)
{
	bool write = d->flags & VRING_DESC_F_WRITE;
	uint64_t *total;
	void *p;

	/* 2.7.4.2: no device-readable buffer after a device-writable one. */
	if (write)
		c->seen_write = true;
	else if (c->seen_write)
		return -EINVAL;
	/* An empty buffer carries nothing: its address is never used. */
	if (!d->len)
		return 0;
	p = guest_mem_ptr(q->mem, d->addr, d->len);
	if (!p)
		return -EINVAL;
	total = write ? &c->in_len : &c->out_len;
	if (__builtin_add_overflow(*total, d->len, total))
		return -EINVAL;
	if (c->n++ >= c->max_iov)
		return -E2BIG; /* keep walking: the chain must still be valid */
	c->iov[c->n - 1].iov_base = p;
	c->iov[c->n - 1].iov_len = d->len;
	if (write)
		c->nr_in++;
	else
		c->nr_out++;
	return 0;
}

/*
 * Walks the chain starting at @head. Returns 0, -EINVAL (malformed) or
 * -E2BIG (well-formed but more than max_iov buffers).
 */
static int walk_chain(const struct virtq *q, uint16_t head, struct chain *c)
{
	const uint8_t *table = (const uint8_t *)vq_desc(q);
	uint32_t table_size = q->size;
	uint32_t count = 0;
	bool in_indirect = false;
	bool too_big = false;
	uint32_t idx = head;
	struct vring_desc d;
	int ret;

	for (;;) {
		/* No chain visits more descriptors than its table holds:
		 * anything longer loops. */
		if (++count > table_size)
			return -EINVAL;
		read_desc(table + (size_t)idx * sizeof(d), &d);

		if (d.flags & VRING_DESC_F_INDIRECT) {
			/* 2.7.5.3.1: only if negotiated, never inside an
			 * indirect table, never together with NEXT. */
			if (!q->indirect || in_indirect || (d.flags & VRING_DESC_F_NEXT))
				return -EINVAL;
			if (!d.len || d.len % sizeof(d) ||
			    d.len / sizeof(d) > VIRTQ_MAX_INDIRECT)
				return -EINVAL;
			table = guest_mem_ptr(q->mem, d.addr, d.len);
			if (!table)
				return -EINVAL;
			/* The WRITE flag of this descriptor is ignored
			 * (2.7.5.3.2); the table starts at entry 0. */
			table_size = d.len / sizeof(d);
			in_indirect = true;
			count = 0;
			idx = 0;
			continue;
		}

		ret = chain_add(q, c, &d);
		if (ret == -E2BIG)
			too_big = true;
		else if (ret)
			return ret;

		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		idx = d.next;
		if (idx >= table_size)
			return -EINVAL;
	}
	return too_big ? -E2BIG : 0;
}

int virtq_pop(struct virtq *q, struct virtq_req *req, struct iovec *iov, int max_iov)
{
	struct chain c = { .iov = iov, .max_iov = max_iov > 0 ? max_iov : 0 };
	uint16_t avail_idx, head;
	int pending, ret;

	if (q->broken)
		return -EINVAL;
	if (!virtq_started(q))
		return 0;

	avail_idx = load16_acquire(&vq_avail(q)->idx);
	pending = avail_pending(q, avail_idx);
	if (pending < 0)
		return virtq_fail(q);
	if (!pending) {
		if (!q->event_idx || q->no_notify)
			return 0;
		/*
		 * Running dry with notifications on: ask for a kick at the
		 * next entry, then look again, so that an entry added just
		 * now is either seen here or kicked.
		 */
		set_avail_event(q);
		full_fence();
		avail_idx = load16_acquire(&vq_avail(q)->idx);
		pending = avail_pending(q, avail_idx);
		if (pending < 0)
			return virtq_fail(q);
		if (!pending)
			return 0;
	}

	head = load16(&vq_avail(q)->ring[q->last_avail & (q->size - 1)]);
	if (head >= q->size)
		return virtq_fail(q);

	ret = walk_chain(q, head, &c);
	if (ret == -EINVAL)
		return virtq_fail(q);

	memset(req, 0, sizeof(*req));
	req->head = head;
	req->iov = iov;
	if (!ret) {
		req->nr_out = c.nr_out;
		req->nr_in = c.nr_in;
		req->out_len = c.out_len;
		req->in_len = c.in_len;
	}
	q->last_avail++;
	if (q->event_idx && !q->no_notify)
		set_avail_event(q);
	return ret ? ret : 1;
}

void virtq_push(struct virtq *q, uint16_t head, uint32_t len)
{
	struct vring_used_elem *e;

	if (!virtq_started(q))
		return;
	e = &vq_used(q)->ring[q->used_idx & (q->size - 1)];
	store32(&e->id, head);
	store32(&e->len, len);
	q->used_idx++;
	/* The element must be visible before the index that publishes it. */
	store16_release(&vq_used(q)->idx, q->used_idx);
	/* 2^16 pushes without a check: the event window is lost, so the
	 * next check notifies unconditionally. */
	if (q->used_idx == q->signalled_used)
		q->signalled_used_valid = false;
}

bool virtq_should_notify(struct virtq *q)
{
	uint16_t old = q->signalled_used;
	uint16_t new_idx = q->used_idx;
	bool valid = q->signalled_used_valid;

	if (!virtq_started(q))
		return false;
	/* Nothing used since the last check: no interrupt, no fence. */
	if (valid && old == new_idx)
		return false;
	/* used->idx must be globally visible before we read what the driver
	 * asked for; pairs with the driver's fence between writing
	 * used_event / avail->flags and re-reading used->idx. */
	full_fence();
	q->signalled_used = new_idx;
	q->signalled_used_valid = true;
	if (!q->event_idx)
		return !(load16(&vq_avail(q)->flags) & VRING_AVAIL_F_NO_INTERRUPT);
	if (!valid)
		return true;
	return event_crossed(load16(used_event_ptr(q)), new_idx, old);
}

void virtq_disable_notify(struct virtq *q)
{
	if (!virtq_started(q))
		return;
	q->no_notify = true;
	/*
	 * With EVENT_IDX the used flags must stay 0 (2.7.10.1); we just stop
	 * moving avail_event forward, so the driver kicks at most once more
	 * (when it reaches the last value we wrote).
	 */
	if (!q->event_idx)
		store16(&vq_used(q)->flags, VRING_USED_F_NO_NOTIFY);
}

bool virtq_enable_notify(struct virtq *q)
{
	if (!virtq_started(q))
		return false;
	q->no_notify = false;
	if (q->event_idx)
		set_avail_event(q);
	else
		store16(&vq_used(q)->flags, 0);
	/* The request for kicks must be visible before we look at avail->idx:
	 * a buffer added after our look then gets a kick. */
	full_fence();
	return virtq_has_avail(q);
}

bool virtq_has_avail(struct virtq *q)
{
	if (!virtq_started(q) || q->broken)
		return false;
	/* A bogus index is "available" too: the next pop reports it. */
	return load16_acquire(&vq_avail(q)->idx) != q->last_avail;
}

/* Copies between @buf and bytes [off, off + len) of the buffers, in the
 * direction @to_iov says; returns how many bytes were copied. */
static size_t iov_xfer(const struct iovec *iov, int n, size_t off, uint8_t *buf,
		       size_t len, bool to_iov)
{
	size_t done = 0;

	for (int i = 0; i < n && done < len; i++) {
		size_t l = iov[i].iov_len;
		uint8_t *p;

		if (off >= l) {
			off -= l;
			continue;
		}
		l -= off;
		if (l > len - done)
			l = len - done;
		p = (uint8_t *)iov[i].iov_base + off;
		if (to_iov)
			memcpy(p, buf + done, l);
		else
			memcpy(buf + done, p, l);
		done += l;
		off = 0;
	}
	return done;
}

size_t iov_to_buf(const struct iovec *iov, int n, size_t off, void *buf, size_t len)
{
	return iov_xfer(iov, n, off, buf, len, false);
}

size_t iov_from_buf(const struct iovec *iov, int n, size_t off, const void *buf,
		    size_t len)
{
	/* Only read from: to_iov copies from @buf into the buffers. */
	return iov_xfer(iov, n, off, (uint8_t *)buf, len, true);
}
