#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""Network: kvmbox's virtio-net + tap path against the bare tap path.

The guest is bench/net_guest.c (built by meson into BUILD/bench/net_guest.bin):
a freestanding program that kvmbox runs at CPL 3 (`--raw-mode user`, native
speed even on the emulation-only KVM) and that drives the virtio-net device
itself: PCI scan, virtio setup (VERSION_1 and MAC only), receive and
transmit queues of 256, kicks through the MMIO notify address, polling of
used->idx (no interrupts). Each run is one kvmbox process, in a network
namespace of its own (kvmbox-bench-PID, removed at the end):

  ip netns exec NS kvmbox run --raw net_guest.bin --raw-mode user
      --raw-addr 0x100000 -m 32M -n tap,ifname=kbbench0[,vhost=on]
      --reg rdi=MODE --reg rsi=SIZE --reg rdx=WAIT --reg rcx=LINGER
      --reg r8=RAMP_TICKS --reg r9=RUN_TICKS

TX: the guest keeps its transmit ring full of one UDP/IPv4 frame of SIZE
bytes (to a unicast MAC that is not the tap's: the host drops it in
ip_rcv) and counts the frames the device completes. RX: `tap_floor
inject` sends the same frame out of kbbench0 from the host side (AF_PACKET,
PACKET_QDISC_BYPASS, sendmmsg), the guest keeps its receive ring full and
counts what arrives; its clock starts at the first frame. Ticks become
seconds with the host's TSC frequency (blk.py's measurement). The tap's own
counters (/sys/class/net/kbbench0/statistics, read while kvmbox still runs:
the guest waits LINGER after its result line) show that the frames crossed.

The floor is bench/tap_floor.c, the same tap without a VM: TX writes the
same frame (with a zero 12-byte virtio-net header) into a tap opened as
kvmbox opens it, as fast as it can; RX reads frames from such a tap while
the same injector sends into it. Same sizes, ramp and run time. kvmbox and
floor runs alternate, --repeat times each; medians are printed. With
/dev/vhost-net present, the kvmbox runs are repeated with vhost=on.
"""

import os
import re
import select
import signal
import subprocess
import sys
import time

import benchlib as bl
import blk

GUEST_ADDR = 0x100000
IFNAME = "kbbench0"
FLOOR_IFNAME = "kbfloor0"
LINGER = 0.5  # seconds the guest waits after its result line

RESULT_RE = re.compile(r"KBNET result frames (\d+) bytes (\d+) ticks (\d+) kicks (\d+) "
                       r"errors (\d+) all_frames (\d+)")
MARK_RE = re.compile(r"KBNET (start|end) (\d+)")
TSC_RE = re.compile(r"KBNET tsc_khz (\d+) source (\S+)")
FLOOR_RE = re.compile(r"KBFLOOR result frames (\d+) bytes (\d+) ns (\d+) all_frames (\d+)")
HOST_RE = re.compile(r"(?:KBFLOOR host )?rx_packets (\d+) rx_dropped (\d+) "
                     r"tx_packets (\d+) tx_dropped (\d+)")
INJECT_RE = re.compile(r"KBINJECT sent (\d+) errors (\d+) ns (\d+)")
STATS = ("rx_packets", "rx_dropped", "tx_packets", "tx_dropped")


class Bench:
    """The namespace, and every process started in it (killed at the end)."""

    def __init__(self, ns):
        self.ns = ns
        self.procs = []

    def popen(self, argv, **kw):
        p = subprocess.Popen(["ip", "netns", "exec", self.ns] + argv,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, **kw)
        self.procs.append(p)
        return p

    def sh(self, argv, timeout=10):
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)

    def link_wait_up(self, ifname, timeout=5.0):
        """Waits for ifname in the namespace, then sets it up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.sh(["ip", "-n", self.ns, "link", "show", ifname]).returncode == 0:
                r = self.sh(["ip", "-n", self.ns, "link", "set", ifname, "up"])
                return r.returncode == 0
            time.sleep(0.01)
        return False

    def host_stats(self, ifname):
        r = self.sh(["ip", "netns", "exec", self.ns, "cat"] +
                    ["/sys/class/net/%s/statistics/%s" % (ifname, s) for s in STATS])
        try:
            return dict(zip(STATS, map(int, r.stdout.split())))
        except ValueError:
            return None

    def reap(self, p, sig=signal.SIGTERM, timeout=5):
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        out = p.stdout.read().decode(errors="replace")
        err = p.stderr.read().decode(errors="replace")
        p.stdout.close()
        p.stderr.close()
        if p in self.procs:
            self.procs.remove(p)
        return out, err

    def cleanup(self):
        for p in list(self.procs):
            try:
                self.reap(p, signal.SIGKILL)
            except OSError:
                pass
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)


