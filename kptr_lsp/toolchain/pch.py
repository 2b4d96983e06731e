"""A precompiled preamble, as clangd builds one: the file's leading block of preprocessor
directives (its includes, whatever headers they are, and the macros between them).

Parsing the headers — the 135k-line vmlinux.h above all, whether the file includes it or a
project header does, at any depth — is most of a compile. The preamble is compiled once into a
PCH (in the background, the first time), and later compiles load it with `-include-pch` and
get the buffer with the preamble's lines emptied: the same tokens in the same order, on the
same lines, so the code compiled and every diagnostic's position are those of a plain compile.

A PCH is keyed by the clang command, the preamble's text and the vmlinux.h the command could
pick up; it also records the identity (inode, size, mtime) of every header clang read while
building it (`-H`). A lookup that finds any of them changed (a project header edited) never
uses it: that compile is on the kernel's types alone (a PCH of just vmlinux.h, when the file
reaches vmlinux.h first: toolchain/kernel_base.py; built the first time that happens) or a
plain one, and a new PCH is built in the background. clang itself refuses a PCH whose inputs
changed; then the compile is repeated without it. Files with the same command and preamble
(two sources of one directory including the same headers) share one PCH. A caller that knows
several compiles are coming (the server, after a header its open files include was saved)
holds builds back with `defer_builds` until they are done: compiles on both cores, then one
rebuild.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import hashlib
import json
import os
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kptr_lsp.toolchain import vmlinux
from kptr_lsp.toolchain.directives import code_lines
from kptr_lsp.toolchain.headers import HEADER_LINE, included_headers, without_header_lines
from kptr_lsp.toolchain.kernel_base import Chain, chain_to_vmlinux

_BUILD_TIMEOUT_S = 60.0
_MTIME_SLACK_NS = 0
_KEEP = 6  # PCHs are ~16 MB each: keep the most recently used few
_FORMAT = "2"
_KEEP_CHAINED = 64  # chained onto a base: kilobytes each
_MISSING = ("absent", "stale")  # a PCH to build
# clang's words when a PCH cannot be used (inputs modified, flags differ, bad file)
PCH_REFUSED = re.compile(r"precompiled header|PCH file|AST file", re.IGNORECASE)
_INCLUDE = re.compile(r"#\s*(?:include|include_next|import)\b")
_CONDITIONAL_OPEN = re.compile(r"#\s*if(?:n?def)?\b")
_CONDITIONAL_CLOSE = re.compile(r"#\s*endif\b")
# A directive that would make the PCH mean something else than the text it replaces.
_UNSAFE = re.compile(r"#\s*(?:line\b|pragma\s+once\b|\d)")
_VMLINUX_INCLUDE = re.compile(r'#\s*include\s*(?:<vmlinux\.h>|"vmlinux\.h")$')
_BPF_INCLUDE = re.compile(r"#\s*include\s*<bpf/[\w.-]+\.h>$")


@dataclass(frozen=True)
class Preamble:
    text: str  # the buffer's first `end` characters
    end: int
    # Its directives without comments, one a line: what is precompiled, and the key. Files
    # that differ only in their leading comments share the PCH.
    directives: str

    def blanked(self, text: str) -> str:
        """`text` with the preamble's lines emptied: what a compile with its PCH reads."""
        return "\n" * self.text.count("\n") + text[self.end :]


@dataclass(frozen=True)
class ReadyPch:
    key: str
    path: str
    # clang's `-H` lines for the precompiled headers: a compile that loads the PCH does not
    # list them, so they are put back in its stderr (hovers name the headers used).
    header_lines: str
    preamble: Preamble
    # The kernel's types alone (toolchain/kernel_base.py), standing for the vmlinux.h the file
    # reaches through these headers: the compile reads the whole text.
    chain: Chain | None = None

    def stderr_of(self, err: str, cwd: str) -> str | None:
        """A compile's stderr with the precompiled headers' `-H` lines put back, as a plain
        compile prints it; None when clang's list shows this PCH did not stand for what the
        file includes (then compile without it)."""
        if self.chain is None:
            return self.header_lines + err
        return self.chain.headers_after(err, cwd, self.header_lines)


