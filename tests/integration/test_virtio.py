# SPDX-License-Identifier: GPL-2.0-only
"""virtio-blk, virtio-rng and virtio-console with the stock Linux drivers.

The test kernel's self-test drives the devices from inside the guest kernel
(guest user space cannot make system calls on an emulation-only KVM); the
host then checks what reached the image files.
"""
import os
import re
import shutil
import subprocess

import pytest

from conftest import BOOT_TIMEOUT, run_kvmbox, verdict
import guest_disks as gd


def boot(kvmbox, kit, args, params, timeout=BOOT_TIMEOUT):
    return run_kvmbox(kvmbox, ["run", "-k", kit["KVMBOX_KIT_VMLINUX"], "-i",
                               kit["KVMBOX_KIT_INITRAMFS"], "-m", "128M", *args,
                               "-p", "kvmbox_selftest.cpus=1 " + params],
                      timeout=timeout)


def test_blk_and_rng(kvmbox, kvm, kit, tmp_path):
    scratch, pattern, ro = tmp_path / "scratch.img", tmp_path / "pattern.img", \
        tmp_path / "ro.img"
    gd.make_scratch_image(scratch, 8 << 20)
    gd.make_pattern_image(pattern, 1 << 20, 2)
    gd.make_pattern_image(ro, 1 << 20, 3)
    ro_before = ro.read_bytes()

    r = boot(kvmbox, kit, ["-d", f"{scratch},serial=scratch", "-d", str(pattern),
                           "-d", f"{ro},ro", "--rng"],
             "kvmbox_selftest.blk_rw=vda kvmbox_selftest.blk_pattern=vdb "
             "kvmbox_selftest.blk_ro=vdc kvmbox_selftest.rng=1")
    verdict(r, ["blk-rw", "blk-pattern", "blk-ro", "rng"])

    # What the guest wrote and flushed is in the file, bit for bit.
    img = scratch.read_bytes()
    rw = gd.RW_SECTOR * gd.SECTOR
    assert img[rw:rw + gd.RW_BYTES] == gd.pattern_bytes(rw, gd.RW_BYTES, 1)
    for sector in (gd.DISCARD_SECTOR, gd.ZERO_SECTOR):
        off = sector * gd.SECTOR
        assert img[off:off + gd.RANGE_BYTES] == bytes(gd.RANGE_BYTES), sector
    # Nothing else was touched.
    assert img[:rw] == bytes([gd.SCRATCH_FILL]) * rw
    end = gd.ZERO_SECTOR * gd.SECTOR + gd.RANGE_BYTES
    assert img[end:] == bytes([gd.SCRATCH_FILL]) * (len(img) - end)
    mid = rw + gd.RW_BYTES
    assert img[mid:gd.DISCARD_SECTOR * gd.SECTOR] == \
        bytes([gd.SCRATCH_FILL]) * (gd.DISCARD_SECTOR * gd.SECTOR - mid)
    # The read-only disk was not written.
    assert ro.read_bytes() == ro_before


def test_virtio_console(kvmbox, kvm, kit):
    r = boot(kvmbox, kit, ["--console", "virtio"],
             "kvmbox_selftest.console=hvc0 kvmbox_selftest.hvc=1")
    # Every self-test line came through hvc0: it is the only console.
    verdict(r, ["console", "hvc"])
    assert "KVMBOX-SELFTEST console PASS hvc0" in r.stdout
    assert "KVMBOX-SELFTEST-HVC0 hello from hvc0" in r.stdout


def test_ext4_root_on_vda(kvmbox, kvm, kit, tmp_path):
    """The guest kernel mounts an ext4 root file system from /dev/vda."""
    mkfs = shutil.which("mkfs.ext4") or "/sbin/mkfs.ext4"
    if not os.path.exists(mkfs):
        pytest.fail("mkfs.ext4 missing (e2fsprogs)")
    root = tmp_path / "root"
    (root / "dev").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "etc" / "kvmbox-root").write_text("ext4 root for kvmbox tests\n")
    shutil.copy(kit["KVMBOX_KIT_INITRAMFS"], root / "initramfs.cpio")
    img = tmp_path / "root.ext4"
    subprocess.run([mkfs, "-q", "-F", "-d", str(root), str(img), "16M"], check=True)
    r = run_kvmbox(kvmbox, ["run", "-k", kit["KVMBOX_KIT_VMLINUX"], "-m", "128M",
                            "-d", str(img), "-p",
                            "kvmbox_selftest.run=0 root=/dev/vda rootfstype=ext4 ro"],
                   timeout=BOOT_TIMEOUT)
    tail = r.stdout[-3000:] + r.stderr[-2000:]
    assert re.search(r"VFS: Mounted root \(ext4 filesystem\) readonly on device 254:0",
                     r.stdout), tail
    # No /sbin/init on that file system: the kernel panics, reported as such.
    assert r.returncode == 2, tail
    # The guest mounted it read-only: the image is still clean.
    fsck = shutil.which("e2fsck") or "/sbin/e2fsck"
    subprocess.run([fsck, "-n", "-f", str(img)], check=True, capture_output=True)


def test_disk_in_use_is_refused(kvmbox, kvm, kit, tmp_path):
    """Two VMs cannot write the same image: the second is refused at start."""
    import fcntl
    img = tmp_path / "busy.img"
    img.write_bytes(bytes(1 << 20))
    with open(img, "r+b") as f:
        # The same kind of lock kvmbox takes (OFD, write).
        import struct
        lock = struct.pack("hhqqi4x", fcntl.F_WRLCK, 0, 0, 0, 0)
        F_OFD_SETLK = 37
        fcntl.fcntl(f.fileno(), F_OFD_SETLK, lock)
        r = run_kvmbox(kvmbox, ["run", "-k", kit["KVMBOX_KIT_VMLINUX"], "-d", str(img)])
    assert r.returncode == 1
    assert str(img) in r.stderr and "in use" in r.stderr


def test_missing_disk_is_refused(kvmbox, kvm, kit, tmp_path):
    r = run_kvmbox(kvmbox, ["run", "-k", kit["KVMBOX_KIT_VMLINUX"], "-d",
                            str(tmp_path / "nope.img")])
    assert r.returncode == 1
    assert "nope.img" in r.stderr and "No such file" in r.stderr
