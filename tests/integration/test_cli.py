# SPDX-License-Identifier: GPL-2.0-only
"""The command line: help, version, errors, `kvmbox check`."""
import json
import subprocess

from conftest import host_kvm, run_kvmbox


def test_version(kvmbox):
    r = run_kvmbox(kvmbox, ["--version"])
    assert r.returncode == 0
    assert r.stdout.startswith("kvmbox ")


def test_help_lists_commands(kvmbox):
    r = run_kvmbox(kvmbox, ["--help"])
    assert r.returncode == 0
    assert "run" in r.stdout and "check" in r.stdout


def test_every_subcommand_has_help(kvmbox):
    for cmd in ["run", "check"]:
        r = run_kvmbox(kvmbox, [cmd, "--help"])
        assert r.returncode == 0, cmd
        assert f"kvmbox {cmd}" in r.stdout


def test_unknown_command(kvmbox):
    r = run_kvmbox(kvmbox, ["frobnicate"])
    assert r.returncode == 1
    assert "unknown command 'frobnicate'" in r.stderr


def test_bad_option_value_is_named(kvmbox, tmp_path):
    k = tmp_path / "k"
    k.write_bytes(b"x")
    r = run_kvmbox(kvmbox, ["run", "-k", str(k), "-m", "lots"])
    assert r.returncode == 1
    assert "--mem 'lots'" in r.stderr


def test_missing_kernel_is_named(kvmbox):
    r = run_kvmbox(kvmbox, ["run", "-k", "/no/such/bzImage"])
    assert r.returncode == 1
    assert "/no/such/bzImage" in r.stderr and "No such file" in r.stderr


def test_corrupt_kernel_is_refused(kvmbox, kvm, tmp_path):
    k = tmp_path / "corrupt-kernel"
    k.write_bytes(b"\x7fELF" + bytes(range(256)) * 16)
    r = run_kvmbox(kvmbox, ["run", "-k", str(k)])
    assert r.returncode == 1
    assert str(k) in r.stderr
    k.write_bytes(b"this is not a kernel" * 100)
    r = run_kvmbox(kvmbox, ["run", "-k", str(k)])
    assert r.returncode == 1
    assert str(k) in r.stderr and "not a bzImage or ELF" in r.stderr


def test_check_tells_the_truth(kvmbox):
    usable, pvm, hw = host_kvm()
    r = run_kvmbox(kvmbox, ["check"])
    assert r.returncode == (0 if usable else 1), r.stdout
    if usable:
        assert "kvmbox can run VMs on this host" in r.stdout
    if pvm:
        assert "kvm_pvm" in r.stdout and "emulated" in r.stdout


def test_check_json(kvmbox):
    usable, pvm, hw = host_kvm()
    r = run_kvmbox(kvmbox, ["check", "--json"])
    doc = json.loads(r.stdout)
    assert doc["ok"] == usable
    names = {c["name"]: c for c in doc["checks"]}
    for n in ["cpu-virtualization", "dev-kvm", "dev-kvm-access", "api-version",
              "capabilities", "create-vm"]:
        assert n in names, n
    if pvm:
        assert names["cpu-virtualization"]["status"] == "warn"
    if usable:
        assert names["api-version"]["detail"] == "KVM API version 12"


def test_check_as_unprivileged_user_fails_with_hint(kvmbox):
    """Without access to /dev/kvm, check fails and says what to do."""
    import os
    import shutil
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        import pytest
        pytest.skip("needs root to drop to an unprivileged uid")
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        kvmbox, "check"], capture_output=True, text=True)
    if r.returncode == 0:
        import pytest
        pytest.skip("/dev/kvm is world-accessible here")
    assert r.returncode == 1
    assert "dev-kvm-access" in r.stdout and "usermod -aG" in r.stdout
