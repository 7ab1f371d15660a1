#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""Block I/O on qcow2 against raw: the same guest-driven I/O as blk.py.

The guest is bench/blk_guest.c under `--raw-mode user` (see blk.py, whose
run_kvmbox() this reuses), buffered (`-d FILE`). Three disks of the same
size, all on the same file system:

  raw       a fully written raw file (blk.py's make_disk)
  prealloc  qcow2, `qemu-img convert -o preallocation=metadata` of the raw
            disk: every cluster allocated and holding the same data as raw
            (so reads hit the same page cache state and writes go in place)
  growing   qcow2, created empty before every run: each write to a new
            cluster allocates it (refcount, data, L2 entry); its reads are
            of unallocated clusters (zeroes, no file I/O), shown for
            completeness only

Workloads: sequential 1 MiB (qd8) reads and writes, random 4 KiB (qd32)
reads and writes. Printed: IOPS and MB/s per disk (median of --repeat
interleaved runs) and the ratios prealloc/raw and growing/raw. The target
is sequential prealloc within 10% of raw (ratio >= 0.90).
"""
import os
import re
import shutil
import subprocess
import sys

import benchlib as bl
import blk

WORKLOADS = [
    ("read 1M seq qd8", "read", 0, bl.MIB, 8, True),
    ("write 1M seq qd8", "write", 1, bl.MIB, 8, True),
    ("randread 4k qd32", "randread", 0, 4096, 32, False),
    ("randwrite 4k qd32", "randwrite", 1, 4096, 32, False),
]
TARGET = 0.90


def qemu_img(*args):
    subprocess.run(["qemu-img", *args], check=True, capture_output=True)


def main():
    ap = bl.arg_parser(__doc__.splitlines()[0])
    ap.add_argument("--runtime", type=float, default=1.0)
    ap.add_argument("--ramp", type=float, default=0.3)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--size", default="512M", help="disk size (default 512M)")
    ap.add_argument("--cluster-size", default="65536")
    ap.add_argument("--dir", help="where to put the disks (default: a temporary "
                                  "directory)")
    ap.add_argument("--match", help="only the workloads whose name contains this")
    ap.add_argument("--vcpu-nice", type=int, default=10)
    args = ap.parse_args()

    if not shutil.which("qemu-img"):
        bl.fail("qemu-img not found (apt-get install qemu-utils)")
        return 1
    kvmbox = bl.kvmbox_path(args)
    guest = bl.helper_path(args, "blk_guest.bin")
    wd = args.dir or bl.workdir()
    m = re.fullmatch(r"(\d+)([KMG]?)", args.size.upper().rstrip("B").rstrip("I"))
    if not m:
        sys.exit("qcow2: --size %s: expected e.g. 512M" % args.size)
    size = int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2)]
    raw = os.path.join(wd, "kvmbox-bench-raw.img")
    pre = os.path.join(wd, "kvmbox-bench-prealloc.qcow2")
    grow = os.path.join(wd, "kvmbox-bench-growing.qcow2")
    cs = "cluster_size=" + args.cluster_size

    bl.header("block I/O: qcow2 (preallocated, growing) vs raw, kvmbox virtio-blk "
              "(CPL 3 guest driver), median of %d runs of %g s after %g s ramp"
              % (args.repeat, args.runtime, args.ramp))
    hz = blk.host_tsc_hz() or blk.cpuinfo_hz()
    blk.make_disk(raw, size)
    qemu_img("convert", "-O", "qcow2", "-o", cs + ",preallocation=metadata", raw, pre)
    bl.note("disks: %d MiB each in %s on %s, qcow2 %s"
            % (size // bl.MIB, wd, blk.fs_type(wd), cs))

    status = 0
    cols = "%-18s %9s %9s %9s %9s %9s %9s %8s %8s"
    print("   " + cols % ("", "raw", "", "prealloc", "", "growing", "", "ratio", "ratio"))
    print("   " + cols % ("workload", "IOPS", "MB/s", "IOPS", "MB/s", "IOPS", "MB/s",
                          "pre/raw", "grow/raw"))
    summary = []
    for wl in WORKLOADS:
        if args.match and args.match not in wl[0]:
            continue
        got = {"raw": [], "pre": [], "grow": []}
        for _ in range(args.repeat):
            for name, disk in (("raw", raw), ("pre", pre), ("grow", grow)):
                if name == "grow":
                    if os.path.exists(grow):
                        os.unlink(grow)
                    qemu_img("create", "-q", "-f", "qcow2", "-o", cs, grow, str(size))
                r = blk.run_kvmbox(kvmbox, guest, disk, False, wl, args.ramp,
                                   args.runtime, hz, args.vcpu_nice)
                if isinstance(r, str):
                    bl.fail("%s %s: %s" % (name, wl[0], r))
                    status = 1
                    continue
                secs = r["ticks"] / (r.get("wall_hz") or hz)
                got[name].append((r["ops"] / secs, r["bytes"] / secs))
        med = {k: (bl.median([x[0] for x in v]), bl.median([x[1] for x in v]))
               if v else (None, None) for k, v in got.items()}
        rp = bl.ratio(med["pre"][0], med["raw"][0]) if med["raw"][0] else None
        rg = bl.ratio(med["grow"][0], med["raw"][0]) if med["raw"][0] else None
        f = lambda v, fmt: fmt % v if v is not None else "-"
        print("   " + cols % (wl[0], f(med["raw"][0], "%.0f"),
                              f(med["raw"][1] and med["raw"][1] / 1e6, "%.1f"),
                              f(med["pre"][0], "%.0f"),
                              f(med["pre"][1] and med["pre"][1] / 1e6, "%.1f"),
                              f(med["grow"][0], "%.0f"),
                              f(med["grow"][1] and med["grow"][1] / 1e6, "%.1f"),
                              f(rp, "%.2f"), f(rg, "%.2f")))
        sys.stdout.flush()
        if wl[5] and rp is not None:
            summary.append((wl[0], rp))
    for name, rp in summary:
        print("   target: %s prealloc >= %d%% of raw: %s (%.0f%%)"
              % (name, TARGET * 100, "met" if rp >= TARGET else "NOT met", rp * 100))
    for p in (raw, pre, grow):
        try:
            os.unlink(p)
        except OSError:
            pass
    return status


if __name__ == "__main__":
    sys.exit(main())
