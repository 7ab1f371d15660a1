/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_CONTROL_SERVER_H
#define KVMBOX_CONTROL_SERVER_H

#include "control/json.h"
#include "control/protocol.h"
#include "util/err.h"

/*
 * The control server: one thread polling the listening socket and up to
 * CTL_MAX_CLIENTS non-blocking clients, each with its own input and output
 * buffers. A client's requests are answered in order, one at a time: the
 * next line is not read before the previous reply is written, so a client
 * that does not read its replies only stalls itself. A request line longer
 * than CTL_MAX_REQUEST gets a too_long error (the rest of the line is
 * skipped); a client idle with a partial request or an unsent reply for
 * CTL_CLIENT_TIMEOUT_MS is dropped. Requests are handled on the server
 * thread by @handle, which writes the reply with ctl_reply_*().
 */
#define CTL_MAX_CLIENTS 16
#define CTL_CLIENT_TIMEOUT_MS 10000

typedef void (*ctl_handler_fn)(void *ctx, const struct ctl_request *req,
			       struct json_writer *reply);

struct ctl_server;

/* Takes @listen_fd (non-blocking) and the socket @path it is bound to. */
struct ctl_server *ctl_server_start(int listen_fd, const char *path,
				    ctl_handler_fn handle, void *ctx, struct kb_err *err);
/* Removes the socket file first (no new VM client finds it), then stops
 * the thread and closes every connection. */
void ctl_server_stop(struct ctl_server *s);

#endif
