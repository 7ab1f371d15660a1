// SPDX-License-Identifier: GPL-2.0-only
/*
 * bench/net_guest.c: the guest side of bench/net.py. A freestanding 64-bit
 * program run at CPL 3 by `kvmbox run --raw net_guest.bin --raw-mode user
 * --raw-addr 0x100000 -n tap,...`: it drives the first virtio-net device
 * itself, with no kernel, so that what is measured is kvmbox's network path
 * and not an emulated guest driver (the same approach as blk_guest.c, whose
 * layout and helpers this follows).
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
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Guest-physical (= virtual, identity-mapped) layout. The program is at
 * 0x100000 (1 MiB), kvmbox puts the stack at the top of RAM. */
#define RXQ_BASE 0x200000UL /* desc +0, avail +0x1000, used +0x2000 */
#define TXQ_BASE 0x204000UL
#define RX_BUF_BASE 0x400000UL /* QSIZE x BUF_SIZE */
#define TX_BUF_BASE 0x500000UL
#define BUF_SIZE 2048

#define QSIZE 256
#define NET_HDR_LEN 12 /* struct virtio_net_hdr_v1 */
#define FRAME_MIN 60
#define FRAME_MAX 1514

#define COM1 0x3f8
#define DEBUG_EXIT 0x501
#define PCI_ADDR 0xcf8
#define PCI_DATA 0xcfc

/* virtio 1.x (the spec's names, written out here). */
#define VIRTIO_VENDOR 0x1af4
#define VIRTIO_NET_MODERN 0x1041
#define CAP_VNDR 0x09
#define CFG_COMMON 1
#define CFG_NOTIFY 2
#define CFG_DEVICE 4
#define ST_ACK 1
#define ST_DRIVER 2
#define ST_DRIVER_OK 4
#define ST_FEATURES_OK 8
#define ST_NEEDS_RESET 0x40
#define F_NET_MAC 5
#define F_VERSION_1 32
#define DESC_WRITE 2
#define AVAIL_NO_INTERRUPT 1
#define USED_NO_NOTIFY 1
#define RXQ 0
#define TXQ 1

/* Common configuration offsets. */
#define CC_DFSELECT 0x00
#define CC_DF 0x04
#define CC_GFSELECT 0x08
#define CC_GF 0x0c
#define CC_STATUS 0x14
#define CC_QSELECT 0x16
#define CC_QSIZE 0x18
#define CC_QENABLE 0x1c
#define CC_QNOTIFY_OFF 0x1e
#define CC_QDESC 0x20
#define CC_QAVAIL 0x28
#define CC_QUSED 0x30

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[QSIZE];
};

struct used_elem {
	uint32_t id;
	uint32_t len;
};

struct used {
	uint16_t flags;
	uint16_t idx;
	struct used_elem ring[QSIZE];
};

/* One virtqueue as the driver sees it. */
struct vq {
	struct desc *desc;
	struct avail *avail;
	struct used *used;
	uintptr_t kick_addr;
	uint16_t avail_idx, used_seen;
	uint64_t kicks;
};

/* Port I/O and MMIO. */
static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t v;

	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

static inline void cpuid(uint32_t leaf, uint32_t r[4])
{
	__asm__ volatile("cpuid"
			 : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
			 : "a"(leaf), "c"(0));
}

static inline void barrier(void)
{
	__asm__ volatile("" ::: "memory");
}

static inline void mfence(void)
{
	__asm__ volatile("mfence" ::: "memory");
}

static inline void cpu_relax(void)
{
	__asm__ volatile("pause" ::: "memory");
}

#define MMIO8(a) (*(volatile uint8_t *)(uintptr_t)(a))
#define MMIO16(a) (*(volatile uint16_t *)(uintptr_t)(a))
#define MMIO32(a) (*(volatile uint32_t *)(uintptr_t)(a))
#define VOL16(x) (*(volatile uint16_t *)&(x))

/* The compiler may emit calls to these even when freestanding. */
void *memset(void *d, int c, size_t n)
{
	uint8_t *p = d;

	while (n--)
		*p++ = (uint8_t)c;
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	uint8_t *p = d;
	const uint8_t *q = s;

	while (n--)
		*p++ = *q++;
	return d;
}

/* COM1 output, one `out` per byte. */
static void puts_(const char *s)
{
	while (*s)
		outb(COM1, (uint8_t)*s++);
}

static void putu(uint64_t v)
{
	char buf[24];
	int i = sizeof(buf) - 1;

	buf[i] = 0;
	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	puts_(&buf[i]);
}

