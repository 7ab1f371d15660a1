// SPDX-License-Identifier: GPL-2.0-only
/*
 * The -n spec: every accepted form with its defaults, every refusal with
 * a message that names the field, and the default MAC.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "expect_msg.h"
#include "net/backend.h"

DEFINE_PARSE_CHECKS(struct net_spec, net_spec_parse, "-n ")

static uint32_t ip(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

static void test_none(void **state)
{
	struct net_spec sp;

	parse_ok("none", &sp);
	assert_int_equal(sp.kind, NET_NONE);
	parse_bad("none,mac=02:00:00:00:00:01", 1, "none");
}

static void test_tap(void **state)
{
	static const uint8_t mac[6] = { 0x02, 0xab, 0xcd, 0xef, 0x01, 0x23 };
	struct net_spec sp;

	parse_ok("tap", &sp);
	assert_int_equal(sp.kind, NET_TAP);
	assert_string_equal(sp.ifname, "");
	assert_int_equal(sp.vhost, NET_VHOST_AUTO);
	assert_false(sp.mac_set);

	parse_ok("tap,ifname=kb0,vhost=off,mac=02:AB:cd:EF:01:23", &sp);
	assert_string_equal(sp.ifname, "kb0");
	assert_int_equal(sp.vhost, NET_VHOST_OFF);
	assert_true(sp.mac_set);
	assert_memory_equal(sp.mac, mac, 6);

	parse_ok("tap,vhost=on", &sp);
	assert_int_equal(sp.vhost, NET_VHOST_ON);
	parse_ok("tap,vhost=auto", &sp);
	assert_int_equal(sp.vhost, NET_VHOST_AUTO);
	parse_ok("tap,ifname=kbtest%d", &sp);
	assert_string_equal(sp.ifname, "kbtest%d");
	parse_ok("tap,ifname=abcdefghijklmno", &sp); /* 15: the longest */
	assert_string_equal(sp.ifname, "abcdefghijklmno");
}

static void test_user(void **state)
{
	struct net_spec sp;

	parse_ok("user", &sp);
	assert_int_equal(sp.kind, NET_USER);
	assert_int_equal(sp.net_addr, ip("10.0.2.0"));
	assert_int_equal(sp.net_mask, ip("255.255.255.0"));
	assert_int_equal(sp.nr_fwd, 0);
	assert_false(sp.mac_set);

	parse_ok("user,net=192.168.64.0/20", &sp);
	assert_int_equal(sp.net_addr, ip("192.168.64.0"));
	assert_int_equal(sp.net_mask, ip("255.255.240.0"));
	parse_ok("user,net=10.0.0.0/8", &sp);
	assert_int_equal(sp.net_mask, ip("255.0.0.0"));
	parse_ok("user,net=10.1.2.4/30", &sp);
	assert_int_equal(sp.net_mask, ip("255.255.255.252"));
	parse_ok("user,net=10.9.9.0", &sp); /* /24 when left out */
	assert_int_equal(sp.net_mask, ip("255.255.255.0"));

	parse_ok("user,mac=02:00:00:00:00:01", &sp);
	assert_true(sp.mac_set);
	assert_int_equal(sp.mac[5], 1);
}

