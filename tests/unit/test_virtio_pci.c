// SPDX-License-Identifier: GPL-2.0-only
/*
 * The virtio-pci transport driven as a guest driver would: config space
 * through 0xcf8/0xcfc, BARs through the MMIO bus, with a fake device.
 */
#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "devices/pci.h"
#include "virtio/pci.h"

#define SLOT 1 /* slot 0 is the host bridge */
#define RING_GPA 0x10000

struct fake {
	struct virtio_dev vdev;
	atomic_int kicks[2];
	int activated, resets;
	uint8_t config[8];
};

struct world {
	struct guest_mem mem;
	struct bus pio, mmio;
	struct pci_bus *pci;
	struct event_loop loop;
	struct fake fake;
	struct virtio_pci *vp;
	uint64_t bar2, bar0;
	int msis;
	uint64_t msi_addr;
	uint32_t msi_data;
	int intx_level;
};

static uint64_t fake_features(struct virtio_dev *d)
{
	return 1ULL << 5;
}

static void fake_read_config(struct virtio_dev *d, uint32_t off, void *data, uint32_t len)
{
	struct fake *f = (struct fake *)d;

	memcpy(data, f->config + off, len);
}

static int fake_activate(struct virtio_dev *d)
{
	((struct fake *)d)->activated++;
	return 0;
}

static void fake_notify(struct virtio_dev *d, int q)
{
	atomic_fetch_add(&((struct fake *)d)->kicks[q], 1);
}

static void fake_reset(struct virtio_dev *d)
{
	((struct fake *)d)->resets++;
}

static const struct virtio_dev_ops fake_ops = {
	.features = fake_features,
	.read_config = fake_read_config,
	.activate = fake_activate,
	.queue_notify = fake_notify,
	.reset = fake_reset,
};

static int record_msi(void *ctx, uint64_t addr, uint32_t data)
{
	struct world *w = ctx;

	w->msis++;
	w->msi_addr = addr;
	w->msi_data = data;
	return 0;
}

static void record_intx(void *ctx, uint32_t gsi, int level)
{
	struct world *w = ctx;

	assert_int_equal(gsi, 17);
	w->intx_level = level;
}

static uint32_t route(void *ctx, int slot)
{
	return 16 + slot;
}

static uint32_t cfg_read(struct world *w, uint32_t off, uint32_t len)
{
	uint32_t a = 0x80000000u | (SLOT << 11) | (off & 0xfc), v = 0;

	bus_access(&w->pio, 0xcf8, (uint8_t *)&a, 4, true);
	bus_access(&w->pio, 0xcfc + (off & 3), (uint8_t *)&v, len, false);
	return v;
}

static void cfg_write(struct world *w, uint32_t off, uint32_t v, uint32_t len)
{
	uint32_t a = 0x80000000u | (SLOT << 11) | (off & 0xfc);

	bus_access(&w->pio, 0xcf8, (uint8_t *)&a, 4, true);
	bus_access(&w->pio, 0xcfc + (off & 3), (uint8_t *)&v, len, true);
}

static uint64_t mmio_read(struct world *w, uint64_t addr, uint32_t len)
{
	uint64_t v = 0;

	bus_access(&w->mmio, addr, (uint8_t *)&v, len, false);
	return v;
}

static void mmio_write(struct world *w, uint64_t addr, uint64_t v, uint32_t len)
{
	bus_access(&w->mmio, addr, (uint8_t *)&v, len, true);
}

#define COMMON(f) (w->bar2 + VP_COMMON_OFF + offsetof(struct virtio_pci_common_cfg, f))

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	struct virtio_pci_env env = { 0 };
	struct kb_err err;

	assert_int_equal(guest_mem_alloc(&w->mem, 1 << 20, 3ULL << 30), 0);
	bus_init(&w->pio);
	bus_init(&w->mmio);
	w->pci = pci_bus_create(&w->mmio, 0xc0000000ULL, 0xfec00000ULL);
	assert_non_null(w->pci);
	assert_int_equal(pci_bus_attach(w->pci, &w->pio), 0);
	assert_int_equal(event_loop_init(&w->loop), 0);
	assert_int_equal(event_loop_start(&w->loop), 0);
	w->fake.vdev = (struct virtio_dev){ .name = "fake",
					    .device_id = 4,
					    .config_size = 8,
					    .nr_queues = 2,
					    .queue_max_size = 256,
					    .ops = &fake_ops };
	memcpy(w->fake.config, "ABCDEFGH", 8);
	env.mem = &w->mem;
	env.loop = &w->loop;
	env.ctx = w;
	env.intx = (struct irq_line){ record_intx, w, 0 };
	env.intx_gsi = route;
	env.signal_msi = record_msi;
	w->vp = virtio_pci_create(&w->fake.vdev, w->pci, &env, &err);
	assert_non_null(w->vp);
	w->bar0 = cfg_read(w, PCI_BASE_ADDRESS_0, 4) & ~0xfULL;
	w->bar2 = cfg_read(w, PCI_BASE_ADDRESS_0 + 8, 4) & ~0xfULL;
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	virtio_pci_destroy(w->vp);
	event_loop_destroy(&w->loop);
	pci_bus_destroy(w->pci);
	bus_destroy(&w->pio);
	bus_destroy(&w->mmio);
	guest_mem_free(&w->mem);
	free(w);
	return 0;
}

