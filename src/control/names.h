/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_CONTROL_NAMES_H
#define KVMBOX_CONTROL_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

/*
 * Where VMs' control sockets live and how names map to them:
 *   $KVMBOX_RUNTIME_DIR if set (tests), else $XDG_RUNTIME_DIR/kvmbox, else
 *   /run/kvmbox for root, else /tmp/kvmbox-UID.
 * The directory is created with mode 0700 and must belong to the user.
 * Each running VM NAME listens on DIR/NAME.sock (mode 0600). A socket whose
 * connect() is refused is stale (its VM was killed) and is removed. Claims
 * and stale removals hold an flock on DIR/.lock so that two kvmbox
 * processes cannot both take one name.
 */
#define CTL_NAME_MAX 64
#define CTL_PATH_MAX 108 /* sun_path */

/* Letters, digits, '.', '_' and '-'; 1 to CTL_NAME_MAX chars; no leading '.'. */
bool ctl_name_valid(const char *name);
/* The socket directory; created if @create. */
int ctl_dir(char *buf, size_t len, bool create, struct kb_err *err);
/* DIR/NAME.sock; -ENAMETOOLONG if it does not fit a unix socket address. */
int ctl_socket_path(const char *dir, const char *name, char *buf, size_t len);
/*
 * Claims @name: removes a stale socket, refuses (-EADDRINUSE) a live one,
 * binds and listens. Returns the listening fd (non-blocking, close-on-exec)
 * and the path in @path. With @name empty, generates "vm-PID" (adding -2,
 * -3... if taken) and writes it back into @name (CTL_NAME_MAX + 1 bytes).
 */
int ctl_claim(const char *dir, char *name, char *path, size_t path_len,
	      struct kb_err *err);
/* Connects to the socket @path: the fd, or -errno (-ECONNREFUSED: stale). */
int ctl_connect(const char *path);
/* 0 if a VM answers on @path (connect works), -ECONNREFUSED if stale,
 * -ENOENT if absent, another -errno otherwise. */
int ctl_probe(const char *path);
/* Removes @path if it is stale (under the directory lock). Returns true if
 * it removed it. */
bool ctl_remove_if_stale(const char *dir, const char *path);

#endif
