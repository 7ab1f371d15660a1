# SPDX-License-Identifier: GPL-2.0-only
"""virtio-net with the user-mode (libslirp) and tap backends.

The guest side runs in the test kernel's self-test (kernel sockets: guest
user space cannot make system calls on an emulation-only KVM): it takes its
address by DHCP or from ip=, connects out, and echoes one UDP datagram and
one TCP line. The host side is here: a service the guest connects to, the
hostfwd connections, and for tap a network namespace made and removed by
the test.
"""
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

from conftest import BOOT_TIMEOUT, run_kvmbox
from guest_proc import BackgroundVM

GUEST_TCP = 7777
GUEST_UDP = 7778


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HelloService:
    """What the guest's net-connect check talks to: one line in, one out."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.sock.settimeout(BOOT_TIMEOUT)
        self.port = self.sock.getsockname()[1]
        self.got = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(120)
            data = b""
            while not data.endswith(b"\n") and len(data) < 256:
                chunk = conn.recv(256)
                if not chunk:
                    break
                data += chunk
            self.got = data
            if data == b"KVMBOX-HELLO\n":
                conn.sendall(b"KVMBOX-WELCOME\n")

    def close(self):
        self.sock.close()
        self.thread.join(timeout=5)


def tcp_echo(addr, port, line, timeout=300):
    """Connects (retrying while the forward or the guest is not there yet),
    sends @line and returns what comes back up to a newline."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((addr, port), timeout=60) as c:
                c.settimeout(120)
                c.sendall(line)
                data = b""
                while not data.endswith(b"\n"):
                    chunk = c.recv(256)
                    if not chunk:
                        break
                    data += chunk
                if data or time.monotonic() > deadline:
                    return data
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(1)


def udp_echo(addr, port, payload, timeout=120):
    """Sends @payload until the same bytes come back (the first datagrams
    may go before the guest has answered ARP)."""
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        while time.monotonic() < deadline:
            s.sendto(payload, (addr, port))
            try:
                data, _ = s.recvfrom(2048)
                return data
            except socket.timeout:
                continue
    return None


def assert_checks(vm, rc, checks):
    out = vm.text(6000)
    for c in checks:
        assert f"KVMBOX-SELFTEST {c} PASS" in out, f"{c}:\n{out}"
    assert "KVMBOX-SELFTEST VERDICT PASS" in out, out
    assert rc == 0, out


def test_user_mode_dhcp_forwards_and_connect_out(kvmbox, kvm, kit):
    svc = HelloService()
    tcp_port, udp_port = free_port(), free_port(socket.SOCK_DGRAM)
    # Two NICs: eth0 with the forwards, eth1 on a network of its own (DHCP
    # only on eth0: ip= names it).
    vm = BackgroundVM([
        kvmbox, "run", "-k", kit["KVMBOX_KIT_VMLINUX"], "-m", "128M", "-n",
        f"user,hostfwd=tcp:127.0.0.1:{tcp_port}-:{GUEST_TCP},"
        f"hostfwd=udp:127.0.0.1:{udp_port}-:{GUEST_UDP},mac=02:00:00:00:02:0f",
        "-n", "user,net=10.0.5.0/24,mac=02:00:00:00:05:0f",
        "-p", "ip=::::kvmbox:eth0:dhcp kvmbox_selftest.cpus=1 "
        "kvmbox_selftest.net_devs=2 kvmbox_selftest.net_addr=10.0.2.15 "
        f"kvmbox_selftest.net_connect=10.0.2.2:{svc.port} "
        f"kvmbox_selftest.net_udp={GUEST_UDP} kvmbox_selftest.net_tcp={GUEST_TCP}"])
    try:
        assert vm.wait_for(b"net-udp READY", BOOT_TIMEOUT), vm.text()
        # The guest reached the host's service through slirp's gateway.
        assert svc.got == b"KVMBOX-HELLO\n", (svc.got, vm.text())
        assert udp_echo("127.0.0.1", udp_port, b"udp through hostfwd") == \
            b"udp through hostfwd", vm.text()
        assert vm.wait_for(b"net-tcp READY", 300), vm.text()
        line = b"tcp through hostfwd " + os.urandom(8).hex().encode() + b"\n"
        assert tcp_echo("127.0.0.1", tcp_port, line) == line, vm.text()
        rc = vm.wait(timeout=300)
        assert_checks(vm, rc, ["net-devs", "net-addr", "net-connect", "net-udp",
                               "net-tcp"])
        out = vm.text(40000)
        assert "net-devs PASS 2: eth0 02:00:00:00:02:0f eth1 02:00:00:00:05:0f" \
            in out, out
        assert "my address is 10.0.2.15" in out  # the address DHCP gave
    finally:
        vm.kill()
        svc.close()


def test_user_mode_guest_user_space_ssh():
    """ssh into a guest through hostfwd=tcp::PORT-:22 needs a guest user
    space (an sshd); written for hardware KVM hosts."""
    pytest.skip("needs hardware KVM (vmx/svm) and a guest with sshd: on this "
                "emulation-only KVM (kvm_pvm) guest user mode cannot make system "
                "calls, so no guest user space runs")


def netns_exists(name):
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    return any(line.split()[0] == name for line in r.stdout.splitlines() if line)


