// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target: the virtio-net device (src/virtio/net.c) driven as a
 * hostile driver and a fake backend would drive it: descriptors and avail
 * indices written into guest memory made of heap blocks, kicks of either
 * queue, frames handed to peer->receive() with any header, resets, link
 * changes, the transmit re-arm handler. ASan sees any access outside guest
 * memory or outside the backend's frame buffers; CHECK()s catch chains the
 * device took and never returned, and a kept frame it never asks for again.
 *
 * Input: an 8-byte header, then operations until the input runs out (a
 * field past the end reads as 0). Multi-byte fields little-endian.
 *   0  offloads   the backend's NET_OFFLOAD_* (& 0x1f)
 *   1  want       u32: the driver takes the offered features (with
 *                 RING_EVENT_IDX and RING_INDIRECT_DESC, bits 29/28) in it
 *   5  sizes      queue sizes: rx 1 << (low nibble % 9), tx high nibble
 *   6  flags      F_SPLIT (RAM at 0 and at 4 GiB), F_NO_RXQ / F_NO_TXQ
 *                 (queue not enabled by the driver)
 *   7  pad
 * Operations, a byte (% OP_MAX) then its fields:
 *   DESC      q, idx, fl, next, addr, len: fl & 7 are the VRING_DESC_F_*;
 *             DF_IND: entry idx of the indirect area (IND_GPA) instead of
 *             the queue's table; DF_ADDR64: addr is a u64 (else a u16,
 *             + HIGH_BASE with DF_HIGH); DF_LEN32: len is a u32 (else u16)
 *   AVAIL     q, n, then n heads (u8): published, then the avail index
 *   AVAIL_IDX q, u16: added to the avail index as it is (no heads)
 *   KICK      q: the driver's notification (ignored while reset)
 *   RX        12-byte virtio_net_hdr_v1, u16 len, mode, u8 copy, copy bytes:
 *             a frame of len (mode bit 2: + 0x8000; bit 3: NET_MAX_FRAME
 *             - 8 + (len & 31), about the limit) in (mode & 3) + 1 heap
 *             blocks split at mode-derived points, the first copy bytes
 *             from the input, the rest a pattern; delivered only while
 *             the backend is started
 *   RESET     b: reset; bit 0: the driver clears its rings; bit 1: it
 *             stays reset; bit 2: a new want (u32) follows
 *   ACTIVATE  restarts the queues and activates, if reset
 *   REARM     runs the transmit re-arm handler (event loop)
 *   LINK      b: virtio_net_set_link(b & 1)
 *   POKE      u16 off, u16 val: any 16-bit write to low RAM
 *   BACKEND   b: bit 0: send() fails; bit 1: the next start() fails
 *   CONFIG    off, len, write: config space access as the transport does
 * tests/fuzz/gen_net_corpus.py writes seeds in this format.
 */
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "net/backend.h"
#include "util/log.h"
#include "virtio/net.h"
#include "virtio/queue.h"
#include "virtio/virtio.h"
#include "vm/event.h"
#include "vm/memory.h"

#define HDR_SIZE 8
#define MEM_SIZE 0x10000
#define HIGH_BASE 0x100000000ULL
#define HIGH_SIZE 0x8000
#define MAX_OPS 4096
#define MAX_PIECES 4

/* Ring layout, room for VIRTIO_NET_QUEUE_SIZE entries each. */
#define DESC_GPA(q) (0x0000 + 0x2000 * (q))
#define AVAIL_GPA(q) (0x1000 + 0x2000 * (q))
#define USED_GPA(q) (0x1400 + 0x2000 * (q))
#define RINGS_END 0x4000
#define IND_GPA 0x8000 /* 256 descriptors for indirect tables */

#define F_SPLIT 1
#define F_NO_RXQ 2
#define F_NO_TXQ 4

#define DF_IND 0x10
#define DF_ADDR64 0x20
#define DF_LEN32 0x40
#define DF_HIGH 0x80

