// SPDX-License-Identifier: GPL-2.0-only
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86/cpu.h"
#include "cmd/cmd.h"
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
				    int *status)
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
	why = vm_run(&vm, term, status);
	vm_destroy(&vm);
	return why;
}

int cmd_run(int argc, char **argv)
{
	struct kb_err err = { 0 };
	struct vm_config cfg;
	enum vm_stop_reason why;
	struct term term;
	int ret, status;

	ret = run_parse_args(argc, argv, &cfg, &err);
	if (ret == 1)
		return 0;
	if (ret) {
		log_error("run: %s", err.msg);
		return 1;
	}
	say_quirks_once(&cfg);
	term_init(&term, STDIN_FILENO);
	if (term_raw_enter(&term) < 0)
		log_warn("cannot put the terminal in raw mode; input is line-buffered");
	do {
		why = run_once(&cfg, &term, &status);
		if (why == VM_STOP_REBOOT && cfg.reboot_restart)
			log_info("guest rebooted: restarting (--reboot=restart)");
	} while (why == VM_STOP_REBOOT && cfg.reboot_restart);
	term_restore(&term);

	if (why == VM_STOP_ERROR)
		return status ? status : 1;
	if (status == 0 && why != VM_STOP_DEBUG_EXIT)
		log_info("%s", vm_stop_reason_str(why));
	else
		log_info("%s (exit status %d)", vm_stop_reason_str(why), status);
	return status;
}
