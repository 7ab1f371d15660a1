// SPDX-License-Identifier: GPL-2.0-only
/* kvmbox: subcommand dispatch only; each subcommand lives in src/cmd/. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "config.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{ "run", cmd_run, "boot a Linux kernel or run a raw program in a VM" },
	{ "check", cmd_check, "tell whether this host can run VMs, and why not" },
	{ "list", cmd_list, "list the running VMs" },
	{ "stop", cmd_stop, "stop a VM: Ctrl-Alt-Del, then by force" },
	{ "pause", cmd_pause, "pause a VM's vCPUs" },
	{ "resume", cmd_resume, "resume a paused VM" },
	{ "stat", cmd_stat, "a VM's exit, device, memory and balloon counters" },
	{ "balloon", cmd_balloon, "set a VM's balloon target (--balloon)" },
	{ "debug", cmd_debug, "registers, NMI or sysrq of a running VM" },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: kvmbox [--version] [--help] COMMAND [ARGS]\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n`kvmbox COMMAND --help` describes each command.\n");
}

int main(int argc, char **argv)
{
	/*
	 * A closed stdout (kvmbox run ... | head), a vanished control client
	 * or a forwarded connection's peer gives EPIPE where it is written,
	 * never a SIGPIPE that would kill the VM without its clean-up.
	 */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		usage(stderr);
		return 1;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("kvmbox %s\n", KVMBOX_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "kvmbox: error: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 1;
}