@dataclass(frozen=True)
class _Scan:
    directives: list[str]
    # (end offset, directives before it) where the block could end: outside any #if and any
    # comment
    cuts: list[tuple[int, int]]


def _scan(text: str) -> _Scan:
    """The leading block of preprocessor directives (comments and blank lines between them
    included) and the places it could be cut."""
    directives: list[str] = []
    cuts: list[tuple[int, int]] = []
    depth = 0
    for stop, code, in_comment in code_lines(text):
        if not code:
            if depth == 0 and not in_comment:
                cuts.append((stop, len(directives)))
            continue
        if not code.startswith("#") or _UNSAFE.match(code):
            break
        if _CONDITIONAL_OPEN.match(code):
            depth += 1
        elif _CONDITIONAL_CLOSE.match(code):
            depth -= 1
            if depth < 0:
                break
        directives.append(code)
        if depth == 0 and not in_comment:
            cuts.append((stop, len(directives)))
    return _Scan(directives, cuts)


def _cut(text: str, scan: _Scan, count: int | None) -> Preamble | None:
    """The block up to its last cut with `count` directives (None: as far as it goes)."""
    fitting = [c for c in scan.cuts if count is None or c[1] == count]
    if not fitting:
        return None
    end, kept = fitting[-1]
    block = scan.directives[:kept]
    if not any(_INCLUDE.match(d) for d in block):
        return None
    return Preamble(text[:end], end, "".join(f"{d}\n" for d in block))


def preamble_of(text: str) -> Preamble | None:
    """The leading block of preprocessor directives (comments and blank lines between them
    included), cut back so that every `#if` in it is closed; None when it includes nothing."""
    return _cut(text, _scan(text), None)


def base_of(text: str) -> Preamble | None:
    """The part of the preamble that files of a whole tree have in common: `vmlinux.h`
    included first, then only `<bpf/…>` headers (libbpf-tools: `<vmlinux.h>`, `<bpf/…>`, then
    the tool's own headers). It is precompiled on its own, and a file's preamble PCH is
    chained onto it, so the tree parses vmlinux.h once; None when the file does not start so."""
    scan = _scan(text)
    count = 0
    for directive in scan.directives:
        if not (_BPF_INCLUDE if count else _VMLINUX_INCLUDE).match(directive):
            break
        count += 1
    return _cut(text, scan, count) if count else None


def _only_includes(directives: str) -> bool:
    return all(_INCLUDE.match(d) for d in directives.splitlines() if d)


def pch_root() -> Path:
    return vmlinux.cache_root().parent / "pch"


def _header_identity(cmd: tuple[str, ...]) -> list[str]:
    """Size and mtime of every vmlinux.h the command could pick up: one appearing or changing in
    a directory searched before the one the PCH read is a different preamble."""
    out: list[str] = []
    for i, flag in enumerate(cmd[:-1]):
        if flag in ("-I", "-iquote", "-isystem", "-idirafter"):
            header = os.path.join(cmd[i + 1], "vmlinux.h")
            with contextlib.suppress(OSError):
                st = os.stat(header)
                out.append(f"{header}:{st.st_size}:{st.st_mtime_ns}")
    return out


