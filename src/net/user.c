// SPDX-License-Identifier: GPL-2.0-only
/*
 * The user-mode backend: libslirp on a thread of its own.
 *
 * One mutex guards the Slirp instance, its timers and the peer. The
 * slirp thread holds it except while it sleeps in poll(); send() (the
 * event loop) takes it around slirp_input(). Slirp hands frames for the
 * guest to send_packet() from either thread, always with the mutex held,
 * so the peer's receive() runs under it too and start()/stop() only have
 * to take it to know receive() is not running.
 *
 * Frames the guest cannot take now are dropped (slirp's TCP retransmits),
 * so rx_ready() has nothing to do.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <slirp/libslirp.h>

#include "net/backend.h"
#include "util/log.h"

struct user_timer {
	SlirpTimerCb cb; /* timer_new(); NULL for timer_new_opaque() */
	SlirpTimerId id;
	void *cb_opaque;
	int64_t expire_ms; /* -1: not armed */
	struct user_timer *next;
};

struct user {
	struct net_backend b;
	Slirp *slirp;
	pthread_mutex_t lock;
	pthread_t thread;
	bool thread_running;
	atomic_bool quit;
	int wake_fd;
	/* under lock */
	struct net_peer peer;
	bool started;
	struct user_timer *timers;
	/* slirp thread only */
	struct pollfd *pfds;
	int nr_pfds, cap_pfds;
	/* event loop only (send) */
	uint8_t *txbuf;
};

