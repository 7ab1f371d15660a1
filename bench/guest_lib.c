// SPDX-License-Identifier: GPL-2.0-only
/*
 * bench/guest_lib.c: the part of the freestanding CPL 3 guest programs
 * (blk_guest.c, net_guest.c) that they share, linked into each image: see
 * guest_virtio.h. Exit codes 0x41..0x47 are its errors.
 */
#include "guest_virtio.h"

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

void puts_(const char *s)
{
	while (*s)
		outb(COM1, (uint8_t)*s++);
}

void putu(uint64_t v)
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

void putx(uint64_t v)
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

void putx8(uint8_t v)
{
	outb(COM1, (uint8_t) "0123456789abcdef"[v >> 4]);
	outb(COM1, (uint8_t) "0123456789abcdef"[v & 15]);
}

void exit_(int code)
{
	outb(DEBUG_EXIT, (uint8_t)code);
	for (;;)
		cpu_relax();
}

void die(const char *msg, int code)
{
	puts_(guest_tag);
	puts_(" error ");
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

uintptr_t common, notify, devcfg;
uint32_t notify_mult;

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

int find_device(uint16_t device_id)
{
	for (int slot = 0; slot < 32; slot++) {
		uint32_t id = pci_read32(slot, 0);

		if ((id & 0xffff) == VIRTIO_VENDOR && (id >> 16) == device_id)
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

void virtio_setup(int slot)
{
	/* Memory decoding and bus mastering on (kvmbox already turns them on). */
	pci_write32(slot, 0x04, (pci_read32(slot, 0x04) & 0xffff) | 0x6);
	find_caps(slot);
}

void set_status(uint8_t s)
{
	MMIO8(common + CC_STATUS) = s;
}

uint64_t device_features(void)
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

void virtio_reset(void)
{
	set_status(0);
	while (MMIO8(common + CC_STATUS))
		cpu_relax();
	set_status(ST_ACK);
	set_status(ST_ACK | ST_DRIVER);
}

void virtio_set_features(uint64_t f)
{
	driver_features(f);
	set_status(ST_ACK | ST_DRIVER | ST_FEATURES_OK);
	if (!(MMIO8(common + CC_STATUS) & ST_FEATURES_OK))
		die("FEATURES_OK refused", 0x45);
}

uintptr_t queue_init(uint16_t index, uintptr_t base)
{
	uintptr_t kick;

	MMIO16(common + CC_QSELECT) = index;
	if (MMIO16(common + CC_QSIZE) < QSIZE) {
		puts_(guest_tag);
		puts_(" error queue ");
		putu(index);
		puts_(" is smaller than 256\n");
		exit_(0x46);
	}
	MMIO16(common + CC_QSIZE) = QSIZE;
	memset((void *)base, 0, RING_BYTES);
	((struct avail *)(base + RING_AVAIL_OFF))->flags = AVAIL_NO_INTERRUPT;
	write64(common + CC_QDESC, base);
	write64(common + CC_QAVAIL, base + RING_AVAIL_OFF);
	write64(common + CC_QUSED, base + RING_USED_OFF);
	kick = notify + (uintptr_t)MMIO16(common + CC_QNOTIFY_OFF) * notify_mult;
	MMIO16(common + CC_QENABLE) = 1;
	return kick;
}

void virtio_driver_ok(void)
{
	set_status(ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
	if (MMIO8(common + CC_STATUS) & ST_NEEDS_RESET)
		die("device needs reset after DRIVER_OK", 0x47);
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
