// SPDX-License-Identifier: GPL-2.0-only
/* kvmbox debug: registers, NMI and sysrq for a running VM. */
#include <getopt.h>
#include <stdio.h>

#include "cmd/cmd.h"
#include "cmd/ctl_util.h"
#include "util/log.h"
#include "util/parse.h"

static void debug_usage(FILE *f)
{
	fprintf(f,
		"Usage: kvmbox debug NAME --regs [--cpu N] [--json]\n"
		"       kvmbox debug NAME --nmi [--cpu N]\n"
		"       kvmbox debug NAME --sysrq KEY\n"
		"\n"
		"  -r, --regs       general registers, control registers, segments and\n"
		"                   the code bytes at RIP of one vCPU (it is paused for\n"
		"                   the moment it takes to read them)\n"
		"  -n, --nmi        inject an NMI (KVM_NMI) into one vCPU\n"
		"  -s, --sysrq KEY  a break on the serial console followed by KEY: the\n"
		"                   guest's magic SysRq (e.g. t, w, m) on ttyS0\n"
		"  -c, --cpu N      the vCPU (default 0)\n"
		"      --json       the reply's data as JSON\n"
		"  -h, --help       this help\n");
}

static void print_regs(const struct json_doc *doc, int data)
{
	int regs = cmd_obj(doc, data, "regs"), sregs = cmd_obj(doc, data, "sregs");
	int n = 0;

	printf("vCPU %llu:\n", (unsigned long long)cmd_u64(doc, data, "cpu"));
	for (int i = regs >= 0 ? doc->nodes[regs].child : -1; i >= 0;
	     i = doc->nodes[i].next, n++)
		printf("  %-6s %s%s", doc->nodes[i].key,
		       doc->nodes[i].str ? doc->nodes[i].str : "?",
		       n % 3 == 2 ? "\n" : "");
	if (n % 3)
		printf("\n");
	for (int i = sregs >= 0 ? doc->nodes[sregs].child : -1; i >= 0;
	     i = doc->nodes[i].next) {
		if (doc->nodes[i].type == JSON_STRING)
			printf("  %-8s %s\n", doc->nodes[i].key, doc->nodes[i].str);
		else if (doc->nodes[i].type == JSON_OBJECT)
			printf("  %-8s sel=%04llx base=%s limit=%08llx type=%llx dpl=%llu l=%llu\n",
			       doc->nodes[i].key,
			       (unsigned long long)cmd_u64(doc, i, "selector"),
			       cmd_str(doc, i, "base"),
			       (unsigned long long)cmd_u64(doc, i, "limit"),
			       (unsigned long long)cmd_u64(doc, i, "type"),
			       (unsigned long long)cmd_u64(doc, i, "dpl"),
			       (unsigned long long)cmd_u64(doc, i, "l"));
	}
	printf("  code at rip: %s\n", *cmd_str(doc, data, "code") ?
					      cmd_str(doc, data, "code") :
					      "not in guest RAM");
}

int cmd_debug(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "regs", no_argument, NULL, 'r' },
		{ "nmi", no_argument, NULL, 'n' },
		{ "sysrq", required_argument, NULL, 's' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_request req = { .cpu = -1 };
	struct json_doc doc;
	bool json = false;
	int c, data, actions = 0;
	uint64_t v;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "rns:c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			req.cmd = CTL_CMD_REGS;
			actions++;
			break;
		case 'n':
			req.cmd = CTL_CMD_NMI;
			actions++;
			break;
		case 's':
			if (!ctl_sysrq_key_valid(optarg)) {
				log_error("debug: --sysrq '%s': one printable character",
					  optarg);
				return 1;
			}
			req.cmd = CTL_CMD_SYSRQ;
			req.key = optarg[0];
			actions++;
			break;
		case 'c':
			if (parse_u64(optarg, &v) || v > CTL_MAX_CPU) {
				log_error("debug: --cpu '%s': a vCPU index", optarg);
				return 1;
			}
			req.cpu = (int)v;
			break;
		case 'j':
			json = true;
			break;
		default:
			debug_usage(c == 'h' ? stdout : stderr);
			return c == 'h' ? 0 : 1;
		}
	}
	if (optind != argc - 1 || actions != 1) {
		debug_usage(stderr);
		return 1;
	}
	data = cmd_ctl_call("debug", argv[optind], &req, &doc);
	if (data < 0)
		return 1;
	if (json)
		cmd_print_json(&doc, data);
	else if (req.cmd == CTL_CMD_REGS)
		print_regs(&doc, data);
	else
		printf("%s: %s sent\n", argv[optind],
		       req.cmd == CTL_CMD_NMI ? "NMI" : "sysrq");
	json_free(&doc);
	return 0;
}
