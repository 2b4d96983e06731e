"""A precompiled header of the include block a BPF file starts with (vmlinux.h, then libbpf's).

Parsing the 135k-line vmlinux.h is most of a compile. When the buffer opens with
`#include "vmlinux.h"` followed only by `<bpf/...>` includes, those lines are compiled once into
a PCH (in the background, the first time) and later compiles load it with `-include-pch`.
The program's own includes then hit the headers' include guards, so the code compiled is the
same. The PCH is keyed by the exact clang command, the include lines and the headers' identity
(the generated vmlinux.h lives under its BTF's hash); clang itself refuses a PCH whose inputs
changed, and then the compile is retried without it.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import re
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from kptr_lsp.toolchain import vmlinux
from kptr_lsp.toolchain.headers import without_header_lines

_VMLINUX_INCLUDE = re.compile(r'#[ \t]*include[ \t]*(?:"vmlinux\.h"|<vmlinux\.h>)[ \t]*')
_LIBBPF_INCLUDE = re.compile(r'#[ \t]*include[ \t]*(?:<bpf/[\w.-]+\.h>|"bpf/[\w.-]+\.h")[ \t]*')
_KEEP = 6  # PCHs are ~16 MB each: keep the most recently used few
# clang's words when a PCH cannot be used (inputs modified, flags differ, bad file)
PCH_REFUSED = re.compile(r"precompiled header|PCH file|AST file", re.IGNORECASE)
_HEADER_LINE = re.compile(r"^\.+ \S")


@dataclass(frozen=True)
class ReadyPch:
    key: str
    path: str
    # clang's `-H` lines for the precompiled headers: a compile that loads the PCH does not
    # list them, so they are put back in front of its stderr (hovers name the headers used).
    header_lines: str


def leading_includes(text: str) -> tuple[str, ...] | None:
    """The include lines the buffer opens with (comments and blank lines aside), when the first
    is vmlinux.h and the rest are libbpf headers; None when the file starts any other way."""
    includes: list[str] = []
    in_comment = False
    for raw in text.splitlines():
        line = raw.strip()
        if in_comment:
            if "*/" in line:
                in_comment = False
                if line.split("*/", 1)[1].strip():
                    break
            continue
        if not line or line.startswith("//"):
            continue
        if line.startswith("/*"):
            rest = line[2:]
            if "*/" not in rest:
                in_comment = True
            elif rest.split("*/", 1)[1].strip():
                break
            continue
        pattern = _LIBBPF_INCLUDE if includes else _VMLINUX_INCLUDE
        if pattern.fullmatch(line) is None:
            break
        includes.append(line)
    return tuple(includes) or None


def pch_root() -> Path:
    return vmlinux.cache_root().parent / "pch"


def _header_identity(cmd: tuple[str, ...]) -> list[str]:
    """Size and mtime of every vmlinux.h the command could pick up: a project's own may change."""
    out: list[str] = []
    for i, flag in enumerate(cmd[:-1]):
        if flag in ("-I", "-iquote", "-isystem", "-idirafter"):
            header = os.path.join(cmd[i + 1], "vmlinux.h")
            with contextlib.suppress(OSError):
                st = os.stat(header)
                out.append(f"{header}:{st.st_size}:{st.st_mtime_ns}")
    return out


