/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_DEVICES_I8042_H
#define KVMBOX_DEVICES_I8042_H

#include <stdint.h>

#include "vm/bus.h"
#include "vm/irq.h"

/*
 * An 8042 keyboard controller on ports 0x60 (data) and 0x64 (status and
 * command), with a keyboard that answers commands but never types, and no
 * AUX (mouse) device. Its main job is the reset line: command 0xfe (or any
 * 0xf0-0xff pulse with bit 0 clear) and an output port write (0xd1) with
 * bit 0 clear call @reset. Port 0x61 is not claimed (KVM's PIT owns it).
 * @reset is called from a vCPU thread without the device lock held.
 */
struct i8042;

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64

/* Status register (read 0x64). */
#define I8042_STR_OBF 0x01
#define I8042_STR_IBF 0x02
#define I8042_STR_SYSFLAG 0x04
#define I8042_STR_CMDDAT 0x08
#define I8042_STR_KEYLOCK 0x10 /* 1: not inhibited */
#define I8042_STR_AUXDATA 0x20
#define I8042_STR_TIMEOUT 0x40
#define I8042_STR_PARITY 0x80

/* Controller configuration byte (commands 0x20/0x60). */
#define I8042_CTR_KBDINT 0x01
#define I8042_CTR_AUXINT 0x02
#define I8042_CTR_SYSFLAG 0x04
#define I8042_CTR_IGNKEYLOCK 0x08
#define I8042_CTR_KBDDIS 0x10
#define I8042_CTR_AUXDIS 0x20
#define I8042_CTR_XLATE 0x40

/* NULL on allocation failure. */
struct i8042 *i8042_create(struct irq_line kbd_irq, void (*reset)(void *ctx), void *ctx);
/* Unregisters from the bus it was attached to; call before bus_destroy(). */
void i8042_destroy(struct i8042 *k);
int i8042_attach(struct i8042 *k, struct bus *pio);

/*
 * Types Ctrl-Alt-Del on the keyboard (any thread): the make and break codes
 * in the scan code set the guest reads (set 1 with translation on, else set
 * 2). -ENODEV while the guest has keyboard scanning or its interface
 * disabled, -EAGAIN while the output queue lacks room.
 */
int i8042_send_ctrl_alt_del(struct i8042 *k);

#endif
