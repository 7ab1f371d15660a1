// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "control/names.h"
#include "util/log.h"
#include "util/parse.h"
#include "arch/x86/layout.h"
#include "vm/vcpu.h"

#define DEFAULT_RAM (256ULL << 20)
#define MIN_RAM_LINUX (32ULL << 20)
#define MIN_RAM_RAW (1ULL << 20)
#define MAX_RAM (1ULL << 40)

enum {
	OPT_RAW = 256,
	OPT_RAW_ADDR,
	OPT_RAW_MODE,
	OPT_REG,
	OPT_NO_HOST_DECOMPRESS,
	OPT_NO_HOST_QUIRKS,
	OPT_REBOOT,
	OPT_RNG,
	OPT_CONSOLE,
	OPT_NAME,
	OPT_BALLOON,
};

static const struct option run_options[] = {
	{ "kernel", required_argument, NULL, 'k' },
	{ "initrd", required_argument, NULL, 'i' },
	{ "params", required_argument, NULL, 'p' },
	{ "mem", required_argument, NULL, 'm' },
	{ "cpus", required_argument, NULL, 'c' },
	{ "raw", required_argument, NULL, OPT_RAW },
	{ "raw-addr", required_argument, NULL, OPT_RAW_ADDR },
	{ "raw-mode", required_argument, NULL, OPT_RAW_MODE },
	{ "reg", required_argument, NULL, OPT_REG },
	{ "no-host-decompress", no_argument, NULL, OPT_NO_HOST_DECOMPRESS },
	{ "no-host-quirks", no_argument, NULL, OPT_NO_HOST_QUIRKS },
	{ "reboot", required_argument, NULL, OPT_REBOOT },
	{ "disk", required_argument, NULL, 'd' },
	{ "rng", no_argument, NULL, OPT_RNG },
	{ "net", required_argument, NULL, 'n' },
	{ "console", required_argument, NULL, OPT_CONSOLE },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "balloon", optional_argument, NULL, OPT_BALLOON },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const char run_short_options[] = "+k:i:p:m:c:d:n:vh";

static bool short_option_takes_value(int c)
{
	const char *p = NULL;

	if (c > 0 && c < 256 && c != ':' && c != '+')
		p = strchr(run_short_options, c);
	return p && p[1] == ':';
}

