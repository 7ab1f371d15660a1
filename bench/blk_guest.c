// SPDX-License-Identifier: GPL-2.0-only
/*
 * bench/blk_guest.c: the guest side of bench/blk.py. A freestanding 64-bit
 * program run at CPL 3 by `kvmbox run --raw blk_guest.bin --raw-mode user
 * --raw-addr 0x100000 -d DISK`: it drives the first virtio-blk device
 * itself, with no kernel, so that what is measured is kvmbox's block path
 * and not an emulated guest driver (guest CPL 0 is emulated, and slow, on
 * the emulation-only KVM of the development machines; CPL 3 runs natively).
 *
 * What it does: finds the device by scanning PCI bus 0 through ports
 * 0xcf8/0xcfc (IOPL 3 allows in/out), walks its virtio capabilities to
 * find the common, notify and device configuration in its memory BAR,
 * resets it, negotiates VERSION_1, INDIRECT_DESC and FLUSH (without FLUSH
 * kvmbox would run the disk write-through: a flush after every write), sets
 * up queue 0 with 256 entries and VRING_AVAIL_F_NO_INTERRUPT (there are no
 * interrupts: it polls used->idx), then runs one workload:
 *
 *   rdi  0 read, 1 write
 *   rsi  request size in bytes (a multiple of 4096)
 *   rdx  queue depth (requests kept in flight), 1..256
 *   rcx  bit 0: sequential (else random 4 KiB-aligned offsets)
 *   r8   ramp-up time in TSC ticks (run, not counted)
 *   r9   measured time in TSC ticks
 *
 * Every request is one descriptor pointing at an indirect table (as Linux
 * does when INDIRECT_DESC is there): header, the data in segments, status.
 * Segments are 4 KiB, or larger when the device's seg_max is below what a
 * request needs (kvmbox offers 254: a 1 MiB request goes as 128 x 8 KiB).
 * Kicks are MMIO writes to the queue's notify address (KVM turns them into
 * an ioeventfd signal), skipped while the device says VRING_USED_F_NO_NOTIFY.
 *
 * Output on COM1, one line each:
 *   KBBLK dev 00:SS.0 common ADDR capacity SECTORS seg_max N seg SIZE
 *   KBBLK start TSC
 *   KBBLK result ops N bytes N ticks N kicks N kick_ticks N errors N all_ops N
 *   (ops, bytes, ticks, kicks: after the ramp; all_ops: ramp included)
 *   KBBLK end TSC
 * and the exit status through the debug-exit port: 0 done, 0x40+ an error
 * (the line before says which).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Guest-physical (= virtual, identity-mapped) layout. The program is at
 * 0x100000 (1 MiB), kvmbox puts the stack at the top of RAM. */
#define RING_BASE 0x200000UL /* desc 0x200000, avail +0x1000, used +0x2000 */
#define SLOT_BASE 0x210000UL /* per request slot: header, status, table */
#define SLOT_SIZE 0x2000UL
#define SLOT_TABLE_OFF 0x400UL
#define SLOT_TABLE_MAX ((SLOT_SIZE - SLOT_TABLE_OFF) / 16)
#define DATA_BASE 0x1000000UL /* 16 MiB: per slot, request size bytes */

#define QSIZE 256
#define SECTOR 512

#define COM1 0x3f8
#define DEBUG_EXIT 0x501
#define PCI_ADDR 0xcf8
#define PCI_DATA 0xcfc

/* virtio 1.x (the spec's names, written out here). */
#define VIRTIO_VENDOR 0x1af4
#define VIRTIO_BLK_MODERN 0x1042
#define CAP_VNDR 0x09
#define CFG_COMMON 1
#define CFG_NOTIFY 2
#define CFG_DEVICE 4
#define ST_ACK 1
#define ST_DRIVER 2
#define ST_DRIVER_OK 4
#define ST_FEATURES_OK 8
#define F_BLK_SEG_MAX 2
#define F_BLK_FLUSH 9
#define F_INDIRECT 28
#define F_VERSION_1 32
#define DESC_NEXT 1
#define DESC_WRITE 2
#define DESC_INDIRECT 4
#define AVAIL_NO_INTERRUPT 1
#define USED_NO_NOTIFY 1
#define BLK_T_IN 0
#define BLK_T_OUT 1

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

struct blk_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
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

static __attribute__((noreturn)) void exit_(int code)
{
	outb(DEBUG_EXIT, (uint8_t)code);
	for (;;)
		cpu_relax();
}

