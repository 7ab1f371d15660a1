# SPDX-License-Identifier: GPL-2.0-only
"""Shared helpers of the kvmbox benchmarks (stdlib only, Python 3.9+).

Timing: a run starts when time.monotonic_ns() is read right before
os.posix_spawn() (glibc spawns with vfork semantics: the exec follows within
microseconds) and ends when the child's pidfd reports its exit. kvmbox's
KVMBOX_TRACE_FIRST_RUN=1 line and the first_kvm_run.so shim use the same
clock (CLOCK_MONOTONIC), so their timestamps compare directly with it.
"""

import argparse
import os
import re
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH_DIR)

FIRST_RUN_RE = re.compile(rb"first KVM_RUN at (\d+) ns")

# Guest options kvmbox always adds (docs/usage.md), and the fallback for the
# emulation-only host's list when src/arch/x86/pvm.c cannot be read.
KVMBOX_BASE_CMDLINE = "console=ttyS0 reboot=k panic=-1 i8042.noaux"
PVM_CMDLINE_FALLBACK = (
    "nopv noxsave clearcpuid=smap,smep,xsave,avx,avx2,avx512f,cx16,umip,pku,"
    "fsgsbase,rdpid,rdseed,rdrand,xsaves,xsavec,xsaveopt,erms,fsrm,popcnt,bmi1,"
    "bmi2,movbe,abm,adx,aes,pclmulqdq,sha_ni,f16c,fma,gfni,vaes,vpclmulqdq,clwb,"
    "clflushopt,sse4_2,sse4_1,ssse3")

MIB = 1 << 20


# --- Command line and paths ------------------------------------------------

def arg_parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--build-dir", default=os.environ.get("KVMBOX_BENCH_BUILD",
                                                         os.path.join(ROOT, "build-bench")),
                   help="meson build directory with kvmbox and bench/ helpers "
                        "(default: build-bench at the top of the tree)")
    p.add_argument("--kvmbox", default=os.environ.get("KVMBOX"),
                   help="kvmbox binary (default: BUILD_DIR/kvmbox)")
    p.add_argument("--qemu", default=os.environ.get("QEMU", "qemu-system-x86_64"),
                   help="QEMU binary (default: qemu-system-x86_64)")
    return p


def add_run_args(p, runtime, ramp, repeat_per):
    """--runtime, --ramp and --repeat, for the harnesses that measure a rate
    for RUNTIME seconds after RAMP, kvmbox's runs interleaved with its
    peer's; repeat_per says what a run is repeated for ("case and side")."""
    p.add_argument("--runtime", type=float, default=runtime,
                   help="measured seconds per run (default %g)" % runtime)
    p.add_argument("--ramp", type=float, default=ramp,
                   help="seconds run before measuring (default %g)" % ramp)
    p.add_argument("--repeat", type=int, default=3,
                   help="runs per %s, interleaved; medians are printed "
                        "(default 3)" % repeat_per)


def kvmbox_path(args):
    path = args.kvmbox or os.path.join(args.build_dir, "kvmbox")
    if not os.access(path, os.X_OK):
        sys.exit("bench: no kvmbox binary at %s (build it: meson setup %s && ninja -C %s)"
                 % (path, args.build_dir, args.build_dir))
    return os.path.abspath(path)


def helper_path(args, name, required=True):
    path = os.path.join(args.build_dir, "bench", name)
    if not os.path.exists(path):
        if required:
            sys.exit("bench: %s not built (ninja -C %s)" % (path, args.build_dir))
        return None
    return os.path.abspath(path)


def qemu_path(args):
    path = shutil.which(args.qemu)
    if not path:
        return None
    return path


def workdir():
    """A temporary directory removed when the process exits."""
    d = tempfile.TemporaryDirectory(prefix="kvmbox-bench-")
    workdir._keep = d  # lives as long as the module
    return d.name


