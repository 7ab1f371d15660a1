# SPDX-License-Identifier: GPL-2.0-only
"""Boot real Linux guests: the project's test kernel with its self-test, and
Debian's prebuilt cloud kernel.

On this project's machines KVM is emulation-only (kvm_pvm): guest kernel code
runs ~1000x slower than on hardware, and guest user mode cannot make system
calls. So devices are checked from inside the guest kernel by the test
kernel's built-in self-test (tests/guest/selftest), and a stock kernel is
expected to get as far as starting /init and no further.
"""
import os
import re
import selectors
import signal
import subprocess
import time

import pytest

from conftest import BOOT_TIMEOUT, run_kvmbox, verdict

CHECKS = ["console", "timer", "pci-host-bridge", "rtc", "cpus"]


def selftest_boot(kvmbox, kernel, initrd, cpus, extra=()):
    args = ["run", "-k", kernel, "-i", initrd, "-m", "128M", "-c", str(cpus),
            "-p", f"kvmbox_selftest.cpus={cpus}", *extra]
    return run_kvmbox(kvmbox, args, timeout=BOOT_TIMEOUT)


def assert_selftest_passed(r):
    verdict(r, CHECKS)
    assert "guest powered off" in r.stderr


def test_selftest_one_vcpu_elf_vmlinux(kvmbox, kvm, kit):
    r = selftest_boot(kvmbox, kit["KVMBOX_KIT_VMLINUX"], kit["KVMBOX_KIT_INITRAMFS"], 1)
    assert_selftest_passed(r)


def test_selftest_two_vcpus_bzimage_host_decompressed(kvmbox, kvm, kit):
    r = selftest_boot(kvmbox, kit["KVMBOX_KIT_BZIMAGE"], kit["KVMBOX_KIT_INITRAMFS"], 2,
                      extra=["-v"])
    assert "decompressed on the host" in r.stderr
    assert_selftest_passed(r)


def wait_for_line(proc, pattern, timeout):
    """Reads proc.stdout until a line matches; returns everything read."""
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    buf = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not sel.select(timeout=1):
            continue
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            break
        buf += chunk
        if re.search(pattern.encode(), buf):
            return buf.decode(errors="replace")
    return None


