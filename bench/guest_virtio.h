/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_BENCH_GUEST_VIRTIO_H
#define KVMBOX_BENCH_GUEST_VIRTIO_H

/*
 * bench/guest_virtio.h: what the freestanding CPL 3 guest programs of the
 * benchmarks (blk_guest.c, net_guest.c) share. The definitions are in
 * guest_lib.c, linked into each image: port I/O and COM1 output, the
 * debug-exit port, PCI bus 0 through ports 0xcf8/0xcfc, the virtio 1.x PCI
 * transport (capabilities, status, features, queue set-up) and the entry
 * point, which calls the program's bench_main().
 *
 * Each program defines guest_tag, the prefix of its COM1 lines ("KBBLK").
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QSIZE 256 /* entries of every queue */

#define COM1 0x3f8
#define DEBUG_EXIT 0x501
#define PCI_ADDR 0xcf8
#define PCI_DATA 0xcfc

/* virtio 1.x (the spec's names, written out here). */
#define VIRTIO_VENDOR 0x1af4
#define CAP_VNDR 0x09
#define CFG_COMMON 1
#define CFG_NOTIFY 2
#define CFG_DEVICE 4
#define ST_ACK 1
#define ST_DRIVER 2
#define ST_DRIVER_OK 4
#define ST_FEATURES_OK 8
#define ST_NEEDS_RESET 0x40
#define F_VERSION_1 32
#define DESC_NEXT 1
#define DESC_WRITE 2
#define DESC_INDIRECT 4
#define AVAIL_NO_INTERRUPT 1
#define USED_NO_NOTIFY 1

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

/* A queue's rings from its base: desc +0, avail +0x1000, used +0x2000. */
#define RING_AVAIL_OFF 0x1000UL
#define RING_USED_OFF 0x2000UL
#define RING_BYTES 0x3000UL

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
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);

/* COM1 output, one `out` per byte. */
extern const char guest_tag[];
void puts_(const char *s);
void putu(uint64_t v);
void putx(uint64_t v);
void putx8(uint8_t v);
/* Exit status through the debug-exit port. */
__attribute__((noreturn)) void exit_(int code);
/* "TAG error MSG" on COM1, then exit_(code). */
__attribute__((noreturn)) void die(const char *msg, int code);

/*
 * The device, once found: the common, notify and device configuration
 * (MMIO addresses in its memory BAR) and the notify offset multiplier.
 */
extern uintptr_t common, notify, devcfg;
extern uint32_t notify_mult;

/* The slot of the first 1af4:@device_id on PCI bus 0, -1 if none. */
int find_device(uint16_t device_id);
/* Memory decoding and bus mastering on; walks the virtio capabilities. */
void virtio_setup(int slot);
void set_status(uint8_t s);
uint64_t device_features(void);
/* Reset, then ACKNOWLEDGE and DRIVER (virtio 1.x 3.1.1). */
void virtio_reset(void);
/* Writes the driver features and sets FEATURES_OK. */
void virtio_set_features(uint64_t f);
/* Sets up queue @index with its rings at @base (QSIZE entries, no
 * interrupts) and enables it. Returns its notify address. */
uintptr_t queue_init(uint16_t index, uintptr_t base);
/* Sets DRIVER_OK. */
void virtio_driver_ok(void);

/* The program: kvmbox sets the registers, which are its arguments; its
 * return value goes to the debug-exit port. */
int bench_main(uint64_t rdi, uint64_t rsi, uint64_t rdx, uint64_t rcx, uint64_t r8,
	       uint64_t r9);

#endif
