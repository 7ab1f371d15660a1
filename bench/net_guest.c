// SPDX-License-Identifier: GPL-2.0-only
/*
 * bench/net_guest.c: the guest side of bench/net.py. A freestanding 64-bit
 * program run at CPL 3 by `kvmbox run --raw net_guest.bin --raw-mode user
 * --raw-addr 0x100000 -n tap,...`: it drives the first virtio-net device
 * itself, with no kernel, so that what is measured is kvmbox's network path
 * and not an emulated guest driver (the same approach as blk_guest.c, whose
 * layout this follows; the helpers both use are in guest_lib.c, the frame
 * it sends in frame.h).
 *
 * What it does: finds 1af4:1041 by scanning PCI bus 0 through ports
 * 0xcf8/0xcfc, walks its virtio capabilities, resets it, negotiates
 * VERSION_1 and MAC only (no MRG_RXBUF: every receive buffer then holds a
 * whole frame, 12-byte header + up to 1514 bytes; buffers are 2048 bytes),
 * sets up queue 0 (receiveq) and queue 1 (transmitq) with 256 entries and
 * VRING_AVAIL_F_NO_INTERRUPT (no interrupts: it polls used->idx), then runs
 * one workload:
 *
 *   rdi  0 TX (guest -> host), 1 RX (host -> guest)
 *   rsi  frame size in bytes, Ethernet header included, FCS and virtio
 *        header not: 60..1514
 *   rdx  RX only: how long to wait for the first frame, in TSC ticks
 *        (0: 10 x (ramp + measured))
 *   rcx  ticks to wait after the result line before exiting (so that the
 *        harness can read the tap's counters while the tap still exists)
 *   r8   ramp-up time in TSC ticks (run, not counted)
 *   r9   measured time in TSC ticks
 *
 * TX keeps the transmit ring full of prebuilt frames (one descriptor each:
 * virtio header + frame; a UDP/IPv4 frame to the fixed unicast MAC
 * 02:00:00:00:00:02, IPv4 header checksum computed, UDP checksum 0) and
 * counts the frames the device completes. RX keeps the receive ring full of
 * 2048-byte buffers and counts the frames and bytes that arrive; its clock
 * starts at the first frame. Kicks are 16-bit writes to the queue's notify
 * address, skipped while the device sets VRING_USED_F_NO_NOTIFY.
 *
 * Output on COM1, one line each:
 *   KBNET dev 00:SS.0 mac xx:xx:xx:xx:xx:xx features 0xF
 *   KBNET tsc_khz N source cpuid15|cpuid16|none
 *   KBNET ready                          (the rings are set up)
 *   KBNET start TSC
 *   KBNET result frames N bytes N ticks N kicks N errors N all_frames N
 *   (frames, bytes, ticks, kicks: after the ramp; bytes are Ethernet bytes
 *    without the virtio header; all_frames: ramp included)
 *   KBNET end TSC
 * and the exit status through the debug-exit port: 0 done, 0x40+ an error
 * (the line before says which).
 */
#include "frame.h"
#include "guest_virtio.h"

/* Guest-physical (= virtual, identity-mapped) layout. The program is at
 * 0x100000 (1 MiB), kvmbox puts the stack at the top of RAM. */
#define RXQ_BASE 0x200000UL /* desc +0, avail +0x1000, used +0x2000 */
#define TXQ_BASE 0x204000UL
#define RX_BUF_BASE 0x400000UL /* QSIZE x BUF_SIZE */
#define TX_BUF_BASE 0x500000UL

/* virtio-net (the spec's names, written out here). */
#define VIRTIO_NET_MODERN 0x1041
#define F_NET_MAC 5
#define RXQ 0
#define TXQ 1

/* One virtqueue as the driver sees it. */
struct vq {
	struct desc *desc;
	struct avail *avail;
	struct used *used;
	uintptr_t kick_addr;
	uint16_t avail_idx, used_seen;
	uint64_t kicks;
};

static inline void cpuid(uint32_t leaf, uint32_t r[4])
{
	__asm__ volatile("cpuid"
			 : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
			 : "a"(leaf), "c"(0));
}

const char guest_tag[] = "KBNET";

static struct vq rxq, txq;

static void queue_setup(struct vq *q, uint16_t index, uintptr_t base)
{
	q->kick_addr = queue_init(index, base);
	q->desc = (struct desc *)base;
	q->avail = (struct avail *)(base + RING_AVAIL_OFF);
	q->used = (struct used *)(base + RING_USED_OFF);
}

