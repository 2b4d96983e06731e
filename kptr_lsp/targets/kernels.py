"""Target kernels made ready to judge an object: image found or fetched, VM warm, BTF cached.

Objects are still compiled against the running kernel's vmlinux.h (CO-RE makes them portable);
what changes per target is who verifies them (its VM) and which BTF and release the type-tag
checks judge by (the guest's /sys/kernel/btf/vmlinux, fetched once per image and cached).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from kptr_lsp.kernel.facts import KernelFacts
from kptr_lsp.settings import GuestKernel
from kptr_lsp.targets.fetch import CACHE_DIR, FetchError, image_digest, package_image
from kptr_lsp.targets.initramfs import InitramfsError, initramfs
from kptr_lsp.targets.vm import TargetVM, VMError, warm_vm


class TargetError(Exception):
    pass


@dataclass(frozen=True)
class ReadyKernel:
    label: str  # how diagnostics name it: the setting's name, else the guest's release
    release: str
    vm: TargetVM
    checks: KernelFacts  # the target's BTF + release, for the type-tag checks


def label_of(release: str) -> str:
    """`6.1.0-56-amd64` → `6.1.0-56`: the flavour says nothing the reader needs."""
    for flavour in ("-cloud-amd64", "-amd64", "-arm64"):
        if release.endswith(flavour):
            return release[: -len(flavour)]
    return release


def image_of(kernel: GuestKernel, cache_dir: Path = CACHE_DIR) -> Path:
    if kernel.image:
        path = Path(kernel.image).expanduser()
        if not path.is_file():
            raise TargetError(f"kernel image {kernel.image} does not exist")
        return path.resolve()
    if kernel.package:
        try:
            return package_image(kernel.package, cache_dir)
        except FetchError as exc:
            raise TargetError(str(exc)) from exc
    raise TargetError(f"target kernel {kernel.name or '?'} has neither an image nor a package")


_ready: dict[GuestKernel, ReadyKernel] = {}
_ready_lock = threading.Lock()


def ready(kernel: GuestKernel, cache_dir: Path = CACHE_DIR) -> ReadyKernel:
    """Boot (once) and describe the target; raises TargetError with a reason a user can act on."""
    with _ready_lock:
        found = _ready.get(kernel)
        if found is not None and found.vm.booted is not None:
            return found
        try:
            image = image_of(kernel, cache_dir)
            vm = warm_vm(image, initramfs(cache_dir))
            booted = vm.start()
            btf = _cached_btf(vm, image, cache_dir)
        except (InitramfsError, VMError, OSError) as exc:
            raise TargetError(f"target kernel {kernel.label()}: {exc}") from exc
        release = booted.release
        made = ReadyKernel(
            label=kernel.name or label_of(release),
            release=release,
            vm=vm,
            checks=KernelFacts.from_settings(str(btf), release),
        )
        _ready[kernel] = made
        return made


def _cached_btf(vm: TargetVM, image: Path, cache_dir: Path) -> Path:
    path = cache_dir / "btf" / f"{image_digest(image)}.btf"
    if not path.exists():
        data = vm.btf()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path
