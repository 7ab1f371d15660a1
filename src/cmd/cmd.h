/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_CMD_CMD_H
#define KVMBOX_CMD_CMD_H

#include <stdio.h>

#include "util/err.h"
#include "vm/vm.h"

/* Each subcommand: returns the process exit status. */
int cmd_run(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_stop(int argc, char **argv);
int cmd_pause(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_stat(int argc, char **argv);
int cmd_balloon(int argc, char **argv);
int cmd_debug(int argc, char **argv);

/*
 * `kvmbox run` option parsing, separate so unit tests can drive it.
 * Returns 0, 1 when --help was printed, or -errno with a message naming the
 * option and the bad value.
 */
int run_parse_args(int argc, char **argv, struct vm_config *cfg, struct kb_err *err);
void run_usage(FILE *f);

#endif
