// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvmbox guest self-test.
 *
 * Built into the kvmbox test kernel by tools/build-guest-kit (copied to
 * drivers/misc/kvmbox_selftest/). After every other initcall has run, and
 * before /init, it checks the virtual hardware from inside the guest kernel,
 * prints one line per check on the console, a verdict line, and powers the
 * VM off through kvmbox's debug-exit port. Guest user space is not needed,
 * which matters on hosts where guest user mode cannot make system calls.
 *
 * Console output (the contract with the host-side tests):
 *
 *   KVMBOX-SELFTEST BEGIN <name> <name> ...
 *   KVMBOX-SELFTEST <name> PASS [<details>]
 *   KVMBOX-SELFTEST <name> FAIL <reason>
 *   KVMBOX-SELFTEST VERDICT PASS
 *   KVMBOX-SELFTEST VERDICT FAIL (<n> failed)
 *
 * Kernel command line: kvmbox_selftest.run=0 disables everything (the boot
 * goes on to /init); kvmbox_selftest.cpus=<n> is the expected number of
 * online CPUs (0: num_possible_cpus()); kvmbox_selftest.action=reboot
 * reboots instead of powering off; console=hvc0 expects the virtio console;
 * blk_rw=, blk_pattern=, blk_ro= (disk names), rng=1 and hvc=1 add device
 * checks (see selftest.h); net_addr=, net_connect=, net_udp=, net_tcp= the
 * network checks (net.c); dirty_mb= dirties and frees memory (mem.c).
 * action=wait opens /dev/console so that magic SysRq works on the 8250.
 *
 * The guest kernel may run ~1000x slower than on hardware (emulated CPL0), so
 * checks wait briefly, and never for an event that may not come: a check
 * that hangs leaves the host with no verdict at all.
 */

#include <linux/console.h>
#include <linux/cpumask.h>
#include <linux/delay.h>
#include <linux/fcntl.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/initrd.h>
#include <linux/io.h>
#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/mc146818rtc.h>
#include <linux/moduleparam.h>
#include <linux/notifier.h>
#include <linux/pci.h>
#include <linux/printk.h>
#include <linux/reboot.h>
#include <linux/rtc.h>
#include <linux/tty_driver.h>

#include "selftest.h"

/* kvmbox's debug-exit device: writing V makes kvmbox exit with status V. */
#define KVMBOX_DEBUG_EXIT_PORT 0x501

static bool run = true;
module_param(run, bool, 0444);
MODULE_PARM_DESC(run, "Run the self-test and power off (default 1)");

static unsigned int cpus;
module_param(cpus, uint, 0444);
MODULE_PARM_DESC(cpus, "Expected online CPUs (0: num_possible_cpus())");

static char *action = "poweroff";
module_param(action, charp, 0444);
MODULE_PARM_DESC(action,
		 "After the verdict: poweroff (default), reboot, or wait (stay up)");

static char *console = "ttyS0";
module_param(console, charp, 0444);
MODULE_PARM_DESC(console, "Expected console: ttyS0 (default) or hvc0");

char *kst_blk_rw;
module_param_named(blk_rw, kst_blk_rw, charp, 0444);
MODULE_PARM_DESC(blk_rw,
		 "Scratch disk (e.g. vda): write, flush, read back, discard, zeroes");

char *kst_blk_pattern;
module_param_named(blk_pattern, kst_blk_pattern, charp, 0444);
MODULE_PARM_DESC(blk_pattern, "Disk the host filled with pattern 2 (e.g. vdb)");

char *kst_blk_ro;
module_param_named(blk_ro, kst_blk_ro, charp, 0444);
MODULE_PARM_DESC(blk_ro, "Read-only disk whose writes must fail (e.g. vdc)");

bool kst_rng;
module_param_named(rng, kst_rng, bool, 0444);
MODULE_PARM_DESC(rng, "Check the virtio-rng device");

bool kst_hvc;
module_param_named(hvc, kst_hvc, bool, 0444);
MODULE_PARM_DESC(hvc, "Check the virtio console hvc0");

char *kst_net_addr;
module_param_named(net_addr, kst_net_addr, charp, 0444);
MODULE_PARM_DESC(net_addr, "The first non-loopback netdev's IPv4 address");

unsigned int kst_net_devs;
module_param_named(net_devs, kst_net_devs, uint, 0444);
MODULE_PARM_DESC(net_devs, "How many virtio-net devices there are (0: no check)");

