// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "devices/serial.h"
#include "util/log.h"
#include "virtio/console.h"
#include "util/term.h"
#include "vm/console.h"
#include "vm/vm.h"

/*
 * With panic=-1 a panicking Linux resets at once, which on its own would
 * look like a reboot. Guests without a pvpanic driver still print this
 * banner on the console first, so kvmbox watches for it.
 */
static const char panic_banner[] = "Kernel panic - not syncing";

bool console_watch_panic(int *state, const uint8_t *buf, size_t len)
{
	const size_t n = sizeof(panic_banner) - 1;
	bool seen = false;

	for (size_t i = 0; i < len; i++) {
		int s = *state;

		/* The banner has no repeated prefix, so restarting is exact. */
		if (buf[i] == (uint8_t)panic_banner[s])
			s++;
		else
			s = buf[i] == (uint8_t)panic_banner[0];
		if ((size_t)s == n) {
			seen = true;
			s = 0;
		}
		*state = s;
	}
	return seen;
}

static void console_output(struct vm *vm, int *match, const uint8_t *buf, size_t len)
{
	if (console_watch_panic(match, buf, len))
		atomic_store(&vm->guest_panicked, true);
	while (len) {
		ssize_t n = write(STDOUT_FILENO, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* stdout gone: the guest runs on without a console */
		buf += n;
		len -= n;
	}
}

void console_output_serial(void *ctx, const uint8_t *buf, size_t len)
{
	struct vm *vm = ctx;

	console_output(vm, &vm->serial_panic_match, buf, len);
}

void console_output_virtio(void *ctx, const uint8_t *buf, size_t len)
{
	struct vm *vm = ctx;

	console_output(vm, &vm->virtio_panic_match, buf, len);
}

size_t console_input_room(struct vm *vm)
{
	if (vm->virtio_console)
		return virtio_console_rx_space(vm->virtio_console);
	return serial_rx_space(vm->serial);
}

int console_input(struct vm *vm, struct term *term)
{
	uint8_t in[256], out[256];
	size_t room = console_input_room(vm);
	size_t out_len;
	ssize_t n;

	/* Read only what the UART can take: the rest waits in the tty. */
	if (room > sizeof(in))
		room = sizeof(in);
	if (!room)
		return 1;
	n = read(term->in_fd, in, room);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : -1;
	if (n == 0)
		return 0;
	switch (term_filter(term, in, n, out, &out_len)) {
	case TERM_QUIT:
		vm_request_stop(vm, VM_STOP_USER, 0);
		break;
	case TERM_BREAK:
		/* A break exists on a serial line only. */
		if (!vm->virtio_console)
			serial_send_break(vm->serial);
		break;
	case TERM_NONE:
		break;
	}
	if (out_len && vm->virtio_console)
		virtio_console_receive(vm->virtio_console, out, out_len);
	else if (out_len)
		serial_receive(vm->serial, out, out_len);
	return 1;
}
