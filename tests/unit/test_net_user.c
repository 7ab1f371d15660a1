// SPDX-License-Identifier: GPL-2.0-only
/*
 * The network backends with a fake device behind them.
 *
 * user: a DHCP DISCOVER in, a DHCP OFFER for x.x.x.15 out (through the
 * slirp thread); a busy hostfwd port is an error naming the port.
 * tap (skipped without /dev/net/tun or CAP_NET_ADMIN): a "kbtest%d"
 * device, its offloads, a frame each way through an AF_PACKET socket on
 * the host side, and a refused frame kept until rx_ready().
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <linux/if_packet.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "net/backend.h"
#include "vm/event.h"

#define TEST_ETHERTYPE 0x88b5 /* IEEE local experimental */

/* ---- The fake device ---- */

struct fake_peer {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint8_t frames[8][2048]; /* header + frame, flattened */
	size_t lens[8];
	int nr;
	int calls;
	int refuse; /* refuse this many frames of interest */
	uint16_t only_type; /* 0: every frame is of interest */
};

static bool fake_receive(void *ctx, const struct iovec *iov, int iovcnt)
{
	struct fake_peer *p = ctx;
	uint8_t buf[2048];
	size_t len = 0;
	bool ok = true;

	for (int i = 0; i < iovcnt; i++) {
		size_t n = iov[i].iov_len;

		if (len + n > sizeof(buf))
			n = sizeof(buf) - len;
		memcpy(buf + len, iov[i].iov_base, n);
		len += n;
	}
	pthread_mutex_lock(&p->lock);
	p->calls++;
	if (p->only_type &&
	    (len < NET_HDR_LEN + 14 ||
	     ((buf[NET_HDR_LEN + 12] << 8) | buf[NET_HDR_LEN + 13]) != p->only_type))
		goto out;
	if (p->refuse) {
		p->refuse--;
		ok = false;
		goto out;
	}
	if (p->nr < 8) {
		memcpy(p->frames[p->nr], buf, len);
		p->lens[p->nr++] = len;
		pthread_cond_broadcast(&p->cond);
	}
out:
	pthread_mutex_unlock(&p->lock);
	return ok;
}

static void fake_init(struct fake_peer *p, struct net_peer *np)
{
	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	np->ctx = p;
	np->receive = fake_receive;
}

/* Waits up to @ms for at least @n frames; returns how many there are. */
static int fake_wait(struct fake_peer *p, int n, int ms)
{
	struct timespec ts;
	int got;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&p->lock);
	while (p->nr < n && pthread_cond_timedwait(&p->cond, &p->lock, &ts) == 0)
		;
	got = p->nr;
	pthread_mutex_unlock(&p->lock);
	return got;
}

/* ---- user ---- */

static const uint8_t guest_mac[6] = { 0x02, 0x6b, 0x62, 0x00, 0x00, 0x01 };

static uint16_t ip_csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Header + Ethernet + IPv4 + UDP 68->67 + BOOTP with a DISCOVER. */
static size_t build_discover(uint8_t *f)
{
	const size_t bootp_len = 236 + 312; /* fixed part + options area */
	const size_t udp_len = 8 + bootp_len, ip_len = 20 + udp_len;
	uint8_t *eth = f + NET_HDR_LEN, *iph = eth + 14, *udp = iph + 20, *bp = udp + 8;
	uint8_t *opt = bp + 236;

	memset(f, 0, NET_HDR_LEN + 14 + ip_len);
	memset(eth, 0xff, 6);
	memcpy(eth + 6, guest_mac, 6);
	put16(eth + 12, 0x0800);
	iph[0] = 0x45;
	put16(iph + 2, (uint16_t)ip_len);
	iph[8] = 64;
	iph[9] = 17;
	memset(iph + 16, 0xff, 4); /* to 255.255.255.255 from 0.0.0.0 */
	put16(iph + 10, ip_csum(iph, 20));
	put16(udp, 68);
	put16(udp + 2, 67);
	put16(udp + 4, (uint16_t)udp_len);
	bp[0] = 1; /* BOOTREQUEST */
	bp[1] = 1; /* Ethernet */
	bp[2] = 6;
	memcpy(bp + 4, "\x12\x34\x56\x78", 4); /* xid */
	put16(bp + 10, 0x8000); /* broadcast reply */
	memcpy(bp + 28, guest_mac, 6);
	memcpy(opt, "\x63\x82\x53\x63", 4);
	opt[4] = 53; /* DHCP message type */
	opt[5] = 1;
	opt[6] = 1; /* DISCOVER */
	opt[7] = 255;
	return NET_HDR_LEN + 14 + ip_len;
}

