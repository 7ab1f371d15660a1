/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_UTIL_LOG_H
#define KVMBOX_UTIL_LOG_H

/* Diagnostics go to stderr, prefixed "kvmbox: "; guest console output goes
 * to stdout. Debug lines only with KVMBOX_DEBUG=1 or --verbose. */
extern int log_verbose;

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
