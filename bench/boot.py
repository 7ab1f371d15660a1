#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""Boot: exec to `KVMBOX-SELFTEST VERDICT` for the test kernel, kvmbox vs QEMU.

kvmbox boots the guest kit's ELF vmlinux and initramfs:

    kvmbox run -k VMLINUX -i INITRAMFS -m 128M -p "kvmbox_selftest.cpus=1"

QEMU boots the same kernel (the ELF vmlinux through its PVH entry, or the
bzImage) and initramfs with the same guest command line as kvmbox builds it
(its defaults, the emulation-only host's options where this is one, then
kvmbox_selftest.cpus=1), -m 128M, the console on -serial stdio and an
isa-debug-exit device on 0x501 for the self-test's power-off. Several QEMU
configurations are tried in turn; the fastest that prints the verdict line is
QEMU's figure (the fastest on KVM is printed too when one gets there). A
configuration still running when it has taken longer than the best one so far
with the same accelerator is stopped: it cannot win. A guest that cannot go on
(QEMU reports a KVM internal error and pauses it; a guest panic) is stopped at
once. Failures are printed with their reason. The verdict itself (PASS or FAIL) is printed but does not matter:
some checks are expected to fail under QEMU (microvm has no PCI host bridge).

Wall time runs from just before the spawn to the moment the harness reads the
verdict line from the VMM's console pipe.
"""

import os
import re
import select
import shlex
import signal
import subprocess
import sys
import time

import benchlib as bl

VERDICT = b"KVMBOX-SELFTEST VERDICT"
SELFTEST_LINE = re.compile(rb"KVMBOX-SELFTEST (\S+) (PASS|FAIL)\b([^\r\n]*)")
QEMU_SHARE = "/usr/share/qemu"


def kit_paths():
    """The guest kit's paths from tools/build-guest-kit --print, or None."""
    try:
        out = subprocess.run(["bash", os.path.join(bl.ROOT, "tools/build-guest-kit"), "--print"],
                             capture_output=True, timeout=60).stdout.decode()
    except (OSError, subprocess.TimeoutExpired):
        return None
    kit = {}
    for line in out.splitlines():
        k, _, v = line.partition("=")
        if k.startswith("KVMBOX_KIT_"):
            vals = shlex.split(v)
            kit[k[len("KVMBOX_KIT_"):]] = vals[0] if vals else ""
    return kit


def newest_cached_kit():
    """The newest complete kernel and initramfs in the guest kit's cache, for
    when --print finds none matching the tree (kit sources being edited)."""
    cache = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                         "kvmbox")
    kit = {}
    try:
        names = os.listdir(cache)
    except OSError:
        return kit
    kdirs = [os.path.join(cache, n) for n in names if n.startswith("kernel-")
             and os.path.isfile(os.path.join(cache, n, "vmlinux"))]
    cpios = [os.path.join(cache, n) for n in names if n.startswith("initramfs-")
             and n.endswith(".cpio")]
    if kdirs:
        k = max(kdirs, key=os.path.getmtime)
        kit["VMLINUX"] = os.path.join(k, "vmlinux")
        if os.path.isfile(os.path.join(k, "bzImage")):
            kit["BZIMAGE"] = os.path.join(k, "bzImage")
    if cpios:
        kit["INITRAMFS"] = max(cpios, key=os.path.getmtime)
    return kit


def fatal_output(buf):
    """Why the guest cannot go on, from its console/VMM output, or None.
    QEMU pauses the guest after a KVM internal error instead of exiting."""
    m = re.search(rb"KVM internal error\. Suberror: (\d+)", buf)
    if m:
        code = re.search(rb"Code=[^<\n]*<([0-9a-f]{2})>", buf)
        op = code.group(1).decode() if code else None
        what = ""
        if m.group(1) == b"1" and op:
            what = ", emulation failure at opcode byte 0x%s%s" % (
                op, " (int3)" if op == "cc" else "")
        return "KVM internal error, suberror %s%s; QEMU pauses the guest" % (
            m.group(1).decode(), what)
    m = re.search(rb"Kernel panic - not syncing:[^\r\n]*", buf)
    if m:
        return "guest " + m.group(0).decode(errors="replace").strip()
    return None