enum {
	OP_DESC,
	OP_AVAIL,
	OP_AVAIL_IDX,
	OP_KICK,
	OP_RX,
	OP_RESET,
	OP_ACTIVATE,
	OP_REARM,
	OP_LINK,
	OP_POKE,
	OP_BACKEND,
	OP_CONFIG,
	OP_MAX
};

#define CHECK(x)                          \
	do {                              \
		if (!(x))                 \
			__builtin_trap(); \
	} while (0)

struct input {
	const uint8_t *p;
	size_t n, pos;
};

static uint64_t get(struct input *in, int bytes)
{
	uint64_t v = 0;

	for (int i = 0; i < bytes; i++, in->pos++)
		v |= (uint64_t)(in->pos < in->n ? in->p[in->pos] : 0) << (8 * i);
	return v;
}

struct fuzz {
	struct guest_mem m;
	struct net_backend be;
	struct net_peer peer;
	struct virtio_dev *d;
	bool started; /* the backend, between start() and stop() */
	bool active; /* the transport: DRIVER_OK, not reset */
	bool waiting; /* receive() said false: rx_ready() is owed */
	int rx_ready;
	int send_ret, start_ret;
	uint64_t want;
	uint8_t sizes, flags;
	uint16_t avail_idx[2]; /* the driver's */
	event_fn rearm_fn;
	void *rearm_arg;
	int rearm_fd;
};

/* The device knows one fuzz at a time: libFuzzer runs inputs in turn. */
static struct fuzz *cur;

/* --- what net.c links against, instead of event.c, pci.c and log.c --- */

int event_add(struct event_loop *l, int fd, uint32_t events, event_fn fn, void *arg)
{
	CHECK(cur && !cur->rearm_fn && events == EPOLLIN);
	cur->rearm_fn = fn;
	cur->rearm_arg = arg;
	cur->rearm_fd = fd;
	return 0;
}

int event_del(struct event_loop *l, int fd)
{
	CHECK(cur && cur->rearm_fn && fd == cur->rearm_fd);
	cur->rearm_fn = NULL;
	return 0;
}

void virtio_notify_queue(struct virtio_dev *d, int q)
{
	CHECK(q >= 0 && q < d->nr_queues);
	virtq_should_notify(&d->vq[q]);
}

void virtio_notify_config(struct virtio_dev *d)
{
}

void virtio_set_needs_reset(struct virtio_dev *d)
{
}

void log_warn(const char *fmt, ...)
{
}

/* --- the fake backend ------------------------------------------------ */

/* [p, p + len) lies wholly inside one RAM region. */
static bool in_ram(const struct guest_mem *m, const void *p, size_t len)
{
	const uint8_t *b = p;

	for (int i = 0; i < m->nr_regions; i++) {
		const struct guest_mem_region *r = &m->region[i];

		if (b >= r->hva && b < r->hva + r->size)
			return len <= r->size - (size_t)(b - r->hva);
	}
	return false;
}

static int fb_send(struct net_backend *b, const struct iovec *iov, int iovcnt)
{
	struct fuzz *f = b->priv;
	volatile uint8_t sink = 0;
	size_t total = 0;

	CHECK(f->started);
	CHECK(iovcnt >= 1 && iovcnt <= 64);
	for (int i = 0; i < iovcnt; i++) {
		const uint8_t *p = iov[i].iov_base;

		CHECK(in_ram(&f->m, p, iov[i].iov_len));
		for (size_t j = 0; j < iov[i].iov_len; j++)
			sink += p[j];
		total += iov[i].iov_len;
	}
	CHECK(total >= NET_HDR_LEN + 14 && total <= NET_HDR_LEN + NET_MAX_FRAME);
	(void)sink;
	return f->send_ret;
}

static void fb_rx_ready(struct net_backend *b)
{
	struct fuzz *f = b->priv;

	f->rx_ready++;
}

