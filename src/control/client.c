// SPDX-License-Identifier: GPL-2.0-only
/* The control client: one request, one reply, bounded in time and size. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control/client.h"
#include "control/names.h"
#include "util/clock.h"

/* Waits for @ev on @fd until @deadline; 0, or -ETIMEDOUT / -errno. */
static int wait_fd(int fd, short ev, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - clock_mono_ms();
		struct pollfd p = { .fd = fd, .events = ev };
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n > 0)
			return 0;
	}
}

static int send_all(int fd, const char *buf, size_t len, int64_t deadline)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			int ret = wait_fd(fd, POLLOUT, deadline);

			if (ret)
				return ret;
			continue;
		}
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads up to and without the first newline into a malloc'd buffer. */
static int read_line(int fd, char **out, size_t *out_len, int64_t deadline)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	int ret;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n;
		char *nl;

		ret = wait_fd(fd, POLLIN, deadline);
		if (ret)
			break;
		if (len == cap) {
			char *b;

			if (cap >= CTL_MAX_REPLY) {
				ret = -E2BIG;
				break;
			}
			b = realloc(buf, cap * 2);
			if (!b) {
				ret = -ENOMEM;
				break;
			}
			buf = b;
			cap *= 2;
		}
		n = recv(fd, buf + len, cap - len, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			ret = n ? -errno : -ECONNRESET;
			break;
		}
		nl = memchr(buf + len, '\n', (size_t)n);
		len += (size_t)n;
		if (nl) {
			*out = buf;
			*out_len = (size_t)(nl - buf);
			return 0;
		}
	}
	free(buf);
	return ret;
}

int ctl_call_fd(int fd, const struct ctl_request *req, int timeout_ms,
		struct json_doc *reply, struct kb_err *err)
{
	int64_t deadline = clock_mono_ms() + timeout_ms;
	const char *code, *message;
	struct json_writer w;
	char *line = NULL;
	size_t len = 0;
	int ret;

	memset(reply, 0, sizeof(*reply));
	jw_init(&w, CTL_MAX_REQUEST);
	ctl_write_request(&w, req);
	ret = w.overflow ? -E2BIG : send_all(fd, w.buf, w.len, deadline);
	jw_free(&w);
	if (ret)
		return kb_err_set(err, ret, "cannot send the request: %s",
				  strerror(-ret));
	ret = read_line(fd, &line, &len, deadline);
	if (ret)
		return kb_err_set(err, ret, "no reply: %s", strerror(-ret));
	ret = json_parse(reply, line, len, NULL);
	free(line);
	if (ret)
		return kb_err_set(err, -EPROTO, "the reply is not valid JSON");
	ret = ctl_check_reply(reply, &code, &message);
	if (ret == -EREMOTEIO)
		kb_err_set(err, ret, "%s (%s)", message, code);
	else if (ret < 0)
		kb_err_set(err, ret, "the reply is not of protocol version %d",
			   CTL_VERSION);
	if (ret < 0)
		json_free(reply);
	return ret;
}

int ctl_open(const char *name, struct kb_err *err)
{
	char dir[CTL_PATH_MAX], path[CTL_PATH_MAX + CTL_NAME_MAX + 8];
	int fd, ret;

	if (!ctl_name_valid(name))
		return kb_err_set(err, -EINVAL, "'%s' is not a VM name", name);
	ret = ctl_dir(dir, sizeof(dir), false, err);
	if (ret)
		return ret;
	if (ctl_socket_path(dir, name, path, sizeof(path)))
		return kb_err_set(err, -ENAMETOOLONG, "name too long");
	fd = ctl_connect(path);
	if (fd == -ECONNREFUSED)
		ctl_remove_if_stale(dir, path);
	if (fd == -ENOENT || fd == -ECONNREFUSED)
		return kb_err_set(err, -ENOENT, "no running VM named '%s'", name);
	if (fd < 0)
		return kb_err_set(err, fd, "%s: %s", path, strerror(-fd));
	return fd;
}

int ctl_call(const char *name, const struct ctl_request *req, int timeout_ms,
	     struct json_doc *reply, struct kb_err *err)
{
	int fd, ret;

	memset(reply, 0, sizeof(*reply));
	fd = ctl_open(name, err);
	if (fd < 0)
		return fd;
	ret = ctl_call_fd(fd, req, timeout_ms, reply, err);
	close(fd);
	return ret;
}

int ctl_wait_closed(int fd, int timeout_ms)
{
	int64_t deadline = clock_mono_ms() + timeout_ms;
	char buf[256];

	for (;;) {
		int ret = wait_fd(fd, POLLIN, deadline);
		ssize_t n;

		if (ret)
			return ret;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return 0;
	}
}
