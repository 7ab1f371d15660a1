// SPDX-License-Identifier: GPL-2.0-only
/* `kvmbox run` option parsing and the small parsers under it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "cmd/cmd.h"
#include "util/parse.h"

static char kernel_path[64];

static int setup(void **state)
{
	int fd;

	snprintf(kernel_path, sizeof(kernel_path), "/tmp/kvmbox-test-kernel-XXXXXX");
	fd = mkstemp(kernel_path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	unlink(kernel_path);
	return 0;
}

/* Parses a NULL-terminated list of arguments after "run". */
static int parse(struct vm_config *cfg, struct kb_err *err, ...)
{
	char *argv[32] = { "run" };
	int argc = 1;
	va_list ap;

	va_start(ap, err);
	for (char *a; (a = va_arg(ap, char *));)
		argv[argc++] = a;
	va_end(ap);
	memset(err, 0, sizeof(*err));
	return run_parse_args(argc, argv, cfg, err);
}

static void test_parse_size(void **state)
{
	uint64_t v;

	assert_int_equal(parse_size("512M", &v), 0);
	assert_int_equal(v, 512ULL << 20);
	assert_int_equal(parse_size("2G", &v), 0);
	assert_int_equal(v, 2ULL << 30);
	assert_int_equal(parse_size("1024", &v), 0);
	assert_int_equal(v, 1024ULL << 20);
	assert_int_equal(parse_size("64KiB", &v), 0);
	assert_int_equal(v, 64ULL << 10);
	assert_int_equal(parse_size("1gb", &v), 0);
	assert_int_equal(v, 1ULL << 30);
	assert_int_equal(parse_size("", &v), -EINVAL);
	assert_int_equal(parse_size("-1M", &v), -EINVAL);
	assert_int_equal(parse_size("12Q", &v), -EINVAL);
	assert_int_equal(parse_size("1MM", &v), -EINVAL);
	assert_int_equal(parse_size("99999999999999999999", &v), -ERANGE);
	assert_int_equal(parse_size("17179869184G", &v), -ERANGE);
	assert_int_equal(parse_u64("0x1000", &v), 0);
	assert_int_equal(v, 0x1000);
	assert_int_equal(parse_u64("12abc", &v), -EINVAL);
	assert_int_equal(parse_u64("-5", &v), -EINVAL);
}

static void test_defaults(void **state)
{
	struct vm_config cfg;
	struct kb_err err;

	assert_int_equal(parse(&cfg, &err, "-k", kernel_path, NULL), 0);
	assert_string_equal(cfg.kernel, kernel_path);
	assert_int_equal(cfg.ram_size, 256ULL << 20);
	assert_int_equal(cfg.nr_cpus, 1);
	assert_true(cfg.host_decompress);
	assert_true(cfg.host_quirks);
	assert_false(cfg.reboot_restart);
}

static void test_all_options(void **state)
{
	struct vm_config cfg;
	struct kb_err err;

	assert_int_equal(parse(&cfg, &err, "-k", kernel_path, "-i", kernel_path, "-p",
			       "quiet", "-m", "1G", "-c", "4", "--no-host-decompress",
			       "--no-host-quirks", "--reboot", "restart", NULL),
			 0);
	assert_int_equal(cfg.ram_size, 1ULL << 30);
	assert_int_equal(cfg.nr_cpus, 4);
	assert_string_equal(cfg.cmdline, "quiet");
	assert_false(cfg.host_decompress);
	assert_false(cfg.host_quirks);
	assert_true(cfg.reboot_restart);
}

static void test_raw(void **state)
{
	struct vm_config cfg;
	struct kb_err err;

	assert_int_equal(parse(&cfg, &err, "--raw", kernel_path, "--reg", "rax=2",
			       "--reg", "rbx=0x10", "--raw-mode", "long", "--raw-addr",
			       "0x20000", NULL),
			 0);
	assert_int_equal(cfg.nr_regs, 2);
	assert_string_equal(cfg.regs[1].name, "rbx");
	assert_int_equal(cfg.regs[1].value, 0x10);
	assert_int_equal(cfg.raw_mode, RAW_MODE_LONG);
	assert_int_equal(cfg.raw_addr, 0x20000);
	assert_int_equal(cfg.ram_size, 16ULL << 20);
}

static void test_raw_user_mode_with_devices(void **state)
{
	struct vm_config cfg;
	struct kb_err err;

	assert_int_equal(parse(&cfg, &err, "--raw", kernel_path, "--raw-mode", "user",
			       "--raw-addr", "0x100000", "-d", "/tmp/a.img,direct",
			       "--rng", "-m", "64M", NULL),
			 0);
	assert_int_equal(cfg.raw_mode, RAW_MODE_USER);
	assert_int_equal(cfg.raw_addr, 0x100000);
	assert_int_equal(cfg.nr_disks, 1);
	assert_true(cfg.disks[0].direct);
	assert_true(cfg.rng);
	assert_int_equal(cfg.ram_size, 64ULL << 20);
	assert_int_equal(parse(&cfg, &err, "--raw", kernel_path, NULL), 0);
	assert_int_equal(cfg.raw_mode, RAW_MODE_REAL);
}

#define assert_fails_with(substr, ...)                                        \
	do {                                                                  \
		struct vm_config cfg;                                         \
		struct kb_err err;                                            \
		assert_true(parse(&cfg, &err, __VA_ARGS__, NULL) < 0);        \
		if (!strstr(err.msg, substr))                                 \
			fail_msg("message '%s' lacks '%s'", err.msg, substr); \
	} while (0)

