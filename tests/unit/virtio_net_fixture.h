/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The virtio-net tests' fixture. The tests play the driver (descriptors
 * and avail rings laid out by hand in guest memory, fake_virtq.h), the
 * transport (queue setup, activate, kicks, a transport_ops that counts
 * interrupts) and the backend (a fake that records what it is sent and
 * calls the device's receive()).
 */
#ifndef KVMBOX_TESTS_VIRTIO_NET_FIXTURE_H
#define KVMBOX_TESTS_VIRTIO_NET_FIXTURE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/virtio_net.h>

#include "fake_virtq.h"
#include "net/backend.h"
#include "virtio/net.h"
#include "vm/event.h"

#define RXQ VIRTIO_NET_RXQ
#define TXQ VIRTIO_NET_TXQ
#define BUF_GPA 0x100000ULL /* buffer i at BUF_GPA + i * 0x1000 */
#define BIG_GPA 0x800000ULL /* 1 MiB scratch area for big buffers */
#define HDR_LEN 12

#define F(b) (1ULL << (b))
#define BASE_FEATURES \
	(F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) | F(VIRTIO_NET_F_MRG_RXBUF))

struct fake_be {
	struct net_backend be;
	struct net_peer peer;
	bool started;
	int starts, stops, destroys;
	atomic_int rx_ready;
	atomic_int sent;
	int send_ret;
	uint8_t last[NET_HDR_LEN + NET_MAX_FRAME];
	size_t last_len;
};

struct t {
	struct fake_guest g;
	struct event_loop loop;
	struct fake_be fb;
	struct virtio_dev *d;
};

extern const struct net_backend_ops fb_ops;

/* Hands the device one frame as the backend would: header, then frame,
 * in two iovecs. */
bool fb_receive(struct t *t, const struct virtio_net_hdr_v1 *hdr, const uint8_t *frame,
		size_t len);
/* Guest address of buffer @i. */
uint64_t buf(int i);
/* What the transport does at DRIVER_OK. */
void start_q(struct t *t, uint16_t rx_size, uint16_t tx_size, bool event_idx);
/* Creates the device over a fake backend with @offloads; the driver takes
 * the offered features that are also in @want. */
void setup_ex(struct t *t, uint32_t offloads, uint64_t want, bool event_idx);
void setup(struct t *t);
void teardown(struct t *t);
/* One empty receive chain of @len bytes at descriptor/buffer @i. */
void post_rx(struct t *t, int i, uint32_t len);
void fill_frame(uint8_t *f, size_t len, unsigned int seed);
struct virtio_net_stats stats(struct t *t);

#endif
