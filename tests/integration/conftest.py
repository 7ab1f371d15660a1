# SPDX-License-Identifier: GPL-2.0-only
"""Shared fixtures for integration tests: the kvmbox binary, KVM, guest kit."""
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# A guest boot on an emulation-only KVM (kvm_pvm) takes minutes.
BOOT_TIMEOUT = 900


def kvmbox_path():
    p = os.environ.get("KVMBOX") or str(ROOT / "build" / "kvmbox")
    return p


def host_kvm():
    """(usable, pvm, hw) for this host's /dev/kvm."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
        os.close(fd)
        usable = True
    except OSError:
        usable = False
    pvm = os.path.exists("/sys/module/kvm_pvm")
    flags = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("flags"):
                flags = line
                break
    except OSError:
        pass
    hw = (" vmx" in flags or " svm" in flags) and not pvm
    return usable, pvm, hw


@pytest.fixture(scope="session", autouse=True)
def runtime_dir():
    """Control sockets of every VM the tests start go to a directory of the
    test session (0700), removed at the end: tests that kill -9 a VM leave
    nothing in the user's own $XDG_RUNTIME_DIR/kvmbox or /run/kvmbox."""
    d = tempfile.mkdtemp(prefix="kvmbox-tests-")
    old = os.environ.get("KVMBOX_RUNTIME_DIR")
    os.environ["KVMBOX_RUNTIME_DIR"] = d
    yield d
    if old is None:
        os.environ.pop("KVMBOX_RUNTIME_DIR", None)
    else:
        os.environ["KVMBOX_RUNTIME_DIR"] = old
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def kvmbox():
    p = kvmbox_path()
    if not os.access(p, os.X_OK):
        pytest.fail(f"kvmbox binary not found at {p}: build first (see README)")
    return p


@pytest.fixture(scope="session")
def kvm():
    usable, pvm, hw = host_kvm()
    if not usable:
        pytest.skip("/dev/kvm is not usable by this user: cannot boot guests here")
    return {"pvm": pvm, "hw": hw}


@pytest.fixture(scope="session")
def hw_kvm(kvm):
    if not kvm["hw"]:
        pytest.skip("needs hardware KVM (vmx/svm): on this emulation-only KVM "
                    "(kvm_pvm) guest user mode cannot make system calls, so no "
                    "guest user space runs")
    return kvm


@pytest.fixture(scope="session")
def kit():
    """Paths of the guest kit (tools/build-guest-kit --print), or the
    KVMBOX_KIT_* variables of the environment when KVMBOX_KIT_VMLINUX is set
    (a kit built elsewhere, e.g. for an older self-test)."""
    if os.environ.get("KVMBOX_KIT_VMLINUX"):
        return {k: v for k, v in os.environ.items() if k.startswith("KVMBOX_KIT_")}
    r = subprocess.run([str(ROOT / "tools" / "build-guest-kit"), "--print"],
                       capture_output=True, text=True)
    paths = {}
    for line in r.stdout.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            paths[k.strip()] = shlex.split(v)[0] if v.strip() else ""
    if r.returncode != 0 or not paths.get("KVMBOX_KIT_VMLINUX"):
        msg = ("guest kit not built: run tools/build-guest-kit "
               f"({r.stderr.strip()})")
        if os.environ.get("KVMBOX_REQUIRE_KIT") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return paths


def run_kvmbox(kvmbox, args, timeout=60, input=None):
    """Runs kvmbox to completion; returns CompletedProcess (text)."""
    return subprocess.run([kvmbox] + list(args), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL if input is None
                          else None, input=input, errors="replace")


def verdict(r, checks):
    """The self-test's @checks and its verdict passed; kvmbox exited 0."""
    tail = r.stdout[-4000:] + r.stderr[-3000:]
    for c in checks:
        assert re.search(rf"KVMBOX-SELFTEST {c} PASS", r.stdout), f"{c}:\n{tail}"
    assert "KVMBOX-SELFTEST VERDICT PASS" in r.stdout, tail
    assert r.returncode == 0, tail


@pytest.fixture
def blk_guest(kvmbox):
    """bench/blk_guest.bin, built next to kvmbox: a CPL 3 virtio-blk driver."""
    p = os.path.join(os.path.dirname(os.path.abspath(kvmbox)), "bench", "blk_guest.bin")
    if not os.path.exists(p):
        pytest.skip(f"{p} not built (needs objcopy; ninja builds it with kvmbox)")
    return p


def blk_guest_args(guest, op, size, depth, seq, ticks, extra=()):
    """kvmbox arguments that run @guest (blk_guest): @op 0 read, 1 write;
    @size bytes a request, @depth in flight, sequential if @seq; for @ticks
    TSC ticks (bench/blk_guest.c)."""
    return ["run", "--raw", guest, "--raw-mode", "user", "--raw-addr", "0x100000",
            "-m", "64M", *extra,
            "--reg", f"rdi={op}", "--reg", f"rsi={size}", "--reg", f"rdx={depth}",
            "--reg", f"rcx={seq}", "--reg", "r8=0", "--reg", f"r9={ticks}"]
