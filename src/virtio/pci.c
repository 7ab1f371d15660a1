// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/log.h"
#include "virtio/pci.h"

#define PCI_VENDOR_REDHAT_QUMRANET 0x1af4
#define PCI_DEVICE_VIRTIO_MODERN 0x1040
#define PCI_CAP_ID_MSIX 0x11
#define PCI_CAP_ID_VNDR 0x09
#define MSIX_CTRL_ENABLE 0x8000
#define MSIX_CTRL_MASKALL 0x4000
#define MSIX_ENTRY_MASKED 1u
#define MSIX_MAX_VECTORS (VIRTIO_MAX_QUEUES + 1)

struct msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl;
};

struct vp_queue {
	int kick_fd; /* eventfd: guest kicks */
	atomic_bool active; /* started: kicks go to the device */
	bool ioeventfd; /* registered with KVM at ioeventfd_addr */
	uint64_t ioeventfd_addr;
	uint16_t msix_vector;
	struct virtio_pci *vp;
	int index;
};

struct virtio_pci {
	struct pci_device pci;
	struct virtio_dev *vdev;
	struct virtio_pci_env env;
	int msix_cap; /* offset of the MSI-X capability */
	int cfg_cap; /* offset of the PCI-config access capability */

	/* cfg_lock: common config, status, feature and queue setup. Never held
	 * while waiting on the event loop's handlers (see vp_stop_queues). */
	pthread_mutex_t cfg_lock;
	uint32_t device_feature_select;
	uint32_t driver_feature_select;
	uint64_t driver_features;
	/* Atomic: NEEDS_RESET and config changes come from device threads. */
	_Atomic uint8_t status;
	_Atomic uint8_t config_generation;
	uint16_t queue_select;
	uint16_t msix_config;
	struct vp_queue q[VIRTIO_MAX_QUEUES];

	/* irq_lock: MSI-X table, PBA, ISR and the INTx level. Taken by
	 * interrupt senders on any thread. */
	pthread_mutex_t irq_lock;
	struct msix_entry msix[MSIX_MAX_VECTORS];
	uint64_t msix_pending; /* PBA bits */
	uint8_t isr;
};

static uint64_t vp_offered_features(struct virtio_pci *vp)
{
	return vp->vdev->ops->features(vp->vdev) | (1ULL << VIRTIO_F_VERSION_1) |
	       (1ULL << VIRTIO_RING_F_EVENT_IDX) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
}

static uint16_t msix_ctrl(struct virtio_pci *vp)
{
	uint16_t v;

	memcpy(&v, &vp->pci.config[vp->msix_cap + 2], 2);
	return v;
}

/* Sends vector @v if it can be sent (MSI-X on, neither the function nor
 * the entry masked), else marks it pending. irq_lock held. */
static void msix_fire_locked(struct virtio_pci *vp, uint16_t v)
{
	const struct msix_entry *e;
	uint16_t ctrl = msix_ctrl(vp);

	if (v == VIRTIO_MSI_NO_VECTOR || v >= MSIX_MAX_VECTORS)
		return;
	e = &vp->msix[v];
	if (!(ctrl & MSIX_CTRL_ENABLE) || (ctrl & MSIX_CTRL_MASKALL) ||
	    (e->ctrl & MSIX_ENTRY_MASKED)) {
		vp->msix_pending |= 1ULL << v;
		return;
	}
	vp->msix_pending &= ~(1ULL << v);
	if (vp->env.signal_msi &&
	    vp->env.signal_msi(vp->env.ctx, ((uint64_t)e->addr_hi << 32) | e->addr_lo,
			       e->data))
		log_debug("%s: MSI-X vector %u not delivered", vp->vdev->name, v);
}

static void vp_interrupt(struct virtio_pci *vp, uint16_t vector, uint8_t isr_bit)
{
	pthread_mutex_lock(&vp->irq_lock);
	if (msix_ctrl(vp) & MSIX_CTRL_ENABLE) {
		msix_fire_locked(vp, vector);
	} else {
		vp->isr |= isr_bit;
		irq_line_set(&vp->env.intx, 1);
	}
	pthread_mutex_unlock(&vp->irq_lock);
}

