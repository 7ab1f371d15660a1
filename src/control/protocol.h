/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_CONTROL_PROTOCOL_H
#define KVMBOX_CONTROL_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "control/json.h"

/*
 * The control protocol, version 1 (docs/control.md): JSON lines over a unix
 * stream socket. Each request is one JSON object on one line,
 *   {"version":1,"cmd":"stat"}
 * and gets exactly one reply line, in order:
 *   {"version":1,"ok":true,"data":{...}}
 *   {"version":1,"ok":false,"error":{"code":"bad_request","message":"..."}}
 */
#define CTL_VERSION 1
#define CTL_MAX_REQUEST 4096 /* bytes in a request line, newline included */
#define CTL_MAX_REPLY (256 * 1024)

enum ctl_cmd {
	CTL_CMD_INFO,
	CTL_CMD_STOP,
	CTL_CMD_PAUSE,
	CTL_CMD_RESUME,
	CTL_CMD_STAT,
	CTL_CMD_BALLOON,
	CTL_CMD_REGS,
	CTL_CMD_NMI,
	CTL_CMD_SYSRQ,
};

#define CTL_MAX_CPU 1024 /* the largest vCPU index a request may name */

struct ctl_request {
	enum ctl_cmd cmd;
	bool force; /* stop */
	int cpu; /* regs, nmi: vCPU index, -1 when not given */
	uint64_t target; /* balloon: guest memory size wanted, bytes */
	char key; /* sysrq */
};

/* Error codes of replies (the "code" member), see docs/control.md. */
#define CTL_E_PARSE "parse_error"
#define CTL_E_TOO_LONG "too_long"
#define CTL_E_VERSION "bad_version"
#define CTL_E_REQUEST "bad_request"
#define CTL_E_UNKNOWN "unknown_command"
#define CTL_E_ARGUMENT "bad_argument"
#define CTL_E_STATE "bad_state"
#define CTL_E_UNSUPPORTED "not_supported"
#define CTL_E_FAILED "failed"
#define CTL_E_BUSY "busy"

struct ctl_error {
	const char *code;
	char message[160];
};

const char *ctl_cmd_name(enum ctl_cmd cmd);
/* A sysrq key: one printable ASCII character other than space. */
bool ctl_sysrq_key_valid(const char *s);

/* Parses one request line (without its newline). Returns 0, or -EINVAL
 * with @e filled for the error reply. */
int ctl_parse_request(const char *line, size_t len, struct ctl_request *req,
		      struct ctl_error *e);
/* Writes a request line (with its newline) into @w. */
void ctl_write_request(struct json_writer *w, const struct ctl_request *req);

/* Replies: begin opens the "data" object, end closes it and adds the
 * newline. On overflow of the writer, the caller sends an error instead. */
void ctl_reply_begin(struct json_writer *w);
void ctl_reply_end(struct json_writer *w);
void ctl_reply_error(struct json_writer *w, const char *code, const char *message);

/*
 * Client side: checks a reply document. Returns the index of its "data"
 * node (0 or more), or -EPROTO (not a reply of this version) or -EREMOTEIO
 * (an error reply: *code and *message point into @doc).
 */
int ctl_check_reply(const struct json_doc *doc, const char **code, const char **message);

#endif
