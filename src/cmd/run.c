// SPDX-License-Identifier: GPL-2.0-only
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86/cpu.h"
#include "cmd/cmd.h"
#include "control/names.h"
#include "control/server.h"
#include "control/vm_ops.h"
#include "util/log.h"
#include "util/term.h"
#include "vm/vm.h"

static void say_quirks_once(const struct vm_config *cfg)
{
	struct host_kvm_info host;

	x86_host_kvm_probe(&host);
	if (cfg->raw || (host.hw_virt && !host.pvm))
		return;
	if (!cfg->host_quirks) {
		log_info(
			"emulation-only KVM%s: --no-host-quirks given, guest runs without "
			"workarounds",
			host.pvm ? " (kvm_pvm)" : "");
		return;
	}
	log_info(
		"emulation-only KVM%s: guest kernel code runs emulated (slow); adding to "
		"the guest command line: %s",
		host.pvm ? " (kvm_pvm)" : "", x86_pvm_guest_cmdline());
}

/* One boot of the guest; returns the stop reason and sets *status. */
static enum vm_stop_reason run_once(const struct vm_config *cfg, struct term *term,
				    int *status, struct ctl_vm *ctl)
{
	struct kb_err err = { 0 };
	enum vm_stop_reason why;
	struct vm vm;

	if (vm_create(&vm, cfg, &err) || vm_load(&vm, &err)) {
		log_error("%s", err.msg);
		vm_destroy(&vm);
		*status = 1;
		return VM_STOP_ERROR;
	}
	ctl_vm_set(ctl, &vm);
	why = vm_run(&vm, term, status);
	ctl_vm_set(ctl, NULL);
	vm_destroy(&vm);
	return why;
}

int cmd_run(int argc, char **argv)
{
	struct kb_err err = { 0 };
	struct vm_config cfg;
	enum vm_stop_reason why;
	char name[CTL_NAME_MAX + 1], dir[CTL_PATH_MAX], path[CTL_PATH_MAX + 8];
	struct ctl_server *server;
	struct ctl_vm ctl;
	struct term term;
	sigset_t sigs;
	int ret, status;

	ret = run_parse_args(argc, argv, &cfg, &err);
	if (ret == 1)
		return 0;
	if (ret) {
		log_error("run: %s", err.msg);
		return 1;
	}
	/*
	 * SIGINT/SIGTERM stay blocked from here on: vm_run() takes them through
	 * a signalfd, so that every way out goes through the removal of the
	 * control socket below.
	 */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	snprintf(name, sizeof(name), "%s", cfg.name ? cfg.name : "");
	ret = ctl_dir(dir, sizeof(dir), true, &err);
	if (ret >= 0)
		ret = ctl_claim(dir, name, path, sizeof(path), &err);
	if (ret < 0) {
		log_error("run: %s", err.msg);
		return 1;
	}
	cfg.name = name; /* the claimed one: default MAC addresses derive from it */
	ctl_vm_init(&ctl, name, cfg.nr_cpus, cfg.ram_size);
	server = ctl_server_start(ret, path, ctl_vm_handle, &ctl, &err);
	if (!server) {
		log_error("run: %s", err.msg);
		close(ret);
		unlink(path);
		ctl_vm_destroy(&ctl);
		return 1;
	}
	log_debug("control socket: %s", path);
	say_quirks_once(&cfg);
	term_init(&term, STDIN_FILENO);
	if (term_raw_enter(&term) < 0)
		log_warn("cannot put the terminal in raw mode; input is line-buffered");
	do {
		why = run_once(&cfg, &term, &status, &ctl);
		if (why == VM_STOP_REBOOT && cfg.reboot_restart)
			log_info("guest rebooted: restarting (--reboot=restart)");
	} while (why == VM_STOP_REBOOT && cfg.reboot_restart);
	term_restore(&term);
	ctl_server_stop(server);
	ctl_vm_destroy(&ctl);

	if (why == VM_STOP_ERROR)
		return status ? status : 1;
	if (status == 0 && why != VM_STOP_DEBUG_EXIT)
		log_info("%s", vm_stop_reason_str(why));
	else
		log_info("%s (exit status %d)", vm_stop_reason_str(why), status);
	return status;
}
