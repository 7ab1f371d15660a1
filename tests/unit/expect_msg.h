/* SPDX-License-Identifier: GPL-2.0-only */
/* Checks on what a parser returned and the message in its struct kb_err. */
#ifndef KVMBOX_TESTS_EXPECT_MSG_H
#define KVMBOX_TESTS_EXPECT_MSG_H

#include <stdarg.h>

#include "util/err.h"

/* Fails the test unless @rc is 0; @what is the input, @err says why not. */
void expect_accepted(const char *what, int rc, const struct kb_err *err);
/*
 * Fails the test unless @what was refused: @rc and err->code negative,
 * err->msg starting with @prefix and holding each of the @n words that
 * follow.
 */
void expect_refused(const char *what, const char *prefix, int rc,
		    const struct kb_err *err, int n, ...);
void expect_refused_v(const char *what, const char *prefix, int rc,
		      const struct kb_err *err, int n, va_list ap);

/*
 * Defines, for int @parse(const char *s, @type *out, struct kb_err *err):
 *   parse_ok(s, out): @s is accepted;
 *   parse_bad(s, n, ...): @s is refused, the message starting with
 *   @prefix and holding each of the @n words that follow.
 */
#define DEFINE_PARSE_CHECKS(type, parse, prefix)                                \
	static void parse_ok(const char *s, type *out)                          \
	{                                                                       \
		struct kb_err err = { 0 };                                      \
                                                                                \
		expect_accepted(s, parse(s, out, &err), &err);                  \
	}                                                                       \
                                                                                \
	static void parse_bad(const char *s, int n, ...)                        \
	{                                                                       \
		struct kb_err err = { 0 };                                      \
		type out;                                                       \
		va_list ap;                                                     \
                                                                                \
		va_start(ap, n);                                                \
		expect_refused_v(s, prefix, parse(s, &out, &err), &err, n, ap); \
		va_end(ap);                                                     \
	}

#endif