/* Reset, features, both queues, DRIVER_OK (virtio 1.x 3.1.1). */
static uint64_t device_init(void)
{
	uint64_t want = 1ULL << F_VERSION_1 | 1ULL << F_NET_MAC;

	virtio_reset();
	if (!(device_features() & 1ULL << F_VERSION_1))
		die("device lacks VERSION_1", 0x44);
	want &= device_features();
	virtio_set_features(want);
	queue_setup(&rxq, RXQ, RXQ_BASE);
	queue_setup(&txq, TXQ, TXQ_BASE);
	virtio_driver_ok();
	return want;
}

/* Puts descriptor s on the avail ring (not yet published). */
static void submit(struct vq *q, uint16_t s)
{
	q->avail->ring[q->avail_idx % QSIZE] = s;
	q->avail_idx++;
}

/* Publishes the new avail entries and kicks unless the device is busy. */
static void publish(struct vq *q)
{
	barrier(); /* ring entries before the index (x86: stores stay in order) */
	VOL16(q->avail->idx) = q->avail_idx;
	mfence(); /* the index before reading used->flags */
	if (!(VOL16(q->used->flags) & USED_NO_NOTIFY)) {
		MMIO16(q->kick_addr) = 0;
		q->kicks++;
	}
}

/* The TSC frequency from CPUID, where the (virtual) CPU says it. */
static uint64_t tsc_khz(const char **source)
{
	uint32_t r[4];
	uint32_t max;

	cpuid(0, r);
	max = r[0];
	if (max >= 0x15) {
		cpuid(0x15, r);
		if (r[0] && r[1] && r[2]) {
			*source = "cpuid15";
			return (uint64_t)r[2] * r[1] / r[0] / 1000;
		}
	}
	if (max >= 0x16) {
		cpuid(0x16, r);
		if (r[0] & 0xffff) {
			*source = "cpuid16";
			return (uint64_t)(r[0] & 0xffff) * 1000;
		}
	}
	*source = "none";
	return 0;
}

struct counts {
	uint64_t frames, bytes, errors, all_frames;
};

/* TX: the ring full of frames, resubmitted as they complete. */
static uint64_t run_tx(uint32_t len, uint64_t ramp_ticks, uint64_t run_ticks,
		       struct counts *c, uint64_t *kicks)
{
	uint64_t t0, t_start = 0, kicks0 = 0, now;
	bool measuring = false, stopping = false;
	uint32_t in_flight = 0;

	for (uint16_t s = 0; s < QSIZE; s++) {
		uint8_t *b = (uint8_t *)(TX_BUF_BASE + (uintptr_t)s * BUF_SIZE);

		memset(b, 0, NET_HDR_LEN);
		build_frame(b + NET_HDR_LEN, len);
		txq.desc[s] = (struct desc){ (uintptr_t)b, NET_HDR_LEN + len, 0, 0 };
	}
	t0 = rdtsc();
	for (uint16_t s = 0; s < QSIZE; s++)
		submit(&txq, s);
	in_flight = QSIZE;
	publish(&txq);

	while (in_flight) {
		uint16_t u = VOL16(txq.used->idx);
		bool resubmitted = false;

		if (u == txq.used_seen) {
			cpu_relax();
			continue;
		}
		barrier(); /* the index before the entries (x86: loads stay in order) */
		while (txq.used_seen != u) {
			uint32_t s = txq.used->ring[txq.used_seen % QSIZE].id;

			txq.used_seen++;
			in_flight--;
			c->all_frames++;
			if (s >= QSIZE) {
				c->errors++;
				continue;
			}
			if (measuring) {
				c->frames++;
				c->bytes += len;
			}
			if (!stopping) {
				submit(&txq, (uint16_t)s);
				in_flight++;
				resubmitted = true;
			}
		}
		if (resubmitted)
			publish(&txq);
		now = rdtsc();
		if (!measuring && now - t0 >= ramp_ticks) {
			measuring = true;
			t_start = now;
			kicks0 = txq.kicks;
		}
		if (measuring && now - t_start >= run_ticks)
			stopping = true;
	}
	*kicks = txq.kicks - kicks0;
	return rdtsc() - t_start;
}

static void rx_post(uint16_t s)
{
	rxq.desc[s] = (struct desc){ RX_BUF_BASE + (uintptr_t)s * BUF_SIZE, BUF_SIZE,
				     DESC_WRITE, 0 };
	submit(&rxq, s);
}

