/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_UTIL_CLOCK_H
#define KVMBOX_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in nanoseconds and in milliseconds (vDSO: no syscall). */
static inline uint64_t clock_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static inline int64_t clock_mono_ms(void)
{
	return (int64_t)(clock_mono_ns() / 1000000);
}

#endif
