// SPDX-License-Identifier: GPL-2.0-only
/*
 * The -n option: "none", "tap[,...]" or "user[,...]", parsed into a
 * struct net_spec. Messages start with "-n " and the part at fault
 * (the kind and the field), then say what is wrong with which value.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/backend.h"

#define TAP_HELP "tap[,ifname=NAME][,vhost=on|off|auto][,mac=xx:xx:xx:xx:xx:xx]"
#define USER_HELP                                                                            \
	"user[,net=A.B.C.D/N][,hostfwd=[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT]" \
	"...[,mac=xx:xx:xx:xx:xx:xx]"
#define FIELD_MAX 256

enum {
	SEEN_MAC = 1 << 0,
	SEEN_IFNAME = 1 << 1,
	SEEN_VHOST = 1 << 2,
	SEEN_NET = 1 << 3,
};

/* What every message of one field starts with: "-n KIND,FIELD". */
struct ctx {
	const char *kind;
	const char *field;
	struct kb_err *err;
};

#define BAD(c, fmt, ...)                                                       \
	kb_err_set((c)->err, -EINVAL, "-n %s,%s: " fmt, (c)->kind, (c)->field, \
		   ##__VA_ARGS__)

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int parse_mac(const struct ctx *c, const char *val, uint8_t mac[6])
{
	const char *p = val;

	for (int i = 0; i < 6; i++) {
		int hi = hexval(p[0]);
		int lo = hi < 0 ? -1 : hexval(p[1]);

		if (lo < 0 || (i < 5 && p[2] != ':') || (i == 5 && p[2]))
			return BAD(
				c,
				"MAC address \"%s\" is not six hex pairs (xx:xx:xx:xx:xx:xx)",
				val);
		mac[i] = (uint8_t)(hi << 4 | lo);
		p += 3;
	}
	if (mac[0] & 1)
		return BAD(
			c,
			"MAC address \"%s\" is a multicast address (the low bit of the first byte is set)",
			val);
	if (!(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]))
		return BAD(c, "MAC address \"%s\" is all zeros", val);
	return 0;
}

/* As the kernel's dev_valid_name(); "%d" is left to the kernel. */
static int parse_ifname(const struct ctx *c, const char *val, char *out, size_t size)
{
	size_t len = strlen(val);

	if (len >= size)
		return BAD(c, "interface name \"%s\" is %zu bytes, at most %zu", val, len,
			   size - 1);
	if (!strcmp(val, ".") || !strcmp(val, ".."))
		return BAD(c, "interface name \"%s\" is not allowed", val);
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)val[i];

		if (ch == '/' || ch == ':' || ch <= ' ' || ch >= 0x7f)
			return BAD(
				c,
				"interface name \"%s\" holds '/', ':', a space or a control character",
				val);
	}
	memcpy(out, val, len + 1);
	return 0;
}

static int parse_vhost(const struct ctx *c, const char *val, enum net_vhost *out)
{
	if (!strcmp(val, "on"))
		*out = NET_VHOST_ON;
	else if (!strcmp(val, "off"))
		*out = NET_VHOST_OFF;
	else if (!strcmp(val, "auto"))
		*out = NET_VHOST_AUTO;
	else
		return BAD(c, "bad value \"%s\" for vhost (expected on, off or auto)",
			   val);
	return 0;
}

/* Decimal digits only, @lo..@hi. */
static int parse_num(const char *s, unsigned long lo, unsigned long hi,
		     unsigned long *out)
{
	unsigned long v = 0;

	if (!*s || strlen(s) > 10)
		return -EINVAL;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v < lo || v > hi)
		return -ERANGE;
	*out = v;
	return 0;
}

static int parse_ipv4(const char *s, uint32_t *out)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*out = a.s_addr;
	return 0;
}