static void test_identity_and_caps(void **state)
{
	struct world *w = *state;
	int seen[6] = { 0 }, msix = 0;

	assert_int_equal(cfg_read(w, PCI_VENDOR_ID, 2), 0x1af4);
	assert_int_equal(cfg_read(w, PCI_DEVICE_ID, 2), 0x1044);
	assert_int_equal(cfg_read(w, PCI_INTERRUPT_PIN, 1), 1);
	assert_int_equal(cfg_read(w, PCI_INTERRUPT_LINE, 1), 17);
	assert_true(w->bar2 >= 0xc0000000ULL);
	for (uint32_t p = cfg_read(w, PCI_CAPABILITY_LIST, 1); p;
	     p = cfg_read(w, p + 1, 1)) {
		uint32_t id = cfg_read(w, p, 1);

		if (id == 0x11)
			msix++;
		if (id == 0x09) {
			uint32_t type = cfg_read(w, p + 3, 1);

			assert_true(type >= 1 && type <= 5);
			seen[type]++;
			if (type != VIRTIO_PCI_CAP_PCI_CFG)
				assert_int_equal(cfg_read(w, p + 4, 1),
						 VIRTIO_PCI_BAR_CFG);
			if (type == VIRTIO_PCI_CAP_NOTIFY_CFG)
				assert_int_equal(cfg_read(w, p + 16, 4), VP_NOTIFY_MULT);
		}
	}
	assert_int_equal(msix, 1);
	for (int t = 1; t <= 5; t++)
		assert_int_equal(seen[t], 1);
	/* Device config, through BAR2. */
	assert_int_equal(mmio_read(w, w->bar2 + VP_DEVICE_OFF + 2, 2), 'C' | 'D' << 8);
	assert_int_equal(mmio_read(w, w->bar2 + VP_DEVICE_OFF + 7, 2),
			 0); /* past the end */
}

static void negotiate(struct world *w, uint64_t features)
{
	mmio_write(w, COMMON(device_status), 0, 1);
	mmio_write(w, COMMON(device_status),
		   VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER, 1);
	mmio_write(w, COMMON(guest_feature_select), 0, 4);
	mmio_write(w, COMMON(guest_feature), (uint32_t)features, 4);
	mmio_write(w, COMMON(guest_feature_select), 1, 4);
	mmio_write(w, COMMON(guest_feature), (uint32_t)(features >> 32), 4);
	mmio_write(w, COMMON(device_status),
		   VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
			   VIRTIO_CONFIG_S_FEATURES_OK,
		   1);
}

static void test_feature_negotiation(void **state)
{
	struct world *w = *state;
	uint64_t f;

	mmio_write(w, COMMON(device_feature_select), 0, 4);
	f = mmio_read(w, COMMON(device_feature), 4);
	mmio_write(w, COMMON(device_feature_select), 1, 4);
	f |= mmio_read(w, COMMON(device_feature), 4) << 32;
	assert_true(f & (1ULL << VIRTIO_F_VERSION_1));
	assert_true(f & (1ULL << VIRTIO_RING_F_EVENT_IDX));
	assert_true(f & (1ULL << 5));
	/* Asking for a feature not offered: FEATURES_OK does not stick. */
	negotiate(w, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << 7));
	assert_false(mmio_read(w, COMMON(device_status), 1) &
		     VIRTIO_CONFIG_S_FEATURES_OK);
	/* Without VERSION_1 (a legacy driver): refused too. */
	negotiate(w, 1ULL << 5);
	assert_false(mmio_read(w, COMMON(device_status), 1) &
		     VIRTIO_CONFIG_S_FEATURES_OK);
	negotiate(w, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << 5));
	assert_true(mmio_read(w, COMMON(device_status), 1) & VIRTIO_CONFIG_S_FEATURES_OK);
	assert_int_equal(mmio_read(w, COMMON(num_queues), 2), 2);
}