static void test_hostfwd(void **state)
{
	struct net_spec sp;

	parse_ok("user,hostfwd=tcp::5555-:22", &sp);
	assert_int_equal(sp.nr_fwd, 1);
	assert_false(sp.fwd[0].udp);
	assert_int_equal(sp.fwd[0].host_addr, 0);
	assert_int_equal(sp.fwd[0].host_port, 5555);
	assert_int_equal(sp.fwd[0].guest_addr, 0);
	assert_int_equal(sp.fwd[0].guest_port, 22);

	parse_ok("user,hostfwd=::5555-:22", &sp); /* tcp when left out */
	assert_int_equal(sp.nr_fwd, 1);
	assert_false(sp.fwd[0].udp);
	assert_int_equal(sp.fwd[0].host_port, 5555);

	parse_ok(
		"user,net=10.5.0.0/16,hostfwd=udp:127.0.0.1:65535-10.5.3.4:1,"
		"hostfwd=tcp:127.0.0.1:8080-10.5.0.15:80,hostfwd=udp::5555-:53,mac=02:11:22:33:44:55",
		&sp);
	assert_int_equal(sp.nr_fwd, 3);
	assert_true(sp.fwd[0].udp);
	assert_int_equal(sp.fwd[0].host_addr, ip("127.0.0.1"));
	assert_int_equal(sp.fwd[0].host_port, 65535);
	assert_int_equal(sp.fwd[0].guest_addr, ip("10.5.3.4"));
	assert_int_equal(sp.fwd[0].guest_port, 1);
	assert_false(sp.fwd[1].udp);
	assert_int_equal(sp.fwd[1].guest_port, 80);
	assert_true(sp.fwd[2].udp);
	assert_true(sp.mac_set);

	/* The same port for tcp and udp is two rules. */
	parse_ok("user,hostfwd=tcp::53-:53,hostfwd=udp::53-:53", &sp);
	assert_int_equal(sp.nr_fwd, 2);
}

static void test_hostfwd_max(void **state)
{
	char s[1024] = "user";
	struct net_spec sp;

	for (int i = 0; i < NET_MAX_HOSTFWD; i++)
		snprintf(s + strlen(s), sizeof(s) - strlen(s), ",hostfwd=::%d-:22",
			 2000 + i);
	parse_ok(s, &sp);
	assert_int_equal(sp.nr_fwd, NET_MAX_HOSTFWD);
	snprintf(s + strlen(s), sizeof(s) - strlen(s), ",hostfwd=::3000-:22");
	parse_bad(s, 2, "hostfwd=::3000-:22", "16");
}

static void test_bad_kind(void **state)
{
	parse_bad("", 1, "unknown network kind");
	parse_bad("bridge", 2, "bridge", "none, tap or user");
	parse_bad("tapx,ifname=a", 1, "\"tapx\"");
	parse_bad("nonex", 1, "nonex");
}

static void test_bad_tap(void **state)
{
	parse_bad("tap,ifname=abcdefghijklmnop", 2, "ifname=", "abcdefghijklmnop");
	parse_bad("tap,ifname=a/b", 2, "ifname=a/b", "'/'");
	parse_bad("tap,ifname=a b", 2, "ifname=a b", "space");
	parse_bad("tap,ifname=a:1", 1, "ifname=a:1");
	parse_bad("tap,ifname=..", 1, "ifname=..");
	parse_bad("tap,ifname=", 2, "ifname=", "needs a value");
	parse_bad("tap,vhost=maybe", 3, "vhost=maybe", "\"maybe\"", "on, off or auto");
	parse_bad("tap,vhost=", 2, "vhost", "needs a value");
	parse_bad("tap,ifname=a,ifname=b", 2, "ifname", "twice");
	parse_bad("tap,net=10.0.2.0/24", 2, "\"net\"", "tap");
	parse_bad("tap,hostfwd=::1-:2", 2, "\"hostfwd\"", "tap");
	parse_bad("tap,foo=1", 2, "\"foo\"", "unknown option");
	parse_bad("tap,ifname", 2, "ifname", "KEY=VALUE");
	parse_bad("tap,", 1, "empty option");
	parse_bad("tap,,ifname=a", 1, "empty option");
}

