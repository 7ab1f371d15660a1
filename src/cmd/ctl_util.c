// SPDX-License-Identifier: GPL-2.0-only
/* Shared by the subcommands that talk to a running VM. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cmd/ctl_util.h"
#include "control/protocol.h"
#include "util/log.h"

int cmd_ctl_call(const char *cmd, const char *name, const struct ctl_request *req,
		 struct json_doc *doc)
{
	struct kb_err err = { 0 };
	int ret = ctl_call(name, req, CMD_CTL_TIMEOUT_MS, doc, &err);

	if (ret < 0) {
		log_error("%s: %s%s%s", cmd, ret == -ENOENT ? "" : name,
			  ret == -ENOENT ? "" : ": ", err.msg);
		return -1;
	}
	return ret;
}

void cmd_print_json(const struct json_doc *doc, int idx)
{
	struct json_writer w;

	jw_init(&w, CTL_MAX_REPLY);
	jw_node(&w, NULL, doc, idx);
	if (!w.overflow)
		printf("%s\n", w.buf);
	jw_free(&w);
}

uint64_t cmd_u64(const struct json_doc *doc, int obj, const char *key)
{
	const struct json_node *n = json_get(doc, obj, key);

	return n && n->type == JSON_NUMBER && n->is_uint ? n->u : 0;
}

const char *cmd_str(const struct json_doc *doc, int obj, const char *key)
{
	const struct json_node *n = json_get(doc, obj, key);

	return n && n->type == JSON_STRING ? n->str : "";
}

int cmd_obj(const struct json_doc *doc, int obj, const char *key)
{
	const struct json_node *n = json_get(doc, obj, key);

	return n && (n->type == JSON_OBJECT || n->type == JSON_ARRAY) ?
		       json_index(doc, n) :
		       -1;
}

void cmd_print_counts(const struct json_doc *doc, int obj, const char *indent, int width)
{
	for (int i = obj >= 0 ? doc->nodes[obj].child : -1; i >= 0;
	     i = doc->nodes[i].next)
		if (doc->nodes[i].type == JSON_NUMBER)
			printf("%s%-*s %llu\n", indent, width, doc->nodes[i].key,
			       (unsigned long long)doc->nodes[i].u);
}

const char *cmd_fmt_bytes(uint64_t v, char *buf, size_t len)
{
	if (v >= (1ULL << 30))
		snprintf(buf, len, "%.1f GiB", (double)v / (1ULL << 30));
	else if (v >= (1ULL << 20))
		snprintf(buf, len, "%.1f MiB", (double)v / (1ULL << 20));
	else if (v >= 1024)
		snprintf(buf, len, "%.1f KiB", (double)v / 1024);
	else
		snprintf(buf, len, "%llu B", (unsigned long long)v);
	return buf;
}

const char *cmd_fmt_duration(uint64_t ms, char *buf, size_t len)
{
	uint64_t s = ms / 1000;

	if (s >= 86400)
		snprintf(buf, len, "%llud %lluh", (unsigned long long)(s / 86400),
			 (unsigned long long)(s % 86400 / 3600));
	else if (s >= 3600)
		snprintf(buf, len, "%lluh %llum", (unsigned long long)(s / 3600),
			 (unsigned long long)(s % 3600 / 60));
	else if (s >= 60)
		snprintf(buf, len, "%llum %llus", (unsigned long long)(s / 60),
			 (unsigned long long)(s % 60));
	else
		snprintf(buf, len, "%llus", (unsigned long long)s);
	return buf;
}
