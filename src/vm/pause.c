// SPDX-License-Identifier: GPL-2.0-only
/*
 * Pausing a VM: every vCPU thread is kicked out of KVM_RUN and waits on
 * vm->pause_cond until released (vcpu_park() in vcpu.c). A vCPU whose
 * thread has left its loop (the VM is stopping) is not waited for.
 */
#include <errno.h>
#include <sys/ioctl.h>
#include <time.h>

#include "devices/i8042.h"
#include "util/log.h"
#include "vm/vcpu.h"
#include "vm/vm.h"

#define PAUSE_TIMEOUT_MS 5000

/* Running vCPU threads that are not parked yet. pause_lock held. */
static int unparked(struct vm *vm)
{
	int running = 0;

	for (int i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].thread_started && !vm->vcpus[i].thread_done)
			running++;
	return running - vm->nr_parked;
}

static void release(struct vm *vm, bool user)
{
	if (user)
		vm->user_paused = false;
	if (--vm->pause_count == 0) {
		atomic_store(&vm->pause_req, false);
		pthread_cond_broadcast(&vm->pause_cond);
	}
}

int vm_pause(struct vm *vm, bool user)
{
	struct timespec deadline;
	int ret = 0;

	pthread_mutex_lock(&vm->pause_lock);
	if (atomic_load(&vm->stopping)) {
		pthread_mutex_unlock(&vm->pause_lock);
		return -ESHUTDOWN;
	}
	if (user && vm->user_paused) {
		pthread_mutex_unlock(&vm->pause_lock);
		return -EALREADY;
	}
	vm->pause_count++;
	atomic_store(&vm->pause_req, true);
	pthread_mutex_unlock(&vm->pause_lock);

	for (int i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += PAUSE_TIMEOUT_MS / 1000;
	pthread_mutex_lock(&vm->pause_lock);
	while (unparked(vm) > 0 && !atomic_load(&vm->stopping) && !ret)
		ret = -pthread_cond_timedwait(&vm->pause_cond, &vm->pause_lock,
					      &deadline);
	if (!ret && atomic_load(&vm->stopping))
		ret = -ESHUTDOWN;
	if (ret) {
		release(vm, false);
		pthread_mutex_unlock(&vm->pause_lock);
		return ret;
	}
	if (user)
		vm->user_paused = true;
	pthread_mutex_unlock(&vm->pause_lock);

	/* Tell a kvmclock guest that it was stopped on purpose, so that its
	 * soft-lockup watchdog does not fire. A guest without kvmclock gets
	 * EINVAL: nothing to tell it. */
	for (int i = 0; user && i < vm->nr_vcpus; i++)
		if (ioctl(vm->vcpus[i].fd, KVM_KVMCLOCK_CTRL, 0) < 0)
			log_debug("vCPU %d: KVM_KVMCLOCK_CTRL: %m", i);
	return 0;
}

void vm_resume(struct vm *vm, bool user)
{
	pthread_mutex_lock(&vm->pause_lock);
	if (vm->pause_count > 0 && (!user || vm->user_paused))
		release(vm, user);
	pthread_mutex_unlock(&vm->pause_lock);
}

bool vm_is_paused(struct vm *vm)
{
	bool p;

	pthread_mutex_lock(&vm->pause_lock);
	p = vm->user_paused;
	pthread_mutex_unlock(&vm->pause_lock);
	return p;
}

void vm_pause_release_all(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
}

int vm_send_ctrl_alt_del(struct vm *vm)
{
	if (!vm->i8042)
		return -ENODEV;
	return i8042_send_ctrl_alt_del(vm->i8042);
}