/* RX: the ring full of buffers; the clock starts at the first frame. */
static uint64_t run_rx(uint64_t wait_ticks, uint64_t ramp_ticks, uint64_t run_ticks,
		       struct counts *c, uint64_t *kicks)
{
	uint64_t t0, t_start = 0, kicks0 = 0, now;
	bool measuring = false;

	t0 = rdtsc();
	while (VOL16(rxq.used->idx) == rxq.used_seen) {
		if (rdtsc() - t0 >= wait_ticks)
			die("no frame received", 0x4a);
		cpu_relax();
	}
	t0 = rdtsc();
	for (;;) {
		uint16_t u = VOL16(rxq.used->idx);

		now = rdtsc();
		if (!measuring && now - t0 >= ramp_ticks) {
			measuring = true;
			t_start = now;
			kicks0 = rxq.kicks;
		}
		if (measuring && now - t_start >= run_ticks)
			break;
		if (u == rxq.used_seen) {
			cpu_relax();
			continue;
		}
		barrier();
		while (rxq.used_seen != u) {
			struct used_elem *e = &rxq.used->ring[rxq.used_seen % QSIZE];
			uint32_t s = e->id, n = e->len;

			rxq.used_seen++;
			c->all_frames++;
			if (s >= QSIZE) {
				c->errors++;
				continue;
			}
			if (n < NET_HDR_LEN + 14 || n > BUF_SIZE)
				c->errors++;
			else if (measuring) {
				c->frames++;
				c->bytes += n - NET_HDR_LEN;
			}
			rx_post((uint16_t)s);
		}
		publish(&rxq);
	}
	*kicks = rxq.kicks - kicks0;
	return now - t_start;
}

int bench_main(uint64_t mode, uint64_t size, uint64_t wait_ticks, uint64_t linger_ticks,
	       uint64_t ramp_ticks, uint64_t run_ticks)
{
	struct counts c = { 0 };
	uint64_t features, ticks, kicks = 0, khz, t;
	const char *src;
	int slot = find_device(VIRTIO_NET_MODERN);

	if (slot < 0)
		die("no virtio-net device (1af4:1041) on PCI bus 0", 0x40);
	if (mode > 1)
		die("mode: 0 TX or 1 RX", 0x48);
	if (size < FRAME_MIN || size > FRAME_MAX)
		die("frame size: 60..1514", 0x49);
	virtio_setup(slot);
	features = device_init();

	puts_("KBNET dev 00:");
	putx8((uint8_t)slot);
	puts_(".0 mac ");
	for (int i = 0; i < 6; i++) {
		if (i)
			puts_(":");
		putx8(features & 1ULL << F_NET_MAC ? MMIO8(devcfg + i) : 0);
	}
	puts_(" features ");
	putx(features);
	puts_("\n");
	khz = tsc_khz(&src);
	puts_("KBNET tsc_khz ");
	putu(khz);
	puts_(" source ");
	puts_(src);
	puts_("\n");

	/* Receive buffers in RX only: in TX nothing the host sends matters,
	 * and the tap keeps it (or drops it) while the ring is empty. */
	if (mode == 1) {
		for (uint16_t s = 0; s < QSIZE; s++)
			rx_post(s);
		publish(&rxq);
	}
	puts_("KBNET ready\n");
	puts_("KBNET start ");
	putu(rdtsc());
	puts_("\n");
	if (mode == 0)
		ticks = run_tx((uint32_t)size, ramp_ticks, run_ticks, &c, &kicks);
	else
		ticks = run_rx(wait_ticks ? wait_ticks : 10 * (ramp_ticks + run_ticks),
			       ramp_ticks, run_ticks, &c, &kicks);

	puts_("KBNET result frames ");
	putu(c.frames);
	puts_(" bytes ");
	putu(c.bytes);
	puts_(" ticks ");
	putu(ticks);
	puts_(" kicks ");
	putu(kicks);
	puts_(" errors ");
	putu(c.errors);
	puts_(" all_frames ");
	putu(c.all_frames);
	puts_("\n");
	puts_("KBNET end ");
	putu(rdtsc());
	puts_("\n");
	t = rdtsc();
	while (rdtsc() - t < linger_ticks)
		cpu_relax();
	if (c.errors)
		die("bad used entries", 0x4b);
	set_status(0);
	return 0;
}