static __attribute__((noreturn)) void die(const char *msg, int code)
{
	puts_("KBBLK error ");
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
static struct desc *const desc = (struct desc *)RING_BASE;
static struct avail *const avail = (struct avail *)(RING_BASE + 0x1000);
static struct used *const used = (struct used *)(RING_BASE + 0x2000);
static uintptr_t kick_addr;

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

		if ((id & 0xffff) == VIRTIO_VENDOR && (id >> 16) == VIRTIO_BLK_MODERN)
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

/* Reset, features, queue 0, DRIVER_OK (virtio 1.x 3.1.1). */
static void device_init(void)
{
	uint64_t want = 1ULL << F_VERSION_1 | 1ULL << F_INDIRECT | 1ULL << F_BLK_FLUSH |
			1ULL << F_BLK_SEG_MAX;
	uint64_t have;
	uint16_t qmax;

	set_status(0);
	while (MMIO8(common + CC_STATUS))
		cpu_relax();
	set_status(ST_ACK);
	set_status(ST_ACK | ST_DRIVER);
	have = device_features();
	if ((have & want) != want)
		die("device lacks VERSION_1, INDIRECT_DESC, FLUSH or SEG_MAX", 0x44);
	driver_features(want);
	set_status(ST_ACK | ST_DRIVER | ST_FEATURES_OK);
	if (!(MMIO8(common + CC_STATUS) & ST_FEATURES_OK))
		die("FEATURES_OK refused", 0x45);

	MMIO16(common + CC_QSELECT) = 0;
	qmax = MMIO16(common + CC_QSIZE);
	if (qmax < QSIZE)
		die("queue 0 is smaller than 256", 0x46);
	MMIO16(common + CC_QSIZE) = QSIZE;
	memset((void *)RING_BASE, 0, 0x3000);
	avail->flags = AVAIL_NO_INTERRUPT;
	write64(common + CC_QDESC, RING_BASE);
	write64(common + CC_QAVAIL, RING_BASE + 0x1000);
	write64(common + CC_QUSED, RING_BASE + 0x2000);
	kick_addr = notify + (uintptr_t)MMIO16(common + CC_QNOTIFY_OFF) * notify_mult;
	MMIO16(common + CC_QENABLE) = 1;
	set_status(ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
	if (MMIO8(common + CC_STATUS) & 0x40)
		die("device needs reset after DRIVER_OK", 0x47);
}

/* xorshift64*: random 4 KiB-aligned offsets. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

/* The workload's state. */
static uint32_t bs, qd, nseg, seg_size;
static bool is_write, sequential;
static uint64_t capacity; /* sectors */
static uint64_t span; /* request-size units on the disk */
static uint64_t next_seq;
static uint16_t avail_idx, used_seen;
static uint64_t kicks, kick_ticks; /* kick_ticks: time spent in the MMIO write */

static struct blk_hdr *slot_hdr(uint32_t s)
{
	return (struct blk_hdr *)(SLOT_BASE + s * SLOT_SIZE);
}

static volatile uint8_t *slot_status(uint32_t s)
{
	return (volatile uint8_t *)(SLOT_BASE + s * SLOT_SIZE + 16);
}

/* Descriptor s -> the slot's indirect table: header, segments, status. */
static void slot_init(uint32_t s)
{
	struct desc *t = (struct desc *)(SLOT_BASE + s * SLOT_SIZE + SLOT_TABLE_OFF);
	uint64_t data = DATA_BASE + (uint64_t)s * bs;
	uint32_t i;

	slot_hdr(s)->type = is_write ? BLK_T_OUT : BLK_T_IN;
	slot_hdr(s)->reserved = 0;
	t[0] = (struct desc){ (uintptr_t)slot_hdr(s), sizeof(struct blk_hdr), DESC_NEXT,
			      1 };
	for (i = 0; i < nseg; i++)
		t[1 + i] = (struct desc){ data + (uint64_t)i * seg_size, seg_size,
					  (uint16_t)(DESC_NEXT |
						     (is_write ? 0 : DESC_WRITE)),
					  (uint16_t)(2 + i) };
	t[1 + nseg] = (struct desc){ (uintptr_t)slot_status(s), 1, DESC_WRITE, 0 };
	desc[s] = (struct desc){ (uintptr_t)t, (2 + nseg) * 16, DESC_INDIRECT, 0 };
}

/* Puts slot s on the avail ring (not yet published). */
static void submit(uint32_t s)
{
	uint64_t unit;

	if (sequential) {
		unit = next_seq;
		next_seq = next_seq + 1 == span ? 0 : next_seq + 1;
	} else {
		unit = rnd() % span;
	}
	slot_hdr(s)->sector = unit * (bs / SECTOR);
	*slot_status(s) = 0xff;
	avail->ring[avail_idx % QSIZE] = (uint16_t)s;
	avail_idx++;
}

/* Publishes the new avail entries and kicks unless the device is busy. */
static void publish(void)
{
	barrier(); /* ring entries before the index (x86: stores stay in order) */
	VOL16(avail->idx) = avail_idx;
	mfence(); /* the index before reading used->flags */
	if (!(VOL16(used->flags) & USED_NO_NOTIFY)) {
		uint64_t t = rdtsc();

		MMIO16(kick_addr) = 0;
		kick_ticks += rdtsc() - t;
		kicks++;
	}
}

int bench_main(uint64_t op, uint64_t size, uint64_t depth, uint64_t flags,
	       uint64_t ramp_ticks, uint64_t run_ticks)
{
	uint64_t ops = 0, all_ops = 0, errors = 0, t0, t_start = 0, t_end, kicks0 = 0,
		 kick_ticks0 = 0;
	uint32_t seg_max;
	bool measuring = false, stopping = false;
	uint32_t in_flight = 0;
	int slot = find_device();

	if (slot < 0)
		die("no virtio-blk device (1af4:1042) on PCI bus 0", 0x40);
	/* Memory decoding and bus mastering on (kvmbox already turns them on). */
	pci_write32(slot, 0x04, (pci_read32(slot, 0x04) & 0xffff) | 0x6);
	find_caps(slot);
	device_init();
	capacity = MMIO32(devcfg) | (uint64_t)MMIO32(devcfg + 4) << 32;
	seg_max = MMIO32(devcfg + 12);

	is_write = op == 1;
	sequential = flags & 1;
	bs = (uint32_t)size;
	qd = (uint32_t)depth;
	if (!bs || bs % 4096 || bs > (64u << 20))
		die("request size: a multiple of 4096 up to 64 MiB", 0x48);
	if (!qd || qd > QSIZE || qd * (uint64_t)bs > (256ULL << 20))
		die("queue depth: 1..256 and depth x size <= 256 MiB", 0x49);
	seg_size = 4096;
	while (bs / seg_size > seg_max || bs / seg_size + 2 > SLOT_TABLE_MAX)
		seg_size *= 2;
	if (bs % seg_size)
		die("request size does not split into segments", 0x4a);
	nseg = bs / seg_size;
	span = capacity / (bs / SECTOR);
	if (!span)
		die("disk smaller than one request", 0x4b);

	puts_("KBBLK dev 00:");
	outb(COM1, (uint8_t) "0123456789abcdef"[slot >> 4]);
	outb(COM1, (uint8_t) "0123456789abcdef"[slot & 15]);
	puts_(".0 common ");
	putx(common);
	puts_(" capacity ");
	putu(capacity);
	puts_(" seg_max ");
	putu(seg_max);
	puts_(" seg ");
	putu(seg_size);
	puts_("\n");

	for (uint32_t s = 0; s < qd; s++)
		slot_init(s);
	t0 = rdtsc();
	puts_("KBBLK start ");
	putu(t0);
	puts_("\n");
	t0 = rdtsc();
	for (uint32_t s = 0; s < qd; s++)
		submit(s);
	in_flight = qd;
	publish();

	while (in_flight) {
		uint16_t u = VOL16(used->idx);
		bool resubmitted = false;
		uint64_t now;

		if (u == used_seen) {
			cpu_relax();
			continue;
		}
		barrier(); /* the index before the entries (x86: loads stay in order) */
		while (used_seen != u) {
			uint32_t s = used->ring[used_seen % QSIZE].id;

			used_seen++;
			in_flight--;
			if (s >= qd || *slot_status(s) != 0)
				errors++;
			all_ops++;
			if (measuring)
				ops++;
			if (!stopping) {
				submit(s);
				in_flight++;
				resubmitted = true;
			}
		}
		if (resubmitted)
			publish();
		/* Counted: completions seen after t_start, until the last one. */
		now = rdtsc();
		if (!measuring && now - t0 >= ramp_ticks) {
			measuring = true;
			t_start = now;
			kicks0 = kicks;
			kick_ticks0 = kick_ticks;
		}
		if (measuring && now - t_start >= run_ticks)
			stopping = true;
	}
	t_end = rdtsc();

	puts_("KBBLK result ops ");
	putu(ops);
	puts_(" bytes ");
	putu(ops * bs);
	puts_(" ticks ");
	putu(t_end - t_start);
	puts_(" kicks ");
	putu(kicks - kicks0);
	puts_(" kick_ticks ");
	putu(kick_ticks - kick_ticks0);
	puts_(" errors ");
	putu(errors);
	puts_(" all_ops ");
	putu(all_ops);
	puts_("\n");
	puts_("KBBLK end ");
	putu(rdtsc());
	puts_("\n");
	if (errors)
		die("requests failed", 0x4c);
	/* Leave the device idle: reset waits for nothing, all is done. */
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