def boot(argv, timeout, log_path, env=None):
    """Run argv until its console shows the verdict line (or it exits, or
    timeout seconds pass). Returns a dict: t_verdict (s or None), t_exit,
    rc, verdict line, per-check lines, why (for failures)."""
    res = {"t_verdict": None, "t_exit": None, "rc": None, "verdict": None, "why": None}
    with open(log_path, "wb") as log:
        t0 = time.monotonic_ns()
        try:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, env=env)
        except OSError as e:
            res["why"] = str(e)
            return res
        fd = p.stdout.fileno()
        buf = b""
        deadline = t0 + int(timeout * 1e9)
        after_verdict = None
        t_fatal = None
        while True:
            now = time.monotonic_ns()
            end = deadline if after_verdict is None else min(deadline, after_verdict)
            if now >= end:
                break
            r, _, _ = select.select([fd], [], [], (end - now) / 1e9)
            if not r:
                continue
            data = os.read(fd, 65536)
            t = time.monotonic_ns()
            if not data:
                break
            log.write(data)
            buf = (buf + data)[-65536:]
            if res["t_verdict"] is None and VERDICT in buf:
                res["t_verdict"] = (t - t0) / 1e9
                # Give it a few seconds to power off by itself.
                after_verdict = t + int(30e9)
            if res["t_verdict"] is None and t_fatal is None and fatal_output(buf):
                # Let the rest of the report arrive, then stop it.
                t_fatal = (t - t0) / 1e9
                after_verdict = t + int(1e9)
        if p.poll() is None:
            try:
                p.wait(0.5 if after_verdict is None else 0.01)
            except subprocess.TimeoutExpired:
                pass
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait()
            if res["t_verdict"] is None and t_fatal is None:
                res["why"] = "no verdict line within %.0f s (stopped)" % timeout
        else:
            res["t_exit"] = (time.monotonic_ns() - t0) / 1e9
        res["rc"] = p.returncode
        p.stdout.close()
    with open(log_path, "rb") as f:
        text = f.read()
    m = re.search(rb"KVMBOX-SELFTEST VERDICT [^\r\n]*", text)
    res["verdict"] = m.group(0).decode(errors="replace") if m else None
    res["fails"] = [(n.decode(), d.decode(errors="replace").strip())
                    for n, s, d in SELFTEST_LINE.findall(text) if s == b"FAIL"
                    and n != b"VERDICT"]
    if res["t_verdict"] is None and t_fatal is not None:
        res["why"] = "%s, after %.1f s" % (fatal_output(text), t_fatal)
    if res["t_verdict"] is None and res["why"] is None:
        tail = [l for l in text.decode(errors="replace").splitlines() if l.strip()][-3:]
        res["why"] = "exited with status %s before the verdict; last output: %s" % (
            res["rc"], " | ".join(tail) if tail else "(none)")
    return res