static void vp_notify_queue(struct virtio_dev *d, int q)
{
	struct virtio_pci *vp = d->transport;

	vp_interrupt(vp, vp->q[q].msix_vector, VP_ISR_QUEUE);
}

static void vp_notify_config(struct virtio_dev *d)
{
	struct virtio_pci *vp = d->transport;

	vp->config_generation++;
	vp_interrupt(vp, vp->msix_config, VIRTIO_PCI_ISR_CONFIG);
}

static void vp_needs_reset(struct virtio_dev *d)
{
	struct virtio_pci *vp = d->transport;
	uint8_t old = atomic_fetch_or(&vp->status, VIRTIO_CONFIG_S_NEEDS_RESET);

	/* Said once until the driver resets: a broken queue reports itself
	 * on every kick. */
	if (old & VIRTIO_CONFIG_S_NEEDS_RESET)
		return;
	log_warn("%s: the guest driver misbehaved: device needs reset", d->name);
	if (old & VIRTIO_CONFIG_S_DRIVER_OK)
		vp_notify_config(d);
}

static const struct virtio_transport_ops vp_transport_ops = {
	.notify_queue = vp_notify_queue,
	.notify_config = vp_notify_config,
	.needs_reset = vp_needs_reset,
};

void virtio_notify_queue(struct virtio_dev *d, int q)
{
	if (q < 0 || q >= d->nr_queues || !d->transport_ops)
		return;
	if (virtq_should_notify(&d->vq[q]))
		d->transport_ops->notify_queue(d, q);
}

void virtio_notify_config(struct virtio_dev *d)
{
	if (d->transport_ops)
		d->transport_ops->notify_config(d);
}

void virtio_set_needs_reset(struct virtio_dev *d)
{
	if (d->transport_ops)
		d->transport_ops->needs_reset(d);
}

/* Event loop: the guest kicked queue q. */
static void vp_kick(void *arg, uint32_t events)
{
	struct vp_queue *q = arg;
	uint64_t n;

	if (read(q->kick_fd, &n, sizeof(n)) < 0)
		return;
	if (atomic_load(&q->active))
		q->vp->vdev->ops->queue_notify(q->vp->vdev, q->index);
}

static uint64_t notify_addr(struct virtio_pci *vp, int q)
{
	return pci_bar_address(&vp->pci, VIRTIO_PCI_BAR_CFG) + VP_NOTIFY_OFF +
	       (uint64_t)q * VP_NOTIFY_MULT;
}

static void vp_ioeventfd_assign(struct virtio_pci *vp, struct vp_queue *q)
{
	if (!vp->env.ioeventfd || q->ioeventfd)
		return;
	q->ioeventfd_addr = notify_addr(vp, q->index);
	if (vp->env.ioeventfd(vp->env.ctx, q->ioeventfd_addr, q->kick_fd, true) == 0)
		q->ioeventfd = true;
}

static void vp_ioeventfd_remove(struct virtio_pci *vp, struct vp_queue *q)
{
	if (!q->ioeventfd)
		return;
	vp->env.ioeventfd(vp->env.ctx, q->ioeventfd_addr, q->kick_fd, false);
	q->ioeventfd = false;
}

/* Starts queue @i if the driver enabled it; cfg_lock held. */
static int vp_start_queue(struct virtio_pci *vp, int i)
{
	struct virtio_dev *d = vp->vdev;
	struct virtq *vq = &d->vq[i];

	if (!vq->ready || atomic_load(&vp->q[i].active))
		return 0;
	if (virtq_start(vq, d->mem, virtio_has_feature(d, VIRTIO_RING_F_EVENT_IDX),
			virtio_has_feature(d, VIRTIO_RING_F_INDIRECT_DESC))) {
		log_warn("%s: queue %d: ring addresses outside guest RAM or misaligned",
			 d->name, i);
		return -EINVAL;
	}
	vp_ioeventfd_assign(vp, &vp->q[i]);
	atomic_store(&vp->q[i].active, true);
	return 0;
}

