/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_BENCH_FRAME_H
#define KVMBOX_BENCH_FRAME_H

/*
 * bench/frame.h: the test frame of bench/net.py, built by the guest
 * (net_guest.c, freestanding: no libc here) and by the floor and its
 * injector (tap_floor.c), so that both send the same bytes.
 */

#include <stdint.h>

#define NET_HDR_LEN 12 /* struct virtio_net_hdr_v1 */
#define FRAME_MIN 60
#define FRAME_MAX 1514
#define BUF_SIZE 2048 /* a receive buffer: header + a whole frame */

static inline uint16_t csum16(const uint8_t *p, int len)
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
 * header checksum computed, UDP checksum 0 (none).
 */
static inline void build_frame(uint8_t *f, uint32_t len)
{
	static const uint8_t eth[14] = { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00 };
	uint8_t *ip = f + 14, *udp = f + 34;
	uint32_t ip_len = len - 14, udp_len = len - 34;
	uint16_t sum;

	__builtin_memset(f, 0, len);
	__builtin_memcpy(f, eth, sizeof(eth));
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

#endif