def qemu_configs(kit, cmdline):
    """(name, argv tail) of each QEMU configuration to try, TCG first."""
    common = ["-nodefaults", "-no-user-config", "-display", "none", "-m", "128M",
              "-serial", "stdio", "-device", "isa-debug-exit,iobase=0x501,iosize=1",
              "-initrd", kit["INITRAMFS"], "-append", cmdline, "-no-reboot"]
    bz, elf = kit.get("BZIMAGE"), kit.get("VMLINUX")
    microvm = "microvm,x-option-roms=off"
    qboot = ["-bios", os.path.join(QEMU_SHARE, "qboot.rom")]
    qemu64 = ["-cpu", "qemu64,-pni"]
    cfgs = []
    # ELF vmlinux: QEMU boots it through its PVH entry point, if the kernel
    # has one (CONFIG_PVH); bzImage: the guest decompresses itself.
    if elf:
        cfgs.append(("tcg microvm, -cpu max, ELF vmlinux (PVH)",
                     ["-accel", "tcg", "-M", microvm, "-cpu", "max", "-kernel", elf]))
    if bz:
        cfgs += [
            ("tcg microvm (qboot), -cpu max, bzImage",
             ["-accel", "tcg", "-M", microvm, "-cpu", "max", "-kernel", bz]),
            ("tcg pc (SeaBIOS), -cpu max, bzImage",
             ["-accel", "tcg", "-M", "pc", "-cpu", "max", "-kernel", bz]),
        ]
    if elf:
        cfgs += [
            ("kvm microvm, -cpu host, ELF vmlinux (PVH)",
             ["-accel", "kvm", "-M", microvm, "-cpu", "host", "-kernel", elf]),
            ("kvm microvm, qemu64, ELF vmlinux (PVH)",
             ["-accel", "kvm", "-M", microvm] + qemu64 + ["-kernel", elf]),
        ]
    if bz:
        cfgs += [
            ("kvm microvm (qboot), -cpu host, bzImage",
             ["-accel", "kvm", "-M", microvm, "-cpu", "host", "-kernel", bz]),
            ("kvm microvm (qboot), qemu64, bzImage",
             ["-accel", "kvm", "-M", microvm] + qemu64 + ["-kernel", bz]),
            ("kvm pc (qboot), qemu64, bzImage",
             ["-accel", "kvm", "-M", "pc"] + qemu64 + qboot + ["-kernel", bz]),
            ("kvm pc (SeaBIOS), qemu64, bzImage",
             ["-accel", "kvm", "-M", "pc"] + qemu64 + ["-kernel", bz]),
        ]
    return [(n, a + common) for n, a in cfgs]