void run_usage(FILE *f)
{
	fprintf(f,
		"Usage: kvmbox run -k KERNEL [-i INITRD] [-p CMDLINE] [-m SIZE] [-c VCPUS] [options]\n"
		"       kvmbox run --raw FILE [--raw-addr ADDR] [--raw-mode real|long|user]\n"
		"                  [--reg R=V]... [-d FILE]... [--rng]\n"
		"\n"
		"Boot a Linux kernel (bzImage or ELF vmlinux), or run flat machine code.\n"
		"\n"
		"  -k, --kernel FILE       kernel: bzImage (boot protocol 2.06+) or ELF vmlinux\n"
		"  -i, --initrd FILE       initial ramdisk / initramfs\n"
		"  -p, --params CMDLINE    kernel command line (added after kvmbox's defaults:\n"
		"                          console=ttyS0 reboot=k panic=-1 i8042.noaux)\n"
		"  -m, --mem SIZE          guest RAM, e.g. 512M or 2G; a bare number is MiB\n"
		"                          (default 256M)\n"
		"  -c, --cpus N            number of vCPUs, 1-%d (default 1)\n"
		"      --no-host-decompress  let the guest decompress a bzImage itself\n"
		"                          (default: kvmbox decompresses gzip/xz/lz4/zstd\n"
		"                          payloads on the host and boots the ELF inside)\n"
		"      --no-host-quirks    on an emulation-only KVM, do not add the guest\n"
		"                          options that work around its quirks\n"
		"      --reboot exit|restart  what a guest reboot does (default exit, status 0)\n"
		"  -d, --disk FILE[,ro][,direct][,serial=ID][,format=raw|qcow2]\n"
		"                          [,aio=io_uring|threads]\n"
		"                          a virtio-blk disk on a raw or qcow2 image\n"
		"                          (repeatable, at most %d: /dev/vda, vdb... in order);\n"
		"                          ro: writes fail;\n"
		"                          direct: O_DIRECT; serial: the ID the guest reads\n"
		"      --rng               a virtio-rng device fed by the host's getrandom()\n"
		"      --console serial|virtio  the guest console: COM1 (ttyS0, default) or\n"
		"                          virtio-console (hvc0); same terminal handling;\n"
		"                          a raw program has COM1 only\n"
		"      --name NAME         the VM's name for kvmbox list/stop/stat... (default:\n"
		"                          vm-PID); its control socket is NAME.sock in\n"
		"                          $KVMBOX_RUNTIME_DIR, else $XDG_RUNTIME_DIR/kvmbox,\n"
		"                          else /run/kvmbox (root) or /tmp/kvmbox-UID\n"
		"  -n, --net SPEC          a virtio-net device (eth0, eth1... in order, up to\n"
		"                          %d; default: none):\n"
		"                          tap[,ifname=NAME][,vhost=on|off|auto][,mac=MAC]\n"
		"                          user[,net=10.0.2.0/24][,hostfwd=[tcp|udp]:[HOSTADDR]:\n"
		"                            HOSTPORT-[GUESTADDR]:GUESTPORT]...[,mac=MAC]\n"
		"                          none\n"
		"      --balloon[=report=on|off]  a virtio-balloon device (kvmbox balloon),\n"
		"                          with statistics, deflate-on-OOM and free page\n"
		"                          reporting (report=off leaves reporting out)\n"
		"      --raw FILE          load FILE as flat code and run it (no kernel); it\n"
		"                          gets COM1, the debug-exit port and a PCI bus\n"
		"                          with the -d and --rng devices, no interrupts\n"
		"      --raw-addr ADDR     guest address to load it at (default 0x1000)\n"
		"      --raw-mode MODE     real (default), long (64-bit, identity-mapped) or\n"
		"                          user (the same at CPL 3 with IOPL 3; the stack\n"
		"                          starts at the top of low RAM)\n"
		"      --reg NAME=VALUE    initial register value, e.g. --reg rax=2\n"
		"                          (rax..r15, rip, rflags); repeatable\n"
		"  -v, --verbose           debug messages on stderr\n"
		"  -h, --help              this help\n"
		"\n"
		"The guest console is COM1 on this terminal; Ctrl-A x quits, Ctrl-A h helps.\n"
		"Exit status: 0 guest powered off, rebooted or (raw) halted; 1 kvmbox error;\n"
		"2 guest kernel panic; 3 guest crashed (triple fault, emulation failure);\n"
		"128+N stopped by signal N; a write of V to debug-exit port 0x501: V;\n"
		"kvmbox stop: 0 (graceful or forced).\n",
		VM_MAX_CPUS, VM_MAX_DISKS, VM_MAX_NICS);
}

static int check_file(const char *opt, const char *path, struct kb_err *err)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return kb_err_set(err, -errno, "%s %s: %s", opt, path, strerror(errno));
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return kb_err_set(err, -EINVAL, "%s %s: not a regular file", opt, path);
	if (access(path, R_OK) < 0)
		return kb_err_set(err, -errno, "%s %s: %s", opt, path, strerror(errno));
	return 0;
}

static int parse_reg(const char *arg, struct vm_config *cfg, struct kb_err *err)
{
	static char names[VM_MAX_REGS][8];
	const char *eq = strchr(arg, '=');
	size_t n = eq ? (size_t)(eq - arg) : 0;
	char name[8];
	uint64_t v;

	if (!eq || !n || n >= sizeof(name))
		return kb_err_set(err, -EINVAL,
				  "--reg '%s': expected NAME=VALUE, e.g. rax=2", arg);
	memcpy(name, arg, n);
	name[n] = 0;
	if (!vcpu_reg_name_valid(name))
		return kb_err_set(
			err, -EINVAL,
			"--reg '%s': unknown register '%s' (rax..r15, rip, rflags)", arg,
			name);
	if (parse_u64(eq + 1, &v))
		return kb_err_set(err, -EINVAL, "--reg '%s': bad value '%s'", arg,
				  eq + 1);
	if (cfg->nr_regs == VM_MAX_REGS)
		return kb_err_set(err, -E2BIG, "--reg: at most %d registers",
				  VM_MAX_REGS);
	/* Names live as long as the config; argv would do too, but not in tests. */
	memcpy(names[cfg->nr_regs], name, n + 1);
	cfg->regs[cfg->nr_regs].name = names[cfg->nr_regs];
	cfg->regs[cfg->nr_regs].value = v;
	cfg->nr_regs++;
	return 0;
}

