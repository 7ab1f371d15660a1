// SPDX-License-Identifier: GPL-2.0-only
/*
 * Network checks over virtio-net, with kernel sockets (guest user space
 * cannot make system calls on PVM hosts):
 *
 *   net-devs     there are net_devs virtio-net netdevs (names and MACs
 *                listed, in order)
 *   net-addr     the first non-loopback netdev is up and has the IPv4
 *                address that ip= on the command line gave it
 *   net-connect  TCP client: "KVMBOX-HELLO\n" out, "KVMBOX-WELCOME\n" back
 *   net-udp      echoes one datagram received on 0.0.0.0:<port>
 *   net-tcp      accepts one connection on 0.0.0.0:<port>, echoes one line
 *
 * net-udp and net-tcp print "KVMBOX-SELFTEST <name> READY <port>" once the
 * socket is bound (and listening), before they block: the host sends only
 * after that line. READY is neither PASS nor FAIL, so the host parsers
 * (^KVMBOX-SELFTEST (\S+) (PASS|FAIL)\b) skip it.
 */
#include <linux/errno.h>
#include <linux/in.h>
#include <linux/inet.h>
#include <linux/inetdevice.h>
#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/net.h>
#include <linux/netdevice.h>
#include <linux/printk.h>
#include <linux/rcupdate.h>
#include <linux/rtnetlink.h>
#include <linux/slab.h>
#include <linux/socket.h>
#include <linux/string.h>
#include <linux/uio.h>
#include <net/net_namespace.h>
#include <net/sock.h>

#include "selftest.h"

#define KST_CONNECT_TIMEOUT (120 * HZ) /* connect, send and receive */
#define KST_IO_TIMEOUT (120 * HZ) /* reads and writes once connected */
#define KST_WAIT_TIMEOUT (300 * HZ) /* the first datagram or connection */
#define KST_LINE_MAX 256 /* net-tcp's echoed line */
#define KST_DGRAM_MAX 2048 /* net-udp's echoed datagram */

static const char kst_hello[] __initconst = "KVMBOX-HELLO\n";
static const char kst_welcome[] __initconst = "KVMBOX-WELCOME\n";

bool __init kst_check_net_devs(struct kst_result *res)
{
	struct net_device *dev;
	char seen[128] = "";
	size_t len = 0;
	unsigned int n = 0, other = 0;

	rtnl_lock();
	for_each_netdev(&init_net, dev)
	{
		struct device *parent = dev->dev.parent;

		if (dev->flags & IFF_LOOPBACK)
			continue;
		if (!parent || !parent->driver ||
		    strcmp(parent->driver->name, "virtio_net")) {
			other++;
			continue;
		}
		n++;
		len += scnprintf(seen + len, sizeof(seen) - len, " %s %pM", dev->name,
				 dev->dev_addr);
	}
	rtnl_unlock();
	if (n != kst_net_devs || other)
		return kst_fail(res, "%u virtio-net devices (%u others), not %u:%s", n,
				other, kst_net_devs, seen);
	return kst_pass(res, "%u:%s", n, seen);
}

bool __init kst_check_net_addr(struct kst_result *res)
{
	struct net_device *dev;
	struct in_device *in_dev;
	const struct in_ifaddr *ifa;
	char name[IFNAMSIZ] = "";
	char seen[96] = "";
	size_t len = 0;
	bool up = false, found = false;
	__be32 want;

	if (!in4_pton(kst_net_addr, -1, (u8 *)&want, -1, NULL))
		return kst_fail(res, "net_addr=%s is not an IPv4 address", kst_net_addr);

	rcu_read_lock();
	for_each_netdev_rcu(&init_net, dev)
	{
		if (dev->flags & IFF_LOOPBACK)
			continue;
		strscpy(name, dev->name, sizeof(name));
		up = dev->flags & IFF_UP;
		in_dev = __in_dev_get_rcu(dev);
		if (in_dev) {
			in_dev_for_each_ifa_rcu(ifa, in_dev)
			{
				len += scnprintf(seen + len, sizeof(seen) - len,
						 " %pI4/%d", &ifa->ifa_local,
						 ifa->ifa_prefixlen);
				found |= ifa->ifa_local == want;
			}
		}
		break;
	}
	rcu_read_unlock();

	if (!name[0])
		return kst_fail(res, "no network device besides loopback");
	if (!up)
		return kst_fail(res, "%s is down (IPv4:%s)", name, len ? seen : " none");
	if (!found)
		return kst_fail(res, "%s has IPv4%s, not %pI4", name,
				len ? seen : " none", &want);
	return kst_pass(res, "%s up,%s", name, seen);
}

