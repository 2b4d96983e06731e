"""The guest's initramfs: the statically linked loader as /init, nothing else.

A static loader needs no shared libraries, shell or busybox: it mounts /proc, /sys and /dev
itself and powers the VM off when asked, so the archive is one 1.3 MB file and three mount
points, written here in the kernel's "newc" cpio format (no cpio tool needed).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from importlib import resources
from pathlib import Path

from kptr_lsp.toolchain.clang import ToolchainError, find_clang

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


def _clang() -> str | None:
    try:
        return find_clang().path
    except ToolchainError:
        return None


def build_loader(out: Path, compiler: str | None = None) -> None:
    """Compile the guest loader statically against this machine's libbpf (libbpf-dev)."""
    cc = compiler or shutil.which("cc") or shutil.which("gcc") or _clang()
    if cc is None:
        raise InitramfsError("no C compiler (cc) to build the guest loader")
    src = out.with_suffix(".c")
    src.write_bytes(loader_source())
    cmd = [cc, "-O2", "-static", "-o", str(out), str(src), "-lbpf", "-lelf", "-lz"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    finally:
        src.unlink(missing_ok=True)
    if done.returncode != 0:
        raise InitramfsError(f"building the guest loader failed: {done.stderr.strip()}")


def initramfs(cache_dir: Path) -> Path:
    """The initramfs, built once per loader source and cached under `cache_dir`."""
    digest = hashlib.sha256(loader_source()).hexdigest()[:16]
    path = cache_dir / f"initramfs-{digest}.cpio"
    if path.exists():
        return path
    cache_dir.mkdir(parents=True, exist_ok=True)
    loader = cache_dir / f"guest-loader-{digest}.{os.getpid()}"
    try:
        build_loader(loader)
        archive = cpio({"init": loader.read_bytes()}, ("dev", "proc", "sys"))
    finally:
        loader.unlink(missing_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(archive)
    tmp.replace(path)  # atomic: a concurrent builder writes the same bytes
    return path
