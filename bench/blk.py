#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""Block I/O: kvmbox's virtio-blk path against fio on the same host file.

The guest is bench/blk_guest.c (built by meson into BUILD/bench/blk_guest.bin):
a freestanding program that kvmbox runs at CPL 3 (`--raw-mode user`, native
speed even on the emulation-only KVM) and that drives the virtio-blk device
itself: PCI scan, virtio setup, one queue of 256, indirect descriptors, kicks
through the MMIO notify address (a KVM ioeventfd), polling of used->idx (no
interrupts). Each run is one kvmbox process:

  kvmbox run --raw blk_guest.bin --raw-mode user --raw-addr 0x100000 -m SIZE
             -d FILE[,direct] --reg rdi=OP --reg rsi=BS --reg rdx=QD
             --reg rcx=SEQ --reg r8=RAMP_TICKS --reg r9=RUN_TICKS

The guest keeps QD requests in flight for RAMP then RUN TSC ticks, counts
the requests completed after the ramp and the ticks they took, and prints
them on COM1. Ticks become seconds with the host's TSC frequency, measured
here (rdtsc against CLOCK_MONOTONIC) and checked against the wall time
between the guest's start and end lines.

The floor is fio on the same file with the same pattern, queue depth, ramp
and run time (ioengine io_uring, libaio if io_uring is refused), buffered
(the page cache, as `-d FILE`) and direct (O_DIRECT, as `-d FILE,direct`).
The file is written in full first (so that direct reads hit the disk, not
unwritten extents) and stays in the page cache for the buffered runs.
kvmbox and fio runs alternate, --repeat times each; medians are printed.