static int fb_start(struct net_backend *b, const struct net_peer *peer)
{
	struct fuzz *f = b->priv;
	int ret = f->start_ret;

	CHECK(!f->started);
	f->start_ret = 0;
	if (ret)
		return ret;
	f->peer = *peer;
	f->started = true;
	return 0;
}

static void fb_stop(struct net_backend *b)
{
	struct fuzz *f = b->priv;

	CHECK(f->started);
	f->started = false;
}

static void fb_destroy(struct net_backend *b)
{
	struct fuzz *f = b->priv;

	CHECK(!f->started);
	f->be.ops = NULL;
}

static const struct net_backend_ops fb_ops = {
	.send = fb_send,
	.rx_ready = fb_rx_ready,
	.start = fb_start,
	.stop = fb_stop,
	.destroy = fb_destroy,
};

/* --- the transport and the driver ------------------------------------ */

static uint8_t *low(struct fuzz *f, uint64_t gpa)
{
	return f->m.region[0].hva + gpa;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8;
}

/* DRIVER_OK: features negotiated, the enabled queues started. */
static void driver_ok(struct fuzz *f)
{
	struct virtio_dev *d = f->d;
	uint64_t offered = d->ops->features(d) | (1ULL << VIRTIO_RING_F_EVENT_IDX) |
			   (1ULL << VIRTIO_RING_F_INDIRECT_DESC);

	d->features = (offered & f->want) | (1ULL << VIRTIO_F_VERSION_1);
	for (int q = 0; q < 2; q++) {
		struct virtq *vq = &d->vq[q];
		int log2 = ((q ? f->sizes >> 4 : f->sizes) & 15) % 9;

		virtq_reset(vq);
		vq->size = 1u << log2;
		vq->desc_gpa = DESC_GPA(q);
		vq->avail_gpa = AVAIL_GPA(q);
		vq->used_gpa = USED_GPA(q);
		vq->ready = !(f->flags & (q ? F_NO_TXQ : F_NO_RXQ));
		f->avail_idx[q] = 0;
		if (vq->ready)
			CHECK(virtq_start(vq, &f->m,
					  virtio_has_feature(d, VIRTIO_RING_F_EVENT_IDX),
					  virtio_has_feature(
						  d, VIRTIO_RING_F_INDIRECT_DESC)) == 0);
	}
	/* A refused activate leaves the device for the driver to reset. */
	f->active = d->ops->activate(d) == 0;
	CHECK(f->active == f->started);
}

static void reset(struct fuzz *f)
{
	struct virtio_dev *d = f->d;

	d->ops->reset(d);
	CHECK(!f->started);
	f->active = false;
	d->features = 0;
	for (int q = 0; q < 2; q++) {
		virtq_reset(&d->vq[q]);
		d->vq[q].size = d->queue_max_size;
	}
}

static void op_desc(struct fuzz *f, struct input *in)
{
	int q = get(in, 1) & 1;
	uint8_t idx = get(in, 1);
	uint8_t fl = get(in, 1);
	uint16_t next = get(in, 1);
	uint64_t addr = get(in, (fl & DF_ADDR64) ? 8 : 2);
	uint32_t len = get(in, (fl & DF_LEN32) ? 4 : 2);
	uint64_t gpa = (fl & DF_IND) ? IND_GPA : DESC_GPA(q);
	struct vring_desc v;

	if (!(fl & DF_ADDR64) && (fl & DF_HIGH))
		addr += HIGH_BASE;
	v.addr = htole64(addr);
	v.len = htole32(len);
	v.flags = htole16(fl & 7);
	v.next = htole16(next);
	memcpy(low(f, gpa + 16 * idx), &v, sizeof(v));
}

static void op_avail(struct fuzz *f, struct input *in)
{
	int q = get(in, 1) & 1;
	int n = get(in, 1);
	uint16_t size = f->d->vq[q].size;

	for (int i = 0; i < n; i++, f->avail_idx[q]++)
		put16(low(f, AVAIL_GPA(q) + 4 + 2 * (f->avail_idx[q] % size)),
		      get(in, 1));
	put16(low(f, AVAIL_GPA(q) + 2), f->avail_idx[q]);
}