char *kst_net_connect;
module_param_named(net_connect, kst_net_connect, charp, 0444);
MODULE_PARM_DESC(net_connect,
		 "A.B.C.D:PORT: send KVMBOX-HELLO, expect KVMBOX-WELCOME back");

unsigned int kst_net_udp;
module_param_named(net_udp, kst_net_udp, uint, 0444);
MODULE_PARM_DESC(net_udp, "UDP port: echo one datagram back");

unsigned int kst_net_tcp;
module_param_named(net_tcp, kst_net_tcp, uint, 0444);
MODULE_PARM_DESC(net_tcp, "TCP port: accept one connection, echo one line");

unsigned int kst_dirty_mb;
module_param_named(dirty_mb, kst_dirty_mb, uint, 0444);
MODULE_PARM_DESC(dirty_mb, "MiB to write to and free before the action");

struct kst_check {
	const char *name; /* no spaces; "BEGIN" and "VERDICT" are taken */
	bool (*fn)(struct kst_result *res); /* true: PASS */
	bool (*wanted)(void); /* NULL: always run */
};

bool kst_pass(struct kst_result *res, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vscnprintf(res->detail, sizeof(res->detail), fmt, ap);
	va_end(ap);
	return true;
}

bool kst_fail(struct kst_result *res, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vscnprintf(res->detail, sizeof(res->detail), fmt, ap);
	va_end(ap);
	return false;
}

/*
 * The console (/dev/console) is the one the VMM was asked for: the 8250 UART
 * ttyS0 by default, hvc0 with kvmbox's virtio console; not a boot console.
 */
static bool __init kst_console(struct kst_result *res)
{
	struct tty_driver *drv = NULL;
	struct console *con;
	char seen[96] = "";
	size_t len = 0;
	bool ok = false;
	bool serial = !strcmp(console, "ttyS0");
	int index = -1;

	console_lock();
	/* for_each_console(), spelled out for clang-format */
	for (con = console_drivers; con; con = con->next) {
		if (!(con->flags & CON_ENABLED))
			continue;
		len += scnprintf(seen + len, sizeof(seen) - len, " %s%d%s%s", con->name,
				 con->index, con->flags & CON_BOOT ? "(boot)" : "",
				 con->flags & CON_CONSDEV ? "(preferred)" : "");
		if (strncmp(console, con->name, strlen(con->name)) ||
		    strcmp(console + strlen(con->name), "0") || con->index != 0 ||
		    !(con->flags & CON_CONSDEV) || (con->flags & CON_BOOT))
			continue;
		drv = con->device ? con->device(con, &index) : NULL;
		ok = drv && index == 0 &&
		     (!serial || !strcmp(drv->driver_name, "serial"));
	}
	console_unlock();

	if (!ok)
		return kst_fail(res, "%s is not the console; enabled:%s", console,
				len ? seen : " none");
	return kst_pass(res, "%s", console);
}

/*
 * Timer interrupts arrive (jiffies advance) and agree with the clocksource
 * (ktime). The tick is awaited by polling with a bounded TSC delay, so that a
 * guest without timer interrupts fails here instead of hanging; only then is
 * a real sleep (timer wheel wake-up) tried.
 */
static bool __init kst_timer(struct kst_result *res)
{
	const unsigned long ticks = 5; /* 50 ms at HZ=100 */
	unsigned long j0, dj;
	s64 dt_ms, dj_ms, slack_ms;
	ktime_t t0;
	int i;

	j0 = jiffies;
	t0 = ktime_get();
	for (i = 0; i < 2000 && jiffies - j0 < ticks; i++)
		mdelay(1);
	dj = jiffies - j0;
	dt_ms = ktime_ms_delta(ktime_get(), t0);
	if (dj < ticks)
		return kst_fail(
			res,
			"jiffies advanced by %lu in %d ms of mdelay (ktime: %lld ms): no timer interrupts?",
			dj, i, dt_ms);

	/* Each jiffies read may be up to a tick stale. */
	dj_ms = jiffies_to_msecs(dj);
	slack_ms = 2 * jiffies_to_msecs(1) + dt_ms / 10;
	if (dt_ms < dj_ms - slack_ms || dt_ms > dj_ms + slack_ms)
		return kst_fail(res, "%lu jiffies (%lld ms) but ktime says %lld ms", dj,
				dj_ms, dt_ms);

	t0 = ktime_get();
	msleep(20);
	dt_ms = ktime_ms_delta(ktime_get(), t0);
	if (dt_ms < 20 || dt_ms > 5000)
		return kst_fail(res, "msleep(20) took %lld ms", dt_ms);

	return kst_pass(res, "%lu jiffies = %lld ms, msleep(20) = %lld ms", dj, dj_ms,
			dt_ms);
}

