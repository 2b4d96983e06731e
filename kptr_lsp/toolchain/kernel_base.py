"""The kernel's types alone, precompiled: a PCH of just `vmlinux.h` that serves a file whose
own preamble PCH cannot (a project header it reads was just edited, or that PCH is still being
built), so that compile parses the project's headers and the file, not vmlinux.h again.

A PCH loaded with `-include-pch` stands before the file's first line, so it means the same
as the file only when vmlinux.h is the first thing the file's preprocessing reaches: the file
opens with an `#include`, of a header that opens with nothing but its include guard (or
`#pragma once`) and an `#include`, and so on down to vmlinux.h (`"common.h"` → `"vmlinux.h"`,
as real projects write it). Then the guards' macros are the only thing defined before
vmlinux.h, and moving vmlinux.h ahead of them changes nothing as long as vmlinux.h never names
them and has a guard of its own, so that its second inclusion is empty. `chain_to_vmlinux`
reads that off the text of the file and of each header; clang's `-H` list of the compile then
shows whether clang opened the same headers (`Chain.headers_after`), else the compile is done
again without the PCH.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
from dataclasses import dataclass

from kptr_lsp.toolchain.directives import code_lines
from kptr_lsp.toolchain.headers import HEADER_LINE

_INCLUDE = re.compile(r'#\s*include\s*(?:"([^"]+)"|<([^>]+)>)$')
_IFNDEF = re.compile(r"#\s*(?:ifndef\s+(\w+)|if\s+!\s*defined\s*\(?\s*(\w+)\s*\)?)$")
_DEFINE = re.compile(r"#\s*define\s+(\w+)(?:\s.*)?$")
_PRAGMA_ONCE = re.compile(r"#\s*pragma\s+once$")
_ENDIF = re.compile(r"#\s*endif\b")
_PREINCLUDES = ("-include", "-imacros", "-include-pch")
_MAX_DEPTH = 8
_HEAD_BYTES = 64 * 1024  # a header's guard and first include are near its top
VMLINUX = "vmlinux.h"


@dataclass(frozen=True)
class Chain:
    """vmlinux.h reached first: `through` the headers each including the next first (none
    when the file includes vmlinux.h itself first)."""

    through: tuple[str, ...]
    vmlinux: str

    def headers_after(self, stderr: str, cwd: str, base_lines: str) -> str | None:
        """The compile's stderr with vmlinux.h's `-H` line(s) (`base_lines`, from the PCH's
        build) put back where a plain compile lists it, or None when clang's list shows it
        opened other headers than the chain (or another vmlinux.h): then the PCH did not stand
        for what the file includes, and the compile must be done without it."""
        lines = stderr.splitlines(keepends=True)
        at = [i for i, line in enumerate(lines) if HEADER_LINE.match(line)]
        depth = len(self.through) + 1
        for n, want in enumerate(self.through, start=1):
            if len(at) < n:
                return None
            m = HEADER_LINE.match(lines[at[n - 1]])
            assert m is not None
            if len(m.group(1)) != n or _normal(cwd, m.group(2)) != want:
                return None
        after = at[len(self.through) :]  # the header lines after the chain's
        insert = after[0] if after else len(lines)
        if after:
            m = HEADER_LINE.match(lines[insert])
            assert m is not None
            if len(m.group(1)) == depth and os.path.basename(m.group(2)) == VMLINUX:
                if _normal(cwd, m.group(2)) != self.vmlinux:
                    return None  # another vmlinux.h: the PCH's types are not the file's
                del lines[insert]  # listed although its guard made it empty
        prefix = "." * (depth - 1)
        moved = "".join(prefix + line for line in base_lines.splitlines(keepends=True))
        return "".join(lines[:insert]) + moved + "".join(lines[insert:])


def _normal(cwd: str, path: str) -> str:
    """The file itself, however the path reaches it (symlinks, `..` after them)."""
    return os.path.realpath(os.path.join(cwd, path))


_DIR_FLAGS = ("-iquote", "-isystem", "-idirafter", "-I")


def _search_dirs(cmd: tuple[str, ...], cwd: str) -> tuple[list[str], list[str]]:
    """(the dirs `"…"` searches after the includer's own, the dirs `<…>` searches), in
    clang's order: -iquote, then -I, -isystem, -idirafter. Relative ones are the cwd's."""
    groups: dict[str, list[str]] = {name: [] for name in _DIR_FLAGS}
    for i, flag in enumerate(cmd):
        for name in _DIR_FLAGS:
            if flag == name:
                if i + 1 < len(cmd):
                    groups[name].append(os.path.join(cwd, cmd[i + 1]))
                break
            if flag.startswith(name) and (name == "-I" or flag.startswith(name + "/")):
                groups[name].append(os.path.join(cwd, flag[len(name) :]))
                break
    angled = [*groups["-I"], *groups["-isystem"], *groups["-idirafter"]]
    return [*groups["-iquote"], *angled], angled


def _resolve(
    spelling: str, quoted: bool, includer_dir: str, dirs: tuple[list[str], list[str]]
) -> str | None:
    """The file clang opens for the include, as far as the command's directories tell (its
    own built-in ones aside: `Chain.headers_after` checks the guess against clang's list)."""
    search = [includer_dir, *dirs[0]] if quoted else dirs[1]
    for d in search:
        # joined as clang joins them: `..` after a symlinked directory is the link target's
        candidate = os.path.join(d, spelling)
        if os.path.isfile(candidate):
            return candidate
    return None


def _head(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read(_HEAD_BYTES).decode("utf-8", "surrogateescape")
    except OSError:
        return None


def _opening(text: str, header: bool) -> tuple[list[str], str, bool] | None:
    """(guard macros, the first include's spelling, whether quoted) when `text` opens with
    nothing before its first `#include` but, for a header, an include guard (`#ifndef G` +
    `#define G`, `#pragma once`)."""
    before: list[str] = []
    for _stop, code, _in_comment in code_lines(text):
        if not code:
            continue
        m = _INCLUDE.match(code)
        if m is not None:
            guards = _guards(before) if header else ([] if not before else None)
            if guards is None:
                return None
            return guards, m.group(1) or m.group(2), m.group(1) is not None
        if not code.startswith("#") or len(before) >= 3:
            return None
        before.append(code)
    return None


def _guards(directives: list[str]) -> list[str] | None:
    """The guard macros when `directives` are only an include guard (and `#pragma once`)."""
    rest = [d for d in directives if not _PRAGMA_ONCE.match(d)]
    if not rest:
        return []
    if len(rest) != 2:
        return None
    opening, define = _IFNDEF.match(rest[0]), _DEFINE.match(rest[1])
    if opening is None or define is None:
        return None
    name = opening.group(1) or opening.group(2)
    return [name] if define.group(1) == name else None


@functools.lru_cache(maxsize=2)  # a vmlinux.h is ~3 MB of text
def _read(path: str, identity: tuple[int, int, int]) -> str | None:
    """vmlinux.h's text when it is guarded (`#ifndef X`, `#define X` … `#endif`, or `#pragma
    once`), so that including it a second time is empty; None else. `identity` keys the
    cache: a rewritten file is read again."""
    del identity
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "surrogateescape")
    except OSError:
        return None
    first = [code for _stop, code, _c in itertools.islice(code_lines(text[:_HEAD_BYTES]), 64)]
    first = [code for code in first if code][:2]
    if first and _PRAGMA_ONCE.match(first[0]):
        return text
    tail = [line.strip() for line in text[-4096:].splitlines() if line.strip()]
    if len(first) == 2 and _guards(first) and tail and _ENDIF.match(tail[-1]):
        return text
    return None


@functools.lru_cache(maxsize=256)
def _names(path: str, identity: tuple[int, int, int], macro: str) -> bool:
    text = _read(path, identity)
    return text is None or re.search(rf"\b{re.escape(macro)}\b", text) is not None


def _defined_on_command_line(cmd: tuple[str, ...]) -> set[str]:
    names: set[str] = set()
    for i, flag in enumerate(cmd):
        value = None
        if flag in ("-D", "-U") and i + 1 < len(cmd):
            value = cmd[i + 1]
        elif flag.startswith(("-D", "-U")) and len(flag) > 2:
            value = flag[2:]
        if value:
            names.add(re.split(r"[=(]", value, maxsplit=1)[0])
    return names


def chain_to_vmlinux(text: str, cmd: tuple[str, ...], cwd: str) -> Chain | None:
    """How the file reaches vmlinux.h before anything else (see the module's words), or None
    when it does not: then only a plain compile, or its own preamble PCH, means the file."""
    if any(flag.startswith(_PREINCLUDES) for flag in cmd):
        return None  # a header forced in ahead of the file
    dirs = _search_dirs(cmd, cwd)
    includer_dir, current = cwd, text
    through: list[str] = []
    guards: list[str] = []
    for depth in range(_MAX_DEPTH):
        opening = _opening(current, header=depth > 0)
        if opening is None:
            return None
        names, spelling, quoted = opening
        guards += names
        path = _resolve(spelling, quoted, includer_dir, dirs)
        if path is None:
            return None
        real = os.path.realpath(path)
        if os.path.basename(path) == VMLINUX:
            path = real
            try:
                st = os.stat(path)
            except OSError:
                return None
            identity = (st.st_ino, st.st_size, st.st_mtime_ns)
            if _read(path, identity) is None:
                return None
            if set(guards) & _defined_on_command_line(cmd):
                return None
            if any(_names(path, identity, g) for g in guards):
                return None
            return Chain(tuple(through), path)
        head = _head(path)
        if head is None or real in through:
            return None
        through.append(real)
        includer_dir, current = os.path.dirname(path), head
    return None
