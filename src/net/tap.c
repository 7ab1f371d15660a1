// SPDX-License-Identifier: GPL-2.0-only
/*
 * The tap backend: a /dev/net/tun fd with IFF_VNET_HDR, so frames carry
 * the 12-byte virtio-net header straight to and from the kernel.
 *
 * Receive runs on the event loop. The tap fd and an eventfd (rx_ready's
 * doorbell) sit in a private epoll set and only that set is registered
 * with the loop: pausing and resuming the tap fd when the guest runs out
 * of receive buffers is then an epoll_ctl on our own set, which is fine
 * from inside a handler (event_add is not: the loop holds its dispatch
 * lock while a handler runs).
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/if_tun.h>

#include "net/backend.h"
#include "util/log.h"

#define RX_BUDGET 64 /* frames per handler call */
#define RX_BUF_LEN (NET_HDR_LEN + NET_MAX_FRAME)

enum { SRC_TAP, SRC_WAKE };

struct tap {
	struct net_backend b;
	struct event_loop *loop;
	int fd;
	int epfd; /* private set: fd and wake_fd; registered with the loop */
	int wake_fd; /* rx_ready() */
	int vhost_fd; /* -1: no vhost (the data path is not written yet) */
	char ifname[IFNAMSIZ];
	struct net_peer peer;
	bool started;
	bool paused; /* fd is out of epfd's interest (events 0) */
	bool pending; /* buf holds a frame the peer refused */
	size_t pending_len;
	uint8_t *buf;
};

static struct tap *to_tap(struct net_backend *b)
{
	return b->priv;
}

static void tap_watch(struct tap *t, bool on)
{
	struct epoll_event ev = { .events = on ? EPOLLIN : 0, .data.u32 = SRC_TAP };

	if (epoll_ctl(t->epfd, EPOLL_CTL_MOD, t->fd, &ev) < 0)
		log_error("%s: epoll_ctl: %s", t->b.desc, strerror(errno));
	t->paused = !on;
}

/* true: delivered (or dropped for good); false: kept as pending. */
static bool tap_deliver(struct tap *t, size_t len)
{
	struct iovec iov = { .iov_base = t->buf, .iov_len = len };

	if (!t->peer.receive(t->peer.ctx, &iov, 1)) {
		t->pending = true;
		t->pending_len = len;
		return false;
	}
	t->pending = false;
	t->b.stats.rx_frames++;
	t->b.stats.rx_bytes += len - NET_HDR_LEN;
	return true;
}