@pytest.fixture
def netns():
    if os.geteuid() != 0:
        pytest.skip("the tap test needs root (network namespace, tap device)")
    if not os.access("/dev/net/tun", os.R_OK | os.W_OK):
        pytest.skip("/dev/net/tun is not usable: no tap devices here")
    for tool in ("ip", "ping"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is missing: tools/install-deps installs it")
    name = f"kvmbox-test-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name])
        assert not netns_exists(name), f"network namespace {name} left behind"


def in_ns(ns, *argv, **kw):
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True,
                          text=True, **kw)


def test_tap_in_netns_ping_udp_tcp(kvmbox, kvm, kit, netns):
    tap = "kbtap0"
    vm = BackgroundVM([
        "ip", "netns", "exec", netns, kvmbox, "run", "-k", kit["KVMBOX_KIT_VMLINUX"],
        "-m", "128M", "-n", f"tap,ifname={tap},mac=02:00:00:00:03:02",
        "-p", "ip=10.0.3.2::10.0.3.1:255.255.255.0::eth0:off kvmbox_selftest.cpus=1 "
        f"kvmbox_selftest.net_addr=10.0.3.2 kvmbox_selftest.net_udp={GUEST_UDP} "
        f"kvmbox_selftest.net_tcp={GUEST_TCP}"])
    try:
        deadline = time.monotonic() + 60
        while in_ns(netns, "ip", "link", "show", tap).returncode != 0:
            assert time.monotonic() < deadline and vm.proc.poll() is None, vm.text()
            time.sleep(0.2)
        for cmd in (["ip", "addr", "add", "10.0.3.1/24", "dev", tap],
                    ["ip", "link", "set", tap, "up"]):
            r = in_ns(netns, *cmd)
            assert r.returncode == 0, r.stderr
        assert vm.wait_for(b"net-udp READY", BOOT_TIMEOUT), vm.text()
        # The guest kernel answers ICMP echo itself.
        r = in_ns(netns, "ping", "-c", "3", "-W", "20", "10.0.3.2", timeout=120)
        assert r.returncode == 0 and " 0% packet loss" in r.stdout, r.stdout + r.stderr
        r = in_ns(netns, "python3", "-c",
                  "import socket,sys; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM);"
                  "s.settimeout(60); s.sendto(b'udp over tap', ('10.0.3.2', %d));"
                  "sys.stdout.write(s.recvfrom(2048)[0].decode())" % GUEST_UDP,
                  timeout=120)
        assert r.stdout == "udp over tap", r.stdout + r.stderr + vm.text()
        assert vm.wait_for(b"net-tcp READY", 300), vm.text()
        r = in_ns(netns, "python3", "-c",
                  "import socket,sys; c=socket.create_connection(('10.0.3.2', %d), 60);"
                  "c.settimeout(120); c.sendall(b'tcp over tap\\n'); d=b''\n"
                  "while not d.endswith(b'\\n'):\n"
                  "    x=c.recv(256)\n"
                  "    if not x: break\n"
                  "    d+=x\n"
                  "sys.stdout.write(d.decode())" % GUEST_TCP, timeout=300)
        assert r.stdout == "tcp over tap\n", r.stdout + r.stderr + vm.text()
        rc = vm.wait(timeout=300)
        assert_checks(vm, rc, ["net-addr", "net-udp", "net-tcp"])
    finally:
        vm.kill()
    # kvmbox created the tap device: it went away with kvmbox.
    assert in_ns(netns, "ip", "link", "show", tap).returncode != 0


def test_bad_net_specs_are_refused(kvmbox, kit):
    for spec, words in [("bogus", ["-n", "bogus"]),
                        ("user,hostfwd=tcp::70000-:22", ["70000"]),
                        ("user,net=10.0.2.1/24", ["net", "10.0.2.1/24"]),
                        ("tap,mac=01:00:00:00:00:01", ["mac"]),
                        ("user,ifname=x", ["ifname"])]:
        r = run_kvmbox(kvmbox, ["run", "-k", kit["KVMBOX_KIT_VMLINUX"], "-n", spec])
        assert r.returncode == 1, (spec, r.stderr)
        for w in words:
            assert w in r.stderr, (spec, w, r.stderr)


def test_busy_host_port_is_refused(kvmbox, kvm, kit):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = run_kvmbox(kvmbox, ["run", "-k", kit["KVMBOX_KIT_VMLINUX"], "-n",
                                f"user,hostfwd=tcp:127.0.0.1:{port}-:22"])
    assert r.returncode == 1, r.stderr
    assert str(port) in r.stderr and "in use" in r.stderr, r.stderr


def test_vhost_on_without_vhost_net_is_refused(kvmbox, kvm, kit, netns):
    if os.path.exists("/dev/vhost-net"):
        pytest.skip("/dev/vhost-net exists here: vhost=on fails for another "
                    "reason (the vhost-net data path is not written yet)")
    r = in_ns(netns, kvmbox, "run", "-k", kit["KVMBOX_KIT_VMLINUX"], "-n",
              "tap,vhost=on", timeout=60)
    assert r.returncode == 1, r.stderr
    assert "/dev/vhost-net" in r.stderr, r.stderr