/* Sends all of @buf; the number of bytes sent or a negative errno. */
static int __init kst_send_all(struct socket *sock, struct sockaddr_in *to,
			       const void *buf, size_t len)
{
	size_t done = 0;
	int n;

	while (done < len) {
		struct kvec iov = {
			.iov_base = (void *)buf + done,
			.iov_len = len - done,
		};
		struct msghdr msg = {
			.msg_name = to,
			.msg_namelen = to ? sizeof(*to) : 0,
			.msg_flags = MSG_NOSIGNAL,
		};

		n = kernel_sendmsg(sock, &msg, &iov, 1, iov.iov_len);
		if (n < 0)
			return n;
		if (!n)
			return -EIO;
		done += n;
	}
	return done;
}

/*
 * Reads into @buf until a '\n' arrives, @size bytes are in, or the peer
 * closes; *@got is the number of bytes read. Returns 0 on '\n' or a full
 * buffer, -ENODATA at end of stream, or the negative errno of a failed read
 * (-EAGAIN: timeout).
 */
static int __init kst_recv_line(struct socket *sock, char *buf, size_t size, size_t *got)
{
	int n;

	*got = 0;
	while (*got < size) {
		struct kvec iov = {
			.iov_base = buf + *got,
			.iov_len = size - *got,
		};
		struct msghdr msg = {};

		n = kernel_recvmsg(sock, &msg, &iov, 1, iov.iov_len, 0);
		if (n < 0)
			return n;
		if (!n)
			return -ENODATA;
		*got += n;
		if (memchr(buf + *got - n, '\n', n))
			return 0;
	}
	return 0;
}

static void __init kst_set_timeouts(struct socket *sock, long snd, long rcv)
{
	sock->sk->sk_sndtimeo = snd;
	sock->sk->sk_rcvtimeo = rcv;
}

bool __init kst_check_net_connect(struct kst_result *res)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct socket *sock;
	const char *end;
	char reply[64];
	size_t got;
	u16 port;
	int err;

	if (!in4_pton(kst_net_connect, -1, (u8 *)&sa.sin_addr.s_addr, ':', &end) ||
	    *end != ':' || kstrtou16(end + 1, 10, &port) || !port)
		return kst_fail(res, "net_connect=%s is not A.B.C.D:PORT",
				kst_net_connect);
	sa.sin_port = htons(port);

	err = sock_create_kern(&init_net, AF_INET, SOCK_STREAM, IPPROTO_TCP, &sock);
	if (err)
		return kst_fail(res, "cannot create a TCP socket (%d)", err);
	/* inet_stream_connect() waits for up to sk_sndtimeo. */
	kst_set_timeouts(sock, KST_CONNECT_TIMEOUT, KST_CONNECT_TIMEOUT);

	err = kernel_connect(sock, (struct sockaddr *)&sa, sizeof(sa), 0);
	if (err) {
		kst_fail(res, "connect to %pI4:%u failed (%d)", &sa.sin_addr, port, err);
		goto out;
	}
	err = kst_send_all(sock, NULL, kst_hello, strlen(kst_hello));
	if (err < 0) {
		kst_fail(res, "sending the hello to %pI4:%u failed (%d)", &sa.sin_addr,
			 port, err);
		goto out;
	}
	err = kst_recv_line(sock, reply, sizeof(reply), &got);
	if (err) {
		kst_fail(res, "reading the reply failed (%d) after %zu bytes \"%*pE\"",
			 err, got, (int)got, reply);
		goto out;
	}
	if (got != strlen(kst_welcome) || memcmp(reply, kst_welcome, got)) {
		kst_fail(res, "unexpected reply of %zu bytes \"%*pE\"", got, (int)got,
			 reply);
		err = -EPROTO;
		goto out;
	}
	kst_pass(res, "%pI4:%u replied KVMBOX-WELCOME", &sa.sin_addr, port);
out:
	kernel_sock_shutdown(sock, SHUT_RDWR);
	sock_release(sock);
	return !err;
}

static int __init kst_bind_any(struct socket *sock, u16 port)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_ANY),
	};

	return kernel_bind(sock, (struct sockaddr *)&sa, sizeof(sa));
}