/*
 * Stops all queues: no kick reaches the device after this returns. cfg_lock
 * is held, but the event loop's handlers never take it, so waiting for them
 * (event_loop_sync) cannot deadlock.
 */
static void vp_stop_queues(struct virtio_pci *vp)
{
	for (int i = 0; i < vp->vdev->nr_queues; i++) {
		atomic_store(&vp->q[i].active, false);
		vp_ioeventfd_remove(vp, &vp->q[i]);
	}
	if (vp->env.loop)
		event_loop_sync(vp->env.loop);
}

/*
 * Drivers may make buffers available, and kick, before DRIVER_OK (Linux's
 * balloon primes its stats queue so); those kicks found the queue stopped.
 * One kick per started queue lets the device see what is already there.
 */
static void vp_replay_kicks(struct virtio_pci *vp)
{
	uint64_t one = 1;

	for (int i = 0; i < vp->vdev->nr_queues; i++)
		if (atomic_load(&vp->q[i].active) && write(vp->q[i].kick_fd, &one, 8) < 0)
			log_debug("%s: kick: %s", vp->vdev->name, strerror(errno));
}

static void vp_reset(struct virtio_pci *vp)
{
	struct virtio_dev *d = vp->vdev;

	vp_stop_queues(vp);
	if (vp->status & VIRTIO_CONFIG_S_DRIVER_OK)
		d->ops->reset(d);
	vp->status = 0;
	vp->driver_features = 0;
	d->features = 0;
	vp->device_feature_select = vp->driver_feature_select = 0;
	vp->queue_select = 0;
	vp->msix_config = VIRTIO_MSI_NO_VECTOR;
	for (int i = 0; i < d->nr_queues; i++) {
		virtq_reset(&d->vq[i]);
		d->vq[i].size = d->queue_max_size;
		vp->q[i].msix_vector = VIRTIO_MSI_NO_VECTOR;
	}
	pthread_mutex_lock(&vp->irq_lock);
	vp->isr = 0;
	irq_line_set(&vp->env.intx, 0);
	pthread_mutex_unlock(&vp->irq_lock);
}

static void vp_set_status(struct virtio_pci *vp, uint8_t st)
{
	struct virtio_dev *d = vp->vdev;
	uint8_t old = vp->status;

	if (st == 0) {
		vp_reset(vp);
		return;
	}
	/*
	 * Only a reset clears bits (2.1.2): a write that would clear one adds
	 * its others. Dropping DRIVER_OK would otherwise activate the device
	 * twice, or make the reset skip the device's while its queues run.
	 */
	st |= old;
	/* FEATURES_OK only sticks when the driver asked for what we offer. */
	if ((st & VIRTIO_CONFIG_S_FEATURES_OK) && !(old & VIRTIO_CONFIG_S_FEATURES_OK)) {
		uint64_t bad = vp->driver_features & ~vp_offered_features(vp);

		if (bad || !(vp->driver_features & (1ULL << VIRTIO_F_VERSION_1))) {
			log_debug("%s: driver features %#llx refused", d->name,
				  (unsigned long long)vp->driver_features);
			st &= ~VIRTIO_CONFIG_S_FEATURES_OK;
		} else {
			d->features = vp->driver_features;
		}
	}
	/* Or: a device thread may set NEEDS_RESET meanwhile. */
	atomic_fetch_or(&vp->status, st);
	if ((st & VIRTIO_CONFIG_S_DRIVER_OK) && !(old & VIRTIO_CONFIG_S_DRIVER_OK)) {
		int ret = 0;

		if (!(st & VIRTIO_CONFIG_S_FEATURES_OK))
			ret = -EINVAL;
		for (int i = 0; !ret && i < d->nr_queues; i++)
			ret = vp_start_queue(vp, i);
		if (!ret)
			ret = d->ops->activate(d);
		if (ret) {
			vp_stop_queues(vp);
			vp->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
		} else {
			vp_replay_kicks(vp);
		}
	}
}