def pch_key(cmd: tuple[str, ...], preamble: Preamble, clang_version: str) -> str:
    # _FORMAT: bumped when what a key's PCH holds changes (2: a preamble that defines macros
    # itself is never chained), so a cache filled by an older kptr-lsp is not misread.
    parts = [
        _FORMAT, clang_version, *cmd, "\0", preamble.directives, "\0", *_header_identity(cmd),
    ]  # fmt: skip
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def _identity(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def _settled(path: str, started_ns: int) -> list[int] | None:
    """The header's identity, or None (never equal: "changed") when it was written while the
    build ran, so that what the build read is unknown. (File times come from a coarse clock:
    a write just after the start can look older; clang's own check of its inputs' size and
    mtime when it loads the PCH catches that one.)"""
    ident = _identity(path)
    if ident is None or ident[2] > started_ns - _MTIME_SLACK_NS:
        return None
    return ident


def _unchanged(deps: dict[str, list[int] | None]) -> bool:
    return all(_identity(path) == ident for path, ident in deps.items())


def _pch_command(cmd: tuple[str, ...], output: str, base: str | None = None) -> list[str]:
    """The compile command turned into "precompile the preamble on stdin": same flags; with
    `base`, a PCH chained onto that one (it holds only what the base does not)."""
    base_cmd = list(cmd)
    tail = ["-x", "c", "-", "-o", "-"]
    if base_cmd[-len(tail) :] != tail:
        raise ValueError("unexpected compile command shape")
    base_cmd = base_cmd[: -len(tail)]
    base_cmd.remove("-c")
    chain = [] if base is None else ["-include-pch", base]
    return [*base_cmd, *chain, "-x", "c-header", "-", "-o", output]


@dataclass(frozen=True)
class _Build:
    key: str
    proc: subprocess.Popen[bytes]
    tmp: str
    cwd: str
    source: bytes
    started_ns: int
    base: ReadyPch | None  # the PCH this one is chained onto
    cmd: tuple[str, ...]
    preamble: Preamble


class PchCache:
    """Built PCHs on disk and the builds running in the background."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._building: dict[str, subprocess.Popen[bytes]] = {}
        self._finishers: list[threading.Thread] = []
        # clang warned while building it: not retried until a header it read changes
        self._unusable: dict[str, dict[str, list[int] | None]] = {}
        self._deps: dict[str, dict[str, list[int] | None]] = {}  # key → headers it read
        # Whether a file's own preamble is chained onto the tree's common base PCH when it has
        # one; `check` of a whole tree turns it off: each file compiles once, on the base.
        self.chain = True
        # While held (`defer_builds`), builds asked for wait here, one per key, and start when
        # the last hold is released: after a header edit, the plain compiles of the files that
        # include it come first, then one rebuild serves them all.
        self._holds = 0
        self._deferred: dict[str, tuple[tuple[str, ...], Preamble, str, ReadyPch | None]] = {}
        self._builds: dict[str, _Build] = {}  # the ones running
        self._stopped: set[subprocess.Popen[bytes]] = set()  # killed: a header they read changed
        self._read_by: dict[str, frozenset[str]] = {}  # key → headers its last PCH read
        # (kernel-types PCH, chain) pairs whose compile opened other headers than the chain
        self._misfits: set[tuple[str, Chain]] = set()
        atexit.register(self.wait)

    def lookup(
        self,
        cmd: tuple[str, ...],
        text: str,
        clang_version: str,
        cwd: str,
        *,
        kernel_base: bool = False,
    ) -> ReadyPch | None:
        """The PCH ready for this compile: the file's own preamble, else (while that one is
        built, or after a header it read changed) the tree's common base under it; else start
        building what is missing and return None. With `kernel_base` (a caller that checks
        `ReadyPch.stderr_of`), the kernel's types alone serve when neither is ready; they are
        built the first time a header the preamble read changes, when they would have served."""
        preamble = preamble_of(text)
        if preamble is None:
            return None
        base = base_of(text)
        if base is not None and base.directives == preamble.directives:
            base = None  # the preamble is the base: one PCH
        if base is not None and not _only_includes(preamble.directives[len(base.directives) :]):
            # A macro defined in the chained part itself: clang reads a number's spelling
            # back from the source, and both PCHs' sources are `<stdin>` — it reads the base's
            # text at that place (`invalid suffix '…` for `#define FLAG 0x10`). Such a file
            # gets a preamble PCH of its own, on no base.
            base = None
        key = pch_key(cmd, preamble, clang_version)
        with self._lock:
            ready, state = self._ready(key, preamble)
            if ready is not None:
                return ready
            if base is None:
                chain, kernel = (
                    self._kernel_base(
                        cmd, text, clang_version, cwd, build=state == "stale" or not self.chain
                    )
                    if kernel_base
                    else (None, None)
                )
                # Checking a tree (`chain` off), files reaching vmlinux.h first share the
                # kernel's types instead of each building a preamble of its own.
                if state in _MISSING and (self.chain or chain is None):
                    self._start(key, cmd, preamble, cwd)
                return kernel
            base_key = pch_key(cmd, base, clang_version)
            base_ready, base_state = self._ready(base_key, base)
            if base_ready is None:
                if base_state in _MISSING:
                    self._start(base_key, cmd, base, cwd)
                if not kernel_base:
                    return None
                return self._kernel_base(cmd, text, clang_version, cwd, build=False)[1]
            if state in _MISSING and self.chain:
                self._start(key, cmd, preamble, cwd, base_ready)
            return base_ready

    def _kernel_base(
        self, cmd: tuple[str, ...], text: str, clang_version: str, cwd: str, *, build: bool
    ) -> tuple[Chain | None, ReadyPch | None]:
        """(how the file reaches vmlinux.h first, the kernel's types alone precompiled for it
        when ready) (toolchain/kernel_base.py); the PCH is started when `build` and missing.
        Under the lock."""
        chain = chain_to_vmlinux(text, cmd, cwd)
        if chain is None or any(c in chain.vmlinux for c in '"\\\n'):
            return None, None
        preamble = Preamble("", 0, f'#include "{chain.vmlinux}"\n')
        key = pch_key(cmd, preamble, clang_version)
        if (key, chain) in self._misfits:
            return None, None
        ready, state = self._ready(key, preamble)
        if ready is not None:
            return chain, dataclasses.replace(ready, chain=chain)
        if build and state in _MISSING:
            self._start(key, cmd, preamble, cwd)
        return chain, None

    def _ready(self, key: str, preamble: Preamble) -> tuple[ReadyPch | None, str]:
        """(the PCH, "ready") or (None, "building" | "unusable" | "absent" | "stale": it was
        there, and a header it read changed); under the lock."""
        failed = self._unusable.get(key)
        if failed is not None:
            if _unchanged(failed):
                return None, "unusable"
            del self._unusable[key]  # a header was edited: worth another try
        if self._live(key):
            return None, "building"  # the finisher removes it when done
        path = pch_root() / f"{key}.pch"
        if path.is_file():
            deps = self._deps.get(key)
            if deps is None:
                deps = self._read_deps(path.with_suffix(".deps"))
            if deps is not None:
                self._read_by[key] = frozenset(deps)
            if deps is not None and _unchanged(deps) and self._base_unchanged(path):
                self._deps[key] = deps
                with contextlib.suppress(OSError):
                    # Most recently used: kept when older ones are pruned. (Not the PCH's own
                    # time: clang refuses a PCH chained onto one whose mtime changed.)
                    os.utime(path.with_suffix(".hdr"))
                    lines = path.with_suffix(".hdr").read_text()
                    return ReadyPch(key, str(path), lines, preamble), "ready"
            # A header it read changed (or its record is gone): never use it; rebuild.
            self._drop(key)
            return None, "stale"
        return None, "absent"

    @staticmethod
    def _base_unchanged(path: Path) -> bool:
        """Whether the PCH `path` is chained onto (its `.base` file names it, with the inode,
        size and mtime it had) is still that one; True for a PCH chained onto none."""
        try:
            key, *recorded = path.with_suffix(".base").read_text().split()
            wanted = [int(n) for n in recorded]
        except FileNotFoundError:
            return True
        except (OSError, ValueError):
            return False
        ident = _identity(str(path.with_name(f"{key}.pch")))
        return ident is not None and len(wanted) == 3 and ident == wanted

    def building(self, cmd: tuple[str, ...], text: str, clang_version: str) -> bool:
        """Whether this compile's PCH, or the base under it, is being built right now (another
        compile started it) and worth waiting for: not while builds are deferred (a header was
        just edited, so a build under way may have read the old one: a plain compile is
        sooner, and never stale)."""
        keys = [pch_key(cmd, p, clang_version) for p in (preamble_of(text), base_of(text)) if p]
        with self._lock:
            return not self._holds and any(self._live(k) for k in keys)

    def _live(self, key: str) -> bool:
        proc = self._building.get(key)
        return proc is not None and proc not in self._stopped

    def defer_builds(self, changed: str | None = None) -> Callable[[], None]:
        """Hold back the PCH builds that lookups ask for until the returned `release` is called
        (once; later calls do nothing): the compiles meanwhile are plain ones, on both cores,
        instead of one of them waiting behind a 16 MB precompile. Builds asked for by several
        files with one key are one build. A running build whose preamble read the header
        `changed` last time is stopped (it may have read the old text: its PCH would never
        be used) and held back too."""
        with self._lock:
            self._holds += 1
            for key, build in list(self._builds.items()):
                if changed is not None and changed in self._read_by.get(key, ()):
                    build.proc.kill()
                    self._stopped.add(build.proc)
                    del self._builds[key]
                    self._deferred[key] = (build.cmd, build.preamble, build.cwd, build.base)
        released = threading.Event()

        def release() -> None:
            with self._lock:
                if released.is_set():
                    return
                released.set()
                self._holds -= 1
                if self._holds:
                    return
                deferred, self._deferred = self._deferred, {}
                for key, (cmd, preamble, cwd, base) in deferred.items():
                    _, state = self._ready(key, preamble)
                    if state not in _MISSING:
                        continue  # built meanwhile (or unusable)
                    if base is not None and self._ready(base.key, base.preamble)[1] != "ready":
                        continue  # the base went stale: the next lookup starts it again
                    self._start(key, cmd, preamble, cwd, base)

        return release

    def deferred(self) -> list[str]:
        """Keys of the builds held back now (see `defer_builds`)."""
        with self._lock:
            return list(self._deferred)

    def wait_ready(
        self,
        cmd: tuple[str, ...],
        text: str,
        clang_version: str,
        cwd: str,
        timeout_s: float,
        cancelled: threading.Event | None = None,
        *,
        kernel_base: bool = False,
    ) -> ReadyPch | None:
        """`lookup`, waiting up to `timeout_s` for a build of this PCH that is under way (the
        base under a file's own preamble serves as soon as it is ready)."""
        deadline = time.monotonic() + timeout_s
        while True:
            ready = self.lookup(cmd, text, clang_version, cwd, kernel_base=kernel_base)
            stop = time.monotonic() > deadline or (cancelled is not None and cancelled.is_set())
            if ready is not None or preamble_of(text) is None or stop:
                return ready
            if not self.building(cmd, text, clang_version):
                # finished just now, or not being built (unusable)
                return self.lookup(cmd, text, clang_version, cwd, kernel_base=kernel_base)
            time.sleep(0.05)

    def misfit(self, ready: ReadyPch) -> None:
        """A compile on the kernel-types PCH `ready` opened other headers than its chain says
        (`ReadyPch.stderr_of` gave None): not offered for that chain again."""
        if ready.chain is not None:
            with self._lock:
                self._misfits.add((ready.key, ready.chain))

    def refused(self, key: str) -> None:
        """clang would not use this PCH (an input changed, flags differ): drop it, rebuild later."""
        with self._lock:
            self._drop(key)

    def _drop(self, key: str) -> None:
        self._deps.pop(key, None)
        for suffix in (".pch", ".hdr", ".deps", ".base"):
            with contextlib.suppress(OSError):
                (pch_root() / f"{key}{suffix}").unlink()

    @staticmethod
    def _read_deps(path: Path) -> dict[str, list[int] | None] | None:
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(raw, dict):
            return None
        return {str(k): v if isinstance(v, list) else None for k, v in raw.items()}

    def _start(
        self,
        key: str,
        cmd: tuple[str, ...],
        preamble: Preamble,
        cwd: str,
        base: ReadyPch | None = None,
    ) -> None:
        if self._holds:
            self._deferred[key] = (cmd, preamble, cwd, base)
            return
        root = pch_root()
        root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=root, prefix=f".{key}.", suffix=".pch")
        os.close(fd)
        try:
            argv = _pch_command(cmd, tmp, None if base is None else base.path)
        except ValueError:
            os.unlink(tmp)
            self._unusable[key] = {}
            return
        source = preamble.directives
        if base is not None:  # the chained PCH holds the directives after the base's
            source = source[len(base.preamble.directives) :]
        started_ns = time.time_ns()
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._building[key] = proc
        build = _Build(
            key,
            proc,
            tmp,
            cwd,
            source.encode("utf-8", "surrogateescape"),
            started_ns,
            base,
            cmd,
            preamble,
        )
        self._builds[key] = build
        finisher = threading.Thread(
            target=self._finish, args=(build, root), name="kptr-pch", daemon=True
        )
        self._finishers.append(finisher)
        finisher.start()

    def _finish(self, build: _Build, root: Path) -> None:
        proc = build.proc
        try:
            _, raw = proc.communicate(build.source, timeout=_BUILD_TIMEOUT_S)
        except subprocess.TimeoutExpired:  # a header that never ends (a FIFO, a device)
            proc.kill()
            _, raw = proc.communicate()
        except OSError:
            raw = b""
        err = raw.decode(errors="replace")
        target = root / f"{build.key}.pch"
        with self._lock:
            stopped = proc in self._stopped
            self._stopped.discard(proc)
            # A warning while precompiling would vanish from later compiles: not worth it then.
            ok = not stopped and proc.returncode == 0 and not without_header_lines(err).strip()
            deps = {
                h.path: _settled(h.path, build.started_ns) for h in included_headers(err, build.cwd)
            }
            lines = "".join(f"{x}\n" for x in err.splitlines() if HEADER_LINE.match(x))
            if build.base is not None:
                # what the base read is read by every compile on this one too
                base_deps = self._deps.get(build.base.key)
                base_ident = _identity(build.base.path)
                ok = ok and base_deps is not None and base_ident is not None  # not dropped
                deps = {**(base_deps or {}), **deps}
                lines = build.base.header_lines + lines
            if ok and root.is_dir():
                with contextlib.suppress(OSError):
                    target.with_suffix(".hdr").write_text(lines)
                    target.with_suffix(".deps").write_text(json.dumps(deps))
                    if build.base is not None and base_ident is not None:
                        # rebuilt, the base is another file: this one is stale then. Its
                        # time too: a rebuilt base can reuse the inode and have the same size,
                        # and clang does not notice the difference (it misreads the chain).
                        ino, size, mtime = base_ident
                        target.with_suffix(".base").write_text(
                            f"{build.base.key} {ino} {size} {mtime}"
                        )
                    else:
                        with contextlib.suppress(FileNotFoundError):
                            target.with_suffix(".base").unlink()
                    os.replace(build.tmp, target)
                    self._deps[build.key] = deps
                    self._read_by[build.key] = frozenset(deps)
                    self._prune(root)
            if not ok and not stopped:
                self._unusable[build.key] = deps
            if self._building.get(build.key) is proc:  # not a build started after a stop
                del self._building[build.key]
            if self._builds.get(build.key) is build:
                del self._builds[build.key]
            with contextlib.suppress(OSError):
                os.unlink(build.tmp)

    def _prune(self, root: Path) -> None:
        """Keep the most recently used few of the full PCHs (~16 MB each) and many more of the
        chained ones (kilobytes: only a file's own headers)."""

        def used(p: Path) -> float:
            try:
                return p.with_suffix(".hdr").stat().st_mtime
            except OSError:
                return 0.0

        built = sorted(root.glob("*.pch"), key=used, reverse=True)
        chained = [p for p in built if p.with_suffix(".base").is_file()]
        full = [p for p in built if p not in chained]
        for old in [*full[_KEEP:], *chained[_KEEP_CHAINED:]]:
            self._deps.pop(old.stem, None)
            for suffix in (".pch", ".hdr", ".deps", ".base"):
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
