"""The guest's initramfs: the statically linked loader as /init, nothing else.

A static loader needs no shared libraries, shell or busybox: it mounts /proc, /sys and /dev
itself and powers the VM off when asked, so the archive is one 1.3 MB file and three mount
points, written here in the kernel's "newc" cpio format (no cpio tool needed). It links the
current libbpf's libbpf.a (libbpf-dev 1.4 from bookworm-backports, toolchain/debian.py), the
library the host loads through, so a guest prepares struct_ops and exception callbacks alike.
"""

from __future__ import annotations

import hashlib
import logging
import os
from importlib import resources
from pathlib import Path

from kptr_lsp.toolchain.clang import ToolchainError
from kptr_lsp.toolchain.debian import LibbpfTree, libbpf_tree
from kptr_lsp.toolchain.native import build_static_libbpf_program, libbpf_flags

log = logging.getLogger(__name__)

LOADER_SOURCE = "guest_loader.c"


class InitramfsError(Exception):
    pass


def _newc(name: str, mode: int, data: bytes = b"", ino: int = 1) -> bytes:
    encoded = name.encode() + b"\0"
    fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(encoded), 0)
    header = b"070701" + b"".join(f"{v:08x}".encode() for v in fields)
    out = header + encoded
    out += b"\0" * (-len(out) % 4)
    out += data + b"\0" * (-len(data) % 4)
    return out


def cpio(files: dict[str, bytes], dirs: tuple[str, ...]) -> bytes:
    """A newc archive of `dirs` (empty directories) and `files` (executables)."""
    parts = [_newc(d, 0o040755, ino=i + 1) for i, d in enumerate(dirs)]
    for i, (name, data) in enumerate(sorted(files.items())):
        parts.append(_newc(name, 0o100755, data, ino=len(dirs) + i + 1))
    parts.append(_newc("TRAILER!!!", 0, ino=0))
    return b"".join(parts)


def loader_source() -> bytes:
    return resources.files("kptr_lsp.targets").joinpath(LOADER_SOURCE).read_bytes()


def build_loader(out: Path, compiler: str | None = None, tree: LibbpfTree | None = None) -> None:
    """The guest loader, compiled (toolchain/native.py) statically against `tree`'s libbpf.a
    (the current libbpf, so guests prepare programs as the host does), else libbpf-dev."""
    try:
        build_static_libbpf_program(loader_source(), out, compiler, tree)
    except ToolchainError as exc:
        raise InitramfsError(str(exc)) from exc


def initramfs(cache_dir: Path) -> Path:
    """The initramfs, built once per loader source and libbpf, cached under `cache_dir`."""
    tree = libbpf_tree()
    if tree is None or tree.static is None:
        log.warning(
            "guest loader: the current libbpf is not in the cache (run `make setup`): "
            "linking the system's libbpf, which may reject struct_ops and exception callbacks"
        )
    key = hashlib.sha256(loader_source())
    key.update(repr(libbpf_flags(tree)).encode())
    if tree is not None and tree.static is not None:
        key.update(tree.static.read_bytes())
    digest = key.hexdigest()[:16]
    path = cache_dir / f"initramfs-{digest}.cpio"
    if path.exists():
        return path
    cache_dir.mkdir(parents=True, exist_ok=True)
    loader = cache_dir / f"guest-loader-{digest}.{os.getpid()}"
    try:
        build_loader(loader, tree=tree)
        archive = cpio({"init": loader.read_bytes()}, ("dev", "proc", "sys"))
    finally:
        loader.unlink(missing_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(archive)
    tmp.replace(path)  # atomic: a concurrent builder writes the same bytes
    return path
