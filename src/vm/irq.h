/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_VM_IRQ_H
#define KVMBOX_VM_IRQ_H

#include <stdint.h>

/*
 * An interrupt line as a device sees it: a GSI and a way to set its level.
 * In a VM, @set is KVM_IRQ_LINE on the in-kernel irqchip; unit tests plug in
 * their own recorder. Edge-triggered ISA devices raise then lower the line.
 */
struct irq_line {
	void (*set)(void *ctx, uint32_t gsi, int level);
	void *ctx;
	uint32_t gsi;
};

static inline void irq_line_set(const struct irq_line *l, int level)
{
	if (l->set)
		l->set(l->ctx, l->gsi, level);
}

#endif