static void putx(uint64_t v)
{
	char buf[20];
	int i = sizeof(buf) - 1;

	buf[i] = 0;
	do {
		buf[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	puts_("0x");
	puts_(&buf[i]);
}

static void putx8(uint8_t v)
{
	outb(COM1, (uint8_t) "0123456789abcdef"[v >> 4]);
	outb(COM1, (uint8_t) "0123456789abcdef"[v & 15]);
}

static __attribute__((noreturn)) void exit_(int code)
{
	outb(DEBUG_EXIT, (uint8_t)code);
	for (;;)
		cpu_relax();
}

static __attribute__((noreturn)) void die(const char *msg, int code)
{
	puts_("KBNET error ");
	puts_(msg);
	puts_("\n");
	exit_(code);
}

/* PCI configuration mechanism #1, bus 0. */
static uint32_t pci_read32(int slot, int off)
{
	outl(PCI_ADDR, 0x80000000u | (uint32_t)slot << 11 | (uint32_t)(off & 0xfc));
	return inl(PCI_DATA);
}

static void pci_write32(int slot, int off, uint32_t v)
{
	outl(PCI_ADDR, 0x80000000u | (uint32_t)slot << 11 | (uint32_t)(off & 0xfc));
	outl(PCI_DATA, v);
}

static uint8_t pci_read8(int slot, int off)
{
	return (uint8_t)(pci_read32(slot, off) >> (8 * (off & 3)));
}

/* The device, once found. */
static uintptr_t common, notify, devcfg;
static uint32_t notify_mult;
static struct vq rxq, txq;

static uint64_t bar_address(int slot, int bar)
{
	uint32_t lo = pci_read32(slot, 0x10 + 4 * bar);
	uint64_t a = lo & ~0xfULL;

	if (lo & 1)
		die("virtio BAR is an I/O BAR", 0x41);
	if ((lo & 6) == 4)
		a |= (uint64_t)pci_read32(slot, 0x14 + 4 * bar) << 32;
	return a;
}

static int find_device(void)
{
	for (int slot = 0; slot < 32; slot++) {
		uint32_t id = pci_read32(slot, 0);

		if ((id & 0xffff) == VIRTIO_VENDOR && (id >> 16) == VIRTIO_NET_MODERN)
			return slot;
	}
	return -1;
}

/* Walks the vendor capabilities: common, notify and device configuration. */
static void find_caps(int slot)
{
	uint8_t p;

	if (!(pci_read32(slot, 0x04) >> 16 & 0x10))
		die("virtio device without a capability list", 0x42);
	for (p = pci_read8(slot, 0x34) & 0xfc; p; p = pci_read8(slot, p + 1) & 0xfc) {
		uint8_t type, bar;
		uint64_t base;
		uint32_t off;

		if (pci_read8(slot, p) != CAP_VNDR)
			continue;
		type = pci_read8(slot, p + 3);
		bar = pci_read8(slot, p + 4);
		off = pci_read32(slot, p + 8);
		if (type != CFG_COMMON && type != CFG_NOTIFY && type != CFG_DEVICE)
			continue;
		base = bar_address(slot, bar);
		if (type == CFG_COMMON)
			common = base + off;
		else if (type == CFG_DEVICE)
			devcfg = base + off;
		else {
			notify = base + off;
			notify_mult = pci_read32(slot, p + 16);
		}
	}
	if (!common || !notify || !devcfg)
		die("virtio capabilities missing", 0x43);
}

static void set_status(uint8_t s)
{
	MMIO8(common + CC_STATUS) = s;
}

static uint64_t device_features(void)
{
	uint64_t f;

	MMIO32(common + CC_DFSELECT) = 0;
	f = MMIO32(common + CC_DF);
	MMIO32(common + CC_DFSELECT) = 1;
	return f | (uint64_t)MMIO32(common + CC_DF) << 32;
}

static void driver_features(uint64_t f)
{
	MMIO32(common + CC_GFSELECT) = 0;
	MMIO32(common + CC_GF) = (uint32_t)f;
	MMIO32(common + CC_GFSELECT) = 1;
	MMIO32(common + CC_GF) = (uint32_t)(f >> 32);
}

static void write64(uintptr_t a, uint64_t v)
{
	MMIO32(a) = (uint32_t)v;
	MMIO32(a + 4) = (uint32_t)(v >> 32);
}

static void queue_init(struct vq *q, uint16_t index, uintptr_t base)
{
	uint16_t qmax;

	MMIO16(common + CC_QSELECT) = index;
	qmax = MMIO16(common + CC_QSIZE);
	if (qmax < QSIZE)
		die("a queue is smaller than 256", 0x46);
	MMIO16(common + CC_QSIZE) = QSIZE;
	memset((void *)base, 0, 0x3000);
	q->desc = (struct desc *)base;
	q->avail = (struct avail *)(base + 0x1000);
	q->used = (struct used *)(base + 0x2000);
	q->avail->flags = AVAIL_NO_INTERRUPT;
	write64(common + CC_QDESC, base);
	write64(common + CC_QAVAIL, base + 0x1000);
	write64(common + CC_QUSED, base + 0x2000);
	q->kick_addr = notify + (uintptr_t)MMIO16(common + CC_QNOTIFY_OFF) * notify_mult;
	MMIO16(common + CC_QENABLE) = 1;
}

/* Reset, features, both queues, DRIVER_OK (virtio 1.x 3.1.1). */
static uint64_t device_init(void)
{
	uint64_t want = 1ULL << F_VERSION_1 | 1ULL << F_NET_MAC;

	set_status(0);
	while (MMIO8(common + CC_STATUS))
		cpu_relax();
	set_status(ST_ACK);
	set_status(ST_ACK | ST_DRIVER);
	if (!(device_features() & 1ULL << F_VERSION_1))
		die("device lacks VERSION_1", 0x44);
	want &= device_features();
	driver_features(want);
	set_status(ST_ACK | ST_DRIVER | ST_FEATURES_OK);
	if (!(MMIO8(common + CC_STATUS) & ST_FEATURES_OK))
		die("FEATURES_OK refused", 0x45);
	queue_init(&rxq, RXQ, RXQ_BASE);
	queue_init(&txq, TXQ, TXQ_BASE);
	set_status(ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
	if (MMIO8(common + CC_STATUS) & ST_NEEDS_RESET)
		die("device needs reset after DRIVER_OK", 0x47);
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

static uint16_t csum16(const uint8_t *p, int len)
{
	uint32_t sum = 0;

	for (int i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/*
 * A UDP/IPv4 frame of @len bytes (Ethernet header included, no FCS) at @f:
 * 02:00:00:00:00:01 -> 02:00:00:00:00:02, 10.77.0.1:9 -> 10.77.0.2:9, IPv4
 * header checksum computed, UDP checksum 0 (none). Byte for byte the frame
 * that tap_floor.c builds.
 */
static void build_frame(uint8_t *f, uint32_t len)
{
	static const uint8_t eth[14] = { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00 };
	uint8_t *ip = f + 14, *udp = f + 34;
	uint32_t ip_len = len - 14, udp_len = len - 34;
	uint16_t sum;

	memset(f, 0, len);
	memcpy(f, eth, sizeof(eth));
	ip[0] = 0x45;
	ip[2] = (uint8_t)(ip_len >> 8);
	ip[3] = (uint8_t)ip_len;
	ip[6] = 0x40; /* DF */
	ip[8] = 64; /* TTL */
	ip[9] = 17; /* UDP */
	ip[12] = 10, ip[13] = 77, ip[14] = 0, ip[15] = 1;
	ip[16] = 10, ip[17] = 77, ip[18] = 0, ip[19] = 2;
	sum = csum16(ip, 20);
	ip[10] = (uint8_t)(sum >> 8);
	ip[11] = (uint8_t)sum;
	udp[1] = 9;
	udp[3] = 9;
	udp[4] = (uint8_t)(udp_len >> 8);
	udp[5] = (uint8_t)udp_len;
	for (uint32_t i = 42; i < len; i++)
		f[i] = (uint8_t)i;
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
	int slot = find_device();

	if (slot < 0)
		die("no virtio-net device (1af4:1041) on PCI bus 0", 0x40);
	if (mode > 1)
		die("mode: 0 TX or 1 RX", 0x48);
	if (size < FRAME_MIN || size > FRAME_MAX)
		die("frame size: 60..1514", 0x49);
	/* Memory decoding and bus mastering on (kvmbox already turns them on). */
	pci_write32(slot, 0x04, (pci_read32(slot, 0x04) & 0xffff) | 0x6);
	find_caps(slot);
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

/* Entry: kvmbox sets the registers, which are bench_main's arguments; its
 * return value goes to the debug-exit port. */
__asm__(".section .text.start, \"ax\"\n"
	".globl _start\n"
	"_start:\n"
	"	andq $-16, %rsp\n"
	"	call bench_main\n"
	"	movw $0x501, %dx\n"
	"	outb %al, %dx\n"
	"1:	pause\n"
	"	jmp 1b\n"
	".previous\n");
