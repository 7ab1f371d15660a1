// SPDX-License-Identifier: GPL-2.0-only
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/term.h"

#define CTRL_A 0x01

/* Kept for the fatal-signal handler, which can reach nothing else. */
static struct termios saved_termios;
static int saved_fd = -1;

static void restore_saved(void)
{
	if (saved_fd >= 0)
		tcsetattr(saved_fd, TCSANOW, &saved_termios);
}

static void fatal_signal(int sig)
{
	restore_saved();
	signal(sig, SIG_DFL);
	raise(sig);
}

void term_init(struct term *t, int in_fd)
{
	memset(t, 0, sizeof(*t));
	t->in_fd = in_fd;
}

int term_raw_enter(struct term *t)
{
	static const int fatal[] = { SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGQUIT };
	struct termios raw;

	if (!isatty(t->in_fd))
		return 0;
	if (tcgetattr(t->in_fd, &saved_termios) < 0)
		return -1;
	saved_fd = t->in_fd;
	atexit(restore_saved);
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		signal(fatal[i], fatal_signal);
	raw = saved_termios;
	cfmakeraw(&raw);
	/* Keep output processing so our own messages start on a new line. */
	raw.c_oflag |= OPOST | ONLCR;
	if (tcsetattr(t->in_fd, TCSANOW, &raw) < 0)
		return -1;
	t->raw = true;
	return 0;
}

void term_restore(struct term *t)
{
	if (t->raw)
		restore_saved();
	t->raw = false;
}

enum term_action term_filter(struct term *t, const uint8_t *in, size_t len, uint8_t *out,
			     size_t *out_len)
{
	enum term_action action = TERM_NONE;
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		uint8_t c = in[i];

		if (!t->escape) {
			if (c == CTRL_A)
				t->escape = true;
			else
				out[n++] = c;
			continue;
		}
		t->escape = false;
		switch (c) {
		case 'x':
		case 'X':
			if (action == TERM_NONE)
				action = TERM_QUIT;
			break;
		case 'b':
		case 'B':
			if (action == TERM_NONE)
				action = TERM_BREAK;
			break;
		case CTRL_A:
			out[n++] = CTRL_A;
			break;
		case 'h':
		case 'H':
		case '?':
			fprintf(stderr,
				"\r\nkvmbox console: Ctrl-A x quit, Ctrl-A b send break, "
				"Ctrl-A Ctrl-A send Ctrl-A\r\n");
			break;
		default:
			break;
		}
	}
	*out_len = n;
	return action;
}
