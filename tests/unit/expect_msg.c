// SPDX-License-Identifier: GPL-2.0-only
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "expect_msg.h"

void expect_accepted(const char *what, int rc, const struct kb_err *err)
{
	if (rc)
		fail_msg("'%s' refused: %s", what, err->msg);
}

void expect_refused_v(const char *what, const char *prefix, int rc,
		      const struct kb_err *err, int n, va_list ap)
{
	if (rc >= 0)
		fail_msg("'%s' accepted", what);
	assert_true(err->code < 0);
	if (strncmp(err->msg, prefix, strlen(prefix)))
		fail_msg("'%s': message '%s' does not start with '%s'", what, err->msg,
			 prefix);
	for (int i = 0; i < n; i++) {
		const char *w = va_arg(ap, const char *);

		if (!strstr(err->msg, w))
			fail_msg("'%s': message '%s' does not name '%s'", what, err->msg,
				 w);
	}
}

void expect_refused(const char *what, const char *prefix, int rc,
		    const struct kb_err *err, int n, ...)
{
	va_list ap;

	va_start(ap, n);
	expect_refused_v(what, prefix, rc, err, n, ap);
	va_end(ap);
}
