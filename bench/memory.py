#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""Memory overhead: the VMM's RSS minus the guest RAM it touched (256 MiB guest).

kvmbox runs a raw real-mode guest that spins (`jmp $`) with -m 256M; QEMU
(microvm, KVM) runs the same spin as its firmware at the reset vector with
-m 256M. After --settle seconds the harness reads /proc/PID/smaps: the sum of
every mapping's Rss, minus the Rss of the guest RAM mapping (the anonymous
mapping of exactly 256 MiB; the closest larger one if none is exact). The
median of --runs runs is reported. Target: kvmbox under 3 MiB.
"""

import os
import re
import sys
import time

import benchlib as bl

TARGET_MIB = 3.0
GUEST_MIB = 256

QEMU_ARGS = ["-accel", "kvm", "-M", "microvm,x-option-roms=off,pit=off,pic=off,rtc=off,isa-serial=off",
             "-cpu", "qemu64,-pni", "-nodefaults", "-no-user-config", "-display", "none",
             "-m", "%dM" % GUEST_MIB]

VMA_RE = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$")


def read_smaps(pid):
    """[(start, end, perms, name, {field: kB})] of /proc/PID/smaps."""
    vmas = []
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            m = VMA_RE.match(line)
            if m:
                vmas.append((int(m.group(1), 16), int(m.group(2), 16), m.group(3),
                             m.group(4).strip(), {}))
                continue
            key, _, rest = line.partition(":")
            parts = rest.split()
            if vmas and len(parts) == 2 and parts[1] == "kB":
                vmas[-1][4][key] = int(parts[0])
    return vmas


def measure(pid, guest_bytes):
    vmas = read_smaps(pid)
    total = sum(v[4].get("Rss", 0) for v in vmas)
    anon = sum(v[4].get("Anonymous", 0) for v in vmas)
    # Guest RAM: a writable mapping at least as large as the guest; the one
    # closest in size (kvmbox and QEMU map it exactly).
    cands = [v for v in vmas if v[1] - v[0] >= guest_bytes and v[2].startswith("rw")]
    if not cands:
        raise RuntimeError("no mapping of %d MiB or more in /proc/%d/smaps"
                           % (guest_bytes >> 20, pid))
    ram = min(cands, key=lambda v: (v[1] - v[0] - guest_bytes, -v[4].get("Rss", 0)))
    ram_rss = ram[4].get("Rss", 0)
    ram_anon = ram[4].get("Anonymous", 0)
    return {
        "total_kb": total,
        "guest_kb": ram_rss,
        "overhead_kb": total - ram_rss,
        "overhead_anon_kb": anon - ram_anon,
        "ram_vma": "%x-%x %s %d KiB%s" % (ram[0], ram[1], ram[2], (ram[1] - ram[0]) >> 10,
                                          " " + ram[3] if ram[3] else ""),
    }


def sample(argv, settle):
    p = bl.spawn_bg(argv)
    try:
        time.sleep(settle)
        if p.poll() is not None:
            raise RuntimeError("exited early with status %s: %s"
                               % (p.returncode, bl.stop_bg(p).decode(errors="replace")[-300:]))
        return measure(p.pid, GUEST_MIB << 20)
    finally:
        bl.stop_bg(p)


def main():
    ap = bl.arg_parser(__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="runs per VMM (default 3)")
    ap.add_argument("--settle", type=float, default=0.5,
                    help="seconds between start and measurement (default 0.5)")
    args = ap.parse_args()

    kvmbox = bl.kvmbox_path(args)
    qemu = bl.qemu_path(args)
    wd = bl.workdir()
    raw = bl.write_file(os.path.join(wd, "spin.bin"), bl.rm_spin_code())
    bios = bl.write_file(os.path.join(wd, "spin-bios.bin"),
                         bl.reset_vector_bios(bl.rm_spin_code()))

    bl.header("memory overhead: RSS minus touched guest RAM, %d MiB guest, median of %d, "
              "after %.1f s" % (GUEST_MIB, args.runs, args.settle))
    vmms = [("kvmbox", [kvmbox, "run", "--raw", raw, "-m", "%dM" % GUEST_MIB])]
    if qemu:
        vmms.append(("QEMU", [qemu] + QEMU_ARGS + ["-bios", bios]))
        bl.note("QEMU: %s -bios SPIN-IMAGE" % " ".join(QEMU_ARGS))
    else:
        bl.fail("%s not found (bench/run installs qemu-system-x86)" % args.qemu)

    res = {}
    ok = bool(qemu)
    for name, argv in vmms:
        try:
            runs = [sample(argv, args.settle) for _ in range(args.runs)]
        except (RuntimeError, OSError) as e:
            bl.fail("%s: %s" % (name, e))
            ok = False
            continue
        runs.sort(key=lambda r: r["overhead_kb"])
        res[name] = r = runs[len(runs) // 2]
        print("   %-7s overhead %7.2f MiB  (RSS %7.2f MiB - guest RAM %6.2f MiB; "
              "anonymous part %.2f MiB)" % (name, r["overhead_kb"] / 1024, r["total_kb"] / 1024,
                                             r["guest_kb"] / 1024, r["overhead_anon_kb"] / 1024))
        bl.note("        guest RAM mapping: %s" % r["ram_vma"])
    if "kvmbox" in res and "QEMU" in res:
        print("   ratio QEMU/kvmbox: %.1fx" % bl.ratio(res["QEMU"]["overhead_kb"],
                                                    res["kvmbox"]["overhead_kb"]))
    if "kvmbox" in res:
        m = res["kvmbox"]["overhead_kb"] / 1024
        print("   target: kvmbox overhead < %.0f MiB: %s (%.2f MiB)"
              % (TARGET_MIB, "met" if m < TARGET_MIB else "NOT met", m))
    else:
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
