"""Shared test plumbing: real clang, real kernel BTF, real verifier.

Tests that need the kernel (bpf() syscall) use the `kernel` fixture: it skips with a reason when
bpf() is refused, unless KPTR_LSP_REQUIRE_KERNEL=1 (CI), where that skip becomes a failure.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from kptr_lsp.kernel.running import VMLINUX_BTF

TESTS = Path(__file__).parent
# No guest kernel unless a test asks for one (setting guestVerify): a server that boots one in
# the background on its own (`auto`, fentry refused here) would race the test's expectations
# and could fetch a kernel package. Servers the tests start inherit it.
os.environ.setdefault("KPTR_LSP_GUEST_VERIFY", "off")
PROGRAMS = TESTS / "programs"
KERNEL_BTF = Path(VMLINUX_BTF)


def _find_clang() -> str:
    for name in ("clang-19", "clang-18", "clang-17", "clang-16", "clang-15", "clang-14", "clang"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("no clang on PATH: run `make setup`")


def bpf_usable() -> tuple[bool, str]:
    """Try a harmless bpf() call (BPF_PROG_LOAD of an invalid program is not harmless to
    reason about, so create and close a tiny array map instead)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    attr = (ctypes.c_uint32 * 32)()
    attr[0] = 2  # BPF_MAP_TYPE_ARRAY
    attr[1] = 4  # key_size
    attr[2] = 4  # value_size
    attr[3] = 1  # max_entries
    sys_bpf = 321  # x86_64
    fd = libc.syscall(sys_bpf, 0, ctypes.byref(attr), ctypes.sizeof(attr))  # BPF_MAP_CREATE
    if fd < 0:
        err = ctypes.get_errno()
        return False, f"bpf(BPF_MAP_CREATE) failed: {os.strerror(err)}"
    os.close(fd)
    return True, ""


@pytest.fixture(scope="session")
def kernel() -> None:
    ok, why = bpf_usable()
    if not ok:
        if os.environ.get("KPTR_LSP_REQUIRE_KERNEL") == "1":
            pytest.fail(f"KPTR_LSP_REQUIRE_KERNEL=1 but the kernel verifier is unusable: {why}")
        pytest.skip(f"kernel verifier unusable: {why}")


@pytest.fixture(scope="session")
def clang() -> str:
    return _find_clang()


@pytest.fixture(scope="session")
def vmlinux_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding vmlinux.h generated from the running kernel's BTF."""
    out = tmp_path_factory.mktemp("vmlinux")
    bpftool = shutil.which("bpftool") or "/usr/sbin/bpftool"
    with open(out / "vmlinux.h", "wb") as fh:
        subprocess.run(
            [bpftool, "btf", "dump", "file", str(KERNEL_BTF), "format", "c"],
            stdout=fh,
            check=True,
        )
    return out


CompileFn = Callable[[str | Path], bytes]


@pytest.fixture(scope="session")
def compile_bpf(clang: str, vmlinux_dir: Path) -> CompileFn:
    """Compile BPF C (a path, or source text) into an object's bytes with real clang."""

    def compile_(src: str | Path) -> bytes:
        cmd = [
            clang,
            "-target",
            "bpf",
            "-g",
            "-O2",
            "-D__TARGET_ARCH_x86",
            "-I",
            str(vmlinux_dir),
            "-idirafter",
            "/usr/include/x86_64-linux-gnu",
            "-c",
            "-o",
            "-",
        ]
        if isinstance(src, Path):
            proc = subprocess.run([*cmd, str(src)], capture_output=True, check=False)
        else:
            proc = subprocess.run(
                [*cmd, "-x", "c", "-"], input=src.encode(), capture_output=True, check=False
            )
        if proc.returncode != 0:
            raise AssertionError(f"clang failed:\n{proc.stderr.decode()}")
        return proc.stdout

    return compile_