def signal_at_line(kvmbox, args, pattern, sig):
    """Runs kvmbox with @args until its output matches @pattern, then sends it
    @sig. Returns (the output up to there or None, exit status, stderr)."""
    proc = subprocess.Popen([kvmbox, *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out = wait_for_line(proc, pattern, BOOT_TIMEOUT)
        if out is None:
            return None, None, ""
        proc.send_signal(sig)
        rc = proc.wait(timeout=30)
        return out, rc, proc.stderr.read().decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_guest_decompressor_and_sigterm(kvmbox, kvm, kit):
    """--no-host-decompress: the bzImage's own decompressor runs in the guest;
    SIGTERM then stops kvmbox cleanly with status 128+15."""
    out, rc, err = signal_at_line(kvmbox, ["run", "-k", kit["KVMBOX_KIT_BZIMAGE"],
                                           "--no-host-decompress", "-m", "128M", "-v",
                                           "-p", "kvmbox_selftest.run=0"],
                                  r"Linux version", signal.SIGTERM)
    assert out is not None, "the guest-decompressed kernel never printed its banner"
    assert rc == 128 + signal.SIGTERM, err
    assert "stopped by signal" in err
    assert "guest decompresses" in err


# How far Debian's cloud kernel gets on an emulation-only KVM within the
# test's time, and the line that proves it.
CLOUD_PVM_MILESTONE = r"PCI: Using configuration type 1 for base access"


def test_debian_cloud_kernel_boots(kvmbox, kvm, kit):
    """Debian's own cloud kernel (a compressed bzImage, decompressed on the host).

    On hardware KVM it must reach "Run /init as init process" and run the
    kit's /init. Here (kvm_pvm) every guest kernel instruction is emulated
    (~0.7 us each): it boots through early setup, memory, SMP and the
    scheduler to PCI and most initcalls, but its ftrace start-up (a
    kallsyms lookup per traced function) and the parsing of its compiled-in
    X.509 certificates take tens of minutes of emulated time (measured: still
    in "Loading compiled-in X.509 certificates" after 15 minutes, soft-lockup
    warnings from ftrace on the way). So on this host the test stops it, with
    SIGTERM, once it reaches PCI configuration, and checks the clean stop.
    """
    kernel = kit.get("KVMBOX_KIT_CLOUD_KERNEL")
    if not kernel or not os.path.exists(kernel):
        pytest.skip("Debian cloud kernel not downloaded (tools/build-guest-kit)")
    milestone = CLOUD_PVM_MILESTONE if kvm["pvm"] else r"kvmbox guest kit: /init running"
    out, rc, err = signal_at_line(kvmbox, ["run", "-k", kernel, "-i",
                                           kit["KVMBOX_KIT_INITRAMFS"], "-m", "256M", "-v"],
                                  milestone, signal.SIGTERM)
    assert out is not None, f"the cloud kernel never printed {milestone!r}"
    assert "Linux version 6.1" in out
    assert "Command line: console=ttyS0" in out
    if not kvm["pvm"]:
        assert "Run /init as init process" in out
    assert "decompressed on the host" in err
    assert rc == 128 + signal.SIGTERM, err[-2000:]


def test_guest_panic_status(kvmbox, kvm, kit):
    """A kernel that panics early (no root, no initrd) gives status 2."""
    r = run_kvmbox(kvmbox, ["run", "-k", kit["KVMBOX_KIT_VMLINUX"], "-m", "64M",
                            "-p", "kvmbox_selftest.run=0 root=/dev/nonexistent"],
                   timeout=BOOT_TIMEOUT)
    assert "Kernel panic" in r.stdout, r.stdout[-3000:] + r.stderr[-3000:]
    assert r.returncode == 2, r.stderr[-2000:]
    assert "guest kernel panicked" in r.stderr


@pytest.mark.usefixtures("hw_kvm")
def test_guest_user_space_shell(kvmbox, kit):
    """Needs hardware KVM: the busybox /init runs and prints its marker."""
    r = run_kvmbox(kvmbox, ["run", "-k", kit["KVMBOX_KIT_VMLINUX"], "-i",
                            kit["KVMBOX_KIT_INITRAMFS"], "-m", "128M", "-p",
                            "kvmbox_selftest.run=0"], timeout=BOOT_TIMEOUT)
    assert "kvmbox guest kit: /init running" in r.stdout
    assert r.returncode == 0, r.stderr[-2000:]


def test_guest_reboot_exits_0(kvmbox, kvm, kit):
    """A guest reboot (through the i8042, reboot=k) ends kvmbox with 0."""
    r = run_kvmbox(kvmbox, ["run", "-k", kit["KVMBOX_KIT_VMLINUX"], "-m", "64M", "-p",
                            "kvmbox_selftest.action=reboot"], timeout=BOOT_TIMEOUT)
    assert "KVMBOX-SELFTEST VERDICT PASS" in r.stdout, r.stdout[-3000:]
    assert r.returncode == 0, r.stderr[-2000:]
    assert "guest rebooted" in r.stderr


def test_reboot_restart(kvmbox, kvm, kit):
    """--reboot=restart boots the guest again; SIGINT then stops it (130)."""
    out, rc, err = signal_at_line(kvmbox, ["run", "-k", kit["KVMBOX_KIT_VMLINUX"], "-m", "64M",
                                           "--reboot", "restart",
                                           "-p", "kvmbox_selftest.action=reboot"],
                                  r"VERDICT PASS[\s\S]*KVMBOX-SELFTEST BEGIN", signal.SIGINT)
    assert out is not None, "the guest did not boot a second time"
    assert rc == 128 + signal.SIGINT, err
    assert "guest rebooted: restarting" in err