static void test_bad_mac(void **state)
{
	parse_bad("tap,mac=03:00:00:00:00:01", 3, "mac=03:00:00:00:00:01",
		  "\"03:00:00:00:00:01\"", "multicast");
	parse_bad("user,mac=ff:ff:ff:ff:ff:ff", 2, "mac=", "multicast");
	parse_bad("tap,mac=00:00:00:00:00:00", 2, "mac=", "zeros");
	parse_bad("tap,mac=02:00:00:00:00", 2, "\"02:00:00:00:00\"", "six hex pairs");
	parse_bad("tap,mac=02:00:00:00:00:01:02", 1, "six hex pairs");
	parse_bad("tap,mac=02-00-00-00-00-01", 1, "six hex pairs");
	parse_bad("tap,mac=02:00:00:00:00:g1", 1, "six hex pairs");
	parse_bad("tap,mac=2:0:0:0:0:1", 1, "six hex pairs");
	parse_bad("tap,mac=", 2, "mac", "needs a value");
	parse_bad("tap,mac=02:00:00:00:00:01,mac=02:00:00:00:00:02", 2, "mac", "twice");
}

static void test_bad_user(void **state)
{
	parse_bad("user,ifname=kb0", 2, "\"ifname\"", "user");
	parse_bad("user,vhost=on", 2, "\"vhost\"", "user");
	parse_bad("user,net=10.0.2.0/31", 2, "net=10.0.2.0/31", "prefix length \"31\"");
	parse_bad("user,net=10.0.0.0/7", 1, "prefix length \"7\"");
	parse_bad("user,net=10.0.2.0/", 1, "prefix length \"\"");
	parse_bad("user,net=10.0.2.0/x", 1, "prefix length \"x\"");
	parse_bad("user,net=10.0.2.1/24", 3, "net=10.0.2.1/24", "not a network address",
		  "10.0.2.0/24");
	parse_bad("user,net=10.0.2/24", 2, "net=", "\"10.0.2\"");
	parse_bad("user,net=foo", 1, "\"foo\"");
	parse_bad("user,net=", 2, "net", "needs a value");
	parse_bad("user,net=10.0.2.0/24,net=10.0.3.0/24", 2, "net", "twice");
	parse_bad("user,hostfwd=", 2, "hostfwd", "needs a value");
}

static void test_bad_hostfwd(void **state)
{
	parse_bad("user,hostfwd=tcp::70000-:22", 1,
		  "-n user,hostfwd=tcp::70000-:22: host port \"70000\" is not 1-65535");
	parse_bad("user,hostfwd=tcp::0-:22", 2, "hostfwd=tcp::0-:22", "host port \"0\"");
	parse_bad("user,hostfwd=tcp::-:22", 1, "host port \"\"");
	parse_bad("user,hostfwd=tcp::22x-:22", 1, "host port \"22x\"");
	parse_bad("user,hostfwd=tcp::-1-:22", 1, "hostfwd=tcp::-1-:22");
	parse_bad("user,hostfwd=tcp::5555-:0", 1, "guest port \"0\"");
	parse_bad("user,hostfwd=tcp::5555-:65536", 1, "guest port \"65536\"");
	parse_bad("user,hostfwd=tcp::5555-:", 1, "guest port \"\"");
	parse_bad("user,hostfwd=sctp::5555-:22", 2, "hostfwd=sctp", "protocol \"sctp\"");
	parse_bad("user,hostfwd=tcp:1.2.3:5555-:22", 1, "host address \"1.2.3\"");
	parse_bad("user,hostfwd=tcp::5555-10.0.2:22", 1, "guest address \"10.0.2\"");
	parse_bad("user,hostfwd=tcp::5555:22", 2, "hostfwd=tcp::5555:22", "'-'");
	parse_bad("user,hostfwd=tcp:5555-:22", 2, "hostfwd=tcp:5555-:22", "host side");
	parse_bad("user,hostfwd=tcp::5555-22", 2, "hostfwd=tcp::5555-22", "guest side");
	parse_bad("user,hostfwd=5555", 1, "hostfwd=5555");
	parse_bad("user,hostfwd=tcp::5555-:22,hostfwd=::5555-:23", 3,
		  "hostfwd=::5555-:23", "tcp 5555", "twice");
	parse_bad("user,hostfwd=udp::53-:53,hostfwd=udp:127.0.0.1:53-:54", 2, "udp 53",
		  "twice");
	/* Guest addresses must be hosts of net=, wherever net= comes. */
	parse_bad("user,hostfwd=::5555-10.0.3.15:22", 3, "hostfwd", "10.0.3.15",
		  "10.0.2.0/24");
	parse_bad("user,hostfwd=::5555-10.1.0.15:22,net=10.0.0.0/16", 2, "10.1.0.15",
		  "10.0.0.0/16");
	parse_bad("user,hostfwd=::5555-10.0.2.255:22", 1, "10.0.2.255");
	parse_bad("user,hostfwd=::5555-10.0.2.0:22", 1, "10.0.2.0");
}