bool __init kst_check_net_udp(struct kst_result *res)
{
	struct sockaddr_in from = {};
	struct socket *sock;
	struct msghdr msg = {};
	struct kvec iov;
	bool ok = false;
	char *buf;
	int n, err;

	if (kst_net_udp > 65535)
		return kst_fail(res, "net_udp=%u is not a port", kst_net_udp);
	buf = kmalloc(KST_DGRAM_MAX, GFP_KERNEL);
	if (!buf)
		return kst_fail(res, "out of memory");
	err = sock_create_kern(&init_net, AF_INET, SOCK_DGRAM, IPPROTO_UDP, &sock);
	if (err) {
		kfree(buf);
		return kst_fail(res, "cannot create a UDP socket (%d)", err);
	}
	kst_set_timeouts(sock, KST_IO_TIMEOUT, KST_WAIT_TIMEOUT);

	err = kst_bind_any(sock, kst_net_udp);
	if (err) {
		kst_fail(res, "bind to 0.0.0.0:%u failed (%d)", kst_net_udp, err);
		goto out;
	}
	pr_info("KVMBOX-SELFTEST net-udp READY %u\n", kst_net_udp);

	iov.iov_base = buf;
	iov.iov_len = KST_DGRAM_MAX;
	msg.msg_name = &from;
	msg.msg_namelen = sizeof(from);
	n = kernel_recvmsg(sock, &msg, &iov, 1, KST_DGRAM_MAX, 0);
	if (n < 0) {
		kst_fail(res, "no datagram on port %u (%d%s)", kst_net_udp, n,
			 n == -EAGAIN ? ": timeout" : "");
		goto out;
	}
	if (msg.msg_flags & MSG_TRUNC) {
		kst_fail(res, "datagram longer than %d bytes", KST_DGRAM_MAX);
		goto out;
	}
	err = kst_send_all(sock, &from, buf, n);
	if (err < 0) {
		kst_fail(res, "echo of %d bytes to %pI4:%u failed (%d)", n,
			 &from.sin_addr, ntohs(from.sin_port), err);
		goto out;
	}
	ok = kst_pass(res, "%d bytes echoed to %pI4:%u", n, &from.sin_addr,
		      ntohs(from.sin_port));
out:
	sock_release(sock);
	kfree(buf);
	return ok;
}

bool __init kst_check_net_tcp(struct kst_result *res)
{
	struct sockaddr_in peer = {};
	struct socket *sock, *conn = NULL;
	char buf[KST_LINE_MAX];
	bool ok = false;
	size_t got;
	int err;

	if (kst_net_tcp > 65535)
		return kst_fail(res, "net_tcp=%u is not a port", kst_net_tcp);
	err = sock_create_kern(&init_net, AF_INET, SOCK_STREAM, IPPROTO_TCP, &sock);
	if (err)
		return kst_fail(res, "cannot create a TCP socket (%d)", err);
	sock_set_reuseaddr(sock->sk);
	/* inet_csk_accept() waits for up to sk_rcvtimeo. */
	kst_set_timeouts(sock, KST_IO_TIMEOUT, KST_WAIT_TIMEOUT);

	err = kst_bind_any(sock, kst_net_tcp);
	if (err) {
		kst_fail(res, "bind to 0.0.0.0:%u failed (%d)", kst_net_tcp, err);
		goto out;
	}
	err = kernel_listen(sock, 1);
	if (err) {
		kst_fail(res, "listen on port %u failed (%d)", kst_net_tcp, err);
		goto out;
	}
	pr_info("KVMBOX-SELFTEST net-tcp READY %u\n", kst_net_tcp);

	err = kernel_accept(sock, &conn, 0);
	if (err) {
		conn = NULL;
		kst_fail(res, "no connection on port %u (%d%s)", kst_net_tcp, err,
			 err == -EAGAIN ? ": timeout" : "");
		goto out;
	}
	kst_set_timeouts(conn, KST_IO_TIMEOUT, KST_IO_TIMEOUT);
	if (kernel_getpeername(conn, (struct sockaddr *)&peer) < 0)
		memset(&peer, 0, sizeof(peer));

	err = kst_recv_line(conn, buf, sizeof(buf), &got);
	/* The peer may close its side after the line: echo what came. */
	if (err && !(err == -ENODATA && got)) {
		kst_fail(res, "reading from %pI4:%u failed (%d) after %zu bytes",
			 &peer.sin_addr, ntohs(peer.sin_port), err, got);
		goto out;
	}
	err = kst_send_all(conn, NULL, buf, got);
	if (err < 0) {
		kst_fail(res, "echo of %zu bytes failed (%d)", got, err);
		goto out;
	}
	ok = kst_pass(res, "%zu bytes echoed to %pI4:%u", got, &peer.sin_addr,
		      ntohs(peer.sin_port));
out:
	if (conn) {
		kernel_sock_shutdown(conn, SHUT_RDWR);
		sock_release(conn);
	}
	sock_release(sock);
	return ok;
}
