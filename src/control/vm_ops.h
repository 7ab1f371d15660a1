/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_CONTROL_VM_OPS_H
#define KVMBOX_CONTROL_VM_OPS_H

#include <pthread.h>
#include <stdint.h>

#include "control/names.h"
#include "control/protocol.h"

struct vm;

/*
 * What the control server's requests act on: the VM of `kvmbox run`, which
 * changes across --reboot=restart boots. run.c sets @vm (under @lock) once
 * a VM is loaded and clears it before destroying that VM; requests arriving
 * in between get a "bad_state" error.
 */
struct ctl_vm {
	pthread_mutex_t lock;
	struct vm *vm;
	char name[CTL_NAME_MAX + 1];
	int nr_cpus;
	uint64_t ram_size;
	int64_t start_ms;
	/* A stop asked for while no VM is attached (still loading, or between
	 * two boots of --reboot=restart): forced as soon as one is. */
	bool stop_pending;
};

void ctl_vm_init(struct ctl_vm *c, const char *name, int nr_cpus, uint64_t ram_size);
void ctl_vm_set(struct ctl_vm *c, struct vm *vm);
void ctl_vm_destroy(struct ctl_vm *c);
/* The server's handler; @ctx is a struct ctl_vm. */
void ctl_vm_handle(void *ctx, const struct ctl_request *req, struct json_writer *w);

#endif
