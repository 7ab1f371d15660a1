// SPDX-License-Identifier: GPL-2.0-only
/*
 * bench/tap_floor.c: the floor of bench/net.py, kvmbox's tap path without
 * a VM, and the frame injector both the floor and kvmbox are measured with.
 *
 *   tap_floor tx IFNAME SIZE RAMP RUN
 *	creates tap IFNAME as kvmbox does (IFF_TAP | IFF_NO_PI |
 *	IFF_VNET_HDR, TUNSETVNETHDRSZ 12, the same TUNSETOFFLOAD), brings
 *	it up and writes the frame (a zero virtio-net header + SIZE bytes)
 *	into it as fast as it can: RAMP seconds not counted, then RUN
 *	seconds counted.
 *   tap_floor rx IFNAME SIZE RAMP RUN [WAIT]
 *	creates and brings up the tap the same way, prints "KBFLOOR ready",
 *	then reads frames from it (2048-byte buffer, one read() each); the
 *	clock starts at the first frame (WAIT seconds at most, default 10),
 *	then RAMP not counted, RUN counted.
 *   tap_floor inject IFNAME SIZE SECONDS
 *	sends the frame out of IFNAME from the host side (an AF_PACKET
 *	socket bound to it, PACKET_QDISC_BYPASS, sendmmsg() in batches of
 *	32) for SECONDS or until SIGTERM/SIGINT: the frames then arrive on
 *	the tap's file descriptor (kvmbox's, or "tap_floor rx"'s).
 *
 * SIZE: Ethernet frame bytes, no FCS, 60..1514; the frame (bench/frame.h) is
 * byte for byte the one bench/net_guest.c sends. Output, one line each:
 *   KBFLOOR ready
 *   KBFLOOR result frames N bytes N ns N all_frames N
 *   KBFLOOR host rx_packets N rx_dropped N tx_packets N tx_dropped N
 *	(the tap's counters from /sys/class/net/IFNAME/statistics)
 *   KBINJECT sent N errors N ns N
 * Exit status 0, 1 on an error (on stderr).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/if_packet.h>
#include <linux/if_tun.h>

#include "frame.h"

#define BATCH 32

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int link_up(const char *ifname)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int ret = -1;

	if (s < 0) {
		perror("tap_floor: socket");
		return -1;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
		perror("tap_floor: SIOCGIFFLAGS");
	} else {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
			perror("tap_floor: SIOCSIFFLAGS");
		else
			ret = 0;
	}
	close(s);
	return ret;
}

/* The tap as src/net/tap.c opens it. */
static int tap_open(const char *ifname, int nonblock)
{
	static const unsigned int offloads[] = {
		TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN,
		TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6,
		TUN_F_CSUM | TUN_F_TSO4,
		TUN_F_CSUM,
		0,
	};
	struct ifreq ifr = { 0 };
	int sz = NET_HDR_LEN;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | (nonblock ? O_NONBLOCK : 0));
	size_t i;

	if (fd < 0) {
		perror("tap_floor: /dev/net/tun");
		return -1;
	}
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		fprintf(stderr, "tap_floor: %s: TUNSETIFF: %s\n", ifname,
			strerror(errno));
		goto fail;
	}
	if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0) {
		perror("tap_floor: TUNSETVNETHDRSZ");
		goto fail;
	}
	for (i = 0; i < sizeof(offloads) / sizeof(offloads[0]); i++)
		if (!ioctl(fd, TUNSETOFFLOAD, offloads[i]))
			break;
	if (link_up(ifname) < 0)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