def pch_key(cmd: tuple[str, ...], includes: tuple[str, ...], clang_version: str) -> str:
    parts = [clang_version, *cmd, "\0", *includes, "\0", *_header_identity(cmd)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def _pch_command(cmd: tuple[str, ...], header: str, output: str) -> list[str]:
    """The compile command turned into "precompile this header": same flags, no stdin/object."""
    base = list(cmd)
    tail = ["-x", "c", "-", "-o", "-"]
    if base[-len(tail) :] != tail:
        raise ValueError("unexpected compile command shape")
    base = base[: -len(tail)]
    base.remove("-c")
    return [*base, "-x", "c-header", header, "-o", output]


class PchCache:
    """Built PCHs on disk and the builds running in the background."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._building: dict[str, subprocess.Popen[bytes]] = {}
        self._finishers: list[threading.Thread] = []
        self._unusable: set[str] = set()  # clang warned while building it, or refused it
        atexit.register(self.wait)

    def lookup(
        self, cmd: tuple[str, ...], text: str, clang_version: str, cwd: str
    ) -> ReadyPch | None:
        """The PCH ready for this compile; else start building one and return None."""
        includes = leading_includes(text)
        if includes is None or not vmlinux.includes_vmlinux(text):
            return None
        key = pch_key(cmd, includes, clang_version)
        path = pch_root() / f"{key}.pch"
        with self._lock:
            if key in self._unusable:
                return None
            proc = self._building.get(key)
            if proc is not None and proc.poll() is None:
                return None  # still building
            if proc is not None:
                self._building.pop(key)
            if path.is_file():
                with contextlib.suppress(OSError):
                    os.utime(path)  # most recently used: kept when older ones are pruned
                    lines = path.with_suffix(".hdr").read_text()
                    return ReadyPch(key, str(path), lines)
            if proc is None:
                self._start(key, cmd, includes, cwd)
        return None

    def wait_ready(
        self, cmd: tuple[str, ...], text: str, clang_version: str, cwd: str, timeout_s: float
    ) -> ReadyPch | None:
        """`lookup`, waiting up to `timeout_s` for a build of this PCH that is under way."""
        deadline = time.monotonic() + timeout_s
        while True:
            ready = self.lookup(cmd, text, clang_version, cwd)
            includes = leading_includes(text)
            if ready is not None or includes is None or time.monotonic() > deadline:
                return ready
            with self._lock:
                key = pch_key(cmd, includes, clang_version)
                if key not in self._building:
                    return None  # not being built (unusable, or no PCH for this text)
            time.sleep(0.05)

    def refused(self, key: str) -> None:
        """clang would not use this PCH (an input changed, flags differ): drop it, rebuild later."""
        with self._lock:
            for suffix in (".pch", ".hdr"):
                with contextlib.suppress(OSError):
                    (pch_root() / f"{key}{suffix}").unlink()

    def _start(self, key: str, cmd: tuple[str, ...], includes: tuple[str, ...], cwd: str) -> None:
        root = pch_root()
        root.mkdir(parents=True, exist_ok=True)
        header = root / f"{key}.h"
        header.write_text("\n".join(includes) + "\n")
        fd, tmp = tempfile.mkstemp(dir=root, prefix=f".{key}.", suffix=".pch")
        os.close(fd)
        try:
            argv = _pch_command(cmd, str(header), tmp)
        except ValueError:
            os.unlink(tmp)
            self._unusable.add(key)
            return
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._building[key] = proc
        finisher = threading.Thread(
            target=self._finish, args=(key, proc, tmp), name="kptr-pch", daemon=True
        )
        self._finishers.append(finisher)
        finisher.start()

    def _finish(self, key: str, proc: subprocess.Popen[bytes], tmp: str) -> None:
        _, raw = proc.communicate()
        err = raw.decode(errors="replace")
        target = pch_root() / f"{key}.pch"
        with self._lock:
            # A warning while precompiling would vanish from later compiles: not worth it then.
            if proc.returncode == 0 and not without_header_lines(err).strip():
                lines = "".join(f"{x}\n" for x in err.splitlines() if _HEADER_LINE.match(x))
                target.with_suffix(".hdr").write_text(lines)
                os.replace(tmp, target)
                self._prune()
            else:
                self._unusable.add(key)
                for leftover in (tmp, str(target.with_suffix(".h"))):
                    with contextlib.suppress(OSError):
                        os.unlink(leftover)

    def _prune(self) -> None:
        built = sorted(pch_root().glob("*.pch"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in built[_KEEP:]:
            for suffix in (".pch", ".hdr", ".h"):
                with contextlib.suppress(OSError):
                    old.with_suffix(suffix).unlink()

    def wait(self, timeout_s: float = 30.0) -> None:
        """Let running builds finish (at exit, so no half-written PCH is left behind)."""
        with self._lock:
            procs = list(self._building.values())
            finishers, self._finishers = self._finishers, []
        for proc in procs:
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
        for finisher in finishers:
            finisher.join()


CACHE = PchCache()
