/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_UTIL_TERM_H
#define KVMBOX_UTIL_TERM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <termios.h>

/*
 * The host terminal as the guest console: stdin in raw mode when it is a
 * terminal (restored on every exit path, fatal signals included), and the
 * escape key Ctrl-A: "Ctrl-A x" quits, "Ctrl-A b" sends a break,
 * "Ctrl-A Ctrl-A" sends a Ctrl-A, "Ctrl-A h" prints help.
 */
struct term {
	int in_fd;
	bool raw; /* stdin was switched to raw mode */
	bool escape; /* the previous byte was Ctrl-A */
};

enum term_action { TERM_NONE, TERM_QUIT, TERM_BREAK };

void term_init(struct term *t, int in_fd);
/* Switches to raw mode if in_fd is a terminal; installs restore handlers. */
int term_raw_enter(struct term *t);
void term_restore(struct term *t);

/*
 * Filters host input: bytes for the guest are copied to @out (*out_len),
 * and the first escape command met, if any, is returned.
 */
enum term_action term_filter(struct term *t, const uint8_t *in, size_t len, uint8_t *out,
			     size_t *out_len);

#endif