def write_file(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


def pvm_cmdline():
    """The guest options kvmbox adds on an emulation-only KVM (pvm.c)."""
    try:
        with open(os.path.join(ROOT, "src/arch/x86/pvm.c")) as f:
            src = f.read()
        m = re.search(r"x86_pvm_guest_cmdline\(void\)\s*\{(.*?)\n\}", src, re.S)
        body = re.search(r"return\s+((?:\"[^\"]*\"\s*)+);", m.group(1))
        return "".join(re.findall(r"\"([^\"]*)\"", body.group(1)))
    except (OSError, AttributeError):
        return PVM_CMDLINE_FALLBACK


def is_pvm_host():
    return os.path.isdir("/sys/module/kvm_pvm")


# --- Guest code ------------------------------------------------------------

def rm_exit_code(port=0x501, value=0):
    """Real mode: write `value` to `port` (debug exit), then hlt forever."""
    return bytes([0xBA, port & 0xFF, port >> 8,      # mov dx, port
                  0xB0, value & 0xFF,                # mov al, value
                  0xEE,                              # out dx, al
                  0xF4,                              # hlt
                  0xEB, 0xFD])                       # jmp back to hlt


def rm_spin_code():
    return bytes([0xEB, 0xFE])                       # jmp $


def rm_out_loop_code(count):
    """Real mode: `count` one-byte outs to port 0x80, then hlt."""
    return (b"\x66\xB9" + struct.pack("<I", count)    # mov ecx, count
            + b"\xBA\x80\x00"                          # mov dx, 0x80
            + b"\xEE"                                  # out dx, al
            + b"\x67\xE2\xFC"                          # loop (ecx) back to out
            + b"\xF4")                                 # hlt


def reset_vector_bios(code, size=64 * 1024):
    """A flat firmware image for QEMU's -bios: `code` at the reset vector
    (the last 16 bytes, f000:fff0), hlt everywhere else. QEMU wants a
    multiple of 64 KiB."""
    assert len(code) <= 16
    img = bytearray(b"\xF4" * size)
    img[size - 16:size - 16 + len(code)] = code
    return bytes(img)


# --- Running and timing ----------------------------------------------------

class Result:
    def __init__(self, rc, t_start, t_end, stderr):
        self.rc = rc
        self.t_start = t_start
        self.t_end = t_end
        self.stderr = stderr

    @property
    def wall_ns(self):
        return self.t_end - self.t_start

    def first_run_ns(self):
        """exec to the first KVM_RUN, from kvmbox's trace or the shim."""
        m = FIRST_RUN_RE.search(self.stderr)
        return int(m.group(1)) - self.t_start if m else None

    def err_tail(self, n=300):
        return self.stderr.decode(errors="replace").strip()[-n:]


def _wait_pid(pid, timeout):
    """Wait for pid; on timeout kill it. Returns (status, t_end, timed_out)."""
    timed_out = False
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        fd = None
    if fd is not None:
        try:
            r, _, _ = select.select([fd], [], [], timeout)
            if not r:
                timed_out = True
                os.kill(pid, signal.SIGKILL)
        finally:
            t_end = time.monotonic_ns()
            os.close(fd)
        _, status = os.waitpid(pid, 0)
        return status, t_end, timed_out
    deadline = time.monotonic() + timeout
    while True:
        got, status = os.waitpid(pid, os.WNOHANG)
        if got:
            return status, time.monotonic_ns(), timed_out
        if time.monotonic() > deadline and not timed_out:
            timed_out = True
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.0002)


def timed_run(argv, env=None, timeout=60, stdout_path=os.devnull):
    """Run argv, stdout to stdout_path, stderr captured. Returns a Result;
    rc is the exit status, -SIG for a signal, None when it timed out."""
    with tempfile.TemporaryFile() as err, open(stdout_path, "wb") as out:
        actions = [(os.POSIX_SPAWN_DUP2, out.fileno(), 1),
                   (os.POSIX_SPAWN_DUP2, err.fileno(), 2),
                   (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)]
        env = os.environ if env is None else env
        t_start = time.monotonic_ns()
        pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
        status, t_end, timed_out = _wait_pid(pid, timeout)
        err.seek(0)
        data = err.read()
    if timed_out:
        rc = None
    elif os.WIFSIGNALED(status):
        rc = -os.WTERMSIG(status)
    else:
        rc = os.WEXITSTATUS(status)
    return Result(rc, t_start, t_end, data)


def spawn_bg(argv, env=None, stdout_path=os.devnull):
    """Start argv in the background (stdin/stdout/stderr redirected)."""
    out = open(stdout_path, "wb")
    err = tempfile.TemporaryFile()
    p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    p._bench_files = (out, err)
    return p


def stop_bg(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    out, err = p._bench_files
    out.close()
    err.seek(0)
    data = err.read()
    err.close()
    return data


# --- Reporting -------------------------------------------------------------

def median(xs):
    return statistics.median(xs)


def ms(ns):
    return ns / 1e6


def ratio(num, den):
    if not den:
        return float("nan")
    return num / den


def header(title):
    la = os.getloadavg()
    print("== %s" % title)
    print("   host: %d CPUs, load average %.2f %.2f %.2f (shared machine: other work "
          "may be running)%s" % (os.cpu_count() or 0, la[0], la[1], la[2],
                                 ", kvm_pvm (emulation-only KVM)" if is_pvm_host() else ""))
    sys.stdout.flush()


def note(msg):
    print("   " + msg)
    sys.stdout.flush()


def fail(msg):
    print("   FAILED: " + msg)
    sys.stdout.flush()