static int parse_net(const struct ctx *c, const char *val, struct net_spec *spec)
{
	char addr[32];
	const char *slash = strchr(val, '/');
	unsigned long plen = 24;
	size_t alen = slash ? (size_t)(slash - val) : strlen(val);
	uint32_t a, mask;

	if (alen >= sizeof(addr))
		return BAD(c, "address \"%s\" is not A.B.C.D", val);
	memcpy(addr, val, alen);
	addr[alen] = '\0';
	if (parse_ipv4(addr, &a))
		return BAD(c, "address \"%s\" is not A.B.C.D", addr);
	if (slash && parse_num(slash + 1, 8, 30, &plen))
		return BAD(c, "prefix length \"%s\" is not 8-30", slash + 1);
	mask = htonl(~0u << (32 - plen));
	if (a & ~mask)
		return BAD(
			c,
			"\"%s\" is not a network address (host bits set; did you mean %s/%lu?)",
			val, inet_ntoa((struct in_addr){ a & mask }), plen);
	spec->net_addr = a;
	spec->net_mask = mask;
	return 0;
}

/* "HOSTADDR:PORT" or "GUESTADDR:PORT", either address may be empty. */
static int parse_endpoint(const struct ctx *c, char *s, const char *which, uint32_t *addr,
			  uint16_t *port)
{
	char *colon = strrchr(s, ':');
	unsigned long v;
	int ret;

	if (!colon)
		return BAD(c, "%s side \"%s\" is not [ADDR]:PORT", which, s);
	*colon = '\0';
	if (!*s) {
		*addr = 0;
	} else if (parse_ipv4(s, addr)) {
		return BAD(c, "%s address \"%s\" is not A.B.C.D", which, s);
	}
	ret = parse_num(colon + 1, 1, 65535, &v);
	if (ret)
		return BAD(c, "%s port \"%s\" is not 1-65535", which, colon + 1);
	*port = (uint16_t)v;
	return 0;
}

static int parse_hostfwd(const struct ctx *c, const char *val, struct net_spec *spec)
{
	char buf[FIELD_MAX];
	struct net_hostfwd f = { 0 };
	char *rest, *dash;
	int ret;

	if (spec->nr_fwd >= NET_MAX_HOSTFWD)
		return BAD(c, "more than %d hostfwd rules", NET_MAX_HOSTFWD);
	snprintf(buf, sizeof(buf), "%s", val);
	rest = strchr(buf, ':');
	if (!rest)
		return BAD(
			c,
			"\"%s\" is not [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT",
			val);
	*rest++ = '\0';
	if (!strcmp(buf, "udp"))
		f.udp = true;
	else if (*buf && strcmp(buf, "tcp"))
		return BAD(c, "protocol \"%s\" is not tcp or udp", buf);
	dash = strchr(rest, '-');
	if (!dash)
		return BAD(c, "\"%s\" has no '-' between the host and the guest side",
			   val);
	*dash++ = '\0';
	ret = parse_endpoint(c, rest, "host", &f.host_addr, &f.host_port);
	if (!ret)
		ret = parse_endpoint(c, dash, "guest", &f.guest_addr, &f.guest_port);
	if (ret)
		return ret;
	for (int i = 0; i < spec->nr_fwd; i++) {
		if (spec->fwd[i].udp == f.udp && spec->fwd[i].host_port == f.host_port)
			return BAD(c, "host port %s %u is forwarded twice",
				   f.udp ? "udp" : "tcp", f.host_port);
	}
	spec->fwd[spec->nr_fwd++] = f;
	return 0;
}

/* Checks that need the whole spec: guest addresses inside net=. */
static int check_user(const char *s, struct net_spec *spec, struct kb_err *err)
{
	for (int i = 0; i < spec->nr_fwd; i++) {
		uint32_t g = spec->fwd[i].guest_addr;
		uint32_t host = g & ~spec->net_mask;

		if (!g)
			continue;
		if ((g & spec->net_mask) != spec->net_addr || !host ||
		    host == ~spec->net_mask) {
			char net[INET_ADDRSTRLEN], ga[INET_ADDRSTRLEN];

			inet_ntop(AF_INET, &spec->net_addr, net, sizeof(net));
			inet_ntop(AF_INET, &g, ga, sizeof(ga));
			return kb_err_set(
				err, -EINVAL,
				"-n %s: hostfwd guest address %s is not a host in the guest network %s/%d",
				s, ga, net, __builtin_popcount(spec->net_mask));
		}
	}
	return 0;
}