/* The common configuration structure as the driver reads it. */
static void common_read(struct virtio_pci *vp, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_pci_common_cfg c;
	struct virtio_dev *d = vp->vdev;
	uint16_t qs = vp->queue_select;
	uint64_t f = vp_offered_features(vp);

	memset(&c, 0, sizeof(c));
	c.device_feature_select = vp->device_feature_select;
	c.device_feature = vp->device_feature_select < 2 ?
				   (uint32_t)(f >> (32 * vp->device_feature_select)) :
				   0;
	c.guest_feature_select = vp->driver_feature_select;
	c.guest_feature = vp->driver_feature_select < 2 ?
				  (uint32_t)(vp->driver_features >>
					     (32 * vp->driver_feature_select)) :
				  0;
	c.msix_config = vp->msix_config;
	c.num_queues = d->nr_queues;
	c.device_status = vp->status;
	c.config_generation = vp->config_generation;
	c.queue_select = qs;
	if (qs < d->nr_queues) {
		const struct virtq *vq = &d->vq[qs];

		c.queue_size = vq->size;
		c.queue_msix_vector = vp->q[qs].msix_vector;
		c.queue_enable = vq->ready;
		c.queue_notify_off = qs;
		c.queue_desc_lo = (uint32_t)vq->desc_gpa;
		c.queue_desc_hi = (uint32_t)(vq->desc_gpa >> 32);
		c.queue_avail_lo = (uint32_t)vq->avail_gpa;
		c.queue_avail_hi = (uint32_t)(vq->avail_gpa >> 32);
		c.queue_used_lo = (uint32_t)vq->used_gpa;
		c.queue_used_hi = (uint32_t)(vq->used_gpa >> 32);
	}
	if (off < sizeof(c))
		memcpy(data, (uint8_t *)&c + off,
		       len <= sizeof(c) - off ? len : sizeof(c) - off);
}

static void set_lo_hi(uint64_t *v, bool hi, uint32_t val)
{
	if (hi)
		*v = (*v & 0xffffffffULL) | ((uint64_t)val << 32);
	else
		*v = (*v & ~0xffffffffULL) | val;
}

#define CC(field) offsetof(struct virtio_pci_common_cfg, field)

/* Writes are taken per field; the driver uses each field's natural width. */
static void common_write(struct virtio_pci *vp, uint32_t off, uint64_t val, uint32_t len)
{
	struct virtio_dev *d = vp->vdev;
	uint16_t qs = vp->queue_select;
	struct virtq *vq = qs < d->nr_queues ? &d->vq[qs] : NULL;
	/* Queue setup is frozen once the queue is enabled or the device is live. */
	bool q_locked = !vq || vq->ready || (vp->status & VIRTIO_CONFIG_S_DRIVER_OK);

	switch (off) {
	case CC(device_feature_select):
		vp->device_feature_select = val;
		break;
	case CC(guest_feature_select):
		vp->driver_feature_select = val;
		break;
	case CC(guest_feature):
		if (vp->status & VIRTIO_CONFIG_S_FEATURES_OK)
			break;
		if (vp->driver_feature_select < 2) {
			uint64_t f = vp->driver_features;

			set_lo_hi(&f, vp->driver_feature_select == 1, (uint32_t)val);
			vp->driver_features = f;
		}
		break;
	case CC(msix_config):
		vp->msix_config = val < MSIX_MAX_VECTORS ? val : VIRTIO_MSI_NO_VECTOR;
		break;
	case CC(device_status):
		vp_set_status(vp, (uint8_t)val);
		break;
	case CC(queue_select):
		vp->queue_select = val;
		break;
	case CC(queue_size):
		/* A power of two no larger than the maximum, or ignored. */
		if (!q_locked && val && val <= d->queue_max_size && !(val & (val - 1)))
			vq->size = val;
		break;
	case CC(queue_msix_vector):
		if (vq)
			vp->q[qs].msix_vector =
				val < MSIX_MAX_VECTORS ? val : VIRTIO_MSI_NO_VECTOR;
		break;
	case CC(queue_enable):
		/* The queue starts at DRIVER_OK (q_locked after it). */
		if (!q_locked && val == 1)
			vq->ready = true;
		break;
	case CC(queue_desc_lo):
	case CC(queue_desc_hi):
		if (!q_locked)
			set_lo_hi(&vq->desc_gpa, off == CC(queue_desc_hi), (uint32_t)val);
		break;
	case CC(queue_avail_lo):
	case CC(queue_avail_hi):
		if (!q_locked)
			set_lo_hi(&vq->avail_gpa, off == CC(queue_avail_hi),
				  (uint32_t)val);
		break;
	case CC(queue_used_lo):
	case CC(queue_used_hi):
		if (!q_locked)
			set_lo_hi(&vq->used_gpa, off == CC(queue_used_hi), (uint32_t)val);
		break;
	default:
		/* Read-only fields and partial writes are ignored. */
		break;
	}
	(void)len;
}