static int parse_one(int c, const char *arg, struct vm_config *cfg, bool *mem_set,
		     struct kb_err *err)
{
	uint64_t v;
	int ret;

	switch (c) {
	case 'k':
		cfg->kernel = arg;
		return 0;
	case 'i':
		cfg->initrd = arg;
		return 0;
	case 'p':
		cfg->cmdline = arg;
		return 0;
	case 'm':
		ret = parse_size(arg, &v);
		if (ret)
			return kb_err_set(
				err, -EINVAL,
				"--mem '%s': not a size (examples: 512M, 2G, 1024)", arg);
		if (v & 0xfff)
			return kb_err_set(err, -EINVAL,
					  "--mem '%s': not a multiple of 4 KiB", arg);
		cfg->ram_size = v;
		*mem_set = true;
		return 0;
	case 'c':
		if (parse_u64(arg, &v) || v < 1 || v > VM_MAX_CPUS)
			return kb_err_set(err, -EINVAL,
					  "--cpus '%s': expected a number from 1 to %d",
					  arg, VM_MAX_CPUS);
		cfg->nr_cpus = (int)v;
		return 0;
	case OPT_RAW:
		cfg->raw = arg;
		return 0;
	case OPT_RAW_ADDR:
		if (parse_u64(arg, &v) || v >= X86_RAW_ADDR_LIMIT)
			return kb_err_set(err, -EINVAL,
					  "--raw-addr '%s': not an address below 4 GiB",
					  arg);
		cfg->raw_addr = v;
		return 0;
	case OPT_RAW_MODE:
		if (!strcmp(arg, "real"))
			cfg->raw_mode = RAW_MODE_REAL;
		else if (!strcmp(arg, "long"))
			cfg->raw_mode = RAW_MODE_LONG;
		else if (!strcmp(arg, "user"))
			cfg->raw_mode = RAW_MODE_USER;
		else
			return kb_err_set(err, -EINVAL,
					  "--raw-mode '%s': expected real, long or user",
					  arg);
		return 0;
	case OPT_REG:
		return parse_reg(arg, cfg, err);
	case OPT_NO_HOST_DECOMPRESS:
		cfg->host_decompress = false;
		return 0;
	case OPT_NO_HOST_QUIRKS:
		cfg->host_quirks = false;
		return 0;
	case OPT_REBOOT:
		if (!strcmp(arg, "exit"))
			cfg->reboot_restart = false;
		else if (!strcmp(arg, "restart"))
			cfg->reboot_restart = true;
		else
			return kb_err_set(err, -EINVAL,
					  "--reboot '%s': expected exit or restart", arg);
		return 0;
	case 'd':
		if (cfg->nr_disks == VM_MAX_DISKS)
			return kb_err_set(err, -E2BIG, "-d %s: at most %d disks", arg,
					  VM_MAX_DISKS);
		ret = block_parse_spec(arg, &cfg->disks[cfg->nr_disks], err);
		if (ret)
			return kb_err_prefix(err, "-d '%s'", arg);
		cfg->nr_disks++;
		return 0;
	case OPT_RNG:
		cfg->rng = true;
		return 0;
	case 'n':
		if (cfg->nr_nics == VM_MAX_NICS)
			return kb_err_set(err, -E2BIG,
					  "-n %s: at most %d network devices", arg,
					  VM_MAX_NICS);
		ret = net_spec_parse(arg, &cfg->nics[cfg->nr_nics], err);
		if (ret)
			return ret;
		/* "-n none" alone means no network device. */
		if (cfg->nics[cfg->nr_nics].kind != NET_NONE)
			cfg->nr_nics++;
		return 0;
	case OPT_NAME:
		if (!ctl_name_valid(arg))
			return kb_err_set(
				err, -EINVAL,
				"--name '%s': use 1-%d letters, digits, '.', '_' "
				"or '-', not starting with '.' or '-'",
				arg, CTL_NAME_MAX);
		cfg->name = arg;
		return 0;
	case OPT_BALLOON:
		cfg->balloon = true;
		cfg->balloon_report = true;
		if (!arg || !strcmp(arg, "report=on"))
			return 0;
		if (!strcmp(arg, "report=off")) {
			cfg->balloon_report = false;
			return 0;
		}
		return kb_err_set(err, -EINVAL,
				  "--balloon=%s: expected report=on or report=off", arg);
	case OPT_CONSOLE:
		if (!strcmp(arg, "serial"))
			cfg->console = CONSOLE_SERIAL;
		else if (!strcmp(arg, "virtio"))
			cfg->console = CONSOLE_VIRTIO;
		else
			return kb_err_set(err, -EINVAL,
					  "--console '%s': expected serial or virtio",
					  arg);
		return 0;
	case 'v':
		log_verbose = 1;
		return 0;
	}
	return kb_err_set(err, -EINVAL, "unknown option");
}

