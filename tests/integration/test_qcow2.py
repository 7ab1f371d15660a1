# SPDX-License-Identifier: GPL-2.0-only
"""qcow2 images made and checked by the real peer, qemu-img (qemu-utils).

The guest kernel's self-test reads qemu-img-made images (blk-pattern) and
writes a qcow2 scratch disk (blk-rw); then `qemu-img check` must find no
error and `qemu-img compare` must match the raw image expected. A writer
killed with SIGKILL mid-write (bench/blk_guest.bin, no kernel needed)
leaves an image `qemu-img check` accepts (leaked clusters allowed).
"""
import shutil
import signal
import subprocess
import time

import pytest

from conftest import blk_guest_args, run_kvmbox, verdict
import guest_disks as gd
import rawprog
from test_virtio import boot

SCRATCH_SIZE = 8 << 20
PATTERN_SIZE = 4 << 20


@pytest.fixture(scope="module")
def qemu_img():
    p = shutil.which("qemu-img")
    if not p:
        pytest.skip("qemu-img not installed (Debian package qemu-utils)")
    return p


def qimg(*args, check=True):
    r = subprocess.run(["qemu-img", *map(str, args)], capture_output=True, text=True)
    if check:
        assert r.returncode == 0, f"qemu-img {' '.join(map(str, args))}: {r.stdout}{r.stderr}"
    return r


def expected_scratch(path, discarded):
    """The raw image the self-test's blk-rw leaves on the 0xee scratch disk.
    Discarded data is undefined: @discarded, the bytes found there, must be
    zeroes or the old fill (a discard smaller than a cluster is a no-op)."""
    img = bytearray([gd.SCRATCH_FILL]) * SCRATCH_SIZE
    rw = gd.RW_SECTOR * gd.SECTOR
    img[rw:rw + gd.RW_BYTES] = gd.pattern_bytes(rw, gd.RW_BYTES, 1)
    off = gd.ZERO_SECTOR * gd.SECTOR
    img[off:off + gd.RANGE_BYTES] = bytes(gd.RANGE_BYTES)
    assert discarded in (bytes(gd.RANGE_BYTES),
                         bytes([gd.SCRATCH_FILL]) * gd.RANGE_BYTES)
    off = gd.DISCARD_SECTOR * gd.SECTOR
    img[off:off + gd.RANGE_BYTES] = discarded
    path.write_bytes(bytes(img))


# (id, options for the scratch disk, for the pattern disk; "backing" puts
# the raw image under a qcow2 overlay instead of converting it)
CASES = [
    ("v3-64k", "-o compat=1.1", "-o compat=0.10,cluster_size=65536"),
    ("v2-4k-compressed", "-o compat=0.10,cluster_size=4096",
     "-c -o compat=1.1,cluster_size=65536"),
    ("v3-512-refcount1-zstd", "-o compat=1.1,cluster_size=512,refcount_bits=1",
     "-c -o compat=1.1,cluster_size=16384,compression_type=zstd"),
    ("backing", "backing", "backing"),
]