static uint64_t le_val(const uint8_t *data, uint32_t len)
{
	uint64_t v = 0;

	memcpy(&v, data, len > 8 ? 8 : len);
	return v;
}

static void cfg_bar_read(void *dev, uint64_t off, uint8_t *data, uint32_t len)
{
	struct virtio_pci *vp = dev;
	struct virtio_dev *d = vp->vdev;

	memset(data, 0, len);
	pthread_mutex_lock(&vp->cfg_lock);
	if (off < VP_ISR_OFF) {
		common_read(vp, off, data, len);
	} else if (off == VP_ISR_OFF) {
		/* Reading the ISR acknowledges it and lowers INTx. */
		pthread_mutex_lock(&vp->irq_lock);
		data[0] = vp->isr;
		vp->isr = 0;
		irq_line_set(&vp->env.intx, 0);
		pthread_mutex_unlock(&vp->irq_lock);
	} else if (off >= VP_DEVICE_OFF && off < VP_NOTIFY_OFF) {
		uint64_t o = off - VP_DEVICE_OFF;

		if (o + len <= d->config_size && d->ops->read_config)
			d->ops->read_config(d, o, data, len);
	}
	pthread_mutex_unlock(&vp->cfg_lock);
}

static void cfg_bar_write(void *dev, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct virtio_pci *vp = dev;
	struct virtio_dev *d = vp->vdev;

	if (off >= VP_NOTIFY_OFF) {
		/* KVM did not take it as an ioeventfd: kick by hand. */
		uint64_t q = (off - VP_NOTIFY_OFF) / VP_NOTIFY_MULT;
		uint64_t one = 1;

		if (q < (uint64_t)d->nr_queues && write(vp->q[q].kick_fd, &one, 8) < 0)
			log_debug("%s: kick: %s", d->name, strerror(errno));
		return;
	}
	pthread_mutex_lock(&vp->cfg_lock);
	if (off < VP_ISR_OFF) {
		common_write(vp, off, le_val(data, len), len);
	} else if (off >= VP_DEVICE_OFF) {
		uint64_t o = off - VP_DEVICE_OFF;

		if (o + len <= d->config_size && d->ops->write_config)
			d->ops->write_config(d, o, data, len);
	}
	pthread_mutex_unlock(&vp->cfg_lock);
}

static const struct bus_ops cfg_bar_ops = { cfg_bar_read, cfg_bar_write };

