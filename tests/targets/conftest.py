"""Target kernels for tests: Debian's 6.1 kernel (fetched by `make kernels`) booted once per
test session in qemu (TCG). Skips when qemu or the package is missing, unless
KPTR_LSP_REQUIRE_KERNEL=1 (CI), where that becomes a failure."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kptr_lsp.settings import TargetKernel
from kptr_lsp.targets.fetch import CACHE_DIR
from kptr_lsp.targets.kernels import ReadyKernel, TargetError, ready
from kptr_lsp.targets.vm import QEMU, shutdown_all

PACKAGE = os.environ.get("KPTR_TEST_KERNEL_PACKAGE", "linux-image-6.1.0-56-amd64")


def qemu_processes(parent: int | None = None) -> list[str]:
    """qemu processes running now (children of `parent` only, when given)."""
    argv = ["pgrep", "-a", "qemu-system"] + (["-P", str(parent)] if parent else [])
    done = subprocess.run(argv, capture_output=True, text=True)
    return done.stdout.splitlines()


def stray_qemu() -> list[str]:
    """qemu processes booting a cached target kernel that this process did not start."""
    stray = []
    for line in qemu_processes():
        pid = int(line.split()[0])
        try:
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if ppid != os.getpid() and str(CACHE_DIR) in line:
            stray.append(line)
    return stray


def _unavailable(why: str) -> None:
    if os.environ.get("KPTR_LSP_REQUIRE_KERNEL") == "1":
        pytest.fail(f"KPTR_LSP_REQUIRE_KERNEL=1 but no target kernel: {why} (run `make kernels`)")
    pytest.skip(f"no target kernel: {why} (run `make kernels`)")


@pytest.fixture(scope="session")
def debian61() -> Iterator[TargetKernel]:
    """Debian's 6.1 kernel as a target, its VM booted (once per session) and warm."""
    if shutil.which(QEMU) is None:
        _unavailable(f"{QEMU} is not installed")
    kernel = TargetKernel(package=PACKAGE)
    try:
        ready(kernel)
    except TargetError as exc:
        _unavailable(str(exc))
    yield kernel
    shutdown_all()
    assert qemu_processes(os.getpid()) == [], "a target VM outlived the tests"


@pytest.fixture(scope="session")
def debian61_ready(debian61: TargetKernel) -> ReadyKernel:
    return ready(debian61)