/* A host bridge at 0000:00:00.0 (kvmbox's, on ports 0xcf8/0xcfc). */
static bool __init kst_pci_host_bridge(struct kst_result *res)
{
	struct pci_dev *dev;
	bool ok;

	dev = pci_get_domain_bus_and_slot(0, 0, PCI_DEVFN(0, 0));
	if (!dev)
		return kst_fail(res, "no PCI device at 0000:00:00.0");

	ok = (dev->class >> 8) == PCI_CLASS_BRIDGE_HOST;
	if (ok)
		kst_pass(res, "%04x:%04x", dev->vendor, dev->device);
	else
		kst_fail(res, "0000:00:00.0 is %04x:%04x class %06x, not a host bridge",
			 dev->vendor, dev->device, dev->class);
	pci_dev_put(dev);
	return ok;
}

/* The CMOS clock reads back a valid, recent date. */
static bool __init kst_rtc(struct kst_result *res)
{
	struct rtc_time tm = {};
	int err;

	/* Gives up after 1 s of "update in progress" (no RTC: reads 0xff). */
	err = mc146818_get_time(&tm, 1000);
	if (err)
		return kst_fail(res, "cannot read the CMOS RTC (%d)", err);
	if (rtc_valid_tm(&tm))
		return kst_fail(res, "invalid date/time %ptRd %ptRt", &tm, &tm);
	if (tm.tm_year + 1900 < 2024)
		return kst_fail(res, "implausible date %ptRd (before 2024)", &tm);

	return kst_pass(res, "%ptRd %ptRt", &tm, &tm);
}

/* Every CPU of the MP table came online. */
static bool __init kst_cpus(struct kst_result *res)
{
	unsigned int want = cpus ? cpus : num_possible_cpus();
	unsigned int online = num_online_cpus();

	if (online != want)
		return kst_fail(res, "%u online, expected %u (possible %u, present %u)",
				online, want, num_possible_cpus(), num_present_cpus());
	return kst_pass(res, "%u", online);
}

static bool __init want_blk_rw(void)
{
	return kst_blk_rw && *kst_blk_rw;
}

static bool __init want_blk_pattern(void)
{
	return kst_blk_pattern && *kst_blk_pattern;
}

static bool __init want_blk_ro(void)
{
	return kst_blk_ro && *kst_blk_ro;
}

static bool __init want_rng(void)
{
	return kst_rng;
}

static bool __init want_hvc(void)
{
	return kst_hvc;
}

static bool __init want_net_devs(void)
{
	return kst_net_devs > 0;
}

static bool __init want_net_addr(void)
{
	return kst_net_addr && *kst_net_addr;
}

static bool __init want_net_connect(void)
{
	return kst_net_connect && *kst_net_connect;
}

static bool __init want_net_udp(void)
{
	return kst_net_udp > 0;
}

static bool __init want_net_tcp(void)
{
	return kst_net_tcp > 0;
}

static bool __init want_dirty(void)
{
	return kst_dirty_mb > 0;
}

/* Everything the checks use runs once, at boot: __init, freed afterwards. */
static const struct kst_check kst_checks[] __initconst = {
	{ "console", kst_console },
	{ "timer", kst_timer },
	{ "pci-host-bridge", kst_pci_host_bridge },
	{ "rtc", kst_rtc },
	{ "cpus", kst_cpus },
	/* Devices the VMM may not provide: asked for by a parameter each. */
	{ "blk-rw", kst_check_blk_rw, want_blk_rw },
	{ "blk-pattern", kst_check_blk_pattern, want_blk_pattern },
	{ "blk-ro", kst_check_blk_ro, want_blk_ro },
	{ "rng", kst_check_rng, want_rng },
	{ "hvc", kst_check_hvc, want_hvc },
	{ "net-devs", kst_check_net_devs, want_net_devs },
	{ "net-addr", kst_check_net_addr, want_net_addr },
	{ "net-connect", kst_check_net_connect, want_net_connect },
	{ "net-udp", kst_check_net_udp, want_net_udp },
	{ "net-tcp", kst_check_net_tcp, want_net_tcp },
	/* Last: memory dirtied and freed just before the action. */
	{ "dirty", kst_check_dirty, want_dirty },
};

