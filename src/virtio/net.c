// SPDX-License-Identifier: GPL-2.0-only
/*
 * virtio network device (virtio 1.x, 5.1), one queue pair, no control
 * queue. See virtio/net.h for what is offered.
 *
 * Transmit (guest -> backend, event loop thread): each chain is a 12-byte
 * struct virtio_net_hdr_v1 followed by the Ethernet frame, in the chain's
 * device-readable buffers; they go to the backend's send() as they are
 * (no copy) and the chain is returned with length 0. A chain too short for
 * the header and an Ethernet header, too long, with no readable part or
 * with more buffers than VNET_MAX_IOV is returned unsent and counted as a
 * tx error. A run takes at most VIRTIO_NET_TX_BUDGET chains; with more
 * waiting it leaves notifications off and writes to n->tx_rearm_fd, an
 * eventfd on the event loop, whose handler goes on where the run stopped.
 *
 * Receive (backend -> guest, the backend's thread): the frame is copied
 * into the driver's receive chains. With MRG_RXBUF it may span several
 * chains (num_buffers in the first header says how many); each chain is
 * copied into as it is popped, and they are pushed together at the end,
 * so that they are consecutive in the used ring as the driver expects.
 * If the ring runs dry before the frame fits, the chains taken are put
 * back by moving q->last_avail back (they were not pushed, and what was
 * written into them is not the driver's business until they are), the
 * frame is refused (receive() returns false) and rx_waiting is set: the
 * driver's next kick of receiveq calls the backend's rx_ready(). The pop
 * that found the ring empty already asked for that kick (queue.c).
 * Without MRG_RXBUF one chain holds the whole frame; a chain too small for
 * it is left on the ring (last_avail moved back) and the frame dropped.
 *
 * The header from the backend is checked against what the driver
 * negotiated: NEEDS_CSUM without GUEST_CSUM is completed here (the
 * checksum computed on a linear copy); a GSO type the driver did not take
 * is dropped; DATA_VALID without GUEST_CSUM is cleared.
 *
 * Locking:
 *  - n->rx_lock: receiveq, rx_waiting, the link status, rx counters;
 *  - n->tx_lock: transmitq, the backend's send(), tx counters.
 * n->active is written with both held and read with either. Nothing holds
 * both except activate/reset. The backend's start/stop/rx_ready are called
 * with neither held (a backend may wait in stop() for a receive() that
 * waits for rx_lock). virtio_notify_queue()/_config() are called with a
 * lock held, as the other devices do.
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <linux/if_ether.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>

#include "util/log.h"
#include "virtio/net.h"

/* Buffers per chain; a longer chain is returned unused. */
#define VNET_MAX_IOV 64
/* Offset of num_buffers in struct virtio_net_hdr_v1. */
#define VNET_NUM_BUFFERS_OFF 10
#define VNET_MIN_PKT (NET_HDR_LEN + ETH_HLEN)
#define VNET_MAX_PKT (NET_HDR_LEN + NET_MAX_FRAME)

struct vnet {
	struct virtio_dev vdev;
	struct net_backend *be;
	struct net_peer peer;
	struct event_loop *loop;
	int tx_rearm_fd; /* eventfd: "transmitq has more" */

	pthread_mutex_t rx_lock;
	pthread_mutex_t tx_lock;
	bool active; /* between activate and reset; both locks to write */
	bool be_started; /* start() succeeded, stop() not called; status writer */

	uint8_t mac[6];
	bool link_up; /* rx_lock (and read without for tx: a hint) */
	bool rx_waiting; /* receive() said false: rx_ready() on next kick */
	uint64_t features; /* offered */

	uint8_t *rx_scratch; /* VNET_MAX_PKT: linear copy for checksums */

	struct virtio_net_stats stats; /* rx_* under rx_lock, tx_* tx_lock */
};

/* A receive chain taken for the frame being delivered. */
struct rx_buf {
	uint16_t head;
	uint32_t len;
};