static void setup_queue(struct world *w, int q, uint64_t base, uint16_t vector)
{
	mmio_write(w, COMMON(queue_select), q, 2);
	assert_int_equal(mmio_read(w, COMMON(queue_size), 2), 256);
	mmio_write(w, COMMON(queue_size), 100, 2); /* not a power of two: ignored */
	assert_int_equal(mmio_read(w, COMMON(queue_size), 2), 256);
	mmio_write(w, COMMON(queue_size), 16, 2);
	mmio_write(w, COMMON(queue_desc_lo), (uint32_t)base, 4);
	mmio_write(w, COMMON(queue_desc_hi), (uint32_t)(base >> 32), 4);
	mmio_write(w, COMMON(queue_avail_lo), (uint32_t)(base + 0x1000), 4);
	mmio_write(w, COMMON(queue_avail_hi), 0, 4);
	mmio_write(w, COMMON(queue_used_lo), (uint32_t)(base + 0x2000), 4);
	mmio_write(w, COMMON(queue_used_hi), 0, 4);
	mmio_write(w, COMMON(queue_msix_vector), vector, 2);
	mmio_write(w, COMMON(queue_enable), 1, 2);
	assert_int_equal(mmio_read(w, COMMON(queue_enable), 2), 1);
}

static void wait_kicks(atomic_int *k, int want)
{
	for (int i = 0; i < 2000 && atomic_load(k) < want; i++)
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
}

static void test_queue_kick_and_msix(void **state)
{
	struct world *w = *state;
	uint32_t ctrl_off = 0;

	negotiate(w, 1ULL << VIRTIO_F_VERSION_1);
	setup_queue(w, 0, RING_GPA, 1);
	mmio_write(w, COMMON(device_status), 0xf & ~VIRTIO_CONFIG_S_FAILED, 1);
	assert_int_equal(w->fake.activated, 1);
	assert_int_equal(mmio_read(w, COMMON(device_status), 1), 0xf);
	/* Setup is frozen once live. */
	mmio_write(w, COMMON(queue_desc_lo), 0x5000, 4);
	assert_int_equal(mmio_read(w, COMMON(queue_desc_lo), 4), RING_GPA);

	/* DRIVER_OK replays one kick per started queue (buffers the driver
	 * made available before it); queue 1 was never enabled. */
	wait_kicks(&w->fake.kicks[0], 1);
	assert_int_equal(atomic_load(&w->fake.kicks[0]), 1);
	assert_int_equal(atomic_load(&w->fake.kicks[1]), 0);

	/* A kick on the notify address reaches the device on the loop. */
	mmio_write(w, w->bar2 + VP_NOTIFY_OFF, 0, 2);
	wait_kicks(&w->fake.kicks[0], 2);
	assert_int_equal(atomic_load(&w->fake.kicks[0]), 2);
	assert_int_equal(atomic_load(&w->fake.kicks[1]), 0);

	/* MSI-X: enable, program vector 1, masked first: held pending. */
	for (uint32_t p = cfg_read(w, PCI_CAPABILITY_LIST, 1); p;
	     p = cfg_read(w, p + 1, 1))
		if (cfg_read(w, p, 1) == 0x11)
			ctrl_off = p + 2;
	assert_int_equal(cfg_read(w, ctrl_off, 2) & 0x7ff, VIRTIO_MAX_QUEUES);
	cfg_write(w, ctrl_off, 0x8000, 2);
	mmio_write(w, w->bar0 + 16, 0xfee00000, 4);
	mmio_write(w, w->bar0 + 24, 0x41, 4);
	/* An interrupt is due only for new used entries: push one each time. */
	virtq_push(&w->fake.vdev.vq[0], 0, 0);
	virtio_notify_queue(&w->fake.vdev, 0);
	assert_int_equal(w->msis, 0);
	assert_int_equal(mmio_read(w, w->bar0 + VIRTIO_PCI_MSIX_PBA, 8), 1 << 1);
	mmio_write(w, w->bar0 + 28, 0, 4); /* unmask: the pending one goes out */
	assert_int_equal(w->msis, 1);
	assert_int_equal(w->msi_addr, 0xfee00000);
	assert_int_equal(w->msi_data, 0x41);
	assert_int_equal(mmio_read(w, w->bar0 + VIRTIO_PCI_MSIX_PBA, 8), 0);
	virtio_notify_queue(&w->fake.vdev, 0); /* nothing new used: no interrupt */
	assert_int_equal(w->msis, 1);
	virtq_push(&w->fake.vdev.vq[0], 1, 0);
	virtio_notify_queue(&w->fake.vdev, 0);
	assert_int_equal(w->msis, 2);

	/* MSI-X off: INTx through the ISR, lowered by reading it. */
	cfg_write(w, ctrl_off, 0, 2);
	virtq_push(&w->fake.vdev.vq[0], 2, 0);
	virtio_notify_queue(&w->fake.vdev, 0);
	assert_int_equal(w->intx_level, 1);
	assert_int_equal(mmio_read(w, w->bar2 + VP_ISR_OFF, 1), 1);
	assert_int_equal(w->intx_level, 0);
	assert_int_equal(mmio_read(w, w->bar2 + VP_ISR_OFF, 1), 0);

	/* Reset: the device is told, kicks stop reaching it. */
	mmio_write(w, COMMON(device_status), 0, 1);
	assert_int_equal(w->fake.resets, 1);
	assert_int_equal(mmio_read(w, COMMON(device_status), 1), 0);
	mmio_write(w, w->bar2 + VP_NOTIFY_OFF, 0, 2);
	event_loop_sync(&w->loop);
	nanosleep(&(struct timespec){ 0, 20000000 }, NULL);
	assert_int_equal(atomic_load(&w->fake.kicks[0]), 2);
}

