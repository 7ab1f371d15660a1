// SPDX-License-Identifier: GPL-2.0-only
/* kvmbox stop: graceful (Ctrl-Alt-Del), then forced after a timeout. */
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
#include "util/parse.h"

#define STOP_DEFAULT_TIMEOUT_S 30
#define STOP_FORCE_WAIT_MS 10000

static void stop_usage(FILE *f)
{
	fprintf(f,
		"Usage: kvmbox stop NAME|--all [--force] [--timeout S]\n"
		"\n"
		"Stop VM NAME (or every VM of this user with --all). First gracefully:\n"
		"Ctrl-Alt-Del on the guest's keyboard, which Linux answers by\n"
		"rebooting, and kvmbox run exits with status 0 (\"guest rebooted\").\n"
		"If the VM is still there after the timeout, or the guest's keyboard\n"
		"does not listen, it is stopped by force: kvmbox run then exits with\n"
		"status 0 too (\"stopped by kvmbox stop (forced)\"). Either way kvmbox\n"
		"run removes its control socket and everything else as it does on\n"
		"any other stop.\n"
		"\n"
		"      --all         every running VM\n"
		"  -f, --force       skip the graceful step: stop at once\n"
		"  -t, --timeout S   seconds to wait for the graceful stop (default %d)\n"
		"  -h, --help        this help\n"
		"\n"
		"Exit status: 0 when the VM(s) stopped, 1 otherwise.\n",
		STOP_DEFAULT_TIMEOUT_S);
}

/* Sends a stop request on a new connection; returns the connection (kept
 * open to see the VM exit), -EOPNOTSUPP for "graceful impossible", or -1. */
static int send_stop(const char *name, bool force)
{
	struct ctl_request req = { .cmd = CTL_CMD_STOP, .force = force, .cpu = -1 };
	struct kb_err err = { 0 };
	struct json_doc doc;
	int fd = ctl_open(name, &err), ret;

	if (fd < 0) {
		log_error("stop: %s", err.msg);
		return -1;
	}
	ret = ctl_call_fd(fd, &req, CMD_CTL_TIMEOUT_MS, &doc, &err);
	if (ret >= 0) {
		json_free(&doc);
		return fd;
	}
	close(fd);
	if (ret == -EREMOTEIO && strstr(err.msg, "(" CTL_E_UNSUPPORTED ")"))
		return -EOPNOTSUPP;
	log_error("stop: %s: %s", name, err.msg);
	return -1;
}

static int stop_one(const char *name, bool force, int timeout_s)
{
	int fd;

	if (!force) {
		fd = send_stop(name, false);
		if (fd == -1)
			return 1;
		if (fd >= 0) {
			int ret = ctl_wait_closed(fd, timeout_s * 1000);

			close(fd);
			if (!ret) {
				log_info("%s: stopped", name);
				return 0;
			}
			log_info("%s: still running after %d s: stopping it by force",
				 name, timeout_s);
		} else {
			log_info(
				"%s: the guest's keyboard does not listen: stopping it by "
				"force",
				name);
		}
	}
	fd = send_stop(name, true);
	if (fd < 0)
		return 1;
	if (ctl_wait_closed(fd, STOP_FORCE_WAIT_MS)) {
		close(fd);
		log_error("stop: %s did not stop", name);
		return 1;
	}
	close(fd);
	log_info("%s: stopped (forced)", name);
	return 0;
}

static int stop_all(bool force, int timeout_s)
{
	char dir[CTL_PATH_MAX];
	struct kb_err err = { 0 };
	struct dirent *de;
	int status = 0;
	DIR *d;

	if (ctl_dir(dir, sizeof(dir), false, &err)) {
		log_error("stop: %s", err.msg);
		return 1;
	}
	d = opendir(dir);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		char name[CTL_NAME_MAX + 1];
		char path[CTL_PATH_MAX + CTL_NAME_MAX + 8];

		if (l <= 5 || l - 5 > CTL_NAME_MAX || strcmp(de->d_name + l - 5, ".sock"))
			continue;
		memcpy(name, de->d_name, l - 5);
		name[l - 5] = 0;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (ctl_probe(path)) {
			ctl_remove_if_stale(dir, path);
			continue;
		}
		if (stop_one(name, force, timeout_s))
			status = 1;
	}
	closedir(d);
	return status;
}

int cmd_stop(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "force", no_argument, NULL, 'f' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int timeout_s = STOP_DEFAULT_TIMEOUT_S, c;
	bool all = false, force = false;
	uint64_t v;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "aft:h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			stop_usage(stdout);
			return 0;
		case 'a':
			all = true;
			break;
		case 'f':
			force = true;
			break;
		case 't':
			if (parse_u64(optarg, &v) || v > 3600) {
				log_error("stop: --timeout '%s': seconds, 0 to 3600",
					  optarg);
				return 1;
			}
			timeout_s = (int)v;
			break;
		default:
			stop_usage(stderr);
			return 1;
		}
	}
	if (all ? optind != argc : optind != argc - 1) {
		stop_usage(stderr);
		return 1;
	}
	return all ? stop_all(force, timeout_s) :
		     stop_one(argv[optind], force, timeout_s);
}