static struct user *to_user(struct net_backend *b)
{
	return b->priv;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void user_wake(struct user *u)
{
	uint64_t one = 1;

	if (write(u->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug("%s: eventfd: %s", u->b.desc, strerror(errno));
}

/* ---- Slirp callbacks (called with u->lock held) ---- */

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
	static const uint8_t zero_hdr[NET_HDR_LEN];
	struct user *u = opaque;
	struct iovec iov[2] = {
		{ .iov_base = (void *)zero_hdr, .iov_len = NET_HDR_LEN },
		{ .iov_base = (void *)buf, .iov_len = len },
	};

	if (!u->started || !u->peer.receive(u->peer.ctx, iov, 2)) {
		u->b.stats.rx_dropped++;
		return (ssize_t)len;
	}
	u->b.stats.rx_frames++;
	u->b.stats.rx_bytes += len;
	return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
	struct user *u = opaque;

	log_warn("%s: guest error: %s", u->b.desc, msg);
}

static int64_t cb_clock_get_ns(void *opaque)
{
	return now_ns();
}

static struct user_timer *timer_add(struct user *u)
{
	struct user_timer *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL; /* slirp does not check; it would crash on use */
	t->expire_ms = -1;
	t->next = u->timers;
	u->timers = t;
	return t;
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
	struct user_timer *t = timer_add(opaque);

	if (t) {
		t->cb = cb;
		t->cb_opaque = cb_opaque;
	}
	return t;
}

static void *cb_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
	struct user_timer *t = timer_add(opaque);

	if (t) {
		t->id = id;
		t->cb_opaque = cb_opaque;
	}
	return t;
}

static void cb_timer_free(void *timer, void *opaque)
{
	struct user *u = opaque;

	for (struct user_timer **pp = &u->timers; *pp; pp = &(*pp)->next) {
		if (*pp == timer) {
			*pp = ((struct user_timer *)timer)->next;
			free(timer);
			return;
		}
	}
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	struct user_timer *t = timer;

	t->expire_ms = expire_ms < 0 ? 0 : expire_ms;
	user_wake(opaque); /* the slirp thread may be sleeping past it */
}

static void cb_register_poll_fd(int fd, void *opaque)
{
}

static void cb_unregister_poll_fd(int fd, void *opaque)
{
}

static void cb_notify(void *opaque)
{
	user_wake(opaque);
}

static const SlirpCb user_cbs = {
	.send_packet = cb_send_packet,
	.guest_error = cb_guest_error,
	.clock_get_ns = cb_clock_get_ns,
	.timer_new = cb_timer_new,
	.timer_free = cb_timer_free,
	.timer_mod = cb_timer_mod,
	.register_poll_fd = cb_register_poll_fd,
	.unregister_poll_fd = cb_unregister_poll_fd,
	.notify = cb_notify,
	.timer_new_opaque = cb_timer_new_opaque,
};

/* ---- The slirp thread ---- */

static int add_poll(int fd, int events, void *opaque)
{
	struct user *u = opaque;
	struct pollfd *p;

	if (u->nr_pfds == u->cap_pfds) {
		int cap = u->cap_pfds ? u->cap_pfds * 2 : 32;
		struct pollfd *n = realloc(u->pfds, (size_t)cap * sizeof(*n));

		if (!n)
			return -1; /* slirp skips this fd for the round */
		u->pfds = n;
		u->cap_pfds = cap;
	}
	p = &u->pfds[u->nr_pfds];
	p->fd = fd;
	p->events = (short)(((events & SLIRP_POLL_IN) ? POLLIN : 0) |
			    ((events & SLIRP_POLL_OUT) ? POLLOUT : 0) |
			    ((events & SLIRP_POLL_PRI) ? POLLPRI : 0));
	p->revents = 0;
	return u->nr_pfds++;
}

static int get_revents(int idx, void *opaque)
{
	struct user *u = opaque;
	short r;

	if (idx < 0 || idx >= u->nr_pfds)
		return 0;
	r = u->pfds[idx].revents;
	return ((r & POLLIN) ? SLIRP_POLL_IN : 0) | ((r & POLLOUT) ? SLIRP_POLL_OUT : 0) |
	       ((r & POLLPRI) ? SLIRP_POLL_PRI : 0) |
	       ((r & POLLERR) ? SLIRP_POLL_ERR : 0) |
	       ((r & POLLHUP) ? SLIRP_POLL_HUP : 0);
}

/* Fires expired timers, one at a time: a callback may change the list. */
static void fire_timers(struct user *u)
{
	int64_t now = now_ns() / 1000000;

	for (;;) {
		struct user_timer *t;

		for (t = u->timers; t; t = t->next) {
			if (t->expire_ms >= 0 && t->expire_ms <= now)
				break;
		}
		if (!t)
			return;
		t->expire_ms = -1;
		if (t->cb)
			t->cb(t->cb_opaque);
		else
			slirp_handle_timer(u->slirp, t->id, t->cb_opaque);
	}
}

static uint32_t timers_timeout(struct user *u, uint32_t timeout)
{
	int64_t now = now_ns() / 1000000;

	for (struct user_timer *t = u->timers; t; t = t->next) {
		int64_t left;

		if (t->expire_ms < 0)
			continue;
		left = t->expire_ms - now;
		if (left < 0)
			left = 0;
		if ((uint64_t)left < timeout)
			timeout = (uint32_t)left;
	}
	return timeout;
}

static void *user_thread(void *arg)
{
	struct user *u = arg;

	pthread_setname_np(pthread_self(), "kvmbox-slirp");
	pthread_mutex_lock(&u->lock);
	while (!atomic_load(&u->quit)) {
		uint32_t timeout = UINT32_MAX;
		bool poll_failed;
		int n, to;

		u->nr_pfds = 0;
		add_poll(u->wake_fd, SLIRP_POLL_IN, u); /* index 0 */
		slirp_pollfds_fill(u->slirp, &timeout, add_poll, u);
		timeout = timers_timeout(u, timeout);
		to = timeout > INT_MAX ? -1 : (int)timeout;
		pthread_mutex_unlock(&u->lock);

		n = poll(u->pfds, (nfds_t)u->nr_pfds, to);
		poll_failed = n < 0 && errno != EINTR;
		if (poll_failed)
			log_debug("%s: poll: %s", u->b.desc, strerror(errno));
		if (u->nr_pfds && (u->pfds[0].revents & POLLIN)) {
			uint64_t cnt;

			if (read(u->wake_fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
				log_debug("%s: eventfd: %s", u->b.desc, strerror(errno));
		}

		pthread_mutex_lock(&u->lock);
		if (atomic_load(&u->quit))
			break;
		slirp_pollfds_poll(u->slirp, poll_failed, get_revents, u);
		fire_timers(u);
	}
	pthread_mutex_unlock(&u->lock);
	return NULL;
}

/* ---- Backend ops ---- */

static int user_send(struct net_backend *b, const struct iovec *iov, int iovcnt)
{
	struct user *u = to_user(b);
	size_t skip = NET_HDR_LEN, len = 0;
	const uint8_t *frame = NULL;

	/* Past the header: one iovec is passed as it is, more are copied. */
	for (int i = 0; i < iovcnt; i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t n = iov[i].iov_len;
		size_t s = n < skip ? n : skip;

		p += s;
		n -= s;
		skip -= s;
		if (!n)
			continue;
		if (len + n > NET_MAX_FRAME) {
			b->stats.tx_dropped++;
			return 0;
		}
		if (!len) {
			frame = p;
		} else {
			if (frame != u->txbuf)
				memcpy(u->txbuf, frame, len);
			memcpy(u->txbuf + len, p, n);
			frame = u->txbuf;
		}
		len += n;
	}
	if (len < 14) {
		b->stats.tx_dropped++;
		return 0;
	}
	pthread_mutex_lock(&u->lock);
	slirp_input(u->slirp, frame, (int)len);
	b->stats.tx_frames++;
	b->stats.tx_bytes += len;
	pthread_mutex_unlock(&u->lock);
	user_wake(u); /* slirp may have new sockets to poll */
	return 0;
}

static void user_rx_ready(struct net_backend *b)
{
}

static int user_start(struct net_backend *b, const struct net_peer *peer)
{
	struct user *u = to_user(b);

	pthread_mutex_lock(&u->lock);
	u->peer = *peer;
	u->started = true;
	pthread_mutex_unlock(&u->lock);
	return 0;
}

static void user_stop(struct net_backend *b)
{
	struct user *u = to_user(b);

	pthread_mutex_lock(&u->lock);
	u->started = false;
	pthread_mutex_unlock(&u->lock);
}

static void user_free(struct user *u)
{
	if (u->thread_running) {
		atomic_store(&u->quit, true);
		user_wake(u);
		pthread_join(u->thread, NULL);
	}
	if (u->slirp)
		slirp_cleanup(u->slirp);
	while (u->timers) {
		struct user_timer *t = u->timers;

		u->timers = t->next;
		free(t);
	}
	if (u->wake_fd >= 0)
		close(u->wake_fd);
	pthread_mutex_destroy(&u->lock);
	free(u->pfds);
	free(u->txbuf);
	free(u);
}

static void user_destroy(struct net_backend *b)
{
	struct user *u = to_user(b);

	user_stop(b);
	user_free(u);
}

static const struct net_backend_ops user_ops = {
	.send = user_send,
	.rx_ready = user_rx_ready,
	.start = user_start,
	.stop = user_stop,
	.destroy = user_destroy,
};

/* ---- Opening ---- */

/*
 * slirp_add_hostfwd() says only -1; a bind of our own first tells why.
 * TCP with SO_REUSEADDR as slirp does (a TIME_WAIT is no conflict); UDP
 * without, or a socket that set it too would not count as a conflict.
 */
static int probe_port(const struct net_hostfwd *f)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_port = htons(f->host_port),
		.sin_addr.s_addr = f->host_addr,
	};
	int s = socket(AF_INET, (f->udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
	int one = 1, ret = 0;

	if (s < 0)
		return -errno;
	if (!f->udp)
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		ret = -errno;
	close(s);
	return ret;
}

static int add_hostfwd(struct user *u, const struct net_spec *spec,
		       const struct net_hostfwd *f, struct kb_err *err)
{
	struct in_addr host = { f->host_addr };
	struct in_addr guest = { f->guest_addr };
	char ha[INET_ADDRSTRLEN];
	const char *proto = f->udp ? "udp" : "tcp";
	int ret;

	if (!guest.s_addr)
		guest.s_addr = spec->net_addr | htonl(15);
	inet_ntop(AF_INET, &host, ha, sizeof(ha));
	ret = probe_port(f);
	if (ret == -EADDRINUSE)
		return kb_err_set(
			err, ret,
			"-n user: hostfwd %s %s:%u: address already in use (host port %u is taken)",
			proto, ha, f->host_port, f->host_port);
	if (ret)
		return kb_err_set(err, ret, "-n user: hostfwd %s %s:%u: %s", proto, ha,
				  f->host_port, strerror(-ret));
	errno = 0;
	if (slirp_add_hostfwd(u->slirp, f->udp, host, f->host_port, guest,
			      f->guest_port) < 0) {
		ret = errno ? -errno : -EADDRINUSE;
		return kb_err_set(err, ret,
				  "-n user: hostfwd %s %s:%u: cannot listen: %s", proto,
				  ha, f->host_port, strerror(-ret));
	}
	return 0;
}

struct net_backend *net_user_open(const struct net_spec *spec, struct event_loop *loop,
				  struct kb_err *err)
{
	SlirpConfig cfg = { .version = 4 };
	struct user *u = calloc(1, sizeof(*u));
	char net[INET_ADDRSTRLEN];
	int ret;

	if (!u) {
		kb_err_set(err, -ENOMEM, "-n user: out of memory");
		return NULL;
	}
	pthread_mutex_init(&u->lock, NULL);
	u->b.ops = &user_ops;
	u->b.kind = "user";
	u->b.priv = u;
	inet_ntop(AF_INET, &spec->net_addr, net, sizeof(net));
	snprintf(u->b.desc, sizeof(u->b.desc), "user %s/%d", net,
		 __builtin_popcount(spec->net_mask));
	u->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	u->txbuf = malloc(NET_MAX_FRAME);
	if (u->wake_fd < 0 || !u->txbuf) {
		kb_err_set(err, u->txbuf ? -errno : -ENOMEM, "-n user: %s",
			   u->txbuf ? strerror(errno) : "out of memory");
		goto fail;
	}

	cfg.restricted = 0;
	cfg.in_enabled = true;
	cfg.vnetwork.s_addr = spec->net_addr;
	cfg.vnetmask.s_addr = spec->net_mask;
	cfg.vhost.s_addr = spec->net_addr | htonl(2);
	cfg.vdhcp_start.s_addr = spec->net_addr | htonl(15);
	cfg.vnameserver.s_addr = spec->net_addr | htonl(3);
	cfg.in6_enabled = false;
	cfg.vhostname = "kvmbox";
	u->slirp = slirp_new(&cfg, &user_cbs, u);
	if (!u->slirp) {
		kb_err_set(err, -EINVAL,
			   "-n user: libslirp refused the configuration (%s)", u->b.desc);
		goto fail;
	}
	for (int i = 0; i < spec->nr_fwd; i++) {
		if (add_hostfwd(u, spec, &spec->fwd[i], err))
			goto fail;
	}
	ret = pthread_create(&u->thread, NULL, user_thread, u);
	if (ret) {
		kb_err_set(err, -ret, "-n user: cannot start the slirp thread: %s",
			   strerror(ret));
		goto fail;
	}
	u->thread_running = true;
	return &u->b;

fail:
	user_free(u);
	return NULL;
}