Also printed: CPU time per request of kvmbox's device side (its event loop
and io_uring workers, from /proc/PID/task/*/schedstat; not the vCPU, which
polls) and of fio (all its processes and workers, getrusage of children).
The vCPU thread runs at --vcpu-nice: the guest polls where a real guest
would halt, and at equal weight it takes half of the CPU that kvmbox's I/O
thread wakes up on (see bench/README.md).
"""

import ctypes
import json
import mmap
import os
import re
import resource
import select
import shutil
import subprocess
import sys
import time

import benchlib as bl

GUEST_ADDR = 0x100000
GUEST_DATA_BASE = 16 * bl.MIB  # blk_guest.c DATA_BASE
TARGET = 0.80

# name, fio rw, guest op (0 read, 1 write), request size, queue depth, sequential
WORKLOADS = [
    ("randread 4k qd1", "randread", 0, 4096, 1, False),
    ("randread 4k qd32", "randread", 0, 4096, 32, False),
    ("randwrite 4k qd1", "randwrite", 1, 4096, 1, False),
    ("randwrite 4k qd32", "randwrite", 1, 4096, 32, False),
    ("read 1M seq qd8", "read", 0, bl.MIB, 8, True),
    ("write 1M seq qd8", "write", 1, bl.MIB, 8, True),
]
CONFIGS = [("buffered", False), ("direct", True)]

RESULT_RE = re.compile(r"KBBLK result ops (\d+) bytes (\d+) ticks (\d+) kicks (\d+) "
                       r"kick_ticks (\d+) errors (\d+) all_ops (\d+)")
MARK_RE = re.compile(r"KBBLK (start|end) (\d+)")


def host_tsc_hz():
    """The TSC frequency, from rdtsc (run through ctypes) against
    CLOCK_MONOTONIC over 3 x 0.1 s; None where code cannot be run that way."""
    code = bytes([0x0F, 0x31,              # rdtsc
                  0x48, 0xC1, 0xE2, 0x20,  # shl rdx, 32
                  0x48, 0x09, 0xD0,        # or rax, rdx
                  0xC3])                   # ret
    try:
        buf = mmap.mmap(-1, mmap.PAGESIZE,
                        prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        buf.write(code)
        addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
        rdtsc = ctypes.CFUNCTYPE(ctypes.c_uint64)(addr)
        rates = []
        for _ in range(3):
            t0, c0 = time.monotonic_ns(), rdtsc()
            time.sleep(0.1)
            t1, c1 = time.monotonic_ns(), rdtsc()
            rates.append((c1 - c0) * 1e9 / (t1 - t0))
        host_tsc_hz._keep = (buf, rdtsc)
        return bl.median(rates)
    except (OSError, ValueError, AttributeError):
        return None


def cpuinfo_hz():
    """Rough frequency from /proc/cpuinfo, to size the runs when rdtsc is
    not available here (results then use the guest's start/end lines)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return float(line.split(":")[1]) * 1e6
    except (OSError, ValueError):
        pass
    return 2e9


def fs_type(path):
    """File system type of the mount holding path (from /proc/mounts)."""
    best, kind = "", "?"
    path = os.path.realpath(path)
    try:
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                mnt = parts[1].replace("\\040", " ")
                if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) > len(best):
                    best, kind = mnt, parts[2]
    except OSError:
        pass
    return kind


def make_disk(path, size):
    """A fully written file of `size` bytes: preallocated, then every block
    written (non-zero data), then synced. Returns seconds taken."""
    t0 = time.monotonic()
    chunk = bytes((i * 131 + 7) & 0xFF for i in range(4096)) * 256  # 1 MiB
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.posix_fallocate(fd, 0, size)
        for off in range(0, size, len(chunk)):
            os.pwrite(fd, chunk[:min(len(chunk), size - off)], off)
        os.fsync(fd)
    finally:
        os.close(fd)
    return time.monotonic() - t0


def thread_cpu_ns(pid):
    """{tid: (name, ns on a CPU)} for every thread of pid (schedstat)."""
    out = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                name = f.read().strip()
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                out[tid] = (name, int(f.read().split()[0]))
        except (OSError, ValueError, IndexError):
            pass
    return out


def device_cpu_ns(snap):
    """CPU time of kvmbox's device threads in a thread_cpu_ns() snapshot:
    the event loop and io_uring's workers; not the main thread (start-up,
    then signals and console input), the vCPU or KVM's own threads."""
    return sum(ns for name, ns in snap.values()
               if name != "kvmbox" and not name.startswith(("vcpu", "kvm-")))


def renice_vcpus(pid, nice, timeout=2.0):
    """Sets the nice value of pid's vCPU threads (named vcpuN) once they
    exist. Returns how many were changed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tids = [tid for tid, (name, _) in thread_cpu_ns(pid).items()
                if name.startswith("vcpu")]
        if tids:
            for tid in tids:
                try:
                    os.setpriority(os.PRIO_PROCESS, int(tid), nice)
                except OSError:
                    return 0
            return len(tids)
        time.sleep(0.001)
    return 0


def run_kvmbox(kvmbox, guest, disk, direct, wl, ramp, runtime, hz, vcpu_nice):
    """One workload under kvmbox. Returns a dict, or a string saying what
    went wrong."""
    _, _, op, bs, qd, seq = wl
    mem_mib = (GUEST_DATA_BASE + qd * bs) // bl.MIB + 48
    argv = [kvmbox, "run", "--raw", guest, "--raw-mode", "user",
            "--raw-addr", hex(GUEST_ADDR), "-m", "%dM" % mem_mib,
            "-d", disk + (",direct" if direct else ""),
            "--reg", "rdi=%d" % op, "--reg", "rsi=%d" % bs, "--reg", "rdx=%d" % qd,
            "--reg", "rcx=%d" % (1 if seq else 0),
            "--reg", "r8=%d" % int(ramp * hz), "--reg", "r9=%d" % int(runtime * hz)]
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    if vcpu_nice and not renice_vcpus(p.pid, vcpu_nice):
        bl.note("could not set the vCPU thread's nice value")
    lines = []
    cpu = None
    deadline = time.monotonic() + ramp + runtime + 60
    fd = p.stdout.fileno()
    pending = b""
    # Each line with the time it arrived: kvmbox writes COM1 output through.
    while True:
        left = deadline - time.monotonic()
        r = select.select([fd], [], [], max(0, left))[0] if left > 0 else []
        if not r:
            p.kill()
            p.wait()
            return "timed out"
        data = os.read(fd, 4096)
        if not data:
            break
        now = time.monotonic_ns()
        pending += data
        while b"\n" in pending:
            raw, pending = pending.split(b"\n", 1)
            lines.append((now, raw.decode(errors="replace").strip()))
            # The threads' CPU time once the I/O is over (before it, the
            # I/O thread has used next to nothing: setup is MMIO exits).
            if raw.startswith(b"KBBLK result"):
                cpu = thread_cpu_ns(p.pid)
    p.wait()
    err = p.stderr.read().decode(errors="replace").strip()
    p.stdout.close()
    p.stderr.close()
    if p.returncode != 0:
        tail = " | ".join(l for _, l in lines if "error" in l) or err[-300:]
        return "exit status %s: %s" % (p.returncode, tail)
    res, marks = None, {}
    for t, line in lines:
        m = RESULT_RE.search(line)
        if m:
            res = dict(zip(("ops", "bytes", "ticks", "kicks", "kick_ticks", "errors",
                            "all_ops"),
                           map(int, m.groups())))
        m = MARK_RE.search(line)
        if m:
            marks[m.group(1)] = (t, int(m.group(2)))
    if not res or not res["ticks"]:
        return "no result line from the guest: %s" % err[-300:]
    if cpu and res["all_ops"]:
        res["dev_cpu_us"] = device_cpu_ns(cpu) / 1e3 / res["all_ops"]
    if "start" in marks and "end" in marks:
        (t0, c0), (t1, c1) = marks["start"], marks["end"]
        res["wall_hz"] = (c1 - c0) * 1e9 / (t1 - t0) if t1 > t0 else None
    return res


def run_fio(fio, disk, size, direct, wl, ramp, runtime, engine):
    name, rw, _, bs, qd, _ = wl
    argv = [fio, "--name=kvmbox-bench", "--filename=" + disk, "--rw=" + rw,
            "--bs=%d" % bs, "--iodepth=%d" % qd, "--ioengine=" + engine,
            "--direct=%d" % (1 if direct else 0), "--size=%d" % size,
            "--time_based", "--runtime=%g" % runtime, "--ramp_time=%g" % ramp,
            "--fallocate=none", "--invalidate=0", "--norandommap", "--randrepeat=0",
            "--output-format=json"]
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        r = subprocess.run(argv, capture_output=True, text=True,
                           timeout=ramp + runtime + 60)
    except subprocess.TimeoutExpired:
        return "timed out"
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    # All of fio's CPU time, its io_uring workers' included (fio's own
    # usr_cpu/sys_cpu leave those out, and buffered writes run there).
    cpu_s = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    if r.returncode != 0:
        return "exit status %d: %s" % (r.returncode, (r.stderr or r.stdout).strip()[-300:])
    try:
        out = r.stdout[r.stdout.index("{"):]
        job = json.loads(out)["jobs"][0]
        side = job["write" if "write" in rw else "read"]
        cpu_us = (cpu_s * 1e6 / (side["iops"] * (ramp + runtime))
                  if side["iops"] else None)
        return {"iops": side["iops"], "bw": side["bw_bytes"], "cpu_us": cpu_us,
                "errors": job.get("error", 0)}
    except (ValueError, KeyError, IndexError) as e:
        return "cannot read fio's output (%s)" % e


def pick_engine(fio, disk, size):
    """io_uring if fio may use it here, else libaio."""
    for engine in ("io_uring", "libaio"):
        r = run_fio(fio, disk, size, False, WORKLOADS[0], 0, 0.1, engine)
        if isinstance(r, dict):
            return engine
    return None


def main():
    ap = bl.arg_parser(__doc__.splitlines()[0])
    bl.add_run_args(ap, runtime=1.0, ramp=0.3, repeat_per="workload and tool")
    ap.add_argument("--size", default="1G",
                    help="disk file size (default 1G; made smaller if the file "
                         "system has less than 4 times that free)")
    ap.add_argument("--dir", help="where to put the disk file (default: a "
                                  "temporary directory under $TMPDIR or /tmp)")
    ap.add_argument("--fio", default=os.environ.get("FIO", "fio"),
                    help="fio binary (default: fio)")
    ap.add_argument("--only", choices=["buffered", "direct"],
                    help="run one configuration only")
    ap.add_argument("--match", help="run only the workloads whose name contains "
                                    "this, e.g. qd32")
    ap.add_argument("--vcpu-nice", type=int, default=10,
                    help="nice value for kvmbox's vCPU thread (default 10; 0 "
                         "leaves it): the guest polls, where a real one would "
                         "halt, and must not take the CPU from kvmbox's I/O "
                         "thread")
    args = ap.parse_args()

    kvmbox = bl.kvmbox_path(args)
    guest = bl.helper_path(args, "blk_guest.bin")
    fio = shutil.which(args.fio)
    wd = args.dir or bl.workdir()
    disk = os.path.join(wd, "kvmbox-bench-blk.img")

    m = re.fullmatch(r"(\d+)([KMG]?)", args.size.upper().rstrip("B").rstrip("I"))
    if not m:
        sys.exit("blk: --size %s: expected e.g. 1G or 256M" % args.size)
    size = int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2)]
    st = os.statvfs(wd)
    free = st.f_bavail * st.f_frsize
    if size * 4 > free:
        size = max(64 * bl.MIB, (free // 4) // (64 * bl.MIB) * (64 * bl.MIB))
    configs = [c for c in CONFIGS if not args.only or c[0] == args.only]

    bl.header("block I/O: kvmbox virtio-blk (CPL 3 guest driver, polling) vs fio, "
              "median of %d runs of %g s after %g s ramp"
              % (args.repeat, args.runtime, args.ramp))
    if args.vcpu_nice:
        bl.note("kvmbox's vCPU thread at nice %d: the guest polls where a real one "
                "would halt, and must not take the CPU from kvmbox's I/O thread "
                "(--vcpu-nice 0 leaves it)" % args.vcpu_nice)
    else:
        bl.note("kvmbox's vCPU thread at nice 0: the polling guest competes with "
                "kvmbox's I/O thread for the CPU")
    hz = host_tsc_hz()
    if hz:
        bl.note("TSC: %.1f MHz (rdtsc against CLOCK_MONOTONIC)" % (hz / 1e6))
        sizing_hz = hz
    else:
        sizing_hz = cpuinfo_hz()
        bl.note("TSC: rdtsc not callable here; using the guest's start/end "
                "lines against the wall clock")
    fstype = fs_type(wd)
    try:
        secs = make_disk(disk, size)
    except OSError as e:
        bl.fail("cannot create the disk file %s: %s" % (disk, e))
        return 1
    bl.note("disk: %s, %d MiB on %s, written in full in %.1f s"
            % (disk, size // bl.MIB, fstype, secs))
    if fstype in ("tmpfs", "ramfs"):
        bl.note("(on %s the direct configuration measures memory copies, not a disk)" % fstype)

    engine = None
    if fio:
        engine = pick_engine(fio, disk, size)
        if not engine:
            bl.note("fio cannot run io_uring or libaio here: no fio figures")
    else:
        bl.note("fio not found (apt-get install fio; bench/run does): no fio figures")
    if engine:
        bl.note("fio: %s, ioengine=%s, same file, pattern, size, queue depth, ramp "
                "and run time" % (fio, engine))

    results = []
    status = 0
    hz_checks = []
    cols = "%-18s %10s %8s %10s %8s %6s %9s %8s %8s %8s"
    med = lambda xs: bl.median(xs) if xs else None
    opt = lambda v, f: f % v if v is not None else "-"
    for cname, direct in configs:
        print("   -- %s (kvmbox -d FILE%s; fio --direct=%d)"
              % (cname, ",direct" if direct else "", 1 if direct else 0))
        print("   %-18s %19s %19s %24s %17s" % ("", "---- kvmbox -----", "------ fio ------",
                                                "", "cpu us per req"))
        print("   " + cols % ("workload", "IOPS", "MB/s", "IOPS", "MB/s", "ratio",
                              "kicks/req", "us/kick", "kvmbox", "fio"))
        sys.stdout.flush()
        for wl in WORKLOADS:
            if args.match and args.match not in wl[0]:
                continue
            kbs, frs = [], []
            # Interleaved, so that both see the same background load.
            for _ in range(args.repeat):
                kb = run_kvmbox(kvmbox, guest, disk, direct, wl, args.ramp, args.runtime,
                                sizing_hz, args.vcpu_nice)
                if isinstance(kb, str):
                    bl.fail("kvmbox %s %s: %s" % (cname, wl[0], kb))
                    status = 1
                    break
                if kb.get("wall_hz"):
                    hz_checks.append(kb["wall_hz"])
                tick_hz = hz or kb.get("wall_hz")
                secs = kb["ticks"] / tick_hz
                kb.update(iops=kb["ops"] / secs, bw=kb["bytes"] / secs,
                          kick_us=(kb["kick_ticks"] / tick_hz * 1e6 / kb["kicks"]
                                   if kb["kicks"] else 0),
                          kicks_per=kb["kicks"] / kb["ops"] if kb["ops"] else 0)
                kbs.append(kb)
                if not engine:
                    continue
                fr = run_fio(fio, disk, size, direct, wl, args.ramp, args.runtime, engine)
                if isinstance(fr, str):
                    bl.note("fio %s %s: %s" % (cname, wl[0], fr))
                else:
                    frs.append(fr)
            if not kbs:
                continue
            kb_iops = med([k["iops"] for k in kbs])
            f_iops = med([f["iops"] for f in frs])
            rt = bl.ratio(kb_iops, f_iops) if f_iops else None
            print("   " + cols % (
                wl[0], "%.0f" % kb_iops, "%.1f" % (med([k["bw"] for k in kbs]) / 1e6),
                opt(f_iops, "%.0f"), opt(med([f["bw"] / 1e6 for f in frs]), "%.1f"),
                opt(rt, "%.2f"), "%.3f" % med([k["kicks_per"] for k in kbs]),
                "%.1f" % med([k["kick_us"] for k in kbs]),
                opt(med([k["dev_cpu_us"] for k in kbs if "dev_cpu_us" in k]), "%.2f"),
                opt(med([f["cpu_us"] for f in frs if f["cpu_us"]]), "%.2f")))
            sys.stdout.flush()
            results.append((cname, wl, kb_iops, f_iops, rt))

    if hz and hz_checks:
        worst = max(abs(h / hz - 1) for h in hz_checks)
        bl.note("check: TSC rate from the guest's start/end lines vs rdtsc here: "
                "within %.2f%%" % (100 * worst))
    for cname, wl, kb_iops, f_iops, rt in results:
        if wl[4] == 32 and rt is not None:
            print("   target: %s %s >= %d%% of fio: %s (%.0f%%)"
                  % (cname, wl[0], TARGET * 100, "met" if rt >= TARGET else "NOT met",
                     rt * 100))
    try:
        os.unlink(disk)
    except OSError:
        pass
    return status


if __name__ == "__main__":
    sys.exit(main())