static void op_kick(struct fuzz *f, int q)
{
	int before = f->rx_ready;

	if (!f->active)
		return; /* the transport stopped the queues */
	f->d->ops->queue_notify(f->d, q);
	if (q == VIRTIO_NET_RXQ) {
		/* A kept frame is asked for again, and only then. */
		CHECK(f->rx_ready == before + f->waiting);
		f->waiting = false;
	} else {
		CHECK(f->rx_ready == before);
	}
}

static void op_rx(struct fuzz *f, struct input *in)
{
	uint8_t hdr[NET_HDR_LEN];
	struct virtio_net_stats st0, st1;
	struct iovec iov[MAX_PIECES];
	uint8_t *pkt;
	size_t len, total, cut[MAX_PIECES + 1];
	uint8_t mode;
	int pieces, copy;
	bool ret;

	for (int i = 0; i < NET_HDR_LEN; i++)
		hdr[i] = get(in, 1);
	len = get(in, 2);
	mode = get(in, 1);
	copy = get(in, 1);
	if (mode & 4)
		len += 0x8000;
	if (mode & 8)
		len = NET_MAX_FRAME - 8 + (len & 31);
	total = NET_HDR_LEN + len;

	/* The packet, linear, then cut into pieces of their own. */
	pkt = malloc(total);
	CHECK(pkt);
	memcpy(pkt, hdr, NET_HDR_LEN);
	for (size_t i = NET_HDR_LEN; i < total; i++)
		pkt[i] = (uint8_t)(i * 31 + mode + (i >> 8));
	for (int i = 0; i < copy && NET_HDR_LEN + (size_t)i < total; i++)
		pkt[NET_HDR_LEN + i] = get(in, 1);
	pieces = (mode & 3) + 1;
	cut[0] = 0;
	cut[pieces] = total;
	for (int i = 1; i < pieces; i++) {
		/* The backends' usual header | frame split, or anywhere. */
		size_t c = (mode & 0x10) ? (mode * 37 * i) % (total + 1) : NET_HDR_LEN;

		cut[i] = c < cut[i - 1] ? cut[i - 1] : c;
	}
	for (int i = 0; i < pieces; i++) {
		size_t l = cut[i + 1] - cut[i];

		iov[i].iov_base = malloc(l ? l : 1);
		CHECK(iov[i].iov_base);
		memcpy(iov[i].iov_base, pkt + cut[i], l);
		iov[i].iov_len = l;
	}
	free(pkt);

	virtio_net_get_stats(f->d, &st0);
	ret = f->peer.receive(f->peer.ctx, iov, pieces);
	virtio_net_get_stats(f->d, &st1);
	if (!ret)
		f->waiting = true;
	CHECK(st1.rx_frames - st0.rx_frames <= 1);
	if (st1.rx_frames != st0.rx_frames)
		CHECK(ret && st1.rx_bytes - st0.rx_bytes == len);
	for (int i = 0; i < pieces; i++)
		free(iov[i].iov_base);
}

static void op_reset(struct fuzz *f, struct input *in)
{
	uint8_t b = get(in, 1);

	if (b & 4)
		f->want = get(in, 4);
	reset(f);
	if (b & 1) {
		/* The driver sets up fresh rings. */
		memset(low(f, 0), 0, RINGS_END);
	}
	if (!(b & 2))
		driver_ok(f);
}

static void op_config(struct fuzz *f, struct input *in)
{
	struct virtio_dev *d = f->d;
	uint8_t buf[64];
	uint32_t off = get(in, 1) % d->config_size;
	uint32_t len = get(in, 1) % (d->config_size - off) + 1;
	bool write = get(in, 1) & 1;

	memset(buf, 0x5a, sizeof(buf));
	if (write)
		d->ops->write_config(d, off, buf, len);
	else
		d->ops->read_config(d, off, buf, len);
}