static bool __init kst_wanted(const struct kst_check *c)
{
	return !c->wanted || c->wanted();
}

/*
 * The 8250 enables its receive interrupt only while its tty is open, and
 * with action=wait nothing opens it (no /init). Opened here, and left open,
 * a serial break then a key reach the magic SysRq handler (break + 'h':
 * "sysrq: HELP"). The initramfs, which holds /dev/console, is unpacked
 * asynchronously: wait for it first.
 */
static void __init kst_open_console(void)
{
	struct file *filp;

	wait_for_initramfs();
	filp = filp_open("/dev/console", O_RDWR | O_NOCTTY, 0);
	if (IS_ERR(filp))
		pr_warn("kvmbox_selftest: cannot open /dev/console (%ld): no SysRq from the serial line\n",
			PTR_ERR(filp));
	/* else: kept open for good */
}

static int kst_power_off(struct sys_off_data *data)
{
	outb(0, KVMBOX_DEBUG_EXIT_PORT);
	return NOTIFY_DONE;
}

static void __init kst_begin_line(void)
{
	char names[256];
	size_t len = 0;
	int i;

	for (i = 0; i < ARRAY_SIZE(kst_checks); i++)
		if (kst_wanted(&kst_checks[i]))
			len += scnprintf(names + len, sizeof(names) - len, " %s",
					 kst_checks[i].name);
	pr_info("KVMBOX-SELFTEST BEGIN%s\n", names);
}

static int __init kvmbox_selftest_init(void)
{
	static struct kst_result res;
	struct sys_off_handler *handler;
	int i, failed = 0;

	/*
	 * Power off through the debug-exit port, ahead of any other power-off
	 * handler (legacy pm_power_off included), whatever registered it.
	 * Registered even with run=0: the test kernel has no ACPI, and this
	 * is how its /init's `poweroff` ends the VM on hardware KVM.
	 */
	handler = register_sys_off_handler(SYS_OFF_MODE_POWER_OFF, SYS_OFF_PRIO_FIRMWARE,
					   kst_power_off, NULL);
	if (IS_ERR(handler))
		pr_warn("kvmbox_selftest: no power-off handler (%ld)\n",
			PTR_ERR(handler));
	if (!run)
		return 0;

	/* Our lines must reach the console even with "quiet" or "loglevel=". */
	console_verbose();

	kst_begin_line();
	for (i = 0; i < ARRAY_SIZE(kst_checks); i++) {
		const struct kst_check *c = &kst_checks[i];
		bool ok;

		if (!kst_wanted(c))
			continue;
		res.detail[0] = '\0';
		ok = c->fn(&res);
		if (!ok && !res.detail[0])
			strscpy(res.detail, "(no reason given)", sizeof(res.detail));
		pr_info("KVMBOX-SELFTEST %s %s%s%s\n", c->name, ok ? "PASS" : "FAIL",
			res.detail[0] ? " " : "", res.detail);
		failed += !ok;
	}

	if (failed)
		pr_info("KVMBOX-SELFTEST VERDICT FAIL (%d failed)\n", failed);
	else
		pr_info("KVMBOX-SELFTEST VERDICT PASS\n");

	/* reboot: kvmbox's reboot handling (exit 0, or --reboot=restart). */
	if (!strcmp(action, "reboot"))
		kernel_restart(NULL);
	/*
	 * wait: a guest that stays up for tests of the control socket (pause,
	 * stat, balloon, stop), with timer ticks, kworkers and drivers running;
	 * /init would fail where guest user mode cannot make system calls.
	 */
	if (!strcmp(action, "wait")) {
		kst_open_console();
		pr_info("KVMBOX-SELFTEST WAITING\n");
		for (;;)
			msleep(1000);
	}
	kernel_power_off();

	/* Only reached when no power-off handler stopped the VM. */
	outb(0, KVMBOX_DEBUG_EXIT_PORT);
	panic("kvmbox_selftest: power-off through port 0x%x did not stop the VM",
	      KVMBOX_DEBUG_EXIT_PORT);
}
/* After all late_initcalls (e.g. ip=dhcp's ip_auto_config), before /init. */
late_initcall_sync(kvmbox_selftest_init);
