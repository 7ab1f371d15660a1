// SPDX-License-Identifier: GPL-2.0-only
/* kvmbox balloon: set the memory a VM with --balloon may keep. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/ctl_util.h"
#include "util/log.h"
#include "util/parse.h"

static void balloon_usage(FILE *f)
{
	fprintf(f,
		"Usage: kvmbox balloon NAME --set SIZE [--json]\n"
		"       kvmbox balloon NAME [--json]\n"
		"\n"
		"Set the memory the guest of VM NAME may keep (e.g. 96M; a bare number is\n"
		"MiB): its virtio-balloon driver (the VM needs --balloon) inflates the\n"
		"balloon by the difference with its RAM, and kvmbox gives the pages back\n"
		"to the host. --set with the full RAM size deflates it. The guest may\n"
		"deflate on its own when it runs out of memory (deflate-on-OOM).\n"
		"Without --set: the balloon's state.\n"
		"\n"
		"  -s, --set SIZE   the guest's memory target\n"
		"      --json       the reply's data as JSON\n"
		"  -h, --help       this help\n");
}

int cmd_balloon(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "set", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_request req = { .cmd = CTL_CMD_STAT, .cpu = -1 };
	struct json_doc doc;
	bool json = false;
	int c, data;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
		if (c == 'j') {
			json = true;
		} else if (c == 's') {
			if (parse_size(optarg, &req.target)) {
				log_error("balloon: --set '%s': not a size (e.g. 96M)",
					  optarg);
				return 1;
			}
			req.cmd = CTL_CMD_BALLOON;
		} else {
			balloon_usage(c == 'h' ? stdout : stderr);
			return c == 'h' ? 0 : 1;
		}
	}
	if (optind != argc - 1) {
		balloon_usage(stderr);
		return 1;
	}
	data = cmd_ctl_call("balloon", argv[optind], &req, &doc);
	if (data < 0)
		return 1;
	if (req.cmd == CTL_CMD_STAT) {
		data = cmd_obj(&doc, data, "balloon");
		if (data < 0) {
			log_error("balloon: %s: no balloon (start it with --balloon)",
				  argv[optind]);
			json_free(&doc);
			return 1;
		}
	}
	if (json) {
		cmd_print_json(&doc, data);
	} else if (req.cmd == CTL_CMD_BALLOON) {
		char b[32];

		printf("%s: guest memory target %s\n", argv[optind],
		       cmd_fmt_bytes(req.target, b, sizeof(b)));
	} else {
		cmd_print_counts(&doc, data, "", 18);
	}
	json_free(&doc);
	return 0;
}
