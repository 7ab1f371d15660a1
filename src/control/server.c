// SPDX-License-Identifier: GPL-2.0-only
/* The control server thread: poll, per-client buffers, one reply at a time. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control/server.h"
#include "util/clock.h"
#include "util/log.h"

struct ctl_client {
	int fd; /* -1: free slot */
	char in[CTL_MAX_REQUEST];
	size_t in_len;
	bool skipping; /* inside an oversized line: drop until its newline */
	char *out;
	size_t out_len, out_off;
	int64_t last_ms; /* last progress */
};

struct ctl_server {
	int listen_fd;
	int wake_fd;
	char path[128];
	ctl_handler_fn handle;
	void *ctx;
	pthread_t thread;
	struct ctl_client clients[CTL_MAX_CLIENTS];
};

static void drop(struct ctl_client *c)
{
	close(c->fd);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static void queue_reply(struct ctl_client *c, struct json_writer *w)
{
	if (w->overflow || !w->buf) {
		jw_free(w);
		jw_init(w, 1024);
		ctl_reply_error(w, CTL_E_FAILED, "reply too large or out of memory");
	}
	free(c->out);
	c->out = w->buf; /* the client owns the buffer now */
	c->out_len = w->len;
	c->out_off = 0;
	w->buf = NULL;
}

static void answer_line(struct ctl_server *s, struct ctl_client *c, const char *line,
			size_t len)
{
	struct ctl_request req;
	struct ctl_error e;
	struct json_writer w;

	jw_init(&w, CTL_MAX_REPLY);
	if (len && line[len - 1] == '\r')
		len--;
	if (ctl_parse_request(line, len, &req, &e))
		ctl_reply_error(&w, e.code, e.message);
	else
		s->handle(s->ctx, &req, &w);
	queue_reply(c, &w);
	jw_free(&w);
}

static void answer_too_long(struct ctl_client *c)
{
	struct json_writer w;

	jw_init(&w, 1024);
	ctl_reply_error(&w, CTL_E_TOO_LONG, "request line longer than 4095 bytes");
	queue_reply(c, &w);
	jw_free(&w);
}

/* Answers the next complete line in c->in, if any and if no reply is
 * pending. */
static void process_input(struct ctl_server *s, struct ctl_client *c)
{
	while (!c->out && c->in_len) {
		char *nl = memchr(c->in, '\n', c->in_len);
		size_t used;

		if (!nl) {
			if (c->in_len == sizeof(c->in)) {
				if (!c->skipping)
					answer_too_long(c);
				c->skipping = true;
				c->in_len = 0;
			}
			return;
		}
		used = (size_t)(nl - c->in) + 1;
		if (c->skipping)
			c->skipping = false;
		else
			answer_line(s, c, c->in, used - 1);
		memmove(c->in, c->in + used, c->in_len - used);
		c->in_len -= used;
	}
}

static void do_read(struct ctl_server *s, struct ctl_client *c)
{
	ssize_t n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		drop(c);
		return;
	}
	if (n > 0) {
		c->in_len += (size_t)n;
		c->last_ms = clock_mono_ms();
	}
	process_input(s, c);
}

static void do_write(struct ctl_server *s, struct ctl_client *c)
{
	ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
			 MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		drop(c);
		return;
	}
	c->last_ms = clock_mono_ms();
	c->out_off += (size_t)n;
	if (c->out_off == c->out_len) {
		free(c->out);
		c->out = NULL;
		process_input(s, c);
	}
}

static void do_accept(struct ctl_server *s)
{
	int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct json_writer w;

	if (fd < 0)
		return;
	for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
		if (s->clients[i].fd < 0) {
			s->clients[i].fd = fd;
			s->clients[i].last_ms = clock_mono_ms();
			return;
		}
	}
	/* Full: tell it so, without waiting for it to read. */
	jw_init(&w, 1024);
	ctl_reply_error(&w, CTL_E_BUSY, "too many control clients");
	if (!w.overflow && send(fd, w.buf, w.len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("control: busy reply: %s", strerror(errno));
	jw_free(&w);
	close(fd);
}

static void *server_thread(void *arg)
{
	struct ctl_server *s = arg;
	struct pollfd pfd[CTL_MAX_CLIENTS + 2];
	int map[CTL_MAX_CLIENTS + 2];

	pthread_setname_np(pthread_self(), "control");
	for (;;) {
		int n = 0, ret;
		int64_t now = clock_mono_ms();

		pfd[n++] = (struct pollfd){ .fd = s->wake_fd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = s->listen_fd, .events = POLLIN };
		for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
			struct ctl_client *c = &s->clients[i];

			if (c->fd < 0)
				continue;
			/* Stuck mid-request (an oversized one included) or
			 * mid-reply for too long: drop it. */
			if ((c->out || c->in_len || c->skipping) &&
			    now - c->last_ms > CTL_CLIENT_TIMEOUT_MS) {
				drop(c);
				continue;
			}
			map[n] = i;
			pfd[n++] = (struct pollfd){ .fd = c->fd,
						    .events = c->out ? POLLOUT : POLLIN };
		}
		ret = poll(pfd, n, 1000);
		if (ret < 0 && errno != EINTR)
			break;
		if (ret <= 0)
			continue;
		if (pfd[0].revents)
			break;
		if (pfd[1].revents & POLLIN)
			do_accept(s);
		for (int k = 2; k < n; k++) {
			struct ctl_client *c = &s->clients[map[k]];

			if (!pfd[k].revents || c->fd != pfd[k].fd)
				continue;
			if (c->out)
				do_write(s, c);
			else
				do_read(s, c);
		}
	}
	return NULL;
}

struct ctl_server *ctl_server_start(int listen_fd, const char *path,
				    ctl_handler_fn handle, void *ctx, struct kb_err *err)
{
	struct ctl_server *s = calloc(1, sizeof(*s));
	sigset_t all, old;
	int ret;

	if (!s) {
		kb_err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	s->listen_fd = listen_fd;
	snprintf(s->path, sizeof(s->path), "%s", path);
	s->handle = handle;
	s->ctx = ctx;
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		s->clients[i].fd = -1;
	s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->wake_fd < 0) {
		kb_err_set(err, -errno, "eventfd: %s", strerror(errno));
		free(s);
		return NULL;
	}
	/* Signals belong to the main thread (signalfd) and the vCPUs. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&s->thread, NULL, server_thread, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		kb_err_set(err, -ret, "cannot start the control thread: %s",
			   strerror(ret));
		close(s->wake_fd);
		free(s);
		return NULL;
	}
	return s;
}

void ctl_server_stop(struct ctl_server *s)
{
	uint64_t one = 1;

	if (!s)
		return;
	unlink(s->path);
	if (write(s->wake_fd, &one, sizeof(one)) < 0)
		log_debug("control: wake: %s", strerror(errno));
	pthread_join(s->thread, NULL);
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		if (s->clients[i].fd >= 0)
			drop(&s->clients[i]);
	close(s->listen_fd);
	close(s->wake_fd);
	free(s);
}
