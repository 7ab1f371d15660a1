// SPDX-License-Identifier: GPL-2.0-only
/*
 * virtio-rng check: read /dev/hwrng twice, through a device node made in the
 * initramfs (devtmpfs is not mounted yet at this point of the boot).
 */
#include <linux/fs.h>
#include <linux/init_syscalls.h>
#include <linux/kdev_t.h>
#include <linux/major.h>
#include <linux/miscdevice.h>
#include <linux/string.h>

#include "selftest.h"

#define KST_HWRNG_NODE "/kvmbox-selftest-hwrng"

static ssize_t __init kst_read_rng(struct file *f, u8 *buf, size_t len)
{
	size_t got = 0;
	loff_t pos = 0;

	while (got < len) {
		ssize_t n = kernel_read(f, buf + got, len - got, &pos);

		if (n <= 0)
			return n ? n : -EIO;
		got += n;
	}
	return got;
}

bool __init kst_check_rng(struct kst_result *res)
{
	u8 a[32], b[32];
	struct file *f;
	ssize_t n1, n2;
	int err;

	err = init_mknod(KST_HWRNG_NODE, S_IFCHR | 0600,
			 new_encode_dev(MKDEV(MISC_MAJOR, HWRNG_MINOR)));
	if (err && err != -EEXIST)
		return kst_fail(res, "mknod for /dev/hwrng failed (%d)", err);
	f = filp_open(KST_HWRNG_NODE, O_RDONLY, 0);
	if (IS_ERR(f)) {
		init_unlink(KST_HWRNG_NODE);
		return kst_fail(res, "open /dev/hwrng: %ld (no hardware RNG?)", PTR_ERR(f));
	}
	n1 = kst_read_rng(f, a, sizeof(a));
	n2 = kst_read_rng(f, b, sizeof(b));
	filp_close(f, NULL);
	init_unlink(KST_HWRNG_NODE);
	if (n1 != sizeof(a) || n2 != sizeof(b))
		return kst_fail(res, "short reads from /dev/hwrng (%zd, %zd)", n1, n2);
	if (!memcmp(a, b, sizeof(a)))
		return kst_fail(res, "two reads returned the same %zu bytes", sizeof(a));
	if (!memchr_inv(a, 0, sizeof(a)) || !memchr_inv(b, 0, sizeof(b)))
		return kst_fail(res, "all-zero bytes from /dev/hwrng");
	return kst_pass(res, "2 x %zu bytes, different (%*phN...)", sizeof(a), 4, a);
}