def read_lines(p, deadline, on_line):
    """Reads p's stdout line by line until EOF, calling on_line(time, line).
    Returns False on timeout (p is killed)."""
    fd = p.stdout.fileno()
    pending = b""
    while True:
        left = deadline - time.monotonic()
        r = select.select([fd], [], [], left)[0] if left > 0 else []
        if not r:
            p.kill()
            return False
        data = os.read(fd, 4096)
        if not data:
            return True
        now = time.monotonic_ns()
        pending += data
        while b"\n" in pending:
            raw, pending = pending.split(b"\n", 1)
            on_line(now, raw.decode(errors="replace").strip())


def start_injector(b, floor, ifname, size, secs):
    return b.popen([floor, "inject", ifname, str(size), "%g" % secs])


def stop_injector(b, p):
    if not p:
        return None
    out, err = b.reap(p)
    m = INJECT_RE.search(out)
    if not m:
        return "injector: %s" % (err.strip()[-200:] or "no output")
    sent, errors, ns = map(int, m.groups())
    return {"sent": sent, "errors": errors, "pps": sent * 1e9 / ns if ns else 0}


def run_kvmbox(b, kvmbox, guest, floor, mode, size, ramp, runtime, hz, vhost, vcpu_nice):
    """One case under kvmbox. Returns a dict, or a string saying what went
    wrong."""
    spec = "tap,ifname=%s" % IFNAME + (",vhost=%s" % vhost if vhost else "")
    argv = [kvmbox, "run", "--raw", guest, "--raw-mode", "user",
            "--raw-addr", hex(GUEST_ADDR), "-m", "32M", "-n", spec,
            "--reg", "rdi=%d" % mode, "--reg", "rsi=%d" % size,
            "--reg", "rdx=%d" % int(10 * hz), "--reg", "rcx=%d" % int(LINGER * hz),
            "--reg", "r8=%d" % int(ramp * hz), "--reg", "r9=%d" % int(runtime * hz)]
    p = b.popen(argv)
    if vcpu_nice and not blk.renice_vcpus(p.pid, vcpu_nice):
        bl.note("could not set the vCPU thread's nice value")
    st = {"lines": [], "inj": None, "host": None, "link": None}

    def on_line(t, line):
        st["lines"].append((t, line))
        if line == "KBNET ready":
            st["link"] = b.link_wait_up(IFNAME)
            if mode == 1 and st["link"]:
                st["inj"] = start_injector(b, floor, IFNAME, size, ramp + runtime + 15)
        elif line.startswith("KBNET result"):
            st["host"] = b.host_stats(IFNAME)

    ok = read_lines(p, time.monotonic() + ramp + runtime + 30, on_line)
    inj = stop_injector(b, st["inj"])
    _, err = b.reap(p)
    lines = st["lines"]
    if not ok:
        return "timed out"
    if p.returncode != 0:
        tail = " | ".join(l for _, l in lines if "error" in l) or err.strip()[-300:]
        return "exit status %s: %s" % (p.returncode, tail)
    if st["link"] is False:
        return "%s did not appear in %s" % (IFNAME, b.ns)
    res, marks = None, {}
    for t, line in lines:
        m = RESULT_RE.search(line)
        if m:
            res = dict(zip(("frames", "bytes", "ticks", "kicks", "errors", "all"),
                           map(int, m.groups())))
        m = MARK_RE.search(line)
        if m:
            marks[m.group(1)] = (t, int(m.group(2)))
        m = TSC_RE.search(line)
        if m:
            st["tsc"] = (int(m.group(1)), m.group(2))
    if not res or not res["ticks"]:
        return "no result line from the guest: %s" % err.strip()[-300:]
    if "start" in marks and "end" in marks:
        (t0, c0), (t1, c1) = marks["start"], marks["end"]
        res["wall_hz"] = (c1 - c0) * 1e9 / (t1 - t0) if t1 > t0 else None
    res["host"] = st["host"]
    res["inj"] = inj
    res["tsc"] = st.get("tsc")
    return res