static struct vnet *to_vnet(struct virtio_dev *d)
{
	return d->priv;
}

static uint64_t bit(unsigned int b)
{
	return 1ULL << b;
}

static size_t iov_total(const struct iovec *iov, int n)
{
	size_t len = 0;

	for (int i = 0; i < n; i++)
		len += iov[i].iov_len;
	return len;
}

/* Copies @len bytes from @src at @soff to @dst at @doff; returns the bytes
 * copied (less when either side ends first). */
static size_t iov_copy(const struct iovec *dst, int dn, size_t doff,
		       const struct iovec *src, int sn, size_t soff, size_t len)
{
	size_t done = 0;

	for (int i = 0; i < sn && done < len; i++) {
		size_t l = src[i].iov_len, got;

		if (soff >= l) {
			soff -= l;
			continue;
		}
		l -= soff;
		if (l > len - done)
			l = len - done;
		got = iov_from_buf(dst, dn, doff + done,
				   (const uint8_t *)src[i].iov_base + soff, l);
		done += got;
		if (got < l)
			break;
		soff = 0;
	}
	return done;
}

/* --- transmit -------------------------------------------------------- */

static void vnet_tx_rearm(struct vnet *n)
{
	uint64_t one = 1;

	if (write(n->tx_rearm_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("%s: tx re-arm: %s", n->vdev.name, strerror(errno));
}

/* Sends one popped chain; returns with it pushed. tx_lock held. */
static void vnet_tx_one(struct vnet *n, struct virtq *q, int ret,
			const struct virtq_req *req)
{
	if (ret < 0 || !req->nr_out || req->out_len < VNET_MIN_PKT ||
	    req->out_len > VNET_MAX_PKT) {
		/* -E2BIG, writable only, runt or oversized. */
		n->stats.tx_errors++;
	} else if (!__atomic_load_n(&n->link_up, __ATOMIC_RELAXED)) {
		n->stats.tx_dropped++;
	} else if (n->be->ops->send(n->be, req->iov, req->nr_out) < 0) {
		n->stats.tx_dropped++;
	} else {
		n->stats.tx_frames++;
		n->stats.tx_bytes += req->out_len - NET_HDR_LEN;
	}
	virtq_push(q, req->head, 0);
}

/* Services transmitq, at most VIRTIO_NET_TX_BUDGET chains. tx_lock held. */
static void vnet_transmit(struct vnet *n)
{
	struct virtio_dev *d = &n->vdev;
	struct virtq *q = &d->vq[VIRTIO_NET_TXQ];
	struct iovec iov[VNET_MAX_IOV];
	int budget = VIRTIO_NET_TX_BUDGET;
	struct virtq_req req;

	if (!n->active || q->broken)
		return;
	do {
		virtq_disable_notify(q);
		for (;;) {
			int ret;

			if (!budget) {
				/* Notifications stay off: the re-arm handler
				 * turns them back on when it runs dry. */
				vnet_tx_rearm(n);
				goto out;
			}
			ret = virtq_pop(q, &req, iov, VNET_MAX_IOV);
			if (!ret)
				break;
			if (ret == -EINVAL) {
				log_warn(
					"%s: malformed transmit queue: device needs reset",
					d->name);
				virtio_set_needs_reset(d);
				goto out;
			}
			budget--;
			vnet_tx_one(n, q, ret, &req);
		}
	} while (virtq_enable_notify(q));
out:
	virtio_notify_queue(d, VIRTIO_NET_TXQ); /* nothing if nothing used */
}

/* Event loop: a transmit run stopped at its budget. */
static void vnet_tx_rearm_handler(void *arg, uint32_t events)
{
	struct vnet *n = arg;
	uint64_t v;

	if (read(n->tx_rearm_fd, &v, sizeof(v)) < 0)
		return;
	pthread_mutex_lock(&n->tx_lock);
	vnet_transmit(n);
	pthread_mutex_unlock(&n->tx_lock);
}

/* --- receive --------------------------------------------------------- */

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/*
 * The backend left a partial checksum (NEEDS_CSUM) for a driver that did
 * not take GUEST_CSUM: complete it on a linear copy of the packet, which
 * then replaces @iov. False if the offsets are out of the frame. rx_lock
 * held.
 */
static bool vnet_fill_csum(struct vnet *n, struct virtio_net_hdr_v1 *hdr,
			   const struct iovec **iov, int *iovcnt, struct iovec *lin,
			   size_t total)
{
	size_t start = le16toh(hdr->csum_start);
	size_t off = le16toh(hdr->csum_offset);
	size_t flen = total - NET_HDR_LEN;
	uint8_t *f = n->rx_scratch + NET_HDR_LEN;
	uint32_t sum = 0;
	uint16_t c;
	size_t i;

	if (start >= flen || off > flen - start || flen - start - off < 2)
		return false;
	iov_to_buf(*iov, *iovcnt, 0, n->rx_scratch, total);
	/* The field holds the pseudo-header sum; summing over it adds it. */
	for (i = start; i + 1 < flen; i += 2)
		sum += (uint32_t)f[i] << 8 | f[i + 1];
	if (i < flen)
		sum += (uint32_t)f[i] << 8;
	c = csum_fold(sum);
	f[start + off] = c >> 8;
	f[start + off + 1] = c & 0xff;
	hdr->flags &= ~VIRTIO_NET_HDR_F_NEEDS_CSUM;
	lin->iov_base = n->rx_scratch;
	lin->iov_len = total;
	*iov = lin;
	*iovcnt = 1;
	return true;
}

/* Makes the backend's header fit what the driver negotiated; false if the
 * frame cannot be delivered. rx_lock held. */
static bool vnet_fix_hdr(struct vnet *n, struct virtio_net_hdr_v1 *hdr,
			 const struct iovec **iov, int *iovcnt, struct iovec *lin,
			 size_t total)
{
	struct virtio_dev *d = &n->vdev;
	uint8_t gso = hdr->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
	bool csum = virtio_has_feature(d, VIRTIO_NET_F_GUEST_CSUM);

	hdr->num_buffers = 0;
	if (gso != VIRTIO_NET_HDR_GSO_NONE) {
		unsigned int need;

		if (gso == VIRTIO_NET_HDR_GSO_TCPV4)
			need = VIRTIO_NET_F_GUEST_TSO4;
		else if (gso == VIRTIO_NET_HDR_GSO_TCPV6)
			need = VIRTIO_NET_F_GUEST_TSO6;
		else if (gso == VIRTIO_NET_HDR_GSO_UDP)
			need = VIRTIO_NET_F_GUEST_UFO;
		else
			return false;
		if (!virtio_has_feature(d, need))
			return false;
		if ((hdr->gso_type & VIRTIO_NET_HDR_GSO_ECN) &&
		    !virtio_has_feature(d, VIRTIO_NET_F_GUEST_ECN))
			return false;
	} else if (hdr->gso_type) {
		return false; /* ECN bit alone */
	}
	if (csum)
		return true;
	hdr->flags &= ~VIRTIO_NET_HDR_F_DATA_VALID;
	if (hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
		return vnet_fill_csum(n, hdr, iov, iovcnt, lin, total);
	return true;
}

/*
 * Copies packet bytes [off, off + len) into @dst: the first NET_HDR_LEN
 * come from @hdr (the fixed-up header), the rest from @src at the same
 * offset.
 */
static void vnet_copy_pkt(const struct iovec *dst, int dn,
			  const struct virtio_net_hdr_v1 *hdr, const struct iovec *src,
			  int sn, size_t off, size_t len)
{
	size_t done = 0;

	if (off < NET_HDR_LEN) {
		done = NET_HDR_LEN - off < len ? NET_HDR_LEN - off : len;
		iov_from_buf(dst, dn, 0, (const uint8_t *)hdr + off, done);
	}
	if (done < len)
		iov_copy(dst, dn, done, src, sn, off + done, len - done);
}

/* Puts back the @count chains last popped (not pushed). rx_lock held. */
static void vnet_unpop(struct virtq *q, int count)
{
	q->last_avail -= (uint16_t)count;
}

/* A bad receive chain while collecting for a frame: return it and those
 * already taken with length 0, drop the frame. rx_lock held. */
static void vnet_rx_abort(struct vnet *n, struct virtq *q, const struct rx_buf *bufs,
			  int nr, uint16_t bad_head)
{
	for (int i = 0; i < nr; i++)
		virtq_push(q, bufs[i].head, 0);
	virtq_push(q, bad_head, 0);
	n->stats.rx_errors++;
	n->stats.rx_dropped++;
	virtio_notify_queue(&n->vdev, VIRTIO_NET_RXQ);
}

/* A malformed ring: the driver must reset. rx_lock held. */
static void vnet_rx_broken(struct vnet *n)
{
	log_warn("%s: malformed receive queue: device needs reset", n->vdev.name);
	virtio_set_needs_reset(&n->vdev);
	n->stats.rx_errors++;
	n->stats.rx_dropped++;
}

/* MRG_RXBUF: see the top of the file. rx_lock held. */
static bool vnet_rx_mergeable(struct vnet *n, const struct virtio_net_hdr_v1 *hdr,
			      const struct iovec *src, int sn, size_t total)
{
	struct virtq *q = &n->vdev.vq[VIRTIO_NET_RXQ];
	struct rx_buf bufs[VIRTIO_NET_QUEUE_SIZE];
	struct iovec first[VNET_MAX_IOV] = { { 0 } };
	struct iovec iov[VNET_MAX_IOV];
	struct virtq_req req;
	uint16_t nbuf;
	size_t off = 0;
	int nr = 0, nfirst = 0, first_out = 0;

	while (off < total) {
		struct iovec *v = nr ? iov : first;
		size_t len;
		int ret;

		if (nr == VIRTIO_NET_QUEUE_SIZE || nr == q->size) {
			/* The whole ring (or all we track) cannot hold the
			 * frame: a small ring and a big frame, or a queue
			 * larger than we offered. Put the chains back, drop it. */
			vnet_unpop(q, nr);
			n->stats.rx_dropped++;
			return true;
		}
		ret = virtq_pop(q, &req, v, VNET_MAX_IOV);
		if (!ret) {
			vnet_unpop(q, nr);
			n->rx_waiting = true;
			return false;
		}
		if (ret == -EINVAL) {
			vnet_rx_broken(n);
			return true;
		}
		/* Each buffer at least a header long (5.1.6.3.1). */
		if (ret < 0 || !req.nr_in || req.in_len < NET_HDR_LEN) {
			vnet_rx_abort(n, q, bufs, nr, req.head);
			return true;
		}
		len = req.in_len < total - off ? req.in_len : total - off;
		vnet_copy_pkt(req.iov + req.nr_out, req.nr_in, hdr, src, sn, off, len);
		if (!nr) {
			/* first[] stays as popped: num_buffers goes there. */
			first_out = req.nr_out;
			nfirst = req.nr_in;
		}
		bufs[nr].head = req.head;
		bufs[nr].len = (uint32_t)len;
		nr++;
		off += len;
	}
	nbuf = htole16((uint16_t)nr);
	iov_from_buf(first + first_out, nfirst, VNET_NUM_BUFFERS_OFF, &nbuf,
		     sizeof(nbuf));
	for (int i = 0; i < nr; i++)
		virtq_push(q, bufs[i].head, bufs[i].len);
	n->stats.rx_frames++;
	n->stats.rx_bytes += total - NET_HDR_LEN;
	virtio_notify_queue(&n->vdev, VIRTIO_NET_RXQ);
	return true;
}

/* One chain for the whole packet. rx_lock held. */
static bool vnet_rx_single(struct vnet *n, struct virtio_net_hdr_v1 *hdr,
			   const struct iovec *src, int sn, size_t total)
{
	struct virtq *q = &n->vdev.vq[VIRTIO_NET_RXQ];
	struct iovec iov[VNET_MAX_IOV];
	struct virtq_req req;

	for (;;) {
		int ret = virtq_pop(q, &req, iov, VNET_MAX_IOV);

		if (!ret) {
			n->rx_waiting = true;
			return false;
		}
		if (ret == -EINVAL) {
			vnet_rx_broken(n);
			return true;
		}
		if (ret > 0 && req.nr_in)
			break;
		/* Nothing we can write into: return it, try the next. */
		virtq_push(q, req.head, 0);
		n->stats.rx_errors++;
		virtio_notify_queue(&n->vdev, VIRTIO_NET_RXQ);
	}
	if (req.in_len < total) {
		/* Too small for this frame; a smaller one may fit. */
		vnet_unpop(q, 1);
		n->stats.rx_dropped++;
		return true;
	}
	hdr->num_buffers = htole16(1);
	vnet_copy_pkt(req.iov + req.nr_out, req.nr_in, hdr, src, sn, 0, total);
	virtq_push(q, req.head, (uint32_t)total);
	n->stats.rx_frames++;
	n->stats.rx_bytes += total - NET_HDR_LEN;
	virtio_notify_queue(&n->vdev, VIRTIO_NET_RXQ);
	return true;
}

/* The backend's peer->receive(). */
static bool vnet_receive(void *ctx, const struct iovec *iov, int iovcnt)
{
	struct vnet *n = ctx;
	struct virtio_dev *d = &n->vdev;
	struct virtio_net_hdr_v1 hdr;
	size_t total = iov_total(iov, iovcnt);
	struct iovec lin;
	bool ret;

	pthread_mutex_lock(&n->rx_lock);
	if (!n->active || !d->vq[VIRTIO_NET_RXQ].desc) {
		n->rx_waiting = true;
		ret = false;
		goto out;
	}
	ret = true;
	if (total < VNET_MIN_PKT || total > VNET_MAX_PKT || !n->link_up) {
		n->stats.rx_dropped++;
		goto out;
	}
	if (d->vq[VIRTIO_NET_RXQ].broken) {
		/* Already reported; the driver has to reset. */
		n->stats.rx_dropped++;
		goto out;
	}
	iov_to_buf(iov, iovcnt, 0, &hdr, sizeof(hdr));
	if (!vnet_fix_hdr(n, &hdr, &iov, &iovcnt, &lin, total)) {
		n->stats.rx_dropped++;
		goto out;
	}
	if (virtio_has_feature(d, VIRTIO_NET_F_MRG_RXBUF))
		ret = vnet_rx_mergeable(n, &hdr, iov, iovcnt, total);
	else
		ret = vnet_rx_single(n, &hdr, iov, iovcnt, total);
out:
	pthread_mutex_unlock(&n->rx_lock);
	return ret;
}

/* --- device ops ------------------------------------------------------ */

static uint64_t vnet_features(struct virtio_dev *d)
{
	return to_vnet(d)->features;
}

static void vnet_read_config(struct virtio_dev *d, uint32_t off, void *data, uint32_t len)
{
	struct vnet *n = to_vnet(d);
	struct virtio_net_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	memcpy(cfg.mac, n->mac, sizeof(cfg.mac));
	pthread_mutex_lock(&n->rx_lock);
	cfg.status = htole16(n->link_up ? VIRTIO_NET_S_LINK_UP : 0);
	pthread_mutex_unlock(&n->rx_lock);
	cfg.max_virtqueue_pairs = htole16(1);
	/* The transport checked off + len <= config_size (sizeof(cfg)). */
	memcpy(data, (const uint8_t *)&cfg + off, len);
}

static void vnet_write_config(struct virtio_dev *d, uint32_t off, const void *data,
			      uint32_t len)
{
	/* mac is writable only in legacy mode (5.1.4.2): ignored. */
}

static int vnet_activate(struct virtio_dev *d)
{
	struct vnet *n = to_vnet(d);
	int ret;

	pthread_mutex_lock(&n->rx_lock);
	pthread_mutex_lock(&n->tx_lock);
	n->active = true;
	pthread_mutex_unlock(&n->tx_lock);
	pthread_mutex_unlock(&n->rx_lock);
	if (!n->be_started) {
		ret = n->be->ops->start(n->be, &n->peer);
		if (ret) {
			log_warn("%s: %s: cannot start: %s", d->name, n->be->desc,
				 strerror(-ret));
			pthread_mutex_lock(&n->rx_lock);
			pthread_mutex_lock(&n->tx_lock);
			n->active = false;
			pthread_mutex_unlock(&n->tx_lock);
			pthread_mutex_unlock(&n->rx_lock);
			return ret;
		}
		n->be_started = true;
	}
	/* The transport replays a kick per queue after this: frames the
	 * backend kept (rx_waiting) are asked for again then. */
	return 0;
}

static void vnet_queue_notify(struct virtio_dev *d, int q)
{
	struct vnet *n = to_vnet(d);
	bool wake;

	if (q == VIRTIO_NET_TXQ) {
		pthread_mutex_lock(&n->tx_lock);
		vnet_transmit(n);
		pthread_mutex_unlock(&n->tx_lock);
		return;
	}
	if (q != VIRTIO_NET_RXQ)
		return;
	pthread_mutex_lock(&n->rx_lock);
	wake = n->active && n->rx_waiting;
	if (wake)
		n->rx_waiting = false;
	pthread_mutex_unlock(&n->rx_lock);
	/* Not under rx_lock: the backend may take its own locks. */
	if (wake)
		n->be->ops->rx_ready(n->be);
}

static void vnet_stop(struct vnet *n)
{
	/* No receive() gets past the active check after this... */
	pthread_mutex_lock(&n->rx_lock);
	pthread_mutex_lock(&n->tx_lock);
	n->active = false;
	pthread_mutex_unlock(&n->tx_lock);
	pthread_mutex_unlock(&n->rx_lock);
	/* ...and none runs after this. rx_waiting stays: a frame the
	 * backend kept is asked for after the next activate. */
	if (n->be_started) {
		n->be->ops->stop(n->be);
		n->be_started = false;
	}
}

static void vnet_reset(struct virtio_dev *d)
{
	vnet_stop(to_vnet(d));
}

static void vnet_destroy(struct virtio_dev *d)
{
	struct vnet *n = to_vnet(d);

	vnet_stop(n);
	/* After this the re-arm handler is not running and never will. */
	event_del(n->loop, n->tx_rearm_fd);
	close(n->tx_rearm_fd);
	n->be->ops->destroy(n->be);
	pthread_mutex_destroy(&n->tx_lock);
	pthread_mutex_destroy(&n->rx_lock);
	free(n->rx_scratch);
	free(n);
}

static const struct virtio_dev_ops vnet_ops = {
	.features = vnet_features,
	.read_config = vnet_read_config,
	.write_config = vnet_write_config,
	.activate = vnet_activate,
	.queue_notify = vnet_queue_notify,
	.reset = vnet_reset,
	.destroy = vnet_destroy,
};

static uint64_t vnet_offered(uint32_t off)
{
	uint64_t f = bit(VIRTIO_NET_F_MAC) | bit(VIRTIO_NET_F_STATUS) |
		     bit(VIRTIO_NET_F_MRG_RXBUF);
	bool tso = false;

	/* Every offload builds on partial checksums (5.1.3.1). */
	if (!(off & NET_OFFLOAD_CSUM))
		return f;
	f |= bit(VIRTIO_NET_F_CSUM) | bit(VIRTIO_NET_F_GUEST_CSUM);
	if (off & NET_OFFLOAD_TSO4) {
		f |= bit(VIRTIO_NET_F_HOST_TSO4) | bit(VIRTIO_NET_F_GUEST_TSO4);
		tso = true;
	}
	if (off & NET_OFFLOAD_TSO6) {
		f |= bit(VIRTIO_NET_F_HOST_TSO6) | bit(VIRTIO_NET_F_GUEST_TSO6);
		tso = true;
	}
	if ((off & NET_OFFLOAD_ECN) && tso)
		f |= bit(VIRTIO_NET_F_HOST_ECN) | bit(VIRTIO_NET_F_GUEST_ECN);
	if (off & NET_OFFLOAD_UFO)
		f |= bit(VIRTIO_NET_F_HOST_UFO) | bit(VIRTIO_NET_F_GUEST_UFO);
	return f;
}

struct virtio_dev *virtio_net_create(struct net_backend *be, const uint8_t mac[6],
				     struct event_loop *loop, struct kb_err *err)
{
	struct vnet *n;
	int ret;

	if (!be || !loop) {
		kb_err_set(err, -EINVAL, "virtio-net: no backend or event loop");
		goto fail_be;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		kb_err_set(err, -ENOMEM, "virtio-net: out of memory");
		goto fail_be;
	}
	n->rx_scratch = malloc(VNET_MAX_PKT);
	if (!n->rx_scratch) {
		kb_err_set(err, -ENOMEM, "virtio-net: out of memory");
		goto fail_free;
	}
	n->tx_rearm_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (n->tx_rearm_fd < 0) {
		kb_err_set(err, -errno, "virtio-net: eventfd: %s", strerror(errno));
		goto fail_free;
	}
	ret = event_add(loop, n->tx_rearm_fd, EPOLLIN, vnet_tx_rearm_handler, n);
	if (ret) {
		kb_err_set(err, ret, "virtio-net: event loop: %s", strerror(-ret));
		close(n->tx_rearm_fd);
		goto fail_free;
	}
	pthread_mutex_init(&n->rx_lock, NULL);
	pthread_mutex_init(&n->tx_lock, NULL);
	n->be = be;
	n->loop = loop;
	n->peer.ctx = n;
	n->peer.receive = vnet_receive;
	memcpy(n->mac, mac, sizeof(n->mac));
	n->link_up = true;
	n->features = vnet_offered(be->offloads);
	n->vdev.name = "virtio-net";
	n->vdev.device_id = VIRTIO_ID_NET;
	n->vdev.config_size = sizeof(struct virtio_net_config);
	n->vdev.nr_queues = 2;
	n->vdev.queue_max_size = VIRTIO_NET_QUEUE_SIZE;
	n->vdev.ops = &vnet_ops;
	n->vdev.priv = n;
	return &n->vdev;

fail_free:
	free(n->rx_scratch);
	free(n);
fail_be:
	if (be)
		be->ops->destroy(be);
	return NULL;
}

void virtio_net_get_stats(struct virtio_dev *d, struct virtio_net_stats *st)
{
	struct vnet *n = to_vnet(d);

	pthread_mutex_lock(&n->rx_lock);
	st->rx_frames = n->stats.rx_frames;
	st->rx_bytes = n->stats.rx_bytes;
	st->rx_dropped = n->stats.rx_dropped;
	st->rx_errors = n->stats.rx_errors;
	pthread_mutex_unlock(&n->rx_lock);
	pthread_mutex_lock(&n->tx_lock);
	st->tx_frames = n->stats.tx_frames;
	st->tx_bytes = n->stats.tx_bytes;
	st->tx_dropped = n->stats.tx_dropped;
	st->tx_errors = n->stats.tx_errors;
	pthread_mutex_unlock(&n->tx_lock);
}

void virtio_net_set_link(struct virtio_dev *d, bool up)
{
	struct vnet *n = to_vnet(d);

	pthread_mutex_lock(&n->rx_lock);
	if (n->link_up != up) {
		__atomic_store_n(&n->link_up, up, __ATOMIC_RELAXED);
		if (n->active && virtio_has_feature(d, VIRTIO_NET_F_STATUS))
			virtio_notify_config(d);
	}
	pthread_mutex_unlock(&n->rx_lock);
}