/* The DHCP message type of a DHCP reply to our xid, or -1. */
static int dhcp_reply(const uint8_t *f, size_t len, uint32_t *yiaddr)
{
	const uint8_t *eth = f + NET_HDR_LEN, *iph = eth + 14, *udp, *bp, *opt, *end;

	if (len < NET_HDR_LEN + 14 + 20 + 8 + 240)
		return -1;
	for (int i = 0; i < NET_HDR_LEN; i++) {
		if (f[i])
			return -1; /* the header from user mode is zeros */
	}
	if (eth[12] != 0x08 || eth[13] != 0 || iph[9] != 17)
		return -1;
	udp = iph + (iph[0] & 0xf) * 4;
	if (((udp[0] << 8) | udp[1]) != 67 || ((udp[2] << 8) | udp[3]) != 68)
		return -1;
	bp = udp + 8;
	if (bp[0] != 2 || memcmp(bp + 4, "\x12\x34\x56\x78", 4) ||
	    memcmp(bp + 236, "\x63\x82\x53\x63", 4))
		return -1;
	memcpy(yiaddr, bp + 16, 4);
	end = f + len;
	for (opt = bp + 240; opt + 2 <= end && *opt != 255;) {
		if (*opt == 0) {
			opt++;
			continue;
		}
		if (opt[0] == 53 && opt[1] == 1 && opt + 3 <= end)
			return opt[2];
		opt += 2 + opt[1];
	}
	return -1;
}

static int free_tcp_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int s = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&sa, &sl), 0);
	close(s);
	return ntohs(sa.sin_port);
}

static void test_user_dhcp(void **state)
{
	struct event_loop loop;
	struct kb_err err = { 0 };
	struct net_spec spec;
	struct fake_peer fp;
	struct net_peer np;
	struct net_backend *b, *b2;
	uint8_t frame[1024];
	struct iovec iov[3];
	char s[128], port[16];
	size_t len;
	int found = 0;

	assert_int_equal(event_loop_init(&loop), 0);
	assert_int_equal(event_loop_start(&loop), 0);
	snprintf(s, sizeof(s), "user,hostfwd=tcp:127.0.0.1:%d-:22", free_tcp_port());
	if (net_spec_parse(s, &spec, &err))
		fail_msg("%s: %s", s, err.msg);
	b = net_backend_open(&spec, &loop, &err);
	if (!b)
		fail_msg("open %s: %s", s, err.msg);
	assert_string_equal(b->kind, "user");
	assert_string_equal(b->desc, "user 10.0.2.0/24");
	assert_int_equal(b->offloads, 0);

	/* A second VM on the same host port: refused, naming the port. */
	b2 = net_backend_open(&spec, &loop, &err);
	assert_null(b2);
	assert_int_equal(err.code, -EADDRINUSE);
	snprintf(port, sizeof(port), ":%u", spec.fwd[0].host_port);
	if (!strstr(err.msg, port) || !strstr(err.msg, "hostfwd tcp") ||
	    !strstr(err.msg, "in use"))
		fail_msg("message '%s' does not name the port %s", err.msg, port);

	fake_init(&fp, &np);
	fp.only_type = 0x0800;
	assert_int_equal(b->ops->start(b, &np), 0);
	/*
	 * Split header and frame over iovecs, as a device would: the Ethernet
	 * frame in one iovec (handed to slirp as it is), then spread over two
	 * (gathered first). Each DISCOVER gets its OFFER.
	 */
	len = build_discover(frame);
	iov[0] = (struct iovec){ frame, 5 };
	iov[1] = (struct iovec){ frame + 5, len - 5 };
	assert_int_equal(b->ops->send(b, iov, 2), 0);
	iov[1] = (struct iovec){ frame + 5, 30 };
	iov[2] = (struct iovec){ frame + 35, len - 35 };
	assert_int_equal(b->ops->send(b, iov, 3), 0);
	assert_int_equal(b->stats.tx_frames, 2);

	for (int have = 0; found < 2 && fake_wait(&fp, have + 1, 2000) > have; have++) {
		uint32_t yiaddr;

		if (dhcp_reply(fp.frames[have], fp.lens[have], &yiaddr) == 2) {
			char a[INET_ADDRSTRLEN];

			inet_ntop(AF_INET, &yiaddr, a, sizeof(a));
			assert_string_equal(a, "10.0.2.15");
			found++;
		}
	}
	if (found < 2)
		fail_msg("%d DHCP OFFERs for 2 DISCOVERs within 2 s (%d frames)", found,
			 fp.nr);

	/* Stopped: frames from slirp are dropped, receive() not called. */
	b->ops->stop(b);
	assert_true(b->stats.rx_frames >= 1); /* stop() took the lock */
	pthread_mutex_lock(&fp.lock);
	fp.calls = 0;
	pthread_mutex_unlock(&fp.lock);
	assert_int_equal(b->ops->send(b, iov, 3), 0);
	usleep(100 * 1000);
	assert_int_equal(fp.calls, 0);
	b->ops->destroy(b);

	/* Destroyed: the port is free again. */
	b = net_backend_open(&spec, &loop, &err);
	if (!b)
		fail_msg("reopen: %s", err.msg);
	b->ops->destroy(b);
	event_loop_destroy(&loop);
}

