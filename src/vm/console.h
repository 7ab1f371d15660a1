/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_VM_CONSOLE_H
#define KVMBOX_VM_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

struct vm;
struct term;

/* Guest console output, to stdout, watched for a panic: from the serial
 * port (vCPU threads) and from virtio-console (event-loop thread). */
void console_output_serial(void *vm, const uint8_t *buf, size_t len);
void console_output_virtio(void *vm, const uint8_t *buf, size_t len);
/* Bytes of input the guest console can take now. */
size_t console_input_room(struct vm *vm);
/* Reads the host terminal and feeds the guest console; <= 0 on EOF. */
int console_input(struct vm *vm, struct term *term);

/* Panic watch, exposed for unit tests: feeds @len bytes and returns true
 * once the guest has printed the kernel's panic banner. *state carries
 * the partial match across calls. */
bool console_watch_panic(int *state, const uint8_t *buf, size_t len);

#endif