static unsigned long long stat_read(const char *ifname, const char *name)
{
	char path[128];
	unsigned long long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/%s", ifname, name);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%llu", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

static void print_host(const char *ifname)
{
	printf("KBFLOOR host rx_packets %llu rx_dropped %llu tx_packets %llu tx_dropped %llu\n",
	       stat_read(ifname, "rx_packets"), stat_read(ifname, "rx_dropped"),
	       stat_read(ifname, "tx_packets"), stat_read(ifname, "tx_dropped"));
}

static void print_result(uint64_t frames, uint64_t bytes, uint64_t ns, uint64_t all)
{
	printf("KBFLOOR result frames %llu bytes %llu ns %llu all_frames %llu\n",
	       (unsigned long long)frames, (unsigned long long)bytes,
	       (unsigned long long)ns, (unsigned long long)all);
}

static int do_tx(const char *ifname, uint32_t len, double ramp, double run)
{
	uint8_t buf[NET_HDR_LEN + FRAME_MAX] = { 0 };
	uint64_t t0, t_start = 0, t, frames = 0, all = 0, errors = 0;
	uint64_t ramp_ns = (uint64_t)(ramp * 1e9), run_ns = (uint64_t)(run * 1e9);
	int measuring = 0;
	int fd = tap_open(ifname, 0);

	if (fd < 0)
		return 1;
	build_frame(buf + NET_HDR_LEN, len);
	printf("KBFLOOR ready\n");
	fflush(stdout);
	t0 = t = now_ns();
	for (;;) {
		for (int i = 0; i < 64; i++) {
			if (write(fd, buf, NET_HDR_LEN + len) < 0) {
				errors++;
				continue;
			}
			all++;
			frames += measuring;
		}
		t = now_ns();
		if (!measuring && t - t0 >= ramp_ns) {
			measuring = 1;
			t_start = t;
		}
		if (measuring && t - t_start >= run_ns)
			break;
	}
	print_result(frames, frames * len, t - t_start, all);
	print_host(ifname);
	if (errors)
		printf("KBFLOOR write_errors %llu\n", (unsigned long long)errors);
	close(fd);
	return 0;
}

static int do_rx(const char *ifname, double ramp, double run, double wait)
{
	static uint8_t buf[BUF_SIZE];
	uint64_t t0, t_start = 0, t, frames = 0, bytes = 0, all = 0;
	uint64_t ramp_ns = (uint64_t)(ramp * 1e9), run_ns = (uint64_t)(run * 1e9);
	int measuring = 0, started = 0;
	int fd = tap_open(ifname, 1);
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	if (fd < 0)
		return 1;
	printf("KBFLOOR ready\n");
	fflush(stdout);
	t0 = t = now_ns();
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		t = now_ns();
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR) {
				perror("tap_floor: read");
				close(fd);
				return 1;
			}
			if (!started && t - t0 >= (uint64_t)(wait * 1e9)) {
				fprintf(stderr, "tap_floor: no frame in %g s\n", wait);
				close(fd);
				return 1;
			}
			poll(&pfd, 1, 100);
		} else if (n >= NET_HDR_LEN + 14) {
			if (!started) {
				started = 1;
				t0 = t;
			}
			all++;
			if (measuring) {
				frames++;
				bytes += (uint64_t)n - NET_HDR_LEN;
			}
		}
		if (started && !measuring && t - t0 >= ramp_ns) {
			measuring = 1;
			t_start = t;
		}
		if (measuring && t - t_start >= run_ns)
			break;
	}
	print_result(frames, bytes, t - t_start, all);
	print_host(ifname);
	close(fd);
	return 0;
}

static int do_inject(const char *ifname, uint32_t len, double secs)
{
	static uint8_t frame[FRAME_MAX];
	struct sockaddr_ll sll = { 0 };
	struct mmsghdr msgs[BATCH];
	struct iovec iov = { frame, 0 };
	struct sigaction sa = { 0 };
	uint64_t t0, sent = 0, errors = 0, end;
	int one = 1;
	int s;

	sa.sa_handler = on_signal; /* no SA_RESTART: sendmmsg returns EINTR */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	build_frame(frame, len);
	iov.iov_len = len;
	s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0); /* 0: receives nothing */
	if (s < 0) {
		perror("tap_floor: socket(AF_PACKET)");
		return 1;
	}
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(0x0800);
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	if (!sll.sll_ifindex) {
		fprintf(stderr, "tap_floor: %s: %s\n", ifname, strerror(errno));
		close(s);
		return 1;
	}
	if (bind(s, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		perror("tap_floor: bind");
		close(s);
		return 1;
	}
	/* Straight to the tap's xmit (which drops when its queue is full). */
	if (setsockopt(s, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) < 0)
		perror("tap_floor: PACKET_QDISC_BYPASS (going through the qdisc)");
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < BATCH; i++) {
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	t0 = now_ns();
	end = t0 + (uint64_t)(secs * 1e9);
	while (!stop && now_ns() < end) {
		int n = sendmmsg(s, msgs, BATCH, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != ENOBUFS && errno != EAGAIN) {
				perror("tap_floor: sendmmsg");
				break;
			}
			errors++;
			sched_yield();
			continue;
		}
		sent += (uint64_t)n;
	}
	printf("KBINJECT sent %llu errors %llu ns %llu\n", (unsigned long long)sent,
	       (unsigned long long)errors, (unsigned long long)(now_ns() - t0));
	close(s);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: tap_floor tx IFNAME SIZE RAMP RUN\n"
			"       tap_floor rx IFNAME SIZE RAMP RUN [WAIT]\n"
			"       tap_floor inject IFNAME SIZE SECONDS\n");
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned long size;

	if (argc < 5)
		usage();
	size = strtoul(argv[3], NULL, 0);
	if (size < FRAME_MIN || size > FRAME_MAX) {
		fprintf(stderr, "tap_floor: frame size %lu: 60..1514\n", size);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(argv[1], "tx") && argc == 6)
		return do_tx(argv[2], (uint32_t)size, atof(argv[4]), atof(argv[5]));
	if (!strcmp(argv[1], "rx") && (argc == 6 || argc == 7))
		return do_rx(argv[2], atof(argv[4]), atof(argv[5]),
			     argc == 7 ? atof(argv[6]) : 10);
	if (!strcmp(argv[1], "inject") && argc == 5)
		return do_inject(argv[2], (uint32_t)size, atof(argv[4]));
	usage();
	return 2;
}
