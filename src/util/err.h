/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_UTIL_ERR_H
#define KVMBOX_UTIL_ERR_H

/*
 * Errors are values: a function returns 0 or a negative errno and, when the
 * caller passed a struct kb_err, a message with the context it knows
 * (file, option, field). The top level (cmd/) prints it once.
 */
struct kb_err {
	int code;
	char msg[512];
};

/* Formats the message into @e (if non-NULL) and returns @code (negative). */
int kb_err_set(struct kb_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefixes the existing message with more context ("file: ..."). */
int kb_err_prefix(struct kb_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
