"""Host-side compiles that are not BPF: the guest loader, built statically against libbpf, and
llvm-strip for objects sent to a guest. Only toolchain/ runs compilers; targets/ asks here.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from kptr_lsp.toolchain.clang import ToolchainError, find_clang
from kptr_lsp.toolchain.debian import LibbpfTree
from kptr_lsp.toolchain.which import which


def _clang() -> str | None:
    try:
        return find_clang().path
    except ToolchainError:
        return None


def libbpf_flags(tree: LibbpfTree | None) -> tuple[list[str], list[str]]:
    """(compile flags, libraries) for linking libbpf statically: the current libbpf's
    headers and libbpf.a (debian.py), else the system's libbpf-dev."""
    if tree is None or tree.static is None:
        return [], ["-lbpf"]
    return ["-I", str(tree.include)], [str(tree.static)]


def build_static_libbpf_program(
    source: bytes, out: Path, compiler: str | None = None, tree: LibbpfTree | None = None
) -> None:
    """Compile C `source` into the static executable `out`, linked against `tree`'s libbpf.a
    (the current libbpf), else this machine's libbpf-dev. ToolchainError when it cannot."""
    cc = compiler or which("cc") or which("gcc") or _clang()
    if cc is None:
        raise ToolchainError("no C compiler (cc) to build the guest loader")
    src = out.with_suffix(".c")
    src.write_bytes(source)
    cflags, libs = libbpf_flags(tree)
    cmd = [cc, "-O2", "-static", *cflags, "-o", str(out), str(src), *libs, "-lelf", "-lz"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    finally:
        src.unlink(missing_ok=True)
    if done.returncode != 0:
        raise ToolchainError(f"building the guest loader failed: {done.stderr.strip()}")


def _llvm_strip() -> str | None:
    """llvm-strip beside the clang we compile with, else on PATH."""
    try:
        clang = os.path.realpath(find_clang().path)
    except ToolchainError:
        return which("llvm-strip")
    beside = os.path.join(os.path.dirname(clang), "llvm-strip")
    return beside if os.access(beside, os.X_OK) else which("llvm-strip")


def strip_debug(data: bytes) -> bytes:
    """The object without DWARF (`llvm-strip -g`); the object as is when llvm-strip is
    missing or fails."""
    strip = _llvm_strip()
    if strip is None:
        return data
    with tempfile.TemporaryDirectory(prefix="kptr-strip-") as tmp:
        src, dst = Path(tmp) / "in.o", Path(tmp) / "out.o"
        src.write_bytes(data)
        done = subprocess.run([strip, "-g", "-o", str(dst), str(src)], capture_output=True)
        return dst.read_bytes() if done.returncode == 0 and dst.exists() else data
