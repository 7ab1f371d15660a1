/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_VIRTIO_PCI_H
#define KVMBOX_VIRTIO_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/pci.h"
#include "util/err.h"
#include "virtio/virtio.h"
#include "vm/event.h"
#include "vm/irq.h"

/*
 * The virtio 1.x modern PCI transport (virtio spec 4.1). One PCI function
 * per device:
 *   BAR0  32-bit memory, 4 KiB: MSI-X table (offset 0) and PBA (offset 2 KiB)
 *   BAR2  32-bit memory, 16 KiB: common config 0x0000, ISR 0x1000,
 *         device config 0x2000, notify 0x3000 (4 bytes per queue)
 * Capabilities: MSI-X, and the virtio common/notify/ISR/device/PCI-config
 * vendor capabilities. Queue kicks arrive through an eventfd per queue,
 * registered with KVM as an ioeventfd on the notify address (or written by
 * the MMIO handler when KVM did not take the write), serviced by the event
 * loop. Interrupts: MSI-X vectors (KVM_SIGNAL_MSI through env->signal_msi),
 * or INTx (level, through the in-kernel IOAPIC) when MSI-X is off.
 */
struct virtio_pci;

/* What the transport needs from the VM; NULL callbacks are allowed. */
struct virtio_pci_env {
	const struct guest_mem *mem;
	struct event_loop *loop;
	struct irq_line intx; /* .gsi is set from intx_gsi() once the slot is known */
	void *ctx;
	/* GSI that INTA of PCI slot @slot is wired to (the MP table says the same). */
	uint32_t (*intx_gsi)(void *ctx, int slot);
	int (*signal_msi)(void *ctx, uint64_t addr, uint32_t data);
	/* Register (assign) or remove a KVM ioeventfd on a guest address. */
	int (*ioeventfd)(void *ctx, uint64_t addr, int fd, bool assign);
};

#define VIRTIO_PCI_BAR_MSIX 0
#define VIRTIO_PCI_BAR_CFG 2
#define VIRTIO_PCI_MSIX_BAR_SIZE 0x1000
#define VIRTIO_PCI_MSIX_PBA 0x800
#define VIRTIO_PCI_CFG_BAR_SIZE 0x4000
#define VP_COMMON_OFF 0x0000
#define VP_ISR_OFF 0x1000
#define VP_DEVICE_OFF 0x2000
#define VP_NOTIFY_OFF 0x3000
#define VP_NOTIFY_MULT 4
#define VP_ISR_QUEUE 0x1 /* ISR bit: a queue interrupt */

/* Wraps @vdev (which the transport then owns) in a PCI function and puts it
 * on @bus. */
struct virtio_pci *virtio_pci_create(struct virtio_dev *vdev, struct pci_bus *bus,
				     const struct virtio_pci_env *env,
				     struct kb_err *err);
void virtio_pci_destroy(struct virtio_pci *vp);
struct pci_device *virtio_pci_device(struct virtio_pci *vp);
struct virtio_dev *virtio_pci_vdev(struct virtio_pci *vp);

#endif