def run_floor(b, floor, mode, size, ramp, runtime):
    """One case of tap_floor. Returns a dict or an error string."""
    argv = [floor, "tx" if mode == 0 else "rx", FLOOR_IFNAME, str(size),
            "%g" % ramp, "%g" % runtime]
    if mode == 1:
        argv.append("10")
    p = b.popen(argv)
    st = {"lines": [], "inj": None}

    def on_line(t, line):
        st["lines"].append(line)
        if line == "KBFLOOR ready" and mode == 1:
            st["inj"] = start_injector(b, floor, FLOOR_IFNAME, size, ramp + runtime + 15)

    ok = read_lines(p, time.monotonic() + ramp + runtime + 30, on_line)
    inj = stop_injector(b, st["inj"])
    _, err = b.reap(p)
    if not ok:
        return "timed out"
    if p.returncode != 0:
        return "exit status %s: %s" % (p.returncode, err.strip()[-300:])
    text = "\n".join(st["lines"])
    m = FLOOR_RE.search(text)
    if not m:
        return "no result line: %s" % err.strip()[-300:]
    res = dict(zip(("frames", "bytes", "ns", "all"), map(int, m.groups())))
    m = HOST_RE.search(text)
    res["host"] = dict(zip(STATS, map(int, m.groups()))) if m else None
    res["inj"] = inj
    return res


def crossed(mode, res):
    """What the tap's counters say about the frames (all of the run, ramp
    included): TX, what the host received of what the guest (or the floor)
    sent; RX, what the injector got into the tap's queue, what the tap
    dropped (queue full) and what the guest (or the floor) read."""
    h, inj = res.get("host"), res.get("inj")
    if not h:
        return "no host counters"
    if mode == 0:
        return "sent %d, host rx %d drop %d" % (res["all"], h["rx_packets"], h["rx_dropped"])
    s = "tap tx %d drop %d, read %d" % (h["tx_packets"], h["tx_dropped"], res["all"])
    if isinstance(inj, str):
        s += " (%s)" % inj
    return s


