// SPDX-License-Identifier: GPL-2.0-only
/* The control protocol's requests and replies (docs/control.md). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "control/protocol.h"

static const char *const cmd_names[] = {
	[CTL_CMD_INFO] = "info",   [CTL_CMD_STOP] = "stop",
	[CTL_CMD_PAUSE] = "pause", [CTL_CMD_RESUME] = "resume",
	[CTL_CMD_STAT] = "stat",   [CTL_CMD_BALLOON] = "balloon",
	[CTL_CMD_REGS] = "regs",   [CTL_CMD_NMI] = "nmi",
	[CTL_CMD_SYSRQ] = "sysrq",
};

#define NR_CMDS (sizeof(cmd_names) / sizeof(cmd_names[0]))

const char *ctl_cmd_name(enum ctl_cmd cmd)
{
	return (unsigned int)cmd < NR_CMDS ? cmd_names[cmd] : "?";
}

bool ctl_sysrq_key_valid(const char *s)
{
	return s[0] >= 0x21 && s[0] <= 0x7e && !s[1];
}

static int set_err(struct ctl_error *e, const char *code, const char *fmt,
		   const char *arg)
{
	e->code = code;
	snprintf(e->message, sizeof(e->message), fmt, arg);
	return -EINVAL;
}

/* Members each command accepts besides version and cmd. */
static bool member_allowed(enum ctl_cmd cmd, const char *key)
{
	switch (cmd) {
	case CTL_CMD_STOP:
		return !strcmp(key, "force");
	case CTL_CMD_BALLOON:
		return !strcmp(key, "target");
	case CTL_CMD_REGS:
	case CTL_CMD_NMI:
		return !strcmp(key, "cpu");
	case CTL_CMD_SYSRQ:
		return !strcmp(key, "key");
	default:
		return false;
	}
}

static int parse_args(const struct json_doc *doc, struct ctl_request *req,
		      struct ctl_error *e)
{
	const struct json_node *n;

	for (int i = doc->nodes[0].child; i >= 0; i = doc->nodes[i].next) {
		const char *key = doc->nodes[i].key;

		if (!strcmp(key, "version") || !strcmp(key, "cmd"))
			continue;
		if (!member_allowed(req->cmd, key))
			return set_err(e, CTL_E_ARGUMENT, "unknown member '%.60s'", key);
	}
	n = json_get(doc, 0, "force");
	if (n) {
		if (n->type != JSON_BOOL)
			return set_err(e, CTL_E_ARGUMENT, "%s must be true or false",
				       "force");
		req->force = n->b;
	}
	n = json_get(doc, 0, "cpu");
	if (n) {
		if (n->type != JSON_NUMBER || !n->is_uint || n->u > CTL_MAX_CPU)
			return set_err(e, CTL_E_ARGUMENT, "%s must be a vCPU index",
				       "cpu");
		req->cpu = (int)n->u;
	}
	n = json_get(doc, 0, "target");
	if (req->cmd == CTL_CMD_BALLOON) {
		if (!n || n->type != JSON_NUMBER || !n->is_uint)
			return set_err(e, CTL_E_ARGUMENT, "%s: a size in bytes is needed",
				       "target");
		req->target = n->u;
	}
	n = json_get(doc, 0, "key");
	if (req->cmd == CTL_CMD_SYSRQ) {
		if (!n || n->type != JSON_STRING || !ctl_sysrq_key_valid(n->str))
			return set_err(e, CTL_E_ARGUMENT, "%s: one printable character",
				       "key");
		req->key = n->str[0];
	}
	return 0;
}

int ctl_parse_request(const char *line, size_t len, struct ctl_request *req,
		      struct ctl_error *e)
{
	const struct json_node *v, *c;
	struct json_doc doc;
	size_t pos = 0;
	int ret;