static void run_op(struct fuzz *f, struct input *in)
{
	uint8_t op = get(in, 1) % OP_MAX;
	uint16_t off, val;

	switch (op) {
	case OP_DESC:
		op_desc(f, in);
		break;
	case OP_AVAIL:
		op_avail(f, in);
		break;
	case OP_AVAIL_IDX: {
		int q = get(in, 1) & 1;

		f->avail_idx[q] += get(in, 2);
		put16(low(f, AVAIL_GPA(q) + 2), f->avail_idx[q]);
		break;
	}
	case OP_KICK:
		op_kick(f, get(in, 1) & 1);
		break;
	case OP_RX:
		if (f->started)
			op_rx(f, in);
		break;
	case OP_RESET:
		op_reset(f, in);
		break;
	case OP_ACTIVATE:
		if (!f->active) {
			reset(f);
			driver_ok(f);
		}
		break;
	case OP_REARM:
		if (f->rearm_fn)
			f->rearm_fn(f->rearm_arg, EPOLLIN);
		break;
	case OP_LINK:
		virtio_net_set_link(f->d, get(in, 1) & 1);
		break;
	case OP_POKE:
		off = get(in, 2) % (MEM_SIZE - 1);
		val = get(in, 2);
		put16(low(f, off), val);
		break;
	case OP_BACKEND: {
		uint8_t b = get(in, 1);

		f->send_ret = (b & 1) ? -EIO : 0;
		f->start_ret = (b & 2) ? -EBUSY : 0;
		break;
	}
	case OP_CONFIG:
		op_config(f, in);
		break;
	}
}

/* Every chain the device took it gave back, unless the ring is broken. */
static void check_queues(struct fuzz *f)
{
	for (int q = 0; q < 2; q++) {
		const struct virtq *vq = &f->d->vq[q];

		if (vq->desc && !vq->broken)
			CHECK(vq->last_avail == vq->used_idx);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t mac[6] = { 0x02, 0x6b, 0x62, 0x00, 0x00, 0x01 };
	struct input in = { .p = data, .n = size, .pos = HDR_SIZE };
	struct event_loop loop = { 0 };
	struct kb_err err = { 0 };
	struct fuzz f;

	if (size < HDR_SIZE)
		return 0;
	memset(&f, 0, sizeof(f));
	cur = &f;
	f.want = data[1] | data[2] << 8 | data[3] << 16 | (uint32_t)data[4] << 24;
	f.sizes = data[5];
	f.flags = data[6];
	f.m.region[0] = (struct guest_mem_region){ 0, MEM_SIZE, calloc(1, MEM_SIZE) };
	f.m.nr_regions = 1;
	f.m.ram_size = MEM_SIZE;
	CHECK(f.m.region[0].hva);
	if (f.flags & F_SPLIT) {
		f.m.region[1] = (struct guest_mem_region){ HIGH_BASE, HIGH_SIZE,
							   calloc(1, HIGH_SIZE) };
		f.m.nr_regions = 2;
		f.m.ram_size += HIGH_SIZE;
		CHECK(f.m.region[1].hva);
	}

	f.be.ops = &fb_ops;
	f.be.kind = "fuzz";
	strcpy(f.be.desc, "fuzz backend");
	f.be.offloads = data[0] & 0x1f;
	f.be.priv = &f;
	f.d = virtio_net_create(&f.be, mac, &loop, &err);
	CHECK(f.d && f.rearm_fn);
	f.d->mem = &f.m;
	driver_ok(&f);

	for (int i = 0; i < MAX_OPS && in.pos < in.n; i++) {
		run_op(&f, &in);
		check_queues(&f);
	}

	f.d->ops->destroy(f.d);
	CHECK(!f.started && !f.be.ops && !f.rearm_fn);
	for (int i = 0; i < f.m.nr_regions; i++)
		free(f.m.region[i].hva);
	cur = NULL;
	return 0;
}