def main():
    ap = bl.arg_parser(__doc__.splitlines()[0])
    ap.add_argument("--timeout", type=float, default=600,
                    help="seconds a boot may take before it is stopped (default 600)")
    ap.add_argument("--only", choices=["kvmbox", "qemu"], help="boot only under this VMM")
    ap.add_argument("--qemu-config", action="append", metavar="SUBSTRING",
                    help="only QEMU configurations whose name contains SUBSTRING "
                         "(repeatable; names are printed by a run)")
    ap.add_argument("--keep-logs", metavar="DIR", help="keep each boot's console log in DIR")
    ap.add_argument("--vmlinux", help="ELF kernel (default: the guest kit's)")
    ap.add_argument("--bzimage", help="the same kernel as bzImage, for QEMU (default: the kit's)")
    ap.add_argument("--initramfs", help="initramfs (default: the guest kit's)")
    args = ap.parse_args()

    kvmbox = bl.kvmbox_path(args) if args.only != "qemu" else None
    qemu = bl.qemu_path(args)
    bl.header("boot: exec to 'KVMBOX-SELFTEST VERDICT', test kernel, 128 MiB, 1 vCPU")
    kit = kit_paths() or {}
    if not kit.get("VMLINUX") or not kit.get("INITRAMFS"):
        cached = newest_cached_kit()
        if cached.get("VMLINUX") and cached.get("INITRAMFS"):
            bl.note("note: tools/build-guest-kit --print finds no kit built from the current "
                    "sources; using the newest one in its cache")
            kit = cached
    for key in ("VMLINUX", "BZIMAGE", "INITRAMFS"):
        if getattr(args, key.lower()):
            kit[key] = os.path.abspath(getattr(args, key.lower()))
    if not kit.get("VMLINUX") or not kit.get("INITRAMFS"):
        bl.fail("guest kit missing: build it with tools/build-guest-kit")
        return 1
    bl.note("kernel %s, bzImage %s, initramfs %s" % (kit["VMLINUX"], kit.get("BZIMAGE") or "-",
                                                     kit["INITRAMFS"]))
    logdir = args.keep_logs or bl.workdir()
    os.makedirs(logdir, exist_ok=True)

    def log(name):
        return os.path.join(logdir, re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-") + ".log")

    def show(name, r, extra=""):
        if r["t_verdict"] is None:
            print("   %-46s FAILED: %s" % (name, r["why"]))
        else:
            ex = ("exit at %.1f s, status %s" % (r["t_exit"], r["rc"])
                  if r["t_exit"] is not None else "killed after the verdict")
            print("   %-46s verdict at %6.1f s (%s)%s" % (name, r["t_verdict"], ex, extra))
            print("   %-46s   %s%s" % ("", r["verdict"],
                                       "; failed: " + ", ".join(n for n, _ in r["fails"])
                                       if r["fails"] else ""))
        sys.stdout.flush()

    ok = True
    kb = None
    if args.only != "qemu":
        argv = [kvmbox, "run", "-k", kit["VMLINUX"], "-i", kit["INITRAMFS"], "-m", "128M",
                "-p", "kvmbox_selftest.cpus=1"]
        bl.note("kvmbox: %s" % " ".join(argv[1:]))
        kb = boot(argv, args.timeout, log("kvmbox"))
        show("kvmbox (ELF vmlinux)", kb)
        ok = kb["t_verdict"] is not None

    best = None      # fastest QEMU configuration: (seconds, name, argv tail)
    best_acc = {}    # the same per accelerator (kvm, tcg)
    if args.only != "kvmbox":
        if not qemu:
            bl.fail("%s not found (bench/run installs qemu-system-x86)" % args.qemu)
            return 1
        cmdline = bl.KVMBOX_BASE_CMDLINE
        if bl.is_pvm_host():
            cmdline += " " + bl.pvm_cmdline()
        cmdline += " kvmbox_selftest.cpus=1"
        bl.note("QEMU -append: %s" % cmdline)
        for name, tail in qemu_configs(kit, cmdline):
            if args.qemu_config and not any(s in name for s in args.qemu_config):
                continue
            acc = name.split()[0]
            # A configuration slower than the best one of its accelerator
            # cannot change the result: stop it there.
            prev = best_acc.get(acc)
            limit = args.timeout if prev is None else min(args.timeout, prev[0] + 1)
            r = boot([qemu] + tail, limit, log("qemu " + name))
            if r["t_verdict"] is None and prev is not None and r["why"] \
                    and r["why"].startswith("no verdict line within"):
                r["why"] = ("stopped at %.0f s, slower than the best %s configuration "
                            "(%.1f s)" % (limit, acc, prev[0]))
            show("QEMU " + name, r)
            if r["t_verdict"] is not None:
                cand = (r["t_verdict"], name, tail)
                if prev is None or cand[0] < prev[0]:
                    best_acc[acc] = cand
                if best is None or cand[0] < best[0]:
                    best = cand
        if best:
            bl.note("fastest QEMU: %s" % best[1])
            bl.note("  %s %s" % (os.path.basename(qemu),
                                 " ".join(shlex.quote(a) for a in best[2])))
        else:
            bl.fail("no QEMU configuration reached the verdict line")
            ok = False

    if kb and kb["t_verdict"] is not None and best:
        print("   kvmbox %.1f s, fastest QEMU %.1f s (%s): ratio QEMU/kvmbox %.2fx"
              % (kb["t_verdict"], best[0], best[1], bl.ratio(best[0], kb["t_verdict"])))
        kvm = best_acc.get("kvm")
        if kvm and kvm is not best:
            print("   kvmbox %.1f s, fastest QEMU on KVM %.1f s (%s): ratio QEMU/kvmbox %.2fx"
                  % (kb["t_verdict"], kvm[0], kvm[1], bl.ratio(kvm[0], kb["t_verdict"])))
        elif not kvm:
            print("   (no QEMU configuration on KVM reached the verdict)")
    if args.keep_logs:
        bl.note("console logs in %s" % logdir)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
