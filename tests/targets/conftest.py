"""Target kernels for tests: Debian's 6.1 kernel (fetched by `make kernels`) booted once per
test session in qemu (TCG), and Debian's 7.3 kernel (trixie-backports), which explains its own
rejections. Skips when qemu or the package is missing, unless KPTR_LSP_REQUIRE_KERNEL=1 (CI),
where that becomes a failure."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kptr_lsp.settings import GuestKernel
from kptr_lsp.targets.kernels import ReadyKernel, TargetError, image_of, ready
from kptr_lsp.targets.vm import QEMU, shutdown_all, vm_name

PACKAGE = os.environ.get("KPTR_TEST_KERNEL_PACKAGE", "linux-image-6.1.0-56-amd64")
# Debian's 7.3 kernel, a `suite/package` entry fetched through a private apt configuration;
# KPTR_TEST_KERNEL_73_IMAGE (a vmlinuz path) replaces it.
PACKAGE_73 = os.environ.get("KPTR_TEST_KERNEL_73", "trixie-backports/linux-image-7.3.4+deb13-amd64")
IMAGE_73 = os.environ.get("KPTR_TEST_KERNEL_73_IMAGE")


def qemu_processes(parent: int | None = None) -> list[str]:
    """qemu processes running now (children of `parent` only, when given)."""
    argv = ["pgrep", "-a", "qemu-system"] + (["-P", str(parent)] if parent else [])
    done = subprocess.run(argv, capture_output=True, text=True)
    return done.stdout.splitlines()


def vms_of(pid: int) -> list[str]:
    """qemu processes booted by process `pid` (a server, a `check`), by their `-name`: other
    people's VMs on the same machine do not count."""
    return [line for line in qemu_processes() if f" -name {vm_name(pid)} " in f"{line} "]


async def wait_vms_gone(pid: int, timeout_s: float = 10.0) -> list[str]:
    """The VMs of `pid` still running after up to `timeout_s` (they power off on shutdown)."""
    for _ in range(int(timeout_s * 10)):
        if not vms_of(pid):
            break
        await asyncio.sleep(0.1)
    return vms_of(pid)


def _unavailable(why: str) -> None:
    if os.environ.get("KPTR_LSP_REQUIRE_KERNEL") == "1":
        pytest.fail(f"KPTR_LSP_REQUIRE_KERNEL=1 but no target kernel: {why} (run `make kernels`)")
    pytest.skip(f"no target kernel: {why} (run `make kernels`)")


@pytest.fixture(scope="session")
def debian61() -> Iterator[GuestKernel]:
    """Debian's 6.1 kernel as a target, its VM booted (once per session) and warm."""
    if shutil.which(QEMU) is None:
        _unavailable(f"{QEMU} is not installed")
    kernel = GuestKernel(package=PACKAGE)
    try:
        ready(kernel)
    except TargetError as exc:
        _unavailable(str(exc))
    yield kernel
    shutdown_all()
    assert qemu_processes(os.getpid()) == [], "a target VM outlived the tests"


@pytest.fixture(scope="session")
def debian61_ready(debian61: GuestKernel) -> ReadyKernel:
    return ready(debian61)


@pytest.fixture(scope="session")
def debian73_image() -> Path:
    """Debian's 7.3 kernel image, fetched (once) but not booted here: the process under test
    (a server, `check`) boots it, so a session boots 7.3 once."""
    if shutil.which(QEMU) is None:
        _unavailable(f"{QEMU} is not installed")
    kernel = GuestKernel(image=IMAGE_73) if IMAGE_73 else GuestKernel(package=PACKAGE_73)
    try:
        return image_of(kernel)
    except TargetError as exc:
        _unavailable(f"Debian 7.3 ({kernel.label()}): {exc}")
        raise  # unreachable: _unavailable skips or fails


@pytest.fixture(scope="session")
def debian73_ready(debian73_image: Path) -> Iterator[ReadyKernel]:
    """Debian's 7.3 kernel booted in this test process once per session and kept warm: every
    test that asks 7.3 itself (not through a server or `check` it starts) shares this VM."""
    try:
        kernel = ready(GuestKernel(image=str(debian73_image)))
    except TargetError as exc:
        _unavailable(f"Debian 7.3 did not boot: {exc}")
        raise
    yield kernel
    kernel.vm.shutdown()
