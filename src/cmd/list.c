// SPDX-License-Identifier: GPL-2.0-only
/* kvmbox list: the running VMs of this user, from their control sockets. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/ctl_util.h"
#include "control/names.h"
#include "util/log.h"

static void list_usage(FILE *f)
{
	fprintf(f,
		"Usage: kvmbox list [--json]\n"
		"\n"
		"List the running VMs of this user: name, pid, state (running or\n"
		"paused), vCPUs, memory and uptime. A socket left behind by a VM that\n"
		"was killed is removed on the way.\n"
		"\n"
		"      --json   one JSON array of the VMs' info objects (docs/control.md)\n"
		"  -h, --help   this help\n");
}

/* Asks one socket; returns the reply's data index, or -1 (gone, stale). */
static int ask(const char *dir, const char *path, struct json_doc *doc)
{
	struct ctl_request req = { .cmd = CTL_CMD_INFO, .cpu = -1 };
	struct kb_err err = { 0 };
	int fd = ctl_connect(path), ret;

	if (fd == -ECONNREFUSED) {
		if (ctl_remove_if_stale(dir, path))
			log_debug("removed stale socket %s", path);
		return -1;
	}
	if (fd < 0)
		return -1;
	ret = ctl_call_fd(fd, &req, 2000, doc, &err);
	close(fd);
	if (ret < 0)
		log_warn("%s: %s", path, err.msg);
	return ret;
}

static int sock_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int cmd_list(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char dir[CTL_PATH_MAX], path[CTL_PATH_MAX + CTL_NAME_MAX + 8];
	struct kb_err err = { 0 };
	char *names[256];
	int nr = 0, c, shown = 0;
	bool json = false;
	struct dirent *de;
	DIR *d;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			list_usage(stdout);
			return 0;
		}
		if (c != 'j') {
			list_usage(stderr);
			return 1;
		}
		json = true;
	}
	if (optind < argc) {
		log_error("list: unexpected argument '%s'", argv[optind]);
		return 1;
	}
	if (ctl_dir(dir, sizeof(dir), false, &err)) {
		log_error("list: %s", err.msg);
		return 1;
	}
	d = opendir(dir);
	while (d && (de = readdir(d)) && nr < 256) {
		size_t l = strlen(de->d_name);

		if (l > 5 && !strcmp(de->d_name + l - 5, ".sock"))
			names[nr++] = strdup(de->d_name);
	}
	if (d)
		closedir(d);
	qsort(names, nr, sizeof(names[0]), sock_name_cmp);
	if (json)
		printf("[");
	else
		printf("%-20s %8s %-8s %5s %10s %10s\n", "NAME", "PID", "STATE", "VCPUS",
		       "MEMORY", "UPTIME");
	for (int i = 0; i < nr; i++) {
		struct json_doc doc;
		char mem[32], up[32];
		int data;

		if (!names[i])
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		data = ask(dir, path, &doc);
		free(names[i]);
		if (data < 0)
			continue;
		if (json) {
			struct json_writer w;

			jw_init(&w, CTL_MAX_REPLY);
			jw_node(&w, NULL, &doc, data);
			printf("%s%s", shown ? "," : "", w.overflow ? "null" : w.buf);
			jw_free(&w);
		} else {
			printf("%-20s %8llu %-8s %5llu %10s %10s\n",
			       cmd_str(&doc, data, "name"),
			       (unsigned long long)cmd_u64(&doc, data, "pid"),
			       cmd_str(&doc, data, "state"),
			       (unsigned long long)cmd_u64(&doc, data, "vcpus"),
			       cmd_fmt_bytes(cmd_u64(&doc, data, "memory"), mem,
					     sizeof(mem)),
			       cmd_fmt_duration(cmd_u64(&doc, data, "uptime_ms"), up,
						sizeof(up)));
		}
		shown++;
		json_free(&doc);
	}
	if (json)
		printf("]\n");
	return 0;
}
