"""Find a clang that can target BPF, learn its version and system include dirs, find libbpf.

Results are cached per resolved clang path: discovery runs clang three times, the editor
compiles on every keystroke pause.
"""

from __future__ import annotations

import functools
import glob
import os
import platform
import re
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .which import absolute_path_dirs, which

MIN_VERSION = 14
INSTALL_ADVICE = (
    "install clang ≥ 14 with BPF support and the libbpf headers "
    "(Debian/Ubuntu: `apt-get install clang llvm libbpf-dev`; "
    "Fedora: `dnf install clang llvm libbpf-devel`), "
    "or point the `clang` setting at a clang binary"
)

# uname machine → the __TARGET_ARCH_* spelling bpf_tracing.h expects.
_ARCH = {
    "x86_64": "x86",
    "amd64": "x86",
    "i386": "x86",
    "i686": "x86",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "armv6l": "arm",
    "s390x": "s390",
    "ppc64le": "powerpc",
    "ppc64": "powerpc",
    "riscv64": "riscv",
    "loongarch64": "loongarch",
    "mips64": "mips",
    "mips": "mips",
    "sparc64": "sparc",
}

_VERSION_RE = re.compile(r"clang version (\d+)\.(\d+)\.(\d+)")
_NUMBERED_RE = re.compile(r"^clang-(\d+)$")


class ToolchainError(Exception):
    """The environment lacks something the compile needs; the message says what to install."""


@dataclass(frozen=True)
class Clang:
    path: str
    version: tuple[int, int, int]
    system_includes: tuple[str, ...]
    target_arch: str


def target_arch(machine: str | None = None) -> str:
    m = (machine or platform.machine()).lower()
    return _ARCH.get(m, m)


def _run(argv: Sequence[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), input=stdin, capture_output=True, text=True, timeout=30, check=False
    )


def _version(path: str) -> tuple[int, int, int] | None:
    try:
        out = _run([path, "--version"]).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = _VERSION_RE.search(out)
    return (int(m[1]), int(m[2]), int(m[3])) if m else None


def _targets_bpf(path: str) -> bool:
    try:
        proc = _run([path, "-print-targets"])
    except (OSError, subprocess.SubprocessError):
        return False
    if re.search(r"^\s*bpf\s", proc.stdout, re.MULTILINE):
        return True
    # Some builds do not print targets; a trial compile is the ground truth.
    trial = _run([path, "-target", "bpf", "-c", "-x", "c", "-", "-o", os.devnull], "int x;\n")
    return trial.returncode == 0


def _system_includes(path: str) -> tuple[str, ...]:
    """The `#include <...>` search list from `clang -v -E -`, as libbpf-bootstrap reads it."""
    proc = _run([path, "-v", "-E", "-", "-o", os.devnull])
    dirs: list[str] = []
    inside = False
    for line in proc.stderr.splitlines():
        if line.startswith("#include <...> search starts here:"):
            inside = True
        elif line.startswith("End of search list."):
            break
        elif inside:
            d = line.strip().removesuffix(" (framework directory)")
            if os.path.isdir(d):
                dirs.append(os.path.normpath(d))
    return tuple(dirs)


def _candidates() -> list[str]:
    """Every clang / clang-NN on PATH and under /usr/lib/llvm-NN/bin, deduplicated."""
    found: list[str] = []
    for d in absolute_path_dirs():
        for p in [os.path.join(d, "clang"), *glob.glob(os.path.join(d, "clang-*"))]:
            name = os.path.basename(p)
            if (name == "clang" or _NUMBERED_RE.match(name)) and os.access(p, os.X_OK):
                found.append(p)
    found += glob.glob("/usr/lib/llvm-*/bin/clang")
    seen: set[str] = set()
    unique: list[str] = []
    for p in found:
        real = os.path.realpath(p)
        if real not in seen and os.path.isfile(real):
            seen.add(real)
            unique.append(p)
    return unique


@functools.lru_cache(maxsize=16)
def _probe(path: str) -> Clang:
    version = _version(path)
    if version is None:
        raise ToolchainError(f"{path} does not look like clang (no version): {INSTALL_ADVICE}")
    if version[0] < MIN_VERSION:
        raise ToolchainError(
            f"{path} is clang {'.'.join(map(str, version))}; BPF needs clang ≥ {MIN_VERSION}: "
            + INSTALL_ADVICE
        )
    if not _targets_bpf(path):
        raise ToolchainError(f"{path} cannot target bpf (LLVM built without it): {INSTALL_ADVICE}")
    return Clang(path, version, _system_includes(path), target_arch())


@functools.lru_cache(maxsize=1)
def _discover() -> Clang:
    versioned: list[tuple[tuple[int, int, int], str]] = []
    for p in _candidates():
        v = _version(p)
        if v is not None and v[0] >= MIN_VERSION:
            versioned.append((v, p))
    errors: list[str] = []
    for _, p in sorted(versioned, reverse=True):
        try:
            return _probe(p)
        except ToolchainError as e:
            errors.append(str(e))
    why = f" ({'; '.join(errors)})" if errors else ""
    raise ToolchainError(f"no usable clang found on PATH{why}: {INSTALL_ADVICE}")


def find_clang(explicit: str | None = None) -> Clang:
    """The clang named in settings (a path or a command name), else the newest usable one."""
    if not explicit:
        return _discover()
    path = which(explicit)
    if path is None:
        raise ToolchainError(f"clang not found at {explicit!r}: {INSTALL_ADVICE}")
    return _probe(os.path.abspath(path))


def find_libbpf_headers(clang: Clang, include_dirs: Iterable[str] = ()) -> str:
    """The directory holding `bpf/bpf_helpers.h`, searched where the compile would search."""
    for d in [*include_dirs, *clang.system_includes]:
        if os.path.isfile(os.path.join(d, "bpf", "bpf_helpers.h")):
            return d
    raise ToolchainError(
        "libbpf headers (bpf/bpf_helpers.h) not found on the include path: "
        "install libbpf-dev (Debian/Ubuntu) or libbpf-devel (Fedora), "
        "or add the directory holding bpf/ to the include dirs setting"
    )
