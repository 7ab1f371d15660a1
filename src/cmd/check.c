// SPDX-License-Identifier: GPL-2.0-only
/*
 * `kvmbox check`: answers "why won't my VM start?". Each check gives ok,
 * warn (a VM runs, but...), fail (no VM can run) or info, with a hint.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/x86/cpu.h"
#include "cmd/cmd.h"

enum status { ST_OK, ST_WARN, ST_FAIL, ST_INFO };

#define MAX_CHECKS 40

struct check {
	const char *name;
	enum status st;
	char detail[256];
	char hint[256];
};

struct report {
	struct check c[MAX_CHECKS];
	int n;
};

static struct check *add(struct report *r, const char *name, enum status st,
			 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static struct check *add(struct report *r, const char *name, enum status st,
			 const char *fmt, ...)
{
	struct check *c = &r->c[r->n < MAX_CHECKS - 1 ? r->n++ : r->n];
	va_list ap;

	c->name = name;
	c->st = st;
	c->hint[0] = 0;
	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
	return c;
}

static void cpu_vendor(char *buf, size_t len)
{
	char line[256];
	FILE *f = fopen("/proc/cpuinfo", "r");

	snprintf(buf, len, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "vendor_id", 9)) {
			char *p = strchr(line, ':');

			if (p && sscanf(p + 1, " %63s", buf) == 1)
				break;
		}
	}
	fclose(f);
}

static const struct {
	int cap;
	const char *name;
	bool needed;
} caps[] = {
	{ KVM_CAP_USER_MEMORY, "USER_MEMORY", true },
	{ KVM_CAP_IRQCHIP, "IRQCHIP", true },
	{ KVM_CAP_HLT, "HLT", true },
	{ KVM_CAP_SET_TSS_ADDR, "SET_TSS_ADDR", true },
	{ KVM_CAP_SET_IDENTITY_MAP_ADDR, "SET_IDENTITY_MAP_ADDR", true },
	{ KVM_CAP_PIT2, "PIT2", true },
	{ KVM_CAP_EXT_CPUID, "EXT_CPUID", true },
	{ KVM_CAP_IMMEDIATE_EXIT, "IMMEDIATE_EXIT", true },
	{ KVM_CAP_IRQFD, "IRQFD", true },
	{ KVM_CAP_IOEVENTFD, "IOEVENTFD", true },
	{ KVM_CAP_IRQ_ROUTING, "IRQ_ROUTING", true },
	{ KVM_CAP_SIGNAL_MSI, "SIGNAL_MSI", false },
	{ KVM_CAP_VCPU_EVENTS, "VCPU_EVENTS", true },
	{ KVM_CAP_KVMCLOCK_CTRL, "KVMCLOCK_CTRL", false },
};

static void check_host_cpu(struct report *r, const struct host_kvm_info *host)
{
	char vendor[64];
	struct check *c;

	cpu_vendor(vendor, sizeof(vendor));
	if (host->hw_virt) {
		add(r, "cpu-virtualization", ST_OK, "%s CPU with %s", vendor,
		    host->cpu_vendor);
	} else if (host->pvm) {
		c = add(r, "cpu-virtualization", ST_WARN,
			"%s CPU without vmx/svm; KVM is the emulation-only kvm_pvm module: guest "
			"kernel code runs emulated, about 1000x slower than hardware",
			vendor);
		snprintf(
			c->hint, sizeof(c->hint),
			"VMs work; kvmbox adds guest options for this host (see docs/host-quirks.md)");
	} else {
		c = add(r, "cpu-virtualization", ST_WARN,
			"%s CPU reports neither vmx nor svm", vendor);
		snprintf(
			c->hint, sizeof(c->hint),
			"enable VT-x/AMD-V in the BIOS/firmware (dmesg says 'kvm: disabled by "
			"bios'), or this is a VM without nested virtualization");
	}
}

static void check_module(struct report *r, const struct host_kvm_info *host)
{
	const char *mods[] = { "kvm_intel", "kvm_amd", "kvm_pvm" };
	char path[64], found[64] = "";

	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "/sys/module/%s", mods[i]);
		if (!access(path, F_OK))
			snprintf(found + strlen(found), sizeof(found) - strlen(found),
				 "%s%s", found[0] ? " " : "", mods[i]);
	}
	if (found[0])
		add(r, "kvm-module", ST_OK, "%s loaded", found);
	else
		add(r, "kvm-module", ST_INFO,
		    "no kvm_intel/kvm_amd/kvm_pvm module (KVM may be "
		    "built into the kernel)");
	(void)host;
}

static int check_dev(struct report *r, const struct host_kvm_info *host)
{
	struct check *c;
	struct stat st;
	int fd;

	if (stat("/dev/kvm", &st) < 0) {
		c = add(r, "dev-kvm", ST_FAIL, "/dev/kvm: %s", strerror(errno));
		snprintf(c->hint, sizeof(c->hint),
			 host->hw_virt ?
				 "load the module: sudo modprobe %s" :
				 "no KVM here: the CPU has no vmx/svm or it is disabled "
				 "by BIOS (dmesg: 'kvm: disabled by bios'); %s",
			 host->hw_virt ? (strcmp(host->cpu_vendor, "svm") ? "kvm_intel" :
									    "kvm_amd") :
					 "enable VT-x/AMD-V in the firmware");
		return -1;
	}
	if (!S_ISCHR(st.st_mode)) {
		add(r, "dev-kvm", ST_FAIL, "/dev/kvm is not a character device");
		return -1;
	}
	add(r, "dev-kvm", ST_OK, "/dev/kvm exists");
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		struct group *g = getgrgid(st.st_gid);

		c = add(r, "dev-kvm-access", ST_FAIL,
			"/dev/kvm: %s (mode %03o, group %s)", strerror(errno),
			st.st_mode & 0777, g ? g->gr_name : "?");
		snprintf(
			c->hint, sizeof(c->hint),
			"add yourself to group %s (sudo usermod -aG %s $USER) and log in again",
			g ? g->gr_name : "kvm", g ? g->gr_name : "kvm");
		return -1;
	}
	add(r, "dev-kvm-access", ST_OK, "readable and writable by this user");
	return fd;
}

static bool check_api(struct report *r, int fd)
{
	int ver = ioctl(fd, KVM_GET_API_VERSION, 0);
	bool ok = true;
	char missing[256] = "";
	struct check *c;
	int vm;

	if (ver != KVM_API_VERSION) {
		add(r, "api-version", ST_FAIL, "KVM API version %d, kvmbox needs %d", ver,
		    KVM_API_VERSION);
		return false;
	}
	add(r, "api-version", ST_OK, "KVM API version %d", ver);
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		if (ioctl(fd, KVM_CHECK_EXTENSION, caps[i].cap) > 0)
			continue;
		snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing),
			 "%s%s%s", missing[0] ? " " : "", caps[i].name,
			 caps[i].needed ? "" : "(optional)");
		if (caps[i].needed)
			ok = false;
	}
	if (missing[0]) {
		c = add(r, "capabilities", ok ? ST_WARN : ST_FAIL, "missing: %s",
			missing);
		snprintf(c->hint, sizeof(c->hint), "a newer host kernel has them");
	} else {
		add(r, "capabilities", ST_OK, "all %zu capabilities kvmbox uses",
		    sizeof(caps) / sizeof(caps[0]));
	}
	add(r, "max-vcpus", ST_INFO, "up to %d vCPUs per VM (%d recommended)",
	    ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS),
	    ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS));
	vm = ioctl(fd, KVM_CREATE_VM, 0);
	if (vm < 0) {
		c = add(r, "create-vm", ST_FAIL, "KVM_CREATE_VM: %s", strerror(errno));
		snprintf(c->hint, sizeof(c->hint),
			 "see dmesg; another hypervisor may own VT-x");
		return false;
	}
	close(vm);
	add(r, "create-vm", ST_OK, "a VM can be created");
	return ok;
}

static const char *st_word(enum status s)
{
	static const char *const w[] = { "ok", "warn", "fail", "info" };

	return w[s];
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void print_report(const struct report *r, bool ok, bool json)
{
	if (json) {
		printf("{\"ok\": %s, \"checks\": [", ok ? "true" : "false");
		for (int i = 0; i < r->n; i++) {
			printf("%s{\"name\": ", i ? ", " : "");
			json_str(r->c[i].name);
			printf(", \"status\": \"%s\", \"detail\": ", st_word(r->c[i].st));
			json_str(r->c[i].detail);
			printf(", \"hint\": ");
			json_str(r->c[i].hint);
			printf("}");
		}
		printf("]}\n");
		return;
	}
	for (int i = 0; i < r->n; i++) {
		printf("%-5s %-19s %s\n", st_word(r->c[i].st), r->c[i].name,
		       r->c[i].detail);
		if (r->c[i].hint[0])
			printf("      %-19s hint: %s\n", "", r->c[i].hint);
	}
	printf("%s\n",
	       ok ? "kvmbox can run VMs on this host." :
		    "kvmbox cannot run VMs on this host (see the failed checks above).");
}

int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	struct host_kvm_info host;
	struct report r = { 0 };
	bool json = false, ok = false;
	int c, fd;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+jh", opts, NULL)) != -1) {
		if (c == 'j') {
			json = true;
		} else if (c == 'h') {
			printf("Usage: kvmbox check [--json]\n\n"
			       "Checks that this host can run kvmbox VMs: /dev/kvm, permissions,\n"
			       "API version, capabilities, CPU virtualization, and whether KVM is\n"
			       "an emulation-only implementation (kvm_pvm). Exit status 0 only when\n"
			       "a VM can run.\n\n  --json   machine-readable output\n");
			return 0;
		} else {
			fprintf(stderr, "kvmbox: error: check: unknown option '%s'\n",
				argv[optind - 1]);
			return 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kvmbox: error: check: unexpected argument '%s'\n",
			argv[optind]);
		return 1;
	}
	x86_host_kvm_probe(&host);
	check_host_cpu(&r, &host);
	check_module(&r, &host);
	fd = check_dev(&r, &host);
	if (fd >= 0) {
		ok = check_api(&r, fd);
		close(fd);
	}
	print_report(&r, ok, json);
	return ok ? 0 : 1;
}