static void msix_bar_read(void *dev, uint64_t off, uint8_t *data, uint32_t len)
{
	struct virtio_pci *vp = dev;

	memset(data, 0, len);
	pthread_mutex_lock(&vp->irq_lock);
	if (off + len <= sizeof(vp->msix))
		memcpy(data, (uint8_t *)vp->msix + off, len);
	else if (off >= VIRTIO_PCI_MSIX_PBA && off + len <= VIRTIO_PCI_MSIX_PBA + 8)
		memcpy(data, (uint8_t *)&vp->msix_pending + (off - VIRTIO_PCI_MSIX_PBA),
		       len);
	pthread_mutex_unlock(&vp->irq_lock);
}

static void msix_bar_write(void *dev, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct virtio_pci *vp = dev;

	pthread_mutex_lock(&vp->irq_lock);
	if (off + len <= sizeof(vp->msix)) {
		uint16_t v = off / sizeof(struct msix_entry);

		memcpy((uint8_t *)vp->msix + off, data, len);
		/* Unmasking an entry delivers what was held back. */
		if ((vp->msix_pending & (1ULL << v)) &&
		    !(vp->msix[v].ctrl & MSIX_ENTRY_MASKED))
			msix_fire_locked(vp, v);
	}
	pthread_mutex_unlock(&vp->irq_lock);
}

static const struct bus_ops msix_bar_ops = { msix_bar_read, msix_bar_write };

/* PCI config hook (bus lock held): BAR moves, MSI-X mask, PCI_CFG window. */
static void vp_config_write(struct pci_device *pd, uint32_t off, uint32_t len)
{
	struct virtio_pci *vp = pd->priv;
	struct virtio_pci_cfg_cap *cc = (void *)&pd->config[vp->cfg_cap];

	if (off < PCI_BASE_ADDRESS_0 + 24 && off + len > PCI_BASE_ADDRESS_0) {
		/* The notify area moved with BAR2: move the ioeventfds too. */
		pthread_mutex_lock(&vp->cfg_lock);
		for (int i = 0; i < vp->vdev->nr_queues; i++) {
			struct vp_queue *q = &vp->q[i];

			if (q->ioeventfd && q->ioeventfd_addr != notify_addr(vp, i)) {
				vp_ioeventfd_remove(vp, q);
				vp_ioeventfd_assign(vp, q);
			}
		}
		pthread_mutex_unlock(&vp->cfg_lock);
	}
	if (off <= (uint32_t)vp->msix_cap + 3 && off + len > (uint32_t)vp->msix_cap + 2) {
		pthread_mutex_lock(&vp->irq_lock);
		for (int v = 0; v < MSIX_MAX_VECTORS; v++)
			if (vp->msix_pending & (1ULL << v))
				msix_fire_locked(vp, v);
		pthread_mutex_unlock(&vp->irq_lock);
	}
	/* VIRTIO_PCI_CAP_PCI_CFG: a window onto BAR2 through config space. */
	if (off + len > (uint32_t)vp->cfg_cap &&
	    off < (uint32_t)vp->cfg_cap + sizeof(*cc)) {
		uint32_t boff = cc->cap.offset, blen = cc->cap.length;
		uint32_t data_off =
			vp->cfg_cap + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data);

		if (cc->cap.bar != VIRTIO_PCI_BAR_CFG ||
		    !(blen == 1 || blen == 2 || blen == 4) ||
		    boff >= VIRTIO_PCI_CFG_BAR_SIZE || boff % blen)
			return;
		if (off >= data_off)
			cfg_bar_write(vp, boff, cc->pci_cfg_data, blen);
		else /* the window moved: have the data ready for a read */
			cfg_bar_read(vp, boff, cc->pci_cfg_data, blen);
	}
}

static int add_vendor_cap(struct pci_device *pd, uint8_t type, uint32_t offset,
			  uint32_t length, uint8_t size)
{
	int off = pci_add_capability(pd, PCI_CAP_ID_VNDR, size);
	struct virtio_pci_cap cap;

	if (off < 0)
		return off;
	memcpy(&cap, &pd->config[off], sizeof(cap));
	cap.cap_len = size;
	cap.cfg_type = type;
	cap.bar = VIRTIO_PCI_BAR_CFG;
	cap.offset = offset;
	cap.length = length;
	memcpy(&pd->config[off], &cap, sizeof(cap));
	return off;
}

