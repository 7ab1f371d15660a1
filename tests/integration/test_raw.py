# SPDX-License-Identifier: GPL-2.0-only
"""`kvmbox run --raw`: the seed's minimal KVM program as a feature."""
import pytest

from conftest import blk_guest_args, run_kvmbox
import rawprog


@pytest.fixture
def prog(tmp_path):
    def write(code, name="prog.bin"):
        p = tmp_path / name
        p.write_bytes(code)
        return str(p)
    return write


def test_seed_program_prints_4(kvmbox, kvm, prog):
    r = run_kvmbox(kvmbox, ["run", "--raw", prog(rawprog.SEED_ADD),
                            "--reg", "rax=2", "--reg", "rbx=2"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == "4\n"
    assert "guest halted" in r.stderr


def test_registers_change_the_result(kvmbox, kvm, prog):
    r = run_kvmbox(kvmbox, ["run", "--raw", prog(rawprog.SEED_ADD),
                            "--reg", "rax=3", "--reg", "rbx=4"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == "7\n"


def test_load_address(kvmbox, kvm, prog):
    r = run_kvmbox(kvmbox, ["run", "--raw", prog(rawprog.SEED_ADD), "--raw-addr",
                            "0x8000", "--reg", "rax=1", "--reg", "rbx=0"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == "1\n"


def test_long_mode_program(kvmbox, kvm, prog):
    r = run_kvmbox(kvmbox, ["run", "--raw", prog(rawprog.LONG_164), "--raw-mode", "long",
                            "--raw-addr", "0x100000"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == "164\n"


def test_triple_fault_is_reported(kvmbox, kvm, prog):
    r = run_kvmbox(kvmbox, ["run", "--raw", prog(rawprog.LONG_UD2), "--raw-mode", "long",
                            "--raw-addr", "0x100000"])
    assert r.returncode == 3, r.stderr
    assert "triple fault" in r.stderr
    assert "rip=" in r.stderr and "cr0=" in r.stderr and "cs  sel=0010" in r.stderr
    # The code bytes at RIP, found through KVM_TRANSLATE.
    assert "code at rip:" in r.stderr
    assert "guest crashed (exit status 3)" in r.stderr


def test_debug_exit_port_sets_status(kvmbox, kvm, prog):
    r = run_kvmbox(kvmbox, ["run", "--raw", prog(rawprog.DEBUG_EXIT_42)])
    assert r.returncode == 42, r.stderr


def test_unemulated_instruction(kvmbox, kvm, prog):
    r = run_kvmbox(kvmbox, ["run", "--raw", prog(rawprog.LONG_POPCNT), "--raw-mode", "long",
                            "--raw-addr", "0x100000"])
    if kvm["pvm"]:
        # The host's emulator lacks popcnt: reported precisely, never a spin.
        assert r.returncode == 3, r.stderr
        assert "could not emulate" in r.stderr
        assert "popcnt" in r.stderr and "f3 48 0f b8 c0" in r.stderr
    else:
        assert r.returncode == 0, r.stderr


def test_fwait_fallback(kvmbox, kvm, prog):
    r = run_kvmbox(kvmbox, ["run", "--raw", prog(rawprog.LONG_FWAIT), "--raw-mode", "long",
                            "--raw-addr", "0x100000"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == "K"


def test_port_loop_exits(kvmbox, kvm, prog):
    r = run_kvmbox(kvmbox, ["run", "--raw", prog(rawprog.port_loop(1000))])
    assert r.returncode == 0, r.stderr


def test_program_too_big_for_real_mode(kvmbox, kvm, prog):
    r = run_kvmbox(kvmbox, ["run", "--raw", prog(bytes(0x100000))])
    assert r.returncode == 1
    assert "real mode code must lie below 1 MiB" in r.stderr
    assert "prog.bin" in r.stderr


def test_empty_program(kvmbox, kvm, prog):
    r = run_kvmbox(kvmbox, ["run", "--raw", prog(b"")])
    assert r.returncode == 1
    assert "prog.bin: file is empty" in r.stderr


def test_long_mode_overlap_with_page_tables(kvmbox, kvm, prog):
    r = run_kvmbox(kvmbox, ["run", "--raw", prog(rawprog.LONG_164), "--raw-mode", "long"])
    assert r.returncode == 1
    assert "overlap the page tables" in r.stderr


def test_user_mode_program(kvmbox, kvm, prog):
    # CPL 3 with IOPL 3: `out` to COM1 and to the debug-exit port work.
    r = run_kvmbox(kvmbox, ["run", "--raw", prog(rawprog.USER_CPL3), "--raw-mode", "user",
                            "--raw-addr", "0x100000"])
    assert r.returncode == 7, r.stderr
    assert r.stdout == "CPL3!\n"


def test_user_mode_hlt_is_a_triple_fault(kvmbox, kvm, prog):
    r = run_kvmbox(kvmbox, ["run", "--raw", prog(rawprog.USER_HLT), "--raw-mode", "user",
                            "--raw-addr", "0x100000"])
    assert r.returncode == 3, r.stderr
    assert "triple fault" in r.stderr
    assert "cs  sel=002b" in r.stderr


def test_user_mode_overlap_with_page_tables(kvmbox, kvm, prog):
    r = run_kvmbox(kvmbox, ["run", "--raw", prog(rawprog.USER_CPL3), "--raw-mode", "user"])
    assert r.returncode == 1
    assert "overlap the page tables" in r.stderr


def blk_guest_run(kvmbox, guest, op, depth, extra=()):
    # 50 ms of 4 KiB random requests at a 1 GHz TSC (shorter or longer elsewhere).
    return run_kvmbox(kvmbox, blk_guest_args(guest, op, 4096, depth, 0, 50000000, extra))


def test_raw_program_drives_virtio_blk(kvmbox, kvm, blk_guest, tmp_path):
    # PCI bus and virtio-blk in raw mode; kicks through the notify address.
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"\xaa" * (4 << 20))
    r = blk_guest_run(kvmbox, blk_guest, 0, 4, ["-d", str(disk)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "KBBLK dev 00:01.0" in r.stdout
    assert " errors 0 " in r.stdout
    assert disk.read_bytes() == b"\xaa" * (4 << 20)
    # Writes (of the guest's zeroed buffers) reach the file.
    r = blk_guest_run(kvmbox, blk_guest, 1, 4, ["-d", str(disk)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert " errors 0 " in r.stdout
    data = disk.read_bytes()
    assert len(data) == 4 << 20
    assert bytes(4096) in data and b"\xaa" * 4096 in data


def test_raw_program_without_disk_finds_none(kvmbox, kvm, blk_guest):
    r = blk_guest_run(kvmbox, blk_guest, 0, 1)
    assert r.returncode == 0x40, r.stdout + r.stderr
    assert "no virtio-blk device" in r.stdout