static int parse_field(struct ctx *c, char *field, struct net_spec *spec,
		       unsigned int *seen)
{
	char *val = strchr(field, '=');
	bool tap = spec->kind == NET_TAP;
	unsigned int bit = 0;

	if (!*field)
		return kb_err_set(c->err, -EINVAL, "-n %s: empty option (stray ',')",
				  c->kind);
	if (!val)
		return BAD(c, "\"%s\" is not KEY=VALUE", field);
	*val++ = '\0';
	if (!strcmp(field, "mac"))
		bit = SEEN_MAC;
	else if (tap && !strcmp(field, "ifname"))
		bit = SEEN_IFNAME;
	else if (tap && !strcmp(field, "vhost"))
		bit = SEEN_VHOST;
	else if (!tap && !strcmp(field, "net"))
		bit = SEEN_NET;
	else if (tap || strcmp(field, "hostfwd"))
		return kb_err_set(c->err, -EINVAL,
				  "-n %s: unknown option \"%s\" for %s (expected %s)",
				  c->kind, field, c->kind, tap ? TAP_HELP : USER_HELP);
	val[-1] = '=';
	if (!*val)
		return BAD(c, "option \"%.*s\" needs a value", (int)(val - 1 - field),
			   field);
	if (*seen & bit)
		return BAD(c, "option \"%.*s\" given twice", (int)(val - 1 - field),
			   field);
	*seen |= bit;

	switch (bit) {
	case SEEN_MAC:
		spec->mac_set = true;
		return parse_mac(c, val, spec->mac);
	case SEEN_IFNAME:
		return parse_ifname(c, val, spec->ifname, sizeof(spec->ifname));
	case SEEN_VHOST:
		return parse_vhost(c, val, &spec->vhost);
	case SEEN_NET:
		return parse_net(c, val, spec);
	default:
		return parse_hostfwd(c, val, spec);
	}
}

int net_spec_parse(const char *s, struct net_spec *spec, struct kb_err *err)
{
	char field[FIELD_MAX];
	unsigned int seen = 0;
	struct ctx c = { .err = err, .field = field };
	const char *p, *comma;
	size_t len;
	int ret;

	memset(spec, 0, sizeof(*spec));
	spec->vhost = NET_VHOST_AUTO;
	spec->net_addr = htonl(0x0a000200); /* 10.0.2.0 */
	spec->net_mask = htonl(0xffffff00);
	if (!s)
		s = "";

	comma = strchr(s, ',');
	len = comma ? (size_t)(comma - s) : strlen(s);
	if (len == 4 && !strncmp(s, "none", 4)) {
		spec->kind = NET_NONE;
		c.kind = "none";
	} else if (len == 3 && !strncmp(s, "tap", 3)) {
		spec->kind = NET_TAP;
		c.kind = "tap";
	} else if (len == 4 && !strncmp(s, "user", 4)) {
		spec->kind = NET_USER;
		c.kind = "user";
	} else {
		return kb_err_set(
			err, -EINVAL,
			"-n %s: unknown network kind \"%.*s\" (expected none, tap or user)",
			s, (int)len, s);
	}
	if (spec->kind == NET_NONE && comma)
		return kb_err_set(err, -EINVAL, "-n %s: \"none\" takes no options", s);

	for (p = comma; p; p = comma) {
		p++;
		comma = strchr(p, ',');
		len = comma ? (size_t)(comma - p) : strlen(p);
		if (len >= sizeof(field))
			return kb_err_set(err, -EINVAL,
					  "-n %s: option \"%.*s...\" too long", c.kind,
					  32, p);
		memcpy(field, p, len);
		field[len] = '\0';
		ret = parse_field(&c, field, spec, &seen);
		if (ret)
			return ret;
	}
	if (spec->kind == NET_USER)
		return check_user(s, spec, err);
	return 0;
}

void net_default_mac(const char *vm_name, int index, uint8_t mac[6])
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 */
	uint32_t idx = (uint32_t)index;

	for (const char *p = vm_name ? vm_name : ""; *p; p++) {
		h ^= (uint8_t)*p;
		h *= 0x100000001b3ull;
	}
	/* A separator so that ("a1", 0) and ("a", ...) do not meet. */
	h ^= 0xff;
	h *= 0x100000001b3ull;
	for (int i = 0; i < 4; i++) {
		h ^= (idx >> (8 * i)) & 0xff;
		h *= 0x100000001b3ull;
	}
	mac[0] = 0x02; /* locally administered, unicast */
	for (int i = 1; i < 6; i++)
		mac[i] = (uint8_t)(h >> (8 * (i - 1)));
}