static uint32_t virtio_class(uint16_t device_id)
{
	switch (device_id) {
	case 1: /* net */
		return 0x020000;
	case 2: /* block */
		return 0x018000;
	case 3: /* console */
		return 0x078000;
	default:
		return 0x00ff00;
	}
}

static int vp_setup_pci(struct virtio_pci *vp)
{
	struct pci_device *pd = &vp->pci;
	struct virtio_dev *d = vp->vdev;
	int off;

	pci_device_init(pd, d->name, PCI_VENDOR_REDHAT_QUMRANET,
			PCI_DEVICE_VIRTIO_MODERN + d->device_id,
			virtio_class(d->device_id), 1);
	memcpy(&pd->config[PCI_SUBSYSTEM_VENDOR_ID],
	       &(uint16_t){ PCI_VENDOR_REDHAT_QUMRANET }, 2);
	memcpy(&pd->config[PCI_SUBSYSTEM_ID], &(uint16_t){ 0x40 }, 2);
	pd->config[PCI_INTERRUPT_PIN] = 1; /* INTA; the line is set once on the bus */
	pd->bar[VIRTIO_PCI_BAR_MSIX] = (struct pci_bar){ .size = VIRTIO_PCI_MSIX_BAR_SIZE,
							 .ops = &msix_bar_ops,
							 .dev = vp };
	pd->bar[VIRTIO_PCI_BAR_CFG] = (struct pci_bar){ .size = VIRTIO_PCI_CFG_BAR_SIZE,
							.ops = &cfg_bar_ops,
							.dev = vp };
	pd->config_write = vp_config_write;
	pd->priv = vp;

	off = pci_add_capability(pd, PCI_CAP_ID_MSIX, 12);
	if (off < 0)
		return off;
	vp->msix_cap = off;
	memcpy(&pd->config[off + 2], &(uint16_t){ MSIX_MAX_VECTORS - 1 }, 2);
	memcpy(&pd->config[off + 4], &(uint32_t){ 0 | VIRTIO_PCI_BAR_MSIX }, 4);
	memcpy(&pd->config[off + 8],
	       &(uint32_t){ VIRTIO_PCI_MSIX_PBA | VIRTIO_PCI_BAR_MSIX }, 4);
	pd->wmask[off + 3] = (MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL) >> 8;

	if ((off = add_vendor_cap(pd, VIRTIO_PCI_CAP_COMMON_CFG, VP_COMMON_OFF,
				  sizeof(struct virtio_pci_common_cfg),
				  sizeof(struct virtio_pci_cap))) < 0 ||
	    (off = add_vendor_cap(pd, VIRTIO_PCI_CAP_ISR_CFG, VP_ISR_OFF, 1,
				  sizeof(struct virtio_pci_cap))) < 0 ||
	    (off = add_vendor_cap(pd, VIRTIO_PCI_CAP_DEVICE_CFG, VP_DEVICE_OFF,
				  d->config_size ? d->config_size : 1,
				  sizeof(struct virtio_pci_cap))) < 0)
		return off;
	off = add_vendor_cap(pd, VIRTIO_PCI_CAP_NOTIFY_CFG, VP_NOTIFY_OFF,
			     d->nr_queues * VP_NOTIFY_MULT,
			     sizeof(struct virtio_pci_notify_cap));
	if (off < 0)
		return off;
	memcpy(&pd->config[off +
			   offsetof(struct virtio_pci_notify_cap, notify_off_multiplier)],
	       &(uint32_t){ VP_NOTIFY_MULT }, 4);
	off = add_vendor_cap(pd, VIRTIO_PCI_CAP_PCI_CFG, 0, 0,
			     sizeof(struct virtio_pci_cfg_cap));
	if (off < 0)
		return off;
	vp->cfg_cap = off;
	/* bar, offset, length and data of the window are the driver's. */
	pd->wmask[off + offsetof(struct virtio_pci_cap, bar)] = 0xff;
	memset(&pd->wmask[off + offsetof(struct virtio_pci_cap, offset)], 0xff, 8);
	memset(&pd->wmask[off + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data)], 0xff,
	       4);
	return 0;
}

