// SPDX-License-Identifier: GPL-2.0-only
/* kvmbox stat: a running VM's counters. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/ctl_util.h"
#include "util/log.h"

static void stat_usage(FILE *f)
{
	fprintf(f,
		"Usage: kvmbox stat NAME [--json]\n"
		"\n"
		"Counters of VM NAME: exits by reason and by vCPU, time each vCPU spent\n"
		"in KVM_RUN, each device's requests, bytes and errors, guest memory and\n"
		"kvmbox's resident memory, and the balloon's state and the guest's\n"
		"memory statistics when the VM has a balloon (--balloon), or \"no\n"
		"balloon\". Guest statistics are refreshed on every stat: the numbers\n"
		"shown are the latest the guest sent.\n"
		"\n"
		"      --json   the reply's data object (docs/control.md)\n"
		"  -h, --help   this help\n");
}

static void print_counts(const struct json_doc *doc, int obj, const char *indent)
{
	cmd_print_counts(doc, obj, indent, 22);
}

static void print_stat(const struct json_doc *doc, int data)
{
	int vcpus = cmd_obj(doc, data, "vcpus"), devs = cmd_obj(doc, data, "devices");
	int mem = cmd_obj(doc, data, "memory"), bal = cmd_obj(doc, data, "balloon");
	int guest;
	char b1[32], b2[32];

	printf("%s: %s, up %s\n", cmd_str(doc, data, "name"), cmd_str(doc, data, "state"),
	       cmd_fmt_duration(cmd_u64(doc, data, "uptime_ms"), b1, sizeof(b1)));
	printf("exits by reason:\n");
	print_counts(doc, cmd_obj(doc, data, "exit_reasons"), "  ");
	for (int i = vcpus >= 0 ? doc->nodes[vcpus].child : -1; i >= 0;
	     i = doc->nodes[i].next) {
		printf("vCPU %llu: %llu exits, %.3f s in KVM_RUN\n",
		       (unsigned long long)cmd_u64(doc, i, "id"),
		       (unsigned long long)cmd_u64(doc, i, "exits"),
		       (double)cmd_u64(doc, i, "run_ns") / 1e9);
		print_counts(doc, cmd_obj(doc, i, "exit_reasons"), "  ");
	}
	printf("devices:\n");
	for (int i = devs >= 0 ? doc->nodes[devs].child : -1; i >= 0;
	     i = doc->nodes[i].next) {
		printf("  %s\n", cmd_str(doc, i, "name"));
		print_counts(doc, i, "    ");
	}
	printf("memory: guest %s, kvmbox resident %s\n",
	       cmd_fmt_bytes(cmd_u64(doc, mem, "guest_bytes"), b1, sizeof(b1)),
	       cmd_fmt_bytes(cmd_u64(doc, mem, "host_rss_bytes"), b2, sizeof(b2)));
	if (bal < 0) {
		printf("balloon: no balloon\n");
		return;
	}
	printf("balloon:\n");
	print_counts(doc, bal, "  ");
	guest = cmd_obj(doc, bal, "guest");
	printf("  guest statistics:%s\n",
	       guest < 0 || doc->nodes[guest].child < 0 ? " none yet" : "");
	print_counts(doc, guest, "    ");
}

int cmd_stat(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_request req = { .cmd = CTL_CMD_STAT, .cpu = -1 };
	struct json_doc doc;
	bool json = false;
	int c, data;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'j') {
			json = true;
			continue;
		}
		stat_usage(c == 'h' ? stdout : stderr);
		return c == 'h' ? 0 : 1;
	}
	if (optind != argc - 1) {
		stat_usage(stderr);
		return 1;
	}
	data = cmd_ctl_call("stat", argv[optind], &req, &doc);
	if (data < 0)
		return 1;
	if (json)
		cmd_print_json(&doc, data);
	else
		print_stat(&doc, data);
	json_free(&doc);
	return 0;
}
