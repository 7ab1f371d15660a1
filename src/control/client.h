/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_CONTROL_CLIENT_H
#define KVMBOX_CONTROL_CLIENT_H

#include "control/json.h"
#include "control/names.h"
#include "control/protocol.h"
#include "util/err.h"

/* Connects to VM @name's socket (ctl_connect() is in names.h), removing
 * it if stale: the fd, or -errno with @err set (-ENOENT: no such VM). */
int ctl_open(const char *name, struct kb_err *err);
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