static void test_user_net(void **state)
{
	struct kb_err err = { 0 };
	struct net_spec spec;
	struct net_backend *b;

	assert_int_equal(net_spec_parse("user,net=192.168.100.0/22", &spec, &err), 0);
	b = net_backend_open(&spec, NULL, &err);
	if (!b)
		fail_msg("open: %s", err.msg);
	assert_string_equal(b->desc, "user 192.168.100.0/22");
	b->ops->destroy(b);
}

/* ---- tap ---- */

static bool tap_usable(void)
{
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		print_message("[  SKIP    ] /dev/net/tun: %s\n", strerror(errno));
		return false;
	}
	close(fd);
	return true;
}

static void test_tap(void **state)
{
	static const uint8_t dst[6] = { 0x02, 0, 0, 0, 0, 0x42 };
	struct event_loop loop;
	struct kb_err err = { 0 };
	struct net_spec spec;
	struct fake_peer fp;
	struct net_peer np;
	struct net_backend *b;
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	uint8_t frame[NET_HDR_LEN + 60], buf[256];
	struct iovec iov = { frame, sizeof(frame) };
	char name[IFNAMSIZ];
	int ps, ifindex;
	ssize_t n;

	if (!tap_usable())
		skip();
	assert_int_equal(net_spec_parse("tap,ifname=kbtest%d,vhost=auto", &spec, &err),
			 0);
	assert_int_equal(event_loop_init(&loop), 0);
	assert_int_equal(event_loop_start(&loop), 0);
	b = net_backend_open(&spec, &loop, &err);
	if (!b && (err.code == -EPERM || err.code == -EACCES)) {
		print_message("[  SKIP    ] %s\n", err.msg);
		event_loop_destroy(&loop);
		skip();
	}
	if (!b)
		fail_msg("open: %s", err.msg);
	print_message("tap: %s, offloads %#x\n", b->desc, b->offloads);
	assert_string_equal(b->kind, "tap");
	assert_int_equal(sscanf(b->desc, "tap %15s", name), 1);
	assert_memory_equal(name, "kbtest", 6);
	if (access("/dev/vhost-net", F_OK))
		assert_non_null(strstr(b->desc, "vhost off: /dev/vhost-net missing"));
	/* Every kernel kvmbox runs on has checksum offload on tap. */
	assert_true(b->offloads & NET_OFFLOAD_CSUM);
	ifindex = (int)if_nametoindex(name);
	assert_true(ifindex > 0);

	/* vhost=on without /dev/vhost-net names it. */
	if (access("/dev/vhost-net", F_OK)) {
		struct net_spec s2;
		struct kb_err e2 = { 0 };

		assert_int_equal(net_spec_parse("tap,vhost=on", &s2, &e2), 0);
		assert_null(net_backend_open(&s2, &loop, &e2));
		assert_non_null(strstr(e2.msg, "/dev/vhost-net"));
	}

	ps = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(TEST_ETHERTYPE));
	if (ps < 0) {
		print_message("[  SKIP    ] AF_PACKET: %s\n", strerror(errno));
		b->ops->destroy(b);
		event_loop_destroy(&loop);
		skip();
	}
	sll.sll_protocol = htons(TEST_ETHERTYPE);
	sll.sll_ifindex = ifindex;
	assert_int_equal(bind(ps, (struct sockaddr *)&sll, sizeof(sll)), 0);

	/* Guest -> host: the header (zeros) is eaten by the kernel. */
	memset(frame, 0, sizeof(frame));
	memcpy(frame + NET_HDR_LEN, dst, 6);
	memcpy(frame + NET_HDR_LEN + 6, guest_mac, 6);
	put16(frame + NET_HDR_LEN + 12, TEST_ETHERTYPE);
	memcpy(frame + NET_HDR_LEN + 14, "to the host", 11);
	assert_int_equal(b->ops->send(b, &iov, 1), 0);
	assert_int_equal(b->stats.tx_frames, 1);
	struct timeval tv = { .tv_sec = 2 };
	setsockopt(ps, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	n = recv(ps, buf, sizeof(buf), 0);
	assert_int_equal(n, 60);
	assert_memory_equal(buf + 14, "to the host", 11);

	/* Host -> guest, the first refused: kept until rx_ready(). */
	fake_init(&fp, &np);
	fp.only_type = TEST_ETHERTYPE;
	fp.refuse = 1;
	assert_int_equal(b->ops->start(b, &np), 0);
	memcpy(buf, guest_mac, 6);
	memcpy(buf + 14, "to the guest", 12);
	assert_int_equal(sendto(ps, buf, 60, 0, (struct sockaddr *)&sll, sizeof(sll)),
			 60);
	for (int i = 0; i < 100; i++) {
		pthread_mutex_lock(&fp.lock);
		int refused = fp.refuse == 0;
		pthread_mutex_unlock(&fp.lock);
		if (refused)
			break;
		usleep(10 * 1000);
	}
	assert_int_equal(fp.refuse, 0);
	usleep(50 * 1000);
	assert_int_equal(fake_wait(&fp, 1, 0), 0);
	b->ops->rx_ready(b);
	assert_int_equal(fake_wait(&fp, 1, 2000), 1);
	assert_int_equal(fp.lens[0], NET_HDR_LEN + 60);
	assert_memory_equal(fp.frames[0] + NET_HDR_LEN, guest_mac, 6);
	assert_memory_equal(fp.frames[0] + NET_HDR_LEN + 14, "to the guest", 12);
	/* And the fd is watched again. */
	assert_int_equal(sendto(ps, buf, 60, 0, (struct sockaddr *)&sll, sizeof(sll)),
			 60);
	assert_int_equal(fake_wait(&fp, 2, 2000), 2);
	event_loop_sync(&loop); /* the handler counts after receive() */
	assert_true(b->stats.rx_frames >= 2);

	b->ops->stop(b);
	b->ops->destroy(b);
	close(ps);
	/* Not persistent: gone with its fd. */
	assert_int_equal(if_nametoindex(name), 0);
	event_loop_destroy(&loop);
}

int main(void)
{
	/* As kvmbox's main() does: EPIPE, not SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_user_dhcp),
		cmocka_unit_test(test_user_net),
		cmocka_unit_test(test_tap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