def make_disk(tmp_path, name, raw, opts):
    out = tmp_path / f"{name}.qcow2"
    if opts == "backing":
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", raw.name,
                        "-F", "raw", out.name], cwd=tmp_path, check=True)
    else:
        qimg("convert", "-O", "qcow2", *opts.split(), raw, out)
    return out


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_guest_reads_and_writes(kvmbox, kvm, kit, qemu_img, tmp_path, case):
    _, scratch_opts, pattern_opts = case
    scratch_raw, pattern_raw = tmp_path / "scratch.raw", tmp_path / "pattern.raw"
    gd.make_scratch_image(scratch_raw, SCRATCH_SIZE)
    gd.make_pattern_image(pattern_raw, PATTERN_SIZE, 2)
    scratch = make_disk(tmp_path, "scratch", scratch_raw, scratch_opts)
    pattern = make_disk(tmp_path, "pattern", pattern_raw, pattern_opts)
    pattern_before, base_before = pattern.read_bytes(), scratch_raw.read_bytes()

    # Names that say nothing: the format comes from the content.
    r = boot(kvmbox, kit, ["-d", f"{scratch},serial=scratch", "-d", f"{pattern},ro"],
             "kvmbox_selftest.blk_rw=vda kvmbox_selftest.blk_pattern=vdb")
    verdict(r, ["blk-rw", "blk-pattern"])

    c = qimg("check", scratch, check=False)
    assert c.returncode == 0, c.stdout + c.stderr
    expected, out = tmp_path / "expected.raw", tmp_path / "out.raw"
    qimg("convert", "-O", "raw", scratch, out)
    off = gd.DISCARD_SECTOR * gd.SECTOR
    expected_scratch(expected, out.read_bytes()[off:off + gd.RANGE_BYTES])
    c = qimg("compare", "-f", "raw", "-F", "qcow2", expected, scratch, check=False)
    assert c.returncode == 0, c.stdout + c.stderr
    assert pattern.read_bytes() == pattern_before
    if scratch_opts == "backing":
        # The backing file is opened read-only: untouched.
        assert scratch_raw.read_bytes() == base_before
    assert qimg("check", pattern, check=False).returncode == 0


@pytest.mark.parametrize("opts,workload,delay", [
    ("cluster_size=4096", (1, 4096, 32, 0), 1.0),
    ("cluster_size=512,refcount_bits=64", (1, 65536, 16, 1), 1.5),
    ("compat=0.10,cluster_size=65536", (1, 1 << 20, 8, 1), 0.7),
])
def test_killed_writer_leaves_consistent_image(kvmbox, kvm, qemu_img, blk_guest, tmp_path,
                                               opts, workload, delay):
    img = tmp_path / "killed.qcow2"
    qimg("create", "-q", "-f", "qcow2", "-o", opts, img, "256M")
    op, bs, qd, seq = workload
    hz = 2_000_000_000
    argv = blk_guest_args(blk_guest, op, bs, qd, seq, 60 * hz, ["-d", str(img)])
    p = subprocess.Popen([kvmbox, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL)
    time.sleep(delay)
    assert p.poll() is None, p.communicate()
    p.send_signal(signal.SIGKILL)
    p.communicate()
    size_before = img.stat().st_size
    c = qimg("check", img, check=False)
    # 0: clean; 3: leaked clusters only. 2 (corruption) or 1 must not be.
    assert c.returncode in (0, 3), c.stdout + c.stderr
    assert "ERROR" not in c.stdout, c.stdout
    assert size_before > 1 << 20  # it did write
    # And the image is usable again.
    qimg("check", "-r", "leaks", img)


@pytest.mark.parametrize("opts,word", [
    (["-o", "extended_l2=on"], "extended L2"),
    (["-o", "data_file=data.raw"], "external data file"),
])
def test_unsupported_features_refused(kvmbox, kvm, qemu_img, tmp_path, opts, word):
    prog = tmp_path / "prog.bin"
    prog.write_bytes(rawprog.SEED_ADD)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", *opts, "img.qcow2",
                    "1M"], cwd=tmp_path, check=True)
    r = run_kvmbox(kvmbox, ["run", "--raw", str(prog), "-d",
                            str(tmp_path / "img.qcow2")])
    assert r.returncode != 0
    assert word in r.stderr, r.stderr


def test_format_raw_forces_raw(kvmbox, kvm, qemu_img, tmp_path):
    """A qcow2 file given with format=raw is the guest's raw bytes."""
    prog = tmp_path / "prog.bin"
    prog.write_bytes(rawprog.SEED_ADD)
    img = tmp_path / "img.qcow2"
    qimg("create", "-q", "-f", "qcow2", img, "1M")
    r = run_kvmbox(kvmbox, ["run", "--raw", str(prog), "-d", f"{img},format=raw"])
    assert r.returncode == 0, r.stderr
