/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_NET_BACKEND_H
#define KVMBOX_NET_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "util/err.h"
#include "vm/event.h"

/*
 * A network backend: where the frames of one virtio-net device go to and
 * come from (src/net/tap.c, src/net/user.c; "none" has no backend).
 *
 * Frames cross this interface with a struct virtio_net_hdr_v1 (12 bytes,
 * <linux/virtio_net.h>) in front of the Ethernet frame, always: a backend
 * that has no use for it (user mode) ignores it on send and passes zeros
 * on receive; tap passes it to and from the kernel (TUNSETVNETHDRSZ 12).
 * num_buffers in a received header is the device's business: backends
 * leave it 0.
 *
 * Threads: everything runs on the VM's event loop thread except where a
 * backend says otherwise (user mode has its own slirp thread; it calls
 * the peer's receive() from there, see below).
 */
#define NET_HDR_LEN 12 /* sizeof(struct virtio_net_hdr_v1) */
#define NET_MAX_FRAME (65535 + 14 + 4) /* GSO frame + Ethernet + VLAN tag */

/* Offloads a backend can honour (what the device may offer the driver). */
#define NET_OFFLOAD_CSUM (1u << 0) /* partial checksums in both directions */
#define NET_OFFLOAD_TSO4 (1u << 1) /* TCPv4 segmentation offload, both ways */
#define NET_OFFLOAD_TSO6 (1u << 2)
#define NET_OFFLOAD_ECN (1u << 3)
#define NET_OFFLOAD_UFO (1u << 4)

struct net_backend;

/* The device side, as a backend sees it. */
struct net_peer {
	void *ctx;
	/*
	 * One received frame (header + Ethernet frame in @iov). Returns true
	 * when the frame was delivered or dropped for good (too big, bad),
	 * false when the guest has no receive buffers now: the backend keeps
	 * the frame (or drops it, if it cannot keep it) and waits for
	 * rx_ready() before it calls receive() again.
	 * Tap calls it on the event loop; user mode on its slirp thread.
	 * The device serialises receive() with its own lock.
	 */
	bool (*receive)(void *ctx, const struct iovec *iov, int iovcnt);
};

struct net_backend_ops {
	/* One frame from the guest (header + frame). 0 on success (or the
	 * frame was dropped by the backend, e.g. a full tap queue: counted
	 * there), -errno on a backend failure. Event loop thread. */
	int (*send)(struct net_backend *b, const struct iovec *iov, int iovcnt);
	/* The guest posted receive buffers after receive() returned false.
	 * Any thread; must not call receive() synchronously from inside. */
	void (*rx_ready)(struct net_backend *b);
	/* Start delivering frames to @peer (the device was activated by the
	 * driver); stop (the device was reset). After stop() returns, receive()
	 * is not running and will not be called until the next start(). */
	int (*start)(struct net_backend *b, const struct net_peer *peer);
	void (*stop)(struct net_backend *b);
	/* Free everything (stop() first if started). */
	void (*destroy)(struct net_backend *b);
};

struct net_backend_stats {
	uint64_t tx_frames, tx_bytes, tx_dropped; /* guest -> backend */
	uint64_t rx_frames, rx_bytes, rx_dropped; /* backend -> guest */
};

struct net_backend {
	const struct net_backend_ops *ops;
	const char *kind; /* "tap", "user" */
	char desc[64]; /* for messages: "tap kb0 (vhost off)", "user 10.0.2.0/24" */
	uint32_t offloads; /* NET_OFFLOAD_* */
	struct net_backend_stats stats; /* updated by the backend */
	void *priv;
};

enum net_kind { NET_NONE, NET_TAP, NET_USER };
enum net_vhost { NET_VHOST_AUTO, NET_VHOST_ON, NET_VHOST_OFF };

#define NET_MAX_HOSTFWD 16

struct net_hostfwd {
	bool udp; /* tcp otherwise */
	uint32_t host_addr; /* network order; INADDR_ANY when left out */
	uint16_t host_port;
	uint32_t guest_addr; /* network order; 0: the DHCP address (x.x.x.15) */
	uint16_t guest_port;
};

/* One -n option, parsed by net_spec_parse() (src/net/spec.c). */
struct net_spec {
	enum net_kind kind;
	uint8_t mac[6];
	bool mac_set; /* mac= given; else derived from the VM name and index */
	/* tap */
	char ifname[16]; /* IFNAMSIZ; empty: the kernel picks (tapN / kbN) */
	enum net_vhost vhost;
	/* user */
	uint32_t net_addr; /* network order; default 10.0.2.0 */
	uint32_t net_mask; /* network order; default 255.255.255.0 */
	struct net_hostfwd fwd[NET_MAX_HOSTFWD];
	int nr_fwd;
};

/*
 * "none", "tap[,ifname=NAME][,vhost=on|off|auto][,mac=xx:xx:xx:xx:xx:xx]",
 * "user[,net=A.B.C.D/N][,hostfwd=tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT]...[,mac=...]".
 * hostfwd= may be repeated. Errors name the field and the value.
 */
int net_spec_parse(const char *s, struct net_spec *spec, struct kb_err *err);
/* A locally administered unicast MAC from the VM name and the NIC index
 * (52:54:00 is QEMU's; kvmbox uses 02:kb-ish bytes from a hash). */
void net_default_mac(const char *vm_name, int index, uint8_t mac[6]);

/* Opens the backend (NULL with @err set: the message names the tap device,
 * the busy host port, ...). NET_NONE is not a backend: do not call. */
struct net_backend *net_backend_open(const struct net_spec *spec, struct event_loop *loop,
				     struct kb_err *err);

/* The kinds behind net_backend_open() (src/net/tap.c, src/net/user.c). */
struct net_backend *net_tap_open(const struct net_spec *spec, struct event_loop *loop,
				 struct kb_err *err);
struct net_backend *net_user_open(const struct net_spec *spec, struct event_loop *loop,
				  struct kb_err *err);

#endif