/*
 * What net_default_mac() must give, worked out here: 0x02, then the low
 * five bytes of FNV-1a 64 over the name, a 0xff and the index LE.
 */
static void fnv_mac(const char *name, uint32_t index, uint8_t want[6])
{
	uint64_t h = 0xcbf29ce484222325ull;
	uint8_t in[64 + 5];
	size_t n = strlen(name);

	assert_true(n <= 64);
	memcpy(in, name, n);
	in[n++] = 0xff;
	for (int i = 0; i < 4; i++)
		in[n++] = (uint8_t)(index >> (8 * i));
	for (size_t i = 0; i < n; i++) {
		h ^= in[i];
		h *= 0x100000001b3ull;
	}
	want[0] = 2;
	for (int i = 1; i < 6; i++)
		want[i] = (uint8_t)(h >> (8 * (i - 1)));
}

static void test_default_mac(void **state)
{
	uint8_t a[6], b[6], c[6], d[6];

	net_default_mac("vm1", 0, a);
	net_default_mac("vm1", 0, b);
	net_default_mac("vm1", 1, c);
	net_default_mac("vm2", 0, d);
	assert_memory_equal(a, b, 6);
	assert_memory_not_equal(a, c, 6);
	assert_memory_not_equal(a, d, 6);
	for (int i = 0; i < 4; i++) {
		const uint8_t *m = (const uint8_t *[]){ a, b, c, d }[i];

		assert_int_equal(m[0], 0x02); /* locally administered, unicast */
	}
	/* Stable across builds: FNV-1a of the name, a 0xff, the index LE. */
	net_default_mac("", 0, a);
	net_default_mac(NULL, 0, b);
	assert_memory_equal(a, b, 6);
	fnv_mac("", 0, c);
	assert_memory_equal(a, c, 6);
	net_default_mac("kvmbox", 0, a);
	fnv_mac("kvmbox", 0, b);
	assert_memory_equal(a, b, 6);
	net_default_mac("kvmbox", 0x01020304, a);
	fnv_mac("kvmbox", 0x01020304, b);
	assert_memory_equal(a, b, 6);
}

/* The bytes must not change between releases: a guest's MAC is config. */
static void test_default_mac_value(void **state)
{
	static const uint8_t pinned[6] = { 0x02, 0x0a, 0xcb, 0x58, 0x13, 0x07 };
	uint8_t m[6], want[6];

	fnv_mac("a", 3, want);
	assert_memory_equal(want, pinned, 6);
	net_default_mac("a", 3, m);
	assert_memory_equal(m, want, 6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_none),
		cmocka_unit_test(test_tap),
		cmocka_unit_test(test_user),
		cmocka_unit_test(test_hostfwd),
		cmocka_unit_test(test_hostfwd_max),
		cmocka_unit_test(test_bad_kind),
		cmocka_unit_test(test_bad_tap),
		cmocka_unit_test(test_bad_mac),
		cmocka_unit_test(test_bad_user),
		cmocka_unit_test(test_bad_hostfwd),
		cmocka_unit_test(test_default_mac),
		cmocka_unit_test(test_default_mac_value),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
