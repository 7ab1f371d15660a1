// SPDX-License-Identifier: GPL-2.0-only
/*
 * virtio-rng check: two reads from the virtio-rng device through its hwrng
 * read method, as the hwrng core does for /dev/hwrng. kernel_read() cannot
 * be used: /dev/hwrng has only .read, which kernel reads refuse.
 *
 * The device is found as the child of its PCI function (1af4:1044). In the
 * 6.1 virtio-rng driver, vdev->priv points to struct virtrng_info whose first
 * member is the struct hwrng: this file builds against linux-source-6.1 only
 * (tools/build-guest-kit), and checks the hwrng's name before using it.
 */
#include <linux/device.h>
#include <linux/hw_random.h>
#include <linux/pci.h>
#include <linux/string.h>
#include <linux/virtio.h>

#include "selftest.h"

#define PCI_DEVICE_ID_VIRTIO_RNG 0x1044

static int __init kst_find_hwrng(struct device *dev, void *data)
{
	struct hwrng **out = data;
	struct virtio_device *vdev;
	struct hwrng *rng;

	if (!dev->driver || strcmp(dev->driver->name, "virtio_rng"))
		return 0;
	vdev = dev_to_virtio(dev);
	rng = vdev->priv;
	if (!rng || !rng->name || strncmp(rng->name, "virtio_rng", 10) || !rng->read)
		return 0;
	*out = rng;
	return 1;
}

bool __init kst_check_rng(struct kst_result *res)
{
	struct pci_dev *pdev;
	struct hwrng *rng = NULL;
	u8 a[32], b[32];
	int n1, n2;

	pdev = pci_get_device(PCI_VENDOR_ID_REDHAT_QUMRANET, PCI_DEVICE_ID_VIRTIO_RNG,
			      NULL);
	if (!pdev)
		return kst_fail(res, "no virtio-rng PCI function (1af4:1044)");
	device_for_each_child(&pdev->dev, &rng, kst_find_hwrng);
	pci_dev_put(pdev);
	if (!rng)
		return kst_fail(res, "the virtio_rng driver is not bound to 1af4:1044");
	n1 = rng->read(rng, a, sizeof(a), true);
	n2 = rng->read(rng, b, sizeof(b), true);
	if (n1 <= 0 || n2 <= 0)
		return kst_fail(res, "reads from %s returned %d, %d", rng->name, n1, n2);
	if (n1 == n2 && !memcmp(a, b, n1))
		return kst_fail(res, "two reads returned the same %d bytes", n1);
	if (!memchr_inv(a, 0, n1) || !memchr_inv(b, 0, n2))
		return kst_fail(res, "all-zero bytes from %s", rng->name);
	return kst_pass(res, "%s: reads of %d and %d bytes differ (%*phN...)", rng->name,
			n1, n2, 4, a);
}