static void test_errors_name_option_and_value(void **state)
{
	assert_fails_with("--mem '12Q'", "-k", kernel_path, "-m", "12Q");
	assert_fails_with("--mem 1M", "-k", kernel_path, "-m", "1M");
	assert_fails_with("not a multiple of 4 KiB", "-k", kernel_path, "-m", "4097B");
	assert_fails_with("--cpus '0'", "-k", kernel_path, "-c", "0");
	assert_fails_with("--cpus '65'", "-k", kernel_path, "-c", "65");
	assert_fails_with("--cpus 'two'", "-k", kernel_path, "-c", "two");
	assert_fails_with("--kernel /nonexistent/vmlinux: No such file", "-k",
			  "/nonexistent/vmlinux");
	assert_fails_with("--initrd /nope: No such file", "-k", kernel_path, "-i",
			  "/nope");
	assert_fails_with("--kernel /tmp: not a regular file", "-k", "/tmp");
	assert_fails_with("nothing to run", "-m", "64M");
	assert_fails_with("--raw cannot be combined", "--raw", kernel_path, "-k",
			  kernel_path);
	assert_fails_with("--reg and --raw-addr need --raw", "-k", kernel_path, "--reg",
			  "rax=1");
	assert_fails_with("unknown register 'rzz'", "--raw", kernel_path, "--reg",
			  "rzz=1");
	assert_fails_with("expected NAME=VALUE", "--raw", kernel_path, "--reg", "rax");
	assert_fails_with("bad value 'x'", "--raw", kernel_path, "--reg", "rax=x");
	assert_fails_with("--raw-mode 'protected': expected real, long or user", "--raw",
			  kernel_path, "--raw-mode", "protected");
	assert_fails_with("--raw runs on one vCPU", "--raw", kernel_path, "-c", "2");
	assert_fails_with("--reboot 'maybe'", "-k", kernel_path, "--reboot", "maybe");
	assert_fails_with("--bogus: unknown option", "-k", kernel_path, "--bogus");
	assert_fails_with("option -m needs a value", "-k", kernel_path, "-m");
	assert_fails_with("option -n needs a value", "-k", kernel_path, "-n");
	assert_fails_with("option -d needs a value", "-k", kernel_path, "-d");
	assert_fails_with("unexpected argument 'extra'", "-k", kernel_path, "extra");
}

static void test_devices(void **state)
{
	struct vm_config cfg;
	struct kb_err err;

	assert_int_equal(parse(&cfg, &err, "-k", kernel_path, "-d", "/tmp/a.img,ro", "-d",
			       "/tmp/b.img,serial=disk2", "--rng", "--console", "virtio",
			       NULL),
			 0);
	assert_int_equal(cfg.nr_disks, 2);
	assert_string_equal(cfg.disks[0].file, "/tmp/a.img");
	assert_true(cfg.disks[0].ro);
	assert_string_equal(cfg.disks[1].serial, "disk2");
	assert_true(cfg.rng);
	assert_int_equal(cfg.console, CONSOLE_VIRTIO);
	assert_false(cfg.balloon);

	assert_int_equal(cfg.nr_nics, 0);

	/* -n: in order; "none" adds nothing. */
	assert_int_equal(parse(&cfg, &err, "-k", kernel_path, "-n", "user", "-n", "none",
			       "--net", "tap,ifname=kb7,mac=02:00:00:00:00:07", NULL),
			 0);
	assert_int_equal(cfg.nr_nics, 2);
	assert_int_equal(cfg.nics[0].kind, NET_USER);
	assert_int_equal(cfg.nics[1].kind, NET_TAP);
	assert_string_equal(cfg.nics[1].ifname, "kb7");
	assert_true(cfg.nics[1].mac_set);
	assert_int_equal(cfg.nics[1].mac[5], 7);

	assert_int_equal(parse(&cfg, &err, "-k", kernel_path, "--balloon", NULL), 0);
	assert_true(cfg.balloon && cfg.balloon_report);
	assert_int_equal(
		parse(&cfg, &err, "-k", kernel_path, "--balloon=report=off", NULL), 0);
	assert_true(cfg.balloon && !cfg.balloon_report);
	assert_int_equal(
		parse(&cfg, &err, "-k", kernel_path, "--balloon=report=on", NULL), 0);
	assert_true(cfg.balloon && cfg.balloon_report);
}

static void test_device_errors(void **state)
{
	assert_fails_with("-d '/tmp/a.img,bogus'", "-k", kernel_path, "-d",
			  "/tmp/a.img,bogus");
	assert_fails_with("--balloon=report=maybe: expected report=on or report=off",
			  "-k", kernel_path, "--balloon=report=maybe");
	assert_fails_with("-n bogus", "-k", kernel_path, "-n", "bogus");
	assert_fails_with("at most 4 network devices", "-k", kernel_path, "-n", "user",
			  "-n", "user", "-n", "user", "-n", "user", "-n", "user");
	assert_fails_with("--console 'vga'", "-k", kernel_path, "--console", "vga");
	assert_fails_with("--raw has COM1 as its console", "--raw", kernel_path,
			  "--console", "virtio");
	assert_fails_with("at most 8 disks", "-k", kernel_path, "-d", "a", "-d", "a",
			  "-d", "a", "-d", "a", "-d", "a", "-d", "a", "-d", "a", "-d",
			  "a", "-d", "a");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_all_options),
		cmocka_unit_test(test_raw),
		cmocka_unit_test(test_raw_user_mode_with_devices),
		cmocka_unit_test(test_errors_name_option_and_value),
		cmocka_unit_test(test_devices),
		cmocka_unit_test(test_device_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