static void test_hostile_ring_address(void **state)
{
	struct world *w = *state;

	negotiate(w, 1ULL << VIRTIO_F_VERSION_1);
	setup_queue(w, 0, 0x7ffff000ULL, VIRTIO_MSI_NO_VECTOR); /* beyond 1 MiB of RAM */
	mmio_write(w, COMMON(device_status), 0xf & ~VIRTIO_CONFIG_S_FAILED, 1);
	assert_true(mmio_read(w, COMMON(device_status), 1) & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_int_equal(w->fake.activated, 0);
	mmio_write(w, COMMON(device_status), 0, 1);
	assert_int_equal(mmio_read(w, COMMON(device_status), 1), 0);
}

static void test_pci_cfg_window(void **state)
{
	struct world *w = *state;
	uint32_t cap = 0;

	for (uint32_t p = cfg_read(w, PCI_CAPABILITY_LIST, 1); p;
	     p = cfg_read(w, p + 1, 1))
		if (cfg_read(w, p, 1) == 0x09 &&
		    cfg_read(w, p + 3, 1) == VIRTIO_PCI_CAP_PCI_CFG)
			cap = p;
	assert_true(cap);
	/* Read num_queues through the window. */
	cfg_write(w, cap + 4, VIRTIO_PCI_BAR_CFG, 1);
	cfg_write(w, cap + 12, 2, 4);
	cfg_write(w, cap + 8, offsetof(struct virtio_pci_common_cfg, num_queues), 4);
	assert_int_equal(cfg_read(w, cap + 16, 2), 2);
	/* Write the status through it. */
	cfg_write(w, cap + 12, 1, 4);
	cfg_write(w, cap + 8, offsetof(struct virtio_pci_common_cfg, device_status), 4);
	cfg_write(w, cap + 16, VIRTIO_CONFIG_S_ACKNOWLEDGE, 1);
	assert_int_equal(mmio_read(w, COMMON(device_status), 1),
			 VIRTIO_CONFIG_S_ACKNOWLEDGE);
}

static uint32_t msix_ctrl_off(struct world *w)
{
	for (uint32_t p = cfg_read(w, PCI_CAPABILITY_LIST, 1); p;
	     p = cfg_read(w, p + 1, 1))
		if (cfg_read(w, p, 1) == 0x11)
			return p + 2;
	fail();
	return 0;
}

/*
 * Status bits are cleared only by a reset (2.1.2). A driver that drops
 * DRIVER_OK with the device live must not get the device to skip its
 * reset (its queues and in-flight I/O would outlive the rings' reset), nor
 * get it activated twice.
 */
static void test_status_bits_stick(void **state)
{
	struct world *w = *state;
	uint8_t live = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		       VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK;

	negotiate(w, 1ULL << VIRTIO_F_VERSION_1);
	setup_queue(w, 0, RING_GPA, VIRTIO_MSI_NO_VECTOR);
	mmio_write(w, COMMON(device_status), live, 1);
	assert_int_equal(w->fake.activated, 1);
	mmio_write(w, COMMON(device_status), live & ~VIRTIO_CONFIG_S_DRIVER_OK, 1);
	assert_int_equal(mmio_read(w, COMMON(device_status), 1), live);
	mmio_write(w, COMMON(device_status), live, 1);
	assert_int_equal(w->fake.activated, 1);
	mmio_write(w, COMMON(device_status), VIRTIO_CONFIG_S_ACKNOWLEDGE, 1);
	mmio_write(w, COMMON(device_status), 0, 1);
	assert_int_equal(w->fake.resets, 1);
	assert_int_equal(mmio_read(w, COMMON(device_status), 1), 0);
}

/* A device that finds the driver misbehaving again and again (every kick
 * of a broken queue) says so once: one config interrupt, not a flood. */
static void test_needs_reset_once(void **state)
{
	struct world *w = *state;
	uint32_t ctrl_off = msix_ctrl_off(w);
	uint8_t gen;

	negotiate(w, 1ULL << VIRTIO_F_VERSION_1);
	mmio_write(w, COMMON(msix_config), 0, 2);
	mmio_write(w, COMMON(device_status), 0xf & ~VIRTIO_CONFIG_S_FAILED, 1);
	cfg_write(w, ctrl_off, 0x8000, 2);
	mmio_write(w, w->bar0 + 0, 0xfee00000, 4);
	mmio_write(w, w->bar0 + 8, 0x42, 4);
	mmio_write(w, w->bar0 + 12, 0, 4); /* unmask vector 0 */
	gen = mmio_read(w, COMMON(config_generation), 1);
	virtio_set_needs_reset(&w->fake.vdev);
	assert_int_equal(w->msis, 1);
	assert_int_equal(w->msi_data, 0x42);
	assert_true(mmio_read(w, COMMON(device_status), 1) & VIRTIO_CONFIG_S_NEEDS_RESET);
	virtio_set_needs_reset(&w->fake.vdev);
	virtio_set_needs_reset(&w->fake.vdev);
	assert_int_equal(w->msis, 1);
	assert_int_equal((uint8_t)mmio_read(w, COMMON(config_generation), 1),
			 (uint8_t)(gen + 1));
	/* After a reset the next misbehaviour is reported again. */
	mmio_write(w, COMMON(device_status), 0, 1);
	negotiate(w, 1ULL << VIRTIO_F_VERSION_1);
	mmio_write(w, COMMON(msix_config), 0, 2);
	mmio_write(w, COMMON(device_status), 0xf & ~VIRTIO_CONFIG_S_FAILED, 1);
	virtio_set_needs_reset(&w->fake.vdev);
	assert_int_equal(w->msis, 2);
}

/* Pending MSI-X vectors wait while MSI-X is disabled: unmasking an entry
 * then sends nothing; enabling sends it. */
static void test_msix_disabled_holds_pending(void **state)
{
	struct world *w = *state;
	uint32_t ctrl_off = msix_ctrl_off(w);

	negotiate(w, 1ULL << VIRTIO_F_VERSION_1);
	setup_queue(w, 0, RING_GPA, 1);
	mmio_write(w, COMMON(device_status), 0xf & ~VIRTIO_CONFIG_S_FAILED, 1);
	cfg_write(w, ctrl_off, 0x8000, 2);
	mmio_write(w, w->bar0 + 16, 0xfee00000, 4);
	mmio_write(w, w->bar0 + 24, 0x41, 4);
	virtq_push(&w->fake.vdev.vq[0], 0, 0);
	virtio_notify_queue(&w->fake.vdev, 0); /* entry masked: pending */
	assert_int_equal(mmio_read(w, w->bar0 + VIRTIO_PCI_MSIX_PBA, 8), 1 << 1);
	cfg_write(w, ctrl_off, 0, 2); /* MSI-X off */
	mmio_write(w, w->bar0 + 28, 0, 4); /* unmask */
	assert_int_equal(w->msis, 0);
	assert_int_equal(mmio_read(w, w->bar0 + VIRTIO_PCI_MSIX_PBA, 8), 1 << 1);
	cfg_write(w, ctrl_off, 0x8000, 2);
	assert_int_equal(w->msis, 1);
	assert_int_equal(mmio_read(w, w->bar0 + VIRTIO_PCI_MSIX_PBA, 8), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identity_and_caps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_feature_negotiation, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_queue_kick_and_msix, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hostile_ring_address, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pci_cfg_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_bits_stick, setup, teardown),
		cmocka_unit_test_setup_teardown(test_needs_reset_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msix_disabled_holds_pending, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