static void tap_event(void *arg, uint32_t events)
{
	struct tap *t = arg;
	struct epoll_event evs[2];
	int nev;

	/* Consume the private set's ready list (it is level-triggered); the
	 * eventfd is read only when rx_ready() rang it. */
	nev = epoll_wait(t->epfd, evs, 2, 0);
	if (nev < 0 && errno != EINTR)
		log_debug("%s: epoll_wait: %s", t->b.desc, strerror(errno));
	for (int i = 0; i < nev; i++) {
		uint64_t cnt;

		if (evs[i].data.u32 == SRC_WAKE &&
		    read(t->wake_fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
			log_debug("%s: eventfd: %s", t->b.desc, strerror(errno));
	}
	if (!t->started)
		return;
	if (t->pending && !tap_deliver(t, t->pending_len))
		return; /* still no buffers: wait for the next rx_ready() */
	if (t->paused)
		tap_watch(t, true);

	for (int i = 0; i < RX_BUDGET; i++) {
		ssize_t n = read(t->fd, t->buf, RX_BUF_LEN);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				log_debug("%s: read: %s", t->b.desc, strerror(errno));
			return;
		}
		if ((size_t)n < NET_HDR_LEN + 14) {
			t->b.stats.rx_dropped++;
			continue;
		}
		if (!tap_deliver(t, (size_t)n)) {
			tap_watch(t, false);
			return;
		}
	}
}

static int tap_send(struct net_backend *b, const struct iovec *iov, int iovcnt)
{
	struct tap *t = to_tap(b);
	ssize_t n;

	do {
		n = writev(t->fd, iov, iovcnt);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		/*
		 * A full queue, the link set down by the admin (EIO) or a
		 * header the kernel refuses (EINVAL, the guest's doing) drop
		 * this frame; anything else is the backend failing.
		 */
		if (errno == EAGAIN || errno == ENOBUFS || errno == EIO ||
		    errno == EINVAL) {
			b->stats.tx_dropped++;
			return 0;
		}
		return -errno;
	}
	b->stats.tx_frames++;
	if ((size_t)n > NET_HDR_LEN)
		b->stats.tx_bytes += (size_t)n - NET_HDR_LEN;
	return 0;
}

static void tap_rx_ready(struct net_backend *b)
{
	struct tap *t = to_tap(b);
	uint64_t one = 1;

	if (write(t->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug("%s: eventfd: %s", b->desc, strerror(errno));
}

static int tap_start(struct net_backend *b, const struct net_peer *peer)
{
	struct tap *t = to_tap(b);
	int ret;

	if (t->started)
		return 0;
	t->peer = *peer;
	t->pending = false;
	tap_watch(t, true);
	t->started = true;
	ret = event_add(t->loop, t->epfd, EPOLLIN, tap_event, t);
	if (ret < 0) {
		t->started = false;
		return ret;
	}
	return 0;
}

static void tap_stop(struct net_backend *b)
{
	struct tap *t = to_tap(b);

	if (!t->started)
		return;
	event_del(t->loop, t->epfd);
	t->started = false;
	if (t->pending) {
		b->stats.rx_dropped++;
		t->pending = false;
	}
}

static void tap_free(struct tap *t)
{
	if (t->vhost_fd >= 0)
		close(t->vhost_fd);
	if (t->wake_fd >= 0)
		close(t->wake_fd);
	if (t->epfd >= 0)
		close(t->epfd);
	if (t->fd >= 0)
		close(t->fd);
	free(t->buf);
	free(t);
}

static void tap_destroy(struct net_backend *b)
{
	struct tap *t = to_tap(b);

	tap_stop(b);
	tap_free(t);
}

static const struct net_backend_ops tap_ops = {
	.send = tap_send,
	.rx_ready = tap_rx_ready,
	.start = tap_start,
	.stop = tap_stop,
	.destroy = tap_destroy,
};

static int tap_attach(struct tap *t, const char *want, struct kb_err *err)
{
	struct ifreq ifr = { 0 };

	t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (t->fd < 0)
		return kb_err_set(err, -errno, "-n tap: /dev/net/tun: %s",
				  strerror(errno));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", want);
	if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;

		if (e == EBUSY)
			return kb_err_set(
				err, -e,
				"-n tap: tap device %s is in use (another process has it open)",
				want);
		if (e == EPERM)
			return kb_err_set(
				err, -e,
				"-n tap: cannot create or attach to %s: %s (needs CAP_NET_ADMIN, or a persistent tap owned by this user)",
				want, strerror(e));
		return kb_err_set(
			err, -e, "-n tap: %s: TUNSETIFF: %s%s", want, strerror(e),
			e == EINVAL ? " (is it an interface other than a tap?)" : "");
	}
	memcpy(t->ifname, ifr.ifr_name, IFNAMSIZ);
	t->ifname[IFNAMSIZ - 1] = '\0';
	return 0;
}

static int tap_vnet_hdr(struct tap *t, struct kb_err *err)
{
	static const struct {
		unsigned int tun;
		uint32_t net;
	} tries[] = {
		{ TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN,
		  NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4 | NET_OFFLOAD_TSO6 |
			  NET_OFFLOAD_ECN },
		{ TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6,
		  NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4 | NET_OFFLOAD_TSO6 },
		{ TUN_F_CSUM | TUN_F_TSO4, NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4 },
		{ TUN_F_CSUM, NET_OFFLOAD_CSUM },
		{ 0, 0 },
	};
	int sz = NET_HDR_LEN;

	if (ioctl(t->fd, TUNSETVNETHDRSZ, &sz) < 0)
		return kb_err_set(err, -errno, "-n tap: %s: TUNSETVNETHDRSZ %d: %s",
				  t->ifname, sz, strerror(errno));
	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		if (!ioctl(t->fd, TUNSETOFFLOAD, tries[i].tun)) {
			t->b.offloads = tries[i].net;
			return 0;
		}
	}
	return kb_err_set(err, -errno, "-n tap: %s: TUNSETOFFLOAD: %s", t->ifname,
			  strerror(errno));
}

/* The host side up; a failure is only a warning (the admin may do it). */
static void tap_link_up(struct tap *t)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0) {
		log_warn("tap %s: socket: %s; the link is left as it is", t->ifname,
			 strerror(errno));
		return;
	}
	memcpy(ifr.ifr_name, t->ifname, IFNAMSIZ);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
		log_warn("tap %s: SIOCGIFFLAGS: %s", t->ifname, strerror(errno));
	} else if (!(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
			log_warn("tap %s: cannot bring the link up: %s", t->ifname,
				 strerror(errno));
	}
	close(s);
}

