// SPDX-License-Identifier: GPL-2.0-only
/* net_backend_open(): one -n spec to its backend. */
#include <errno.h>

#include "net/backend.h"

struct net_backend *net_backend_open(const struct net_spec *spec, struct event_loop *loop,
				     struct kb_err *err)
{
	switch (spec->kind) {
	case NET_TAP:
		return net_tap_open(spec, loop, err);
	case NET_USER:
		return net_user_open(spec, loop, err);
	case NET_NONE:
		break;
	}
	kb_err_set(err, -EINVAL, "-n none: no backend to open");
	return NULL;
}
