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
 * (the line before says which). PCI, virtio transport and COM1 helpers:
 * guest_lib.c, shared with net_guest.c.
 */
#include "guest_virtio.h"

/* Guest-physical (= virtual, identity-mapped) layout. The program is at
 * 0x100000 (1 MiB), kvmbox puts the stack at the top of RAM. */
#define RING_BASE 0x200000UL /* desc 0x200000, avail +0x1000, used +0x2000 */
#define SLOT_BASE 0x210000UL /* per request slot: header, status, table */
#define SLOT_SIZE 0x2000UL
#define SLOT_TABLE_OFF 0x400UL
#define SLOT_TABLE_MAX ((SLOT_SIZE - SLOT_TABLE_OFF) / 16)
#define DATA_BASE 0x1000000UL /* 16 MiB: per slot, request size bytes */

#define SECTOR 512

/* virtio-blk (the spec's names, written out here). */
#define VIRTIO_BLK_MODERN 0x1042
#define F_BLK_SEG_MAX 2
#define F_BLK_FLUSH 9
#define F_INDIRECT 28
#define BLK_T_IN 0
#define BLK_T_OUT 1

struct blk_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

const char guest_tag[] = "KBBLK";

/* Queue 0, once set up. */
static struct desc *const desc = (struct desc *)RING_BASE;
static struct avail *const avail = (struct avail *)(RING_BASE + RING_AVAIL_OFF);
static struct used *const used = (struct used *)(RING_BASE + RING_USED_OFF);
static uintptr_t kick_addr;

/* Reset, features, queue 0, DRIVER_OK (virtio 1.x 3.1.1). */
static void device_init(void)
{
	uint64_t want = 1ULL << F_VERSION_1 | 1ULL << F_INDIRECT | 1ULL << F_BLK_FLUSH |
			1ULL << F_BLK_SEG_MAX;

	virtio_reset();
	if ((device_features() & want) != want)
		die("device lacks VERSION_1, INDIRECT_DESC, FLUSH or SEG_MAX", 0x44);
	virtio_set_features(want);
	kick_addr = queue_init(0, RING_BASE);
	virtio_driver_ok();
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
	int slot = find_device(VIRTIO_BLK_MODERN);

	if (slot < 0)
		die("no virtio-blk device (1af4:1042) on PCI bus 0", 0x40);
	virtio_setup(slot);
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
	putx8((uint8_t)slot);
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
