// SPDX-License-Identifier: GPL-2.0-only
/*
 * first_kvm_run.so: an LD_PRELOAD shim that notes when a program first calls
 * ioctl(KVM_RUN), for VMMs that cannot say it themselves (QEMU).
 *
 *   LD_PRELOAD=.../first_kvm_run.so qemu-system-x86_64 ...
 *
 * prints, once, on stderr:
 *
 *   first_kvm_run: first KVM_RUN at <N> ns
 *
 * with N on CLOCK_MONOTONIC, taken just before the real ioctl is entered,
 * the same clock and moment as kvmbox's KVMBOX_TRACE_FIRST_RUN=1 line. Every
 * other ioctl passes straight through; the cost is one compare per call.
 */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>

typedef int (*ioctl_fn)(int, unsigned long, ...);

static ioctl_fn real_ioctl;
static int reported;

static void report(void)
{
	struct timespec ts;
	char line[96];
	int n;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (__atomic_exchange_n(&reported, 1, __ATOMIC_SEQ_CST))
		return;
	n = snprintf(line, sizeof(line), "first_kvm_run: first KVM_RUN at %llu ns\n",
		     (unsigned long long)ts.tv_sec * 1000000000ULL +
			     (unsigned long long)ts.tv_nsec);
	if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}

int ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);

	if (!real_ioctl)
		real_ioctl = (ioctl_fn)dlsym(RTLD_NEXT, "ioctl");
	if (request == KVM_RUN && !__atomic_load_n(&reported, __ATOMIC_RELAXED))
		report();
	return real_ioctl(fd, request, arg);
}
