# SPDX-License-Identifier: GPL-2.0-only
"""The control socket and its subcommands, against a running test guest:
list, stop, pause/resume, stat, balloon, debug, stale sockets, garbage."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import BOOT_TIMEOUT, run_kvmbox
from guest_proc import BackgroundVM

WAITING = b"KVMBOX-SELFTEST WAITING"
SUBCOMMANDS = ["list", "stop", "pause", "resume", "stat", "balloon", "debug"]


class Guest(BackgroundVM):
    """The test kernel waiting in its self-test (action=wait), with a balloon."""

    def __init__(self, kvmbox, kit, name, env, extra=(), params=""):
        self.name = name
        self.env = env
        self.sock = os.path.join(env["KVMBOX_RUNTIME_DIR"], name + ".sock")
        super().__init__([kvmbox, "run", "-k", kit["KVMBOX_KIT_VMLINUX"], "-m", "128M",
                          "--name", name, "--balloon", *extra,
                          "-p", ("kvmbox_selftest.action=wait " + params).strip()],
                         env=env)

    def wait_waiting(self):
        if not self.wait_for(WAITING, BOOT_TIMEOUT):
            pytest.fail("the test guest never printed KVMBOX-SELFTEST WAITING:\n"
                        + self.text())

    def wait_socket(self, timeout=60):
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.sock) and time.monotonic() < deadline:
            time.sleep(0.2)

    def kill(self):
        """Kills the VM and removes the socket it may leave behind."""
        super().kill()
        if os.path.exists(self.sock):
            os.unlink(self.sock)


@pytest.fixture(scope="module")
def rundir():
    d = tempfile.mkdtemp(prefix="kvmbox-ctl-")  # 0700
    env = dict(os.environ, KVMBOX_RUNTIME_DIR=d)
    yield d, env
    shutil.rmtree(d, ignore_errors=True)


def kernel_has(kit, needle):
    try:
        with open(kit["KVMBOX_KIT_VMLINUX"], "rb") as f:
            return needle in f.read()
    except OSError:
        return False


def kernel_has_wait(kit):
    return kernel_has(kit, WAITING)


@pytest.fixture(scope="module")
def guest(kvmbox, kvm, kit, rundir):
    if not kernel_has_wait(kit):
        pytest.skip("the kit's test kernel has no kvmbox_selftest.action=wait: "
                    "rebuild it with tools/build-guest-kit")
    _, env = rundir
    g = Guest(kvmbox, kit, "t1", env)
    try:
        g.wait_waiting()
        yield g
    finally:
        g.kill()


def ctl(kvmbox, env, *args, timeout=60):
    return subprocess.run([kvmbox, *args], capture_output=True, text=True,
                          timeout=timeout, env=env, stdin=subprocess.DEVNULL)


def stat(kvmbox, env, name="t1"):
    r = ctl(kvmbox, env, "stat", name, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def regs(kvmbox, env, name="t1"):
    r = ctl(kvmbox, env, "debug", name, "--regs", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def raw_request(path, data, timeout=10):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(data)
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
        return buf


@pytest.mark.parametrize("cmd", SUBCOMMANDS)
def test_help(kvmbox, cmd):
    r = run_kvmbox(kvmbox, [cmd, "--help"])
    assert r.returncode == 0
    assert r.stdout.startswith("Usage: kvmbox " + cmd)


def test_no_such_vm(kvmbox, rundir):
    _, env = rundir
    for args in (["stat", "nosuchvm"], ["pause", "nosuchvm"], ["stop", "nosuchvm"]):
        r = ctl(kvmbox, env, *args)
        assert r.returncode == 1
        assert "no running VM named 'nosuchvm'" in r.stderr


def test_list_shows_guest(kvmbox, guest, rundir):
    d, env = rundir
    r = ctl(kvmbox, env, "list", "--json")
    assert r.returncode == 0, r.stderr
    vms = json.loads(r.stdout)
    assert [v["name"] for v in vms] == ["t1"]
    v = vms[0]
    assert v["pid"] == guest.proc.pid
    assert v["state"] == "running"
    assert v["vcpus"] == 1 and v["memory"] == 128 << 20
    assert os.stat(os.path.join(d, "t1.sock")).st_mode & 0o777 == 0o600
    r = ctl(kvmbox, env, "list")
    assert "t1" in r.stdout and "running" in r.stdout


def test_duplicate_name_refused(kvmbox, kit, guest, rundir):
    _, env = rundir
    r = ctl(kvmbox, env, "run", "-k", kit["KVMBOX_KIT_VMLINUX"], "--name", "t1")
    assert r.returncode == 1
    assert "running already" in r.stderr


def test_garbage_gets_error_and_vm_runs_on(kvmbox, guest, rundir):
    d, env = rundir
    path = os.path.join(d, "t1.sock")
    reply = json.loads(raw_request(path, b"\x00\xffgarbage{{{\n"))
    assert reply["ok"] is False and reply["error"]["code"] == "parse_error"
    reply = json.loads(raw_request(path, b"x" * 10000 + b"\n"))
    assert reply["error"]["code"] == "too_long"
    reply = json.loads(raw_request(path, b'{"version":9,"cmd":"info"}\n'))
    assert reply["error"]["code"] == "bad_version"
    reply = json.loads(raw_request(path, b'{"version":1,"cmd":"explode"}\n'))
    assert reply["error"]["code"] == "unknown_command"
    # A client that connects and says nothing blocks nobody.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as idle:
        idle.connect(path)
        idle.sendall(b'{"vers')
        reply = json.loads(raw_request(path, b'{"version":1,"cmd":"info"}\n'))
        assert reply["ok"] is True and reply["data"]["name"] == "t1"
    assert guest.proc.poll() is None
    assert stat(kvmbox, env)["state"] == "running"


def test_stat_counters_grow(kvmbox, guest, rundir):
    _, env = rundir
    a = stat(kvmbox, env)
    time.sleep(2)
    b = stat(kvmbox, env)
    # An idle guest makes no exits to kvmbox (its timer and hlt are handled
    # by the in-kernel irqchip), but its time in KVM_RUN grows.
    assert b["vcpus"][0]["exits"] >= a["vcpus"][0]["exits"] > 0
    assert b["vcpus"][0]["run_ns"] > a["vcpus"][0]["run_ns"]
    assert sum(b["exit_reasons"].values()) >= b["vcpus"][0]["exits"]
    assert b["memory"]["guest_bytes"] == 128 << 20
    assert b["memory"]["host_rss_bytes"] > 0
    assert any(dev["name"] == "virtio-balloon" for dev in b["devices"])
    assert b["balloon"] is not None


def kernel_text(kit):
    lo = hi = None
    with open(kit["KVMBOX_KIT_SYSTEM_MAP"]) as f:
        for line in f:
            addr, _, sym = line.split()[:3]
            if sym == "_stext":
                lo = int(addr, 16)
            elif sym == "_etext":
                hi = int(addr, 16)
    return lo, hi


def test_debug_regs_rip_in_kernel_text(kvmbox, kit, guest, rundir):
    _, env = rundir
    lo, hi = kernel_text(kit)
    r = regs(kvmbox, env)
    rip = int(r["regs"]["rip"], 16)
    assert lo <= rip < hi, f"rip {rip:#x} not in [{lo:#x}, {hi:#x})"
    assert r["code"] and len(r["code"].split()) > 0
    human = ctl(kvmbox, env, "debug", "t1", "--regs")
    assert human.returncode == 0 and "rip" in human.stdout
    assert ctl(kvmbox, env, "debug", "t1", "--nmi").returncode == 0
    assert ctl(kvmbox, env, "debug", "t1", "--regs", "--cpu", "5").returncode == 1


def test_pause_stops_and_resume_goes_on(kvmbox, guest, rundir):
    _, env = rundir
    assert ctl(kvmbox, env, "pause", "t1").returncode == 0
    try:
        a, ra = stat(kvmbox, env), regs(kvmbox, env)
        assert a["state"] == "paused"
        time.sleep(2)
        b, rb = stat(kvmbox, env), regs(kvmbox, env)
        assert b["vcpus"][0]["exits"] == a["vcpus"][0]["exits"]
        assert b["vcpus"][0]["run_ns"] == a["vcpus"][0]["run_ns"]
        assert rb["regs"]["rip"] == ra["regs"]["rip"]
        vms = json.loads(ctl(kvmbox, env, "list", "--json").stdout)
        assert vms[0]["state"] == "paused"
        assert ctl(kvmbox, env, "pause", "t1").returncode == 1  # already
    finally:
        assert ctl(kvmbox, env, "resume", "t1").returncode == 0
    time.sleep(2)
    c = stat(kvmbox, env)
    assert c["state"] == "running"
    # Back in KVM_RUN: its time there grows again.  An idle guest makes no
    # exits of its own, so make it work: an NMI it does not expect makes the
    # kernel print a warning on the serial console, one exit per byte.
    assert c["vcpus"][0]["run_ns"] > b["vcpus"][0]["run_ns"]
    assert ctl(kvmbox, env, "debug", "t1", "--nmi").returncode == 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        c = stat(kvmbox, env)
        if c["vcpus"][0]["exits"] > b["vcpus"][0]["exits"]:
            break
        time.sleep(1)
    assert c["vcpus"][0]["exits"] > b["vcpus"][0]["exits"]


def inflate_to_48m(kvmbox, env, name):
    """Sets a 128 MiB guest's balloon to leave it 48 MiB; returns (the bytes
    the balloon should hold, the last stat, taken once it did or after 300 s)."""
    r = ctl(kvmbox, env, "balloon", name, "--set", "48M")
    assert r.returncode == 0, r.stderr
    want = (128 - 48) << 20
    deadline = time.monotonic() + 300
    while True:
        s = stat(kvmbox, env, name)
        if s["balloon"]["actual_bytes"] >= want or time.monotonic() >= deadline:
            return want, s
        time.sleep(2)


def test_balloon_inflation(kvmbox, guest, rundir):
    _, env = rundir
    before = stat(kvmbox, env)
    want, s = inflate_to_48m(kvmbox, env, "t1")
    bal = s["balloon"]
    print("balloon:", bal, "rss before", before["memory"]["host_rss_bytes"],
          "after", s["memory"]["host_rss_bytes"])
    assert bal["target_bytes"] == want
    assert bal["actual_bytes"] >= want, bal
    assert bal["inflated_pages"] >= want >> 12
    assert bal["bad_pfns"] == 0
    # The guest's own statistics arrive and show the memory gone.
    time.sleep(3)
    s = stat(kvmbox, env)
    g = s["balloon"]["guest"]
    assert "free_memory" in g and "total_memory" in g, s["balloon"]
    assert g["free_memory"] < (48 << 20)
    # Deflate again.
    assert ctl(kvmbox, env, "balloon", "t1", "--set", "128M").returncode == 0


def test_balloon_returns_dirtied_memory_to_the_host(kvmbox, kvm, kit, rundir):
    """Pages the guest had dirtied and the balloon takes leave kvmbox's RSS.

    The guest dirties 64 MiB (one byte per page) and frees it before it
    waits; free page reporting is off (--balloon=report=off) so that the
    memory stays resident until the inflation gives it back.
    """
    if not kernel_has(kit, b"dirty_mb"):
        pytest.skip("the kit's test kernel has no kvmbox_selftest.dirty_mb: "
                    "rebuild it with tools/build-guest-kit")
    _, env = rundir
    g = Guest(kvmbox, kit, "t4", env, extra=("--balloon=report=off",),
              params="kvmbox_selftest.dirty_mb=64")
    try:
        g.wait_waiting()
        assert b"KVMBOX-SELFTEST dirty PASS" in g.out
        before = stat(kvmbox, env, "t4")
        rss0 = before["memory"]["host_rss_bytes"]
        assert rss0 >= 64 << 20, rss0  # the dirtied pages are resident
        assert before["balloon"]["reported_bytes"] == 0
        want, s = inflate_to_48m(kvmbox, env, "t4")
        rss1 = s["memory"]["host_rss_bytes"]
        print(f"rss before {rss0 / 2**20:.1f} MiB, after inflating by 80 MiB "
              f"{rss1 / 2**20:.1f} MiB")
        assert s["balloon"]["actual_bytes"] >= want
        assert rss0 - rss1 >= 32 << 20, (rss0, rss1)
    finally:
        g.kill()


def test_debug_sysrq(kvmbox, kit, guest, rundir):
    if not kernel_has(kit, b"CONFIG_MAGIC_SYSRQ") and not kernel_has(kit, b"sysrq: "):
        pytest.skip("the kit's test kernel has no magic SysRq")
    _, env = rundir
    r = ctl(kvmbox, env, "debug", "t1", "--sysrq", "h")
    assert r.returncode == 0, r.stderr
    assert guest.wait_for(b"sysrq: HELP", 120), guest.text(2000)
    assert guest.proc.poll() is None
    assert ctl(kvmbox, env, "debug", "t1", "--sysrq", "").returncode != 0


def test_stop_graceful(kvmbox, guest, rundir):
    d, env = rundir
    r = ctl(kvmbox, env, "stop", "t1", "--timeout", "240", timeout=300)
    assert r.returncode == 0, r.stderr
    assert guest.proc.wait(timeout=30) == 0
    out = guest.out.decode(errors="replace")
    assert "guest rebooted" in out, out[-2000:]
    assert not os.path.exists(os.path.join(d, "t1.sock"))
    assert json.loads(ctl(kvmbox, env, "list", "--json").stdout) == []


def test_closed_stdout_does_not_kill_the_vm(kvmbox, kvm, kit, rundir):
    """`kvmbox run ... | head -1`: the VM runs on without its console, ends
    as usual (the self-test powers it off) and leaves no socket behind."""
    d, env = rundir
    p = subprocess.Popen([kvmbox, "run", "-k", kit["KVMBOX_KIT_VMLINUX"], "-m", "128M",
                          "--name", "t5"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    try:
        assert p.stdout.readline()
        p.stdout.close()
        assert p.wait(timeout=BOOT_TIMEOUT) == 0  # not 141 (SIGPIPE)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert not os.path.exists(os.path.join(d, "t5.sock"))


def test_kill9_leaves_no_visible_vm(kvmbox, kvm, kit, rundir):
    if not kernel_has_wait(kit):
        pytest.skip("the kit's test kernel has no kvmbox_selftest.action=wait")
    _, env = rundir
    g = Guest(kvmbox, kit, "t2", env)
    try:
        g.wait_socket()
        assert os.path.exists(g.sock)
        g.proc.send_signal(signal.SIGKILL)
        g.proc.wait(timeout=30)
        assert os.path.exists(g.sock)  # left behind by the killed VM
        r = ctl(kvmbox, env, "list", "--json")
        assert r.returncode == 0
        assert json.loads(r.stdout) == []
        assert not os.path.exists(g.sock)
    finally:
        g.kill()


def test_forced_stop_and_sigterm_remove_socket(kvmbox, kvm, kit, rundir):
    if not kernel_has_wait(kit):
        pytest.skip("the kit's test kernel has no kvmbox_selftest.action=wait")
    _, env = rundir
    for how in ("force", "sigterm"):
        g = Guest(kvmbox, kit, "t3", env)
        try:
            g.wait_socket()
            if how == "force":
                r = ctl(kvmbox, env, "stop", "t3", "--force")
                assert r.returncode == 0, r.stderr
                assert g.proc.wait(timeout=30) == 0
            else:
                g.proc.send_signal(signal.SIGTERM)
                assert g.proc.wait(timeout=30) == 128 + 15
            assert not os.path.exists(g.sock)
        finally:
            g.kill()
