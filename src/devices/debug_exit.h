/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_DEVICES_DEBUG_EXIT_H
#define KVMBOX_DEVICES_DEBUG_EXIT_H

#include <stdint.h>

#include "vm/bus.h"

/*
 * A 4-port-wide "exit" port for test guests (0x501 by convention): a write
 * of 1, 2 or 4 bytes calls @exit with the low byte of the value as the exit
 * status (0-255). Reads return 0. @exit runs on the writing vCPU's thread,
 * once per write; what it does (stop the VM, record the status) is up to
 * the VM code.
 */
struct debug_exit;

#define DEBUG_EXIT_PORT 0x501
#define DEBUG_EXIT_NR_PORTS 4

/* NULL on allocation failure. */
struct debug_exit *debug_exit_create(void (*exit)(void *ctx, int code), void *ctx);
/* Unregisters from the bus it was attached to; call before bus_destroy(). */
void debug_exit_destroy(struct debug_exit *d);
/* Claims ports [port, port + 4). */
int debug_exit_attach(struct debug_exit *d, struct bus *pio, uint16_t port);

#endif
