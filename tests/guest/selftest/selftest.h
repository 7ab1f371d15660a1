/* SPDX-License-Identifier: GPL-2.0-only */
/* kvmbox guest self-test: what the check files share. See main.c. */
#ifndef KVMBOX_SELFTEST_H
#define KVMBOX_SELFTEST_H

#include <linux/compiler.h>
#include <linux/init.h>
#include <linux/types.h>

/* What a check reports: details after PASS (optional) or FAIL (required). */
struct kst_result {
	char detail[160];
};

__printf(2, 3) bool kst_pass(struct kst_result *res, const char *fmt, ...);
__printf(2, 3) bool kst_fail(struct kst_result *res, const char *fmt, ...);

/*
 * The byte at offset @off of a disk filled with pattern @salt; the host
 * tests (tests/integration/guest_disks.py) compute the same.
 */
static inline u8 kst_pattern_byte(u64 off, u8 salt)
{
	return (u8)(((off >> 9) * 31 + (off & 511) + salt * 101) ^ 0xa5);
}

/* Device checks; each is listed only when its parameter asks for it. */
extern char *kst_blk_rw; /* disk name for write/flush/read, discard, zeroes */
extern char *kst_blk_pattern; /* disk the host filled with pattern 2 */
extern char *kst_blk_ro; /* a read-only disk */
extern bool kst_rng; /* a virtio-rng device is there */
extern bool kst_hvc; /* a virtio console (hvc0) is there */
extern unsigned int kst_net_devs; /* virtio-net devices expected */
extern char *kst_net_addr; /* eth0's expected IPv4 address */
extern char *kst_net_connect; /* A.B.C.D:PORT to say hello to */
extern unsigned int kst_net_udp; /* UDP port for one echoed datagram */
extern unsigned int kst_net_tcp; /* TCP port for one echoed line */
extern unsigned int kst_dirty_mb; /* MiB to dirty and free */

bool __init kst_check_blk_rw(struct kst_result *res);
bool __init kst_check_blk_pattern(struct kst_result *res);
bool __init kst_check_blk_ro(struct kst_result *res);
bool __init kst_check_rng(struct kst_result *res);
bool __init kst_check_hvc(struct kst_result *res);
bool __init kst_check_net_devs(struct kst_result *res);
bool __init kst_check_net_addr(struct kst_result *res);
bool __init kst_check_net_connect(struct kst_result *res);
bool __init kst_check_net_udp(struct kst_result *res);
bool __init kst_check_net_tcp(struct kst_result *res);
bool __init kst_check_dirty(struct kst_result *res);

#endif
