/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_VM_VCPU_H
#define KVMBOX_VM_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "util/err.h"

struct vm;

#define VCPU_NR_EXIT_REASONS 64

/* One vCPU; its thread owns fd and run. Other threads only kick it. */
struct vcpu {
	struct vm *vm;
	int id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_started;
	/* Exits by KVM_EXIT_* reason (the last slot counts larger reasons)
	 * and nanoseconds spent in KVM_RUN: written by the vCPU thread only,
	 * read by anyone (kvmbox stat). Their sum is the exit count. */
	atomic_uint_fast64_t exit_reasons[VCPU_NR_EXIT_REASONS];
	atomic_uint_fast64_t run_ns;
	/* CLOCK_MONOTONIC ns when the current KVM_RUN began; 0 outside it. An
	 * idle guest stays in KVM_RUN: vcpu_run_ns() counts that time too. */
	atomic_uint_fast64_t run_since;
	bool thread_done; /* the thread left its loop (under vm->pause_lock) */
};

int vcpu_create(struct vm *vm, struct vcpu *v, int id, struct kb_err *err);
/* Nanoseconds spent in KVM_RUN so far, the current call included (any
 * thread; may lag by one call's length around an exit). */
uint64_t vcpu_run_ns(struct vcpu *v);
void vcpu_destroy(struct vcpu *v);
int vcpu_start(struct vcpu *v, struct kb_err *err);
/* Makes KVM_RUN return soon (immediate_exit + signal). */
void vcpu_kick(struct vcpu *v);
void vcpu_join(struct vcpu *v);

/* Boot state: 64-bit entry at @rip with @rsi (Linux) or a raw program. */
int vcpu_setup_long_mode(struct vcpu *v, uint64_t rip, uint64_t rsi, struct kb_err *err);
int vcpu_setup_real_mode(struct vcpu *v, uint64_t rip, struct kb_err *err);
/*
 * A raw program at CPL 3 in 64-bit mode on the boot GDT and identity map
 * (which must be written): CS 0x2b, SS/DS/ES/FS/GS 0x23, RFLAGS with IOPL 3
 * (in/out allowed) and interrupts off, RSP = @rsp. No IDT: a fault is a
 * triple fault.
 */
int vcpu_setup_user_mode(struct vcpu *v, uint64_t rip, uint64_t rsp, struct kb_err *err);
int vcpu_set_reg(struct vcpu *v, const char *name, uint64_t value, struct kb_err *err);
bool vcpu_reg_name_valid(const char *name);

/* Prints regs, sregs and the code bytes at RIP to stderr. */
void vcpu_dump(struct vcpu *v);
/* Guest virtual/linear address of the next instruction -> code bytes. */
int vcpu_fetch_code(struct vcpu *v, uint8_t *buf, size_t len);

void vcpu_signals_init(void);

/* A name for a KVM_EXIT_* reason ("io", "mmio", "hlt"...), or NULL. */
const char *vcpu_exit_reason_name(unsigned int reason);

#endif