/* Detection only: the vhost-net data path is not written yet. */
static int tap_vhost(struct tap *t, enum net_vhost mode, struct kb_err *err)
{
	const char *why = "vhost off";
	char buf[40];

	if (mode != NET_VHOST_OFF) {
		int fd = open("/dev/vhost-net", O_RDWR | O_CLOEXEC);

		if (fd < 0) {
			int e = errno;

			if (mode == NET_VHOST_ON)
				return kb_err_set(
					err, -e,
					"-n tap,vhost=on: cannot open /dev/vhost-net: %s%s",
					strerror(e),
					e == ENOENT ? " (modprobe vhost_net?)" : "");
			if (e == ENOENT) {
				why = "vhost off: /dev/vhost-net missing";
			} else {
				snprintf(buf, sizeof(buf),
					 "vhost off: /dev/vhost-net: %s", strerror(e));
				why = buf;
			}
		} else {
			close(fd);
			if (mode == NET_VHOST_ON)
				return kb_err_set(
					err, -ENOTSUP,
					"-n tap,vhost=on: the vhost-net data path is not supported yet (use vhost=auto or vhost=off)");
			why = "vhost off: not supported yet";
		}
	}
	snprintf(t->b.desc, sizeof(t->b.desc), "tap %s (%s)", t->ifname, why);
	return 0;
}

struct net_backend *net_tap_open(const struct net_spec *spec, struct event_loop *loop,
				 struct kb_err *err)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct tap *t = calloc(1, sizeof(*t));
	int ret;

	if (!t) {
		kb_err_set(err, -ENOMEM, "-n tap: out of memory");
		return NULL;
	}
	t->fd = t->epfd = t->wake_fd = t->vhost_fd = -1;
	t->loop = loop;
	t->b.ops = &tap_ops;
	t->b.kind = "tap";
	t->b.priv = t;

	ret = tap_attach(t, spec->ifname[0] ? spec->ifname : "kb%d", err);
	if (!ret)
		ret = tap_vnet_hdr(t, err);
	if (!ret)
		ret = tap_vhost(t, spec->vhost, err);
	if (ret)
		goto fail;

	t->buf = malloc(RX_BUF_LEN);
	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	t->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!t->buf || t->epfd < 0 || t->wake_fd < 0) {
		kb_err_set(err, t->buf ? -errno : -ENOMEM, "-n tap: %s: %s", t->ifname,
			   t->buf ? strerror(errno) : "out of memory");
		goto fail;
	}
	ev.data.u32 = SRC_WAKE;
	if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->wake_fd, &ev) < 0)
		goto fail_errno;
	ev.events = 0; /* watched from start() on */
	ev.data.u32 = SRC_TAP;
	if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->fd, &ev) < 0)
		goto fail_errno;
	t->paused = true;

	tap_link_up(t);
	return &t->b;

fail_errno:
	kb_err_set(err, -errno, "-n tap: %s: epoll_ctl: %s", t->ifname, strerror(errno));
fail:
	tap_free(t);
	return NULL;
}