struct virtio_pci *virtio_pci_create(struct virtio_dev *vdev, struct pci_bus *bus,
				     const struct virtio_pci_env *env, struct kb_err *err)
{
	struct virtio_pci *vp = calloc(1, sizeof(*vp));
	int ret;

	if (!vp) {
		kb_err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	if (vdev->nr_queues < 1 || vdev->nr_queues > VIRTIO_MAX_QUEUES ||
	    vdev->config_size > VP_NOTIFY_OFF - VP_DEVICE_OFF) {
		kb_err_set(err, -EINVAL, "%s: bad device description", vdev->name);
		free(vp);
		return NULL;
	}
	vp->vdev = vdev;
	vp->env = *env;
	pthread_mutex_init(&vp->cfg_lock, NULL);
	pthread_mutex_init(&vp->irq_lock, NULL);
	vdev->mem = env->mem;
	vdev->transport = vp;
	vdev->transport_ops = &vp_transport_ops;
	for (int i = 0; i < VIRTIO_MAX_QUEUES; i++)
		vp->q[i].kick_fd = -1;
	for (int i = 0; i < MSIX_MAX_VECTORS; i++)
		vp->msix[i].ctrl = MSIX_ENTRY_MASKED;
	for (int i = 0; i < vdev->nr_queues; i++) {
		vp->q[i].vp = vp;
		vp->q[i].index = i;
		vp->q[i].kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vp->q[i].kick_fd < 0 ||
		    (env->loop && event_add(env->loop, vp->q[i].kick_fd, EPOLLIN, vp_kick,
					    &vp->q[i]))) {
			kb_err_set(err, -errno, "%s: eventfd: %s", vdev->name,
				   strerror(errno));
			goto fail;
		}
	}
	ret = vp_setup_pci(vp);
	if (ret) {
		kb_err_set(err, ret, "%s: PCI capabilities do not fit", vdev->name);
		goto fail;
	}
	if (pci_bus_add(bus, &vp->pci, err))
		goto fail;
	/* What firmware would do: route INTA and write the line register. */
	if (env->intx_gsi)
		vp->env.intx.gsi = env->intx_gsi(env->ctx, vp->pci.devfn >> 3);
	vp->pci.config[PCI_INTERRUPT_LINE] = vp->env.intx.gsi;
	/* Only now that INTx is routed may reset touch the line. */
	vp_reset(vp);
	return vp;
fail:
	virtio_pci_destroy(vp);
	return NULL;
}

void virtio_pci_destroy(struct virtio_pci *vp)
{
	if (!vp)
		return;
	pthread_mutex_lock(&vp->cfg_lock);
	vp_stop_queues(vp);
	if (vp->status & VIRTIO_CONFIG_S_DRIVER_OK)
		vp->vdev->ops->reset(vp->vdev);
	pthread_mutex_unlock(&vp->cfg_lock);
	pci_bus_remove(&vp->pci);
	for (int i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		if (vp->q[i].kick_fd < 0)
			continue;
		if (vp->env.loop)
			event_del(vp->env.loop, vp->q[i].kick_fd);
		close(vp->q[i].kick_fd);
	}
	if (vp->vdev->ops->destroy)
		vp->vdev->ops->destroy(vp->vdev);
	pthread_mutex_destroy(&vp->cfg_lock);
	pthread_mutex_destroy(&vp->irq_lock);
	free(vp);
}

struct pci_device *virtio_pci_device(struct virtio_pci *vp)
{
	return &vp->pci;
}

struct virtio_dev *virtio_pci_vdev(struct virtio_pci *vp)
{
	return vp->vdev;
}