def main():
    ap = bl.arg_parser(__doc__.splitlines()[0])
    bl.add_run_args(ap, runtime=2.0, ramp=0.5, repeat_per="case and side")
    ap.add_argument("--sizes", default="60,1514",
                    help="frame sizes in bytes, Ethernet header included, FCS "
                         "not (default 60,1514: 64- and 1518-byte frames on a "
                         "wire)")
    ap.add_argument("--only", choices=["tx", "rx"], help="one direction only")
    ap.add_argument("--vcpu-nice", type=int, default=10,
                    help="nice value for kvmbox's vCPU thread (default 10; 0 "
                         "leaves it): the guest polls, where a real one would "
                         "halt (see blk.py)")
    args = ap.parse_args()

    kvmbox = bl.kvmbox_path(args)
    guest = bl.helper_path(args, "net_guest.bin")
    floor = bl.helper_path(args, "tap_floor")
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        sys.exit("net: --sizes %s: expected e.g. 60,1514" % args.sizes)
    if any(s < 60 or s > 1514 for s in sizes):
        sys.exit("net: frame sizes are 60..1514")

    bl.header("network: kvmbox virtio-net + tap (CPL 3 guest driver, polling) vs "
              "the bare tap, %g s after %g s ramp, %d run(s) each"
              % (args.runtime, args.ramp, args.repeat))
    if os.geteuid() != 0:
        bl.note("skipped: needs root (a network namespace and tap devices)")
        return 0
    if not os.path.exists("/dev/net/tun"):
        bl.note("skipped: /dev/net/tun not present (modprobe tun)")
        return 0
    if subprocess.run(["ip", "-V"], capture_output=True).returncode != 0:
        bl.note("skipped: no `ip` command (iproute2)")
        return 0
    hz = blk.host_tsc_hz()
    if hz:
        bl.note("TSC: %.1f MHz (rdtsc against CLOCK_MONOTONIC)" % (hz / 1e6))
        sizing_hz = hz
    else:
        sizing_hz = blk.cpuinfo_hz()
        bl.note("TSC: rdtsc not callable here; using the guest's start/end lines")
    if args.vcpu_nice:
        bl.note("kvmbox's vCPU thread at nice %d (--vcpu-nice 0 leaves it)"
                % args.vcpu_nice)

    # A signal ends the run through the finally below.
    def on_term(sig, frame):
        raise SystemExit(1)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)

    b = Bench("kvmbox-bench-%d" % os.getpid())
    status = 0
    hz_checks = []
    guest_tsc = None
    try:
        r = b.sh(["ip", "netns", "add", b.ns])
        if r.returncode != 0:
            bl.note("skipped: cannot create a network namespace: %s" % r.stderr.strip())
            return 0
        # No IPv6 autoconfiguration chatter on the taps.
        b.sh(["ip", "netns", "exec", b.ns, "sysctl", "-qw",
              "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"])
        b.sh(["ip", "-n", b.ns, "link", "set", "lo", "up"])
        bl.note("namespace %s; kvmbox -n tap,ifname=%s; floor tap %s; RX frames "
                "from `tap_floor inject` (AF_PACKET) on both" % (b.ns, IFNAME, FLOOR_IFNAME))

        vhost_modes = [None]
        if os.path.exists("/dev/vhost-net"):
            vhost_modes.append("on")

        cases = [(d, m, s) for d, m in (("TX", 0), ("RX", 1))
                 if not args.only or args.only == d.lower() for s in sizes]
        cols = "%-4s %5s %10s %9s %10s %9s %6s  %s"
        floors = {}
        for vhost in vhost_modes:
            print("   -- kvmbox -n tap%s" % (",vhost=" + vhost if vhost else
                                             " (vhost=auto: %s)" % (
                                                 "vhost-net present" if len(vhost_modes) > 1
                                                 else "no /dev/vhost-net")))
            print("   %-10s %20s %20s" % ("", "----- kvmbox ------", "------ floor ------"))
            print("   " + cols % ("dir", "size", "pps", "Mbit/s", "pps", "Mbit/s", "ratio",
                                  "host counters (kvmbox | floor)"))
            sys.stdout.flush()
            for d, mode, size in cases:
                kbs, frs = [], []
                for _ in range(args.repeat):
                    kb = run_kvmbox(b, kvmbox, guest, floor, mode, size, args.ramp,
                                    args.runtime, sizing_hz, vhost, args.vcpu_nice)
                    if isinstance(kb, str):
                        bl.fail("kvmbox %s %d%s: %s" % (d, size,
                                                        " vhost=" + vhost if vhost else "",
                                                        kb))
                        status = 1
                        break
                    if kb.get("wall_hz"):
                        hz_checks.append(kb["wall_hz"])
                    if kb.get("tsc") and not guest_tsc:
                        guest_tsc = kb["tsc"]
                    secs = kb["ticks"] / (hz or kb.get("wall_hz"))
                    kb["pps"] = kb["frames"] / secs
                    kb["mbit"] = kb["bytes"] * 8 / secs / 1e6
                    kbs.append(kb)
                    if vhost and (d, size) in floors:
                        continue  # the floor does not depend on vhost
                    fr = run_floor(b, floor, mode, size, args.ramp, args.runtime)
                    if isinstance(fr, str):
                        bl.fail("floor %s %d: %s" % (d, size, fr))
                        continue
                    fr["pps"] = fr["frames"] * 1e9 / fr["ns"]
                    fr["mbit"] = fr["bytes"] * 8e3 / fr["ns"]
                    frs.append(fr)
                if not kbs:
                    continue
                if frs:
                    floors[(d, size)] = frs
                frs = floors.get((d, size), [])
                kb_pps = bl.median([k["pps"] for k in kbs])
                f_pps = bl.median([f["pps"] for f in frs]) if frs else None
                print("   " + cols % (
                    d, size, "%.0f" % kb_pps, "%.1f" % bl.median([k["mbit"] for k in kbs]),
                    "%.0f" % f_pps if f_pps else "-",
                    "%.1f" % bl.median([f["mbit"] for f in frs]) if frs else "-",
                    "%.2f" % bl.ratio(kb_pps, f_pps) if f_pps else "-",
                    crossed(mode, kbs[-1]) + (" | " + crossed(mode, frs[-1]) if frs else "")))
                sys.stdout.flush()
        if len(vhost_modes) == 1:
            bl.note("vhost-net: /dev/vhost-net not present on this host, not measured")
        if guest_tsc and guest_tsc[0]:
            bl.note("guest CPUID says TSC %.1f MHz (%s); ticks are converted with "
                    "the host's rate" % (guest_tsc[0] / 1e3, guest_tsc[1]))
        elif guest_tsc:
            bl.note("guest CPUID gives no TSC frequency (leaves 0x15/0x16); ticks are "
                    "converted with the host's rate")
        if hz and hz_checks:
            worst = max(abs(h / hz - 1) for h in hz_checks)
            bl.note("check: TSC rate from the guest's start/end lines vs rdtsc here: "
                    "within %.2f%%" % (100 * worst))
    except KeyboardInterrupt:
        bl.fail("interrupted")
        status = 1
    finally:
        b.cleanup()
    return status


if __name__ == "__main__":
    sys.exit(main())
