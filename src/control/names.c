// SPDX-License-Identifier: GPL-2.0-only
/* Control socket directory, names, claims and stale sockets. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control/names.h"

bool ctl_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (!n || n > CTL_NAME_MAX || name[0] == '.' || name[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static int make_dir(const char *path, struct kb_err *err)
{
	struct stat st;

	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return kb_err_set(err, -errno, "cannot create %s: %s", path,
				  strerror(errno));
	if (lstat(path, &st) < 0)
		return kb_err_set(err, -errno, "%s: %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077))
		return kb_err_set(err, -EPERM,
				  "%s: not a directory of this user with mode 0700",
				  path);
	return 0;
}

int ctl_dir(char *buf, size_t len, bool create, struct kb_err *err)
{
	const char *over = getenv("KVMBOX_RUNTIME_DIR");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	if (over && *over)
		n = snprintf(buf, len, "%s", over);
	else if (xdg && *xdg)
		n = snprintf(buf, len, "%s/kvmbox", xdg);
	else if (geteuid() == 0)
		n = snprintf(buf, len, "/run/kvmbox");
	else
		n = snprintf(buf, len, "/tmp/kvmbox-%u", (unsigned int)geteuid());
	if (n < 0 || (size_t)n >= len)
		return kb_err_set(err, -ENAMETOOLONG, "socket directory name too long");
	return create ? make_dir(buf, err) : 0;
}

int ctl_socket_path(const char *dir, const char *name, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s.sock", dir, name);

	if (n < 0 || (size_t)n >= len || (size_t)n >= CTL_PATH_MAX)
		return -ENAMETOOLONG;
	return 0;
}

static int sock_addr(const char *path, struct sockaddr_un *a)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a->sun_path))
		return -ENAMETOOLONG;
	strcpy(a->sun_path, path);
	return 0;
}

int ctl_connect(const char *path)
{
	struct sockaddr_un a;
	int fd;

	if (sock_addr(path, &a))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

int ctl_probe(const char *path)
{
	int fd = ctl_connect(path);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

static int lock_dir(const char *dir)
{
	char p[CTL_PATH_MAX + 16];
	int fd;

	snprintf(p, sizeof(p), "%s/.lock", dir);
	fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

static void unlock_dir(int fd)
{
	if (fd >= 0)
		close(fd); /* drops the flock */
}

bool ctl_remove_if_stale(const char *dir, const char *path)
{
	int lk = lock_dir(dir);
	bool removed = false;

	if (ctl_probe(path) == -ECONNREFUSED)
		removed = unlink(path) == 0;
	unlock_dir(lk);
	return removed;
}

/* Binds and listens on @path; the directory lock is held. */
static int bind_listen(const char *path, struct kb_err *err)
{
	struct sockaddr_un a;
	int fd;

	sock_addr(path, &a);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return kb_err_set(err, -errno, "socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = errno;

		close(fd);
		return kb_err_set(err, -e, "cannot bind %s: %s", path, strerror(e));
	}
	/* The directory is 0700 already; the socket itself is 0600 too. */
	if (chmod(path, 0600) < 0 || listen(fd, 16) < 0) {
		int e = errno;

		unlink(path);
		close(fd);
		return kb_err_set(err, -e, "%s: %s", path, strerror(e));
	}
	return fd;
}

/* Under the lock: is @path free (absent, or stale and now removed)? */
static int take_path(const char *path)
{
	int ret = ctl_probe(path);

	if (ret == 0)
		return -EADDRINUSE;
	if (ret == -ECONNREFUSED) {
		if (unlink(path) < 0 && errno != ENOENT)
			return -errno;
		return 0;
	}
	return ret == -ENOENT ? 0 : ret;
}

int ctl_claim(const char *dir, char *name, char *path, size_t path_len,
	      struct kb_err *err)
{
	bool generate = !name[0];
	int lk, ret;

	if (!generate && !ctl_name_valid(name))
		return kb_err_set(
			err, -EINVAL,
			"--name '%s': use 1-%d letters, digits, '.', '_' or '-'", name,
			CTL_NAME_MAX);
	lk = lock_dir(dir);
	if (lk < 0)
		return kb_err_set(err, lk, "cannot lock %s/.lock: %s", dir,
				  strerror(-lk));
	for (int i = 1; i < 1000; i++) {
		if (generate) {
			if (i == 1)
				snprintf(name, CTL_NAME_MAX + 1, "vm-%d", (int)getpid());
			else
				snprintf(name, CTL_NAME_MAX + 1, "vm-%d-%d",
					 (int)getpid(), i);
		}
		if (ctl_socket_path(dir, name, path, path_len)) {
			ret = kb_err_set(err, -ENAMETOOLONG,
					 "socket path %s/%s.sock is too long", dir, name);
			goto out;
		}
		ret = take_path(path);
		if (ret == -EADDRINUSE && generate)
			continue;
		if (ret == -EADDRINUSE) {
			ret = kb_err_set(err, ret, "a VM named '%s' is running already",
					 name);
			goto out;
		}
		if (ret) {
			ret = kb_err_set(err, ret, "%s: %s", path, strerror(-ret));
			goto out;
		}
		ret = bind_listen(path, err);
		goto out;
	}
	ret = kb_err_set(err, -EADDRINUSE, "no free generated name");
out:
	unlock_dir(lk);
	return ret;
}
