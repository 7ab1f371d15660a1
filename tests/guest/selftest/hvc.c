// SPDX-License-Identifier: GPL-2.0-only
/*
 * virtio console check: hvc0 is a registered console, and a line written to
 * it directly reaches the host (which looks for it on its stdout).
 */
#include <linux/console.h>
#include <linux/string.h>

#include "selftest.h"

#define KST_HVC_LINE "KVMBOX-SELFTEST-HVC0 hello from hvc0\n"

bool __init kst_check_hvc(struct kst_result *res)
{
	struct console *con;
	bool found = false;

	console_lock();
	for (con = console_drivers; con; con = con->next) {
		if (strcmp(con->name, "hvc") || con->index != 0 ||
		    !(con->flags & CON_ENABLED))
			continue;
		found = true;
		if (con->write)
			con->write(con, KST_HVC_LINE, strlen(KST_HVC_LINE));
	}
	console_unlock();
	if (!found)
		return kst_fail(res, "no enabled hvc0 console (virtio-console missing?)");
	return kst_pass(res, "wrote a line to hvc0");
}
