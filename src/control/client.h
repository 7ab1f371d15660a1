/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_CONTROL_CLIENT_H
#define KVMBOX_CONTROL_CLIENT_H

#include "control/json.h"
#include "control/protocol.h"
#include "util/err.h"

/* Connects to a VM's socket: the fd, or -errno (-ECONNREFUSED: stale). */
int ctl_connect(const char *path);
/*
 * Sends @req on @fd and reads one reply line within @timeout_ms. Returns the
 * index of the reply's "data" node in @reply (free it with json_free()), or
 * a negative errno with @err set (an error reply: -EREMOTEIO, its code and
 * message in @err's text).
 */
int ctl_call_fd(int fd, const struct ctl_request *req, int timeout_ms,
		struct json_doc *reply, struct kb_err *err);
/* The same, connecting to VM @name's socket first (and closing it after). */
int ctl_call(const char *name, const struct ctl_request *req, int timeout_ms,
	     struct json_doc *reply, struct kb_err *err);
/* Waits up to @timeout_ms for the server to close @fd (the VM exited).
 * Returns 0 when it did, -ETIMEDOUT otherwise. */
int ctl_wait_closed(int fd, int timeout_ms);

#endif
