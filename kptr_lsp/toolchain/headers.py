"""Which libbpf headers and vmlinux.h a project builds with, and which ones clang really used.

Projects vendor libbpf because distributions ship old headers (Debian's libbpf 1.1 lacks
`BPF_UPROBE`, `bpf_ksym_exists` and more), and keep their own vmlinux.h, often one per
architecture. Without compile_commands.json we find them the way their Makefiles point at them:

- headers installed into a build output directory: `.output/bpf/bpf_helpers.h`
  (libbpf-bootstrap, bcc's libbpf-tools), `build/`, `include/`, or `bpf/` itself;
- a libbpf source tree (`libbpf/src/bpf_helpers.h`, a git submodule): its headers are not under
  a `bpf/` directory, so a cached directory whose `bpf` links to that `src/` stands in for
  `make install_headers`;
- `vmlinux.h` next to the file, in `<arch>/` (bcc's libbpf-tools: `x86/vmlinux.h`) or in a
  `vmlinux.h/include/<arch>/` submodule (libbpf-bootstrap).

clang's `-H` lists every header it opened; `included_headers` reads that list back so hovers and
the log name the file really used, not our guess.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from kptr_lsp.toolchain.vmlinux import cache_root

HELPERS = os.path.join("bpf", "bpf_helpers.h")
# Directories that hold installed headers (a `bpf/` inside), nearest first at each level.
_INSTALLED_UNDER = (".output", "output", "build", "include", "headers", ".")
# Where a libbpf source tree sits in projects that vendor it (git submodules).
_SOURCE_TREES = (
    "libbpf",
    os.path.join("src", "cc", "libbpf"),  # bcc
    os.path.join("third_party", "libbpf"),
    os.path.join("3rdparty", "libbpf"),
    os.path.join("deps", "libbpf"),
    os.path.join("external", "libbpf"),
    os.path.join("vendor", "libbpf"),
)
HEADER_LINE = re.compile(r"^(\.+) (\S.*)$")  # one of clang's `-H` lines: depth, path


@dataclass(frozen=True)
class VendoredLibbpf:
    include_dir: str  # what goes after -I: it holds bpf/bpf_helpers.h
    origin: str  # where it came from, for people: "libbpf source tree /x/libbpf/src"


@dataclass(frozen=True)
class IncludedHeader:
    depth: int  # 1 = included by the main file
    path: str  # as clang opened it, symlinks resolved


def parents(file_dir: str, root: str | None) -> Iterator[str]:
    """The file's directory and its parents up to the workspace root (only the file's
    directory when the file lies outside the workspace)."""
    d = os.path.abspath(file_dir)
    if not root:
        yield d
        return
    root = os.path.abspath(root)
    if os.path.commonpath([root, d]) != root:
        yield d
        return
    while True:
        yield d
        if d == root or os.path.dirname(d) == d:
            return
        d = os.path.dirname(d)


def find_vendored_libbpf(file_dir: str, root: str | None) -> VendoredLibbpf | None:
    """The nearest vendored libbpf headers: installed copies before a source tree at each level,
    because the build compiles against what it installed."""
    for d in parents(file_dir, root):
        for sub in _INSTALLED_UNDER:
            inc = os.path.normpath(os.path.join(d, sub))
            if os.path.isfile(os.path.join(inc, HELPERS)):
                return VendoredLibbpf(inc, f"libbpf headers installed in {inc}")
        for tree in _SOURCE_TREES:
            src = os.path.join(d, tree, "src")
            if os.path.isfile(os.path.join(src, "bpf_helpers.h")):
                return VendoredLibbpf(source_tree_include(src), f"libbpf source tree {src}")
    return None


def source_tree_include(src: str) -> str:
    """A cached directory whose `bpf` entry links to a libbpf `src/`, so `<bpf/…>` resolves
    there exactly as after `make install_headers`, and edits to the tree show at once."""
    src = os.path.realpath(src)
    shim = cache_root().parent / "libbpf-src" / hashlib.sha256(src.encode()).hexdigest()[:16]
    link = shim / "bpf"
    if os.path.realpath(link) != src:
        shim.mkdir(parents=True, exist_ok=True)
        tmp = shim / f".bpf.{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(src, target_is_directory=True)
        os.replace(tmp, link)  # atomic: a concurrent compile sees the old link or the new one
    return str(shim)


def arch_names(target_arch: str) -> list[str]:
    """Spellings of this architecture in per-arch header directories: `x86` (bcc, kernel)
    and `x86_64` (uname)."""
    names = [target_arch, platform.machine()]
    return list(dict.fromkeys(n for n in names if n))


def vmlinux_dirs(dirs: Iterable[str], target_arch: str) -> list[str]:
    """Each directory, then its per-architecture places for a vmlinux.h."""
    out: list[str] = []
    for d in dirs:
        out.append(d)
        for arch in arch_names(target_arch):
            out.append(os.path.join(d, arch))
            out.append(os.path.join(d, "vmlinux.h", "include", arch))
    return out


def included_headers(stderr: str, cwd: str = ".") -> tuple[IncludedHeader, ...]:
    """The headers clang's `-H` reports opening, in order. A quote include relative to the
    buffer (clang reads it from stdin) is named relative to clang's working directory `cwd`."""
    return tuple(IncludedHeader(depth, os.path.realpath(p)) for depth, p in _opened(stderr, cwd))


def opened_headers(stderr: str, cwd: str = ".") -> list[str]:
    """`included_headers`' paths as clang opened them: absolute, symlinks not resolved (what
    a `-ivfsoverlay` entry must name)."""
    return [os.path.normpath(p) for _, p in _opened(stderr, cwd)]


def _opened(stderr: str, cwd: str) -> Iterator[tuple[int, str]]:
    for line in stderr.splitlines():
        m = HEADER_LINE.match(line)
        if m:
            yield len(m[1]), os.path.join(cwd, m[2].strip())


def without_header_lines(stderr: str) -> str:
    """stderr minus `-H` output (header list and include-guard advice)."""
    kept: list[str] = []
    advice = False
    for line in stderr.splitlines():
        if line.startswith("Multiple include guards may be useful for:"):
            advice = True
            continue
        if HEADER_LINE.match(line) or (advice and os.path.isabs(line.strip())):
            continue
        advice = False
        kept.append(line)
    return "\n".join(kept)