static int check_config(struct vm_config *cfg, bool mem_set, struct kb_err *err)
{
	int ret;

	if (cfg->raw && (cfg->kernel || cfg->initrd || cfg->cmdline))
		return kb_err_set(err, -EINVAL,
				  "--raw cannot be combined with -k, -i or -p");
	if (!cfg->raw && !cfg->kernel)
		return kb_err_set(
			err, -EINVAL,
			"nothing to run: give -k KERNEL or --raw FILE (see kvmbox run --help)");
	if (!cfg->raw && (cfg->nr_regs || cfg->raw_addr != X86_RAW_DEFAULT_ADDR))
		return kb_err_set(err, -EINVAL, "--reg and --raw-addr need --raw");
	if (cfg->raw && cfg->console != CONSOLE_SERIAL)
		return kb_err_set(err, -EINVAL,
				  "--raw has COM1 as its console: drop --console");
	if (cfg->raw && cfg->nr_cpus != 1)
		return kb_err_set(err, -EINVAL, "--raw runs on one vCPU; drop --cpus");
	if (!mem_set && cfg->raw)
		cfg->ram_size = 16ULL << 20;
	if (cfg->ram_size < (cfg->raw ? MIN_RAM_RAW : MIN_RAM_LINUX) ||
	    cfg->ram_size > MAX_RAM)
		return kb_err_set(
			err, -EINVAL, "--mem %lluM: expected %lluM to %lluM",
			(unsigned long long)(cfg->ram_size >> 20),
			(unsigned long long)((cfg->raw ? MIN_RAM_RAW : MIN_RAM_LINUX) >>
					     20),
			(unsigned long long)(MAX_RAM >> 20));
	if (cfg->raw)
		return check_file("--raw", cfg->raw, err);
	ret = check_file("--kernel", cfg->kernel, err);
	if (!ret && cfg->initrd)
		ret = check_file("--initrd", cfg->initrd, err);
	return ret;
}

int run_parse_args(int argc, char **argv, struct vm_config *cfg, struct kb_err *err)
{
	bool mem_set = false;
	int c, ret;

	memset(cfg, 0, sizeof(*cfg));
	cfg->ram_size = DEFAULT_RAM;
	cfg->nr_cpus = 1;
	cfg->host_decompress = true;
	cfg->host_quirks = true;
	cfg->raw_addr = X86_RAW_DEFAULT_ADDR;
	cfg->raw_mode = RAW_MODE_REAL;
	optind = 0; /* full reset: tests call this more than once */
	opterr = 0;
	while ((c = getopt_long(argc, argv, run_short_options, run_options, NULL)) !=
	       -1) {
		if (c == 'h') {
			run_usage(stdout);
			return 1;
		}
		if (c == '?' || c == ':') {
			const char *bad = argv[optind - 1];

			if (short_option_takes_value(optopt))
				return kb_err_set(err, -EINVAL,
						  "option -%c needs a value", optopt);
			return kb_err_set(err, -EINVAL,
					  "%s: unknown option or missing value "
					  "(see kvmbox run --help)",
					  bad);
		}
		ret = parse_one(c, optarg, cfg, &mem_set, err);
		if (ret)
			return ret;
	}
	if (optind < argc)
		return kb_err_set(err, -EINVAL, "unexpected argument '%s'", argv[optind]);
	return check_config(cfg, mem_set, err);
}