	memset(req, 0, sizeof(*req));
	req->cpu = -1;
	if (len >= CTL_MAX_REQUEST)
		return set_err(e, CTL_E_TOO_LONG, "request longer than %s bytes", "4095");
	ret = json_parse(&doc, line, len, &pos);
	if (ret == -E2BIG)
		return set_err(e, CTL_E_PARSE, "%s", "request nested too deeply");
	if (ret) {
		char at[24];

		snprintf(at, sizeof(at), "%zu", pos);
		return set_err(e, CTL_E_PARSE, "not valid JSON (at byte %s)", at);
	}
	ret = -EINVAL;
	if (doc.nodes[0].type != JSON_OBJECT) {
		set_err(e, CTL_E_REQUEST, "%s", "a request is a JSON object");
		goto out;
	}
	v = json_get(&doc, 0, "version");
	if (!v || v->type != JSON_NUMBER) {
		set_err(e, CTL_E_VERSION, "%s",
			"missing \"version\" (this is version 1)");
		goto out;
	}
	if (!v->is_uint || v->u != CTL_VERSION) {
		set_err(e, CTL_E_VERSION, "%s",
			"unsupported version (this is version 1)");
		goto out;
	}
	c = json_get(&doc, 0, "cmd");
	if (!c || c->type != JSON_STRING) {
		set_err(e, CTL_E_REQUEST, "%s", "missing \"cmd\"");
		goto out;
	}
	for (size_t i = 0; i < NR_CMDS; i++) {
		if (!strcmp(c->str, cmd_names[i])) {
			req->cmd = (enum ctl_cmd)i;
			ret = parse_args(&doc, req, e);
			goto out;
		}
	}
	set_err(e, CTL_E_UNKNOWN, "unknown command '%.60s'", c->str);
out:
	json_free(&doc);
	return ret;
}

static void end_line(struct json_writer *w)
{
	jw_obj_end(w);
	jw_newline(w);
}

void ctl_write_request(struct json_writer *w, const struct ctl_request *req)
{
	char key[2] = { req->key, 0 };

	jw_obj_begin(w, NULL);
	jw_u64(w, "version", CTL_VERSION);
	jw_str(w, "cmd", ctl_cmd_name(req->cmd));
	if (req->cmd == CTL_CMD_STOP)
		jw_bool(w, "force", req->force);
	if ((req->cmd == CTL_CMD_REGS || req->cmd == CTL_CMD_NMI) && req->cpu >= 0)
		jw_u64(w, "cpu", (uint64_t)req->cpu);
	if (req->cmd == CTL_CMD_BALLOON)
		jw_u64(w, "target", req->target);
	if (req->cmd == CTL_CMD_SYSRQ)
		jw_str(w, "key", key);
	end_line(w);
}

void ctl_reply_begin(struct json_writer *w)
{
	jw_obj_begin(w, NULL);
	jw_u64(w, "version", CTL_VERSION);
	jw_bool(w, "ok", true);
	jw_obj_begin(w, "data");
}

void ctl_reply_end(struct json_writer *w)
{
	jw_obj_end(w);
	end_line(w);
}

void ctl_reply_error(struct json_writer *w, const char *code, const char *message)
{
	w->len = 0;
	w->overflow = false;
	w->depth = 0;
	w->first[0] = true;
	jw_obj_begin(w, NULL);
	jw_u64(w, "version", CTL_VERSION);
	jw_bool(w, "ok", false);
	jw_obj_begin(w, "error");
	jw_str(w, "code", code);
	jw_str(w, "message", message);
	jw_obj_end(w);
	end_line(w);
}

int ctl_check_reply(const struct json_doc *doc, const char **code, const char **message)
{
	const struct json_node *v = json_get(doc, 0, "version");
	const struct json_node *ok = json_get(doc, 0, "ok");
	const struct json_node *n;

	if (!v || v->type != JSON_NUMBER || !v->is_uint || v->u != CTL_VERSION || !ok ||
	    ok->type != JSON_BOOL)
		return -EPROTO;
	if (ok->b) {
		n = json_get(doc, 0, "data");
		return n ? json_index(doc, n) : -EPROTO;
	}
	n = json_get(doc, 0, "error");
	*code = "?";
	*message = "?";
	if (n) {
		const struct json_node *c = json_get(doc, json_index(doc, n), "code");
		const struct json_node *m = json_get(doc, json_index(doc, n), "message");

		if (c && c->type == JSON_STRING)
			*code = c->str;
		if (m && m->type == JSON_STRING)
			*message = m->str;
	}
	return -EREMOTEIO;
}
