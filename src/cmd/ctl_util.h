/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_CMD_CTL_UTIL_H
#define KVMBOX_CMD_CTL_UTIL_H

#include <stdbool.h>
#include <stdint.h>

#include "control/client.h"
#include "control/json.h"

#define CMD_CTL_TIMEOUT_MS 10000

/* Sends @req to VM @name; returns the reply's data index, or -1 after
 * printing "kvmbox CMD: error: ..." on stderr. */
int cmd_ctl_call(const char *cmd, const char *name, const struct ctl_request *req,
		 struct json_doc *doc);
/* Prints node @idx of @doc as one JSON line on stdout. */
void cmd_print_json(const struct json_doc *doc, int idx);
/* Member @key of object @obj: 0 / "" when absent or of another type. */
uint64_t cmd_u64(const struct json_doc *doc, int obj, const char *key);
const char *cmd_str(const struct json_doc *doc, int obj, const char *key);
int cmd_obj(const struct json_doc *doc, int obj, const char *key);
/* One line per number member of object @obj (none if @obj < 0):
 * @indent, the key padded to @width, the value. */
void cmd_print_counts(const struct json_doc *doc, int obj, const char *indent, int width);
/* "1.5 GiB", "512 MiB", "12 KiB" into @buf. */
const char *cmd_fmt_bytes(uint64_t v, char *buf, size_t len);
/* "3d 4h", "2h 5m", "4m 10s", "12s". */
const char *cmd_fmt_duration(uint64_t ms, char *buf, size_t len);

#endif
