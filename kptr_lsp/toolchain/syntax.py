"""clang's diagnostics for the unsaved buffer in milliseconds, through libclang.

One translation unit per file, reparsed on every edit: a reparse only parses the file's own
text. The file's leading include block comes from the compile's preamble PCH (toolchain/pch.py;
the buffer is then parsed with that block's lines emptied) when libclang is the clang binary's
own version (Debian's libclang1-NN): a parse then takes tens of milliseconds and ~30 MB.
Otherwise (the bundled libclang wheel) libclang builds its own preamble at the first parse:
about a second and ~90 MB per file. The clang binary still does code generation (the object,
the verifier) on idle and save; this only answers "does it still parse" while the user types.
Flags are the ones the compile uses.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from kptr_lsp.findings import Finding, Location, Severity, Source
from kptr_lsp.toolchain import pch
from kptr_lsp.toolchain.clang import Clang, find_clang
from kptr_lsp.toolchain.compile import CompileOptions, build_command

# CXTranslationUnit flags: keep a precompiled preamble, build it at the first parse, and do not
# stop at a missing include (the buffer being typed may not be complete).
_INCOMPLETE = 0x02
_PRECOMPILED_PREAMBLE = 0x04
_CREATE_PREAMBLE_ON_FIRST_PARSE = 0x100
_PARSE_FLAGS = _INCOMPLETE | _PRECOMPILED_PREAMBLE | _CREATE_PREAMBLE_ON_FIRST_PARSE
# Flags of the compile command that mean nothing to a parse (output, `-H` header list).
_DROP = {"-c", "-H", "-fno-color-diagnostics", "-fno-caret-diagnostics"}
_SEVERITY = {2: Severity.WARNING, 3: Severity.ERROR, 4: Severity.ERROR}
_PCH_WAIT_S = 5.0
_MAX_UNITS = 3  # translation units kept (one per recently edited file): they hold their AST


class SyntaxUnavailable(Exception):
    """libclang could not be loaded or could not parse (no translation unit)."""


@dataclass
class _Unit:
    args: tuple[str, ...]
    tu: Any  # clang.cindex.TranslationUnit
    lock: threading.Lock


def _same_version_libclang(clang: Clang) -> str | None:
    """The libclang shipped with the clang binary (/usr/lib/llvm-NN/lib), which reads its PCHs."""
    lib_dir = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(clang.path))), "lib")
    major = clang.version[0]
    for name in (f"libclang-{major}.so.1", f"libclang-{major}.so", "libclang.so.1"):
        candidate = os.path.join(lib_dir, name)
        if os.path.isfile(candidate):
            return candidate
    return None


def _index(clang: Clang) -> tuple[Any, bool]:
    """A libclang index, and whether that libclang can load the clang binary's PCHs."""
    try:
        from clang import cindex
    except ImportError as exc:  # the libclang wheel is a dependency; say so if it is missing
        raise SyntaxUnavailable(f"libclang is not installed: {exc}") from exc
    shares_pch = False
    if not cindex.Config.loaded:
        own = _same_version_libclang(clang)
        if own is not None:
            cindex.Config.set_library_file(own)
            shares_pch = True
    else:
        shares_pch = cindex.Config.library_file == _same_version_libclang(clang)
    try:
        return cindex.Index.create(), shares_pch
    except Exception as exc:  # cindex raises LibclangError, OSError, ...
        raise SyntaxUnavailable(f"libclang could not be loaded: {exc}") from exc


def parse_args(cmd: tuple[str, ...], ready: pch.ReadyPch | None) -> tuple[str, ...]:
    """The compile's flags as libclang wants them: no driver name, no stdin, no output."""
    body = [a for a in cmd[1:-5] if a not in _DROP]  # cmd ends with: -x c - -o -
    if ready is not None:
        body += ["-include-pch", ready.path]
    return (*body, "-x", "c")


class SyntaxChecker:
    """libclang translation units, one per file, reparsed with the editor's text."""

    def __init__(self) -> None:
        self._units: OrderedDict[str, _Unit] = OrderedDict()
        self._lock = threading.Lock()
        self._index: Any = None
        self._shares_pch = False

    def check(self, path: str, text: str, options: CompileOptions) -> tuple[Finding, ...]:
        """clang's errors and warnings in `path`'s own text (headers are the compile's job)."""
        path = os.path.abspath(path)
        clang = find_clang(options.clang)
        cmd = build_command(path, text, options, clang)
        with self._lock:
            if self._index is None:
                self._index, self._shares_pch = _index(clang)
        ready = None
        if self._shares_pch and options.use_pch:
            version = ".".join(map(str, clang.version))
            # A PCH build takes about as long as libclang's own preamble, at a third of the memory.
            cwd = os.path.dirname(path)
            ready = pch.CACHE.wait_ready(cmd, text, version, cwd, _PCH_WAIT_S)
        args = parse_args(cmd, ready)
        # With the PCH the preamble's lines are emptied, as for the compile (toolchain/pch.py).
        unsaved = [(path, text if ready is None else ready.preamble.blanked(text))]
        with self._lock:
            unit = self._units.get(path)
            if unit is None or unit.args != args:  # new file, new flags, or the PCH is ready
                unit = _Unit(args, None, threading.Lock())
                self._units[path] = unit
            self._units.move_to_end(path)
            while len(self._units) > _MAX_UNITS:
                self._units.popitem(last=False)
        with unit.lock:
            if unit.tu is None:  # without a PCH, the first parse also builds the preamble
                unit.tu = self._index.parse(
                    path, args=list(args), unsaved_files=unsaved, options=_PARSE_FLAGS
                )
                if unit.tu is None:
                    raise SyntaxUnavailable(f"libclang could not parse {path}")
            else:
                unit.tu.reparse(unsaved_files=unsaved, options=0)
            refused = any(pch.PCH_REFUSED.search(d.spelling) for d in unit.tu.diagnostics)
        if ready is not None and refused:
            # The PCH went stale (a header changed): drop it and parse without, this once.
            pch.CACHE.refused(ready.key)
            self.forget(path)
            return self.check(path, text, dataclasses.replace(options, use_pch=False))
        return tuple(_findings(unit.tu, path))

    def forget(self, path: str) -> None:
        with self._lock:
            self._units.pop(os.path.abspath(path), None)


def _findings(tu: Any, path: str) -> list[Finding]:
    out: list[Finding] = []
    for d in tu.diagnostics:
        severity = _SEVERITY.get(d.severity)
        loc = d.location
        if severity is None or loc.file is None or os.path.abspath(loc.file.name) != path:
            continue
        code = d.option or None
        out.append(
            Finding(Location(path, loc.line, loc.column), severity, Source.CLANG, d.spelling, code)
        )
    return out
