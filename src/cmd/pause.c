// SPDX-License-Identifier: GPL-2.0-only
/* kvmbox pause / kvmbox resume. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/ctl_util.h"
#include "util/log.h"

static void pause_usage(FILE *f, const char *cmd)
{
	if (!strcmp(cmd, "pause"))
		fprintf(f,
			"Usage: kvmbox pause NAME\n"
			"\n"
			"Pause VM NAME: every vCPU is stopped outside KVM_RUN, and a guest\n"
			"using kvmclock is told (KVM_KVMCLOCK_CTRL), so that it does not\n"
			"report a soft lockup afterwards. Devices finish what they started.\n"
			"`kvmbox resume NAME` lets it go on.\n"
			"\n"
			"  -h, --help   this help\n");
	else
		fprintf(f, "Usage: kvmbox resume NAME\n"
			   "\n"
			   "Resume VM NAME after `kvmbox pause`.\n"
			   "\n"
			   "  -h, --help   this help\n");
}

static int pause_or_resume(int argc, char **argv, const char *cmd, enum ctl_cmd what)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_request req = { .cmd = what, .cpu = -1 };
	struct json_doc doc;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		pause_usage(c == 'h' ? stdout : stderr, cmd);
		return c == 'h' ? 0 : 1;
	}
	if (optind != argc - 1) {
		pause_usage(stderr, cmd);
		return 1;
	}
	if (cmd_ctl_call(cmd, argv[optind], &req, &doc) < 0)
		return 1;
	json_free(&doc);
	return 0;
}

int cmd_pause(int argc, char **argv)
{
	return pause_or_resume(argc, argv, "pause", CTL_CMD_PAUSE);
}

int cmd_resume(int argc, char **argv)
{
	return pause_or_resume(argc, argv, "resume", CTL_CMD_RESUME);
}
