// SPDX-License-Identifier: GPL-2.0-only
/* Control socket names: validity, stale sockets, duplicate names, server. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "cmd/cmd.h"
#include "control/client.h"
#include "control/names.h"
#include "control/server.h"

static char dir[64];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/kvmbox-unit-XXXXXX");
	assert_non_null(mkdtemp(dir));
	setenv("KVMBOX_RUNTIME_DIR", dir, 1);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static void test_name_valid(void **state)
{
	assert_true(ctl_name_valid("t1"));
	assert_true(ctl_name_valid("web-1.test_a"));
	assert_false(ctl_name_valid(""));
	assert_false(ctl_name_valid(".hidden"));
	assert_false(ctl_name_valid("-x"));
	assert_false(ctl_name_valid("a/b"));
	assert_false(ctl_name_valid("a b"));
	assert_false(ctl_name_valid("../x"));
	assert_false(ctl_name_valid(
		"a123456789012345678901234567890123456789012345678901234567890123456789"));
}

static void test_dir_and_mode(void **state)
{
	char d[CTL_PATH_MAX], name[CTL_NAME_MAX + 1] = "m1", path[200];
	struct stat st;
	int fd;

	assert_int_equal(ctl_dir(d, sizeof(d), true, NULL), 0);
	assert_string_equal(d, dir);
	fd = ctl_claim(d, name, path, sizeof(path), NULL);
	assert_true(fd >= 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	close(fd);
	unlink(path);
}

/* A socket file with nobody listening, as a killed VM leaves it. */
static void make_stale(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	strcpy(a.sun_path, path);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	close(fd);
}

static void test_stale_and_duplicate(void **state)
{
	char name[CTL_NAME_MAX + 1] = "dup", name2[CTL_NAME_MAX + 1] = "dup";
	char path[200], path2[200];
	struct kb_err err = { 0 };
	int fd, fd2;

	snprintf(path, sizeof(path), "%s/dup.sock", dir);
	make_stale(path);
	assert_int_equal(ctl_probe(path), -ECONNREFUSED);
	/* The stale socket is replaced. */
	fd = ctl_claim(dir, name, path, sizeof(path), &err);
	assert_true(fd >= 0);
	assert_int_equal(ctl_probe(path), 0);
	/* A live one is not. */
	fd2 = ctl_claim(dir, name2, path2, sizeof(path2), &err);
	assert_int_equal(fd2, -EADDRINUSE);
	assert_non_null(strstr(err.msg, "running already"));
	close(fd);
	/* Closed without unlink: stale again, and removable. */
	assert_true(ctl_remove_if_stale(dir, path));
	assert_int_equal(access(path, F_OK), -1);
	assert_false(ctl_remove_if_stale(dir, path));
}

static void test_generated_names(void **state)
{
	char a[CTL_NAME_MAX + 1] = "", b[CTL_NAME_MAX + 1] = "";
	char pa[200], pb[200];
	int fa, fb;

	fa = ctl_claim(dir, a, pa, sizeof(pa), NULL);
	fb = ctl_claim(dir, b, pb, sizeof(pb), NULL);
	assert_true(fa >= 0 && fb >= 0);
	assert_true(ctl_name_valid(a) && ctl_name_valid(b));
	assert_string_not_equal(a, b);
	close(fa);
	close(fb);
	unlink(pa);
	unlink(pb);
}

static void echo_handler(void *ctx, const struct ctl_request *req, struct json_writer *w)
{
	ctl_reply_begin(w);
	jw_str(w, "cmd", ctl_cmd_name(req->cmd));
	ctl_reply_end(w);
}

static int read_reply(int fd, char *buf, size_t len)
{
	size_t n = 0;

	while (n < len - 1) {
		ssize_t r = read(fd, buf + n, 1);

		if (r <= 0)
			break;
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = 0;
	return (int)n;
}

/* The server answers garbage with an error and goes on; a silent client
 * blocks nobody; stopping removes the socket. */
static void test_server(void **state)
{
	char name[CTL_NAME_MAX + 1] = "srv", path[200], buf[512];
	struct ctl_request req = { .cmd = CTL_CMD_STAT, .cpu = -1 };
	struct kb_err err = { 0 };
	struct ctl_server *s;
	struct json_doc doc;
	char *big;
	int fd, idle, raw;

	fd = ctl_claim(dir, name, path, sizeof(path), NULL);
	assert_true(fd >= 0);
	s = ctl_server_start(fd, path, echo_handler, NULL, &err);
	assert_non_null(s);

	idle = ctl_connect(path); /* connects and never sends */
	assert_true(idle >= 0);
	assert_int_equal(write(idle, "{\"vers", 6), 6); /* half a request */

	raw = ctl_connect(path);
	assert_true(raw >= 0);
	assert_int_equal(write(raw, "garbage\n", 8), 8);
	read_reply(raw, buf, sizeof(buf));
	assert_non_null(strstr(buf, "\"ok\":false"));
	assert_non_null(strstr(buf, "parse_error"));
	big = malloc(10000);
	memset(big, 'x', 10000);
	assert_int_equal(write(raw, big, 10000), 10000);
	assert_int_equal(write(raw, "\n{\"version\":1,\"cmd\":\"info\"}\n", 28), 28);
	read_reply(raw, buf, sizeof(buf));
	assert_non_null(strstr(buf, "too_long"));
	read_reply(raw, buf, sizeof(buf));
	assert_non_null(strstr(buf, "\"cmd\":\"info\""));
	free(big);

	assert_true(ctl_call("srv", &req, 2000, &doc, &err) > 0);
	json_free(&doc);
	close(raw);
	close(idle);
	ctl_server_stop(s);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(ctl_call("srv", &req, 2000, &doc, &err), -ENOENT);
}

/* A stat reply from another kvmbox version: a balloon without "guest". */
static void odd_stat_handler(void *ctx, const struct ctl_request *req,
			     struct json_writer *w)
{
	ctl_reply_begin(w);
	jw_str(w, "name", "odd");
	jw_obj_begin(w, "balloon");
	jw_u64(w, "target_bytes", 4096);
	jw_obj_end(w);
	ctl_reply_end(w);
}

/* kvmbox stat prints what a reply has and skips what it lacks. */
static void test_stat_of_partial_reply(void **state)
{
	char name[CTL_NAME_MAX + 1] = "odd", path[200];
	char *argv[] = { "stat", "odd", NULL };
	struct kb_err err = { 0 };
	struct ctl_server *s;
	int fd;

	fd = ctl_claim(dir, name, path, sizeof(path), NULL);
	assert_true(fd >= 0);
	s = ctl_server_start(fd, path, odd_stat_handler, NULL, &err);
	assert_non_null(s);
	assert_int_equal(cmd_stat(2, argv), 0);
	ctl_server_stop(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_valid),
		cmocka_unit_test(test_dir_and_mode),
		cmocka_unit_test(test_stale_and_duplicate),
		cmocka_unit_test(test_generated_names),
		cmocka_unit_test(test_server),
		cmocka_unit_test(test_stat_of_partial_reply),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
