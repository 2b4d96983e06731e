"""vmlinux.h cut down to the kernel types a program's BTF holds: the same object, a compile
about twice as fast (issue 15).

Most of a compile on vmlinux.h is clang building debug information for every kernel type the
program's types reach, by value or through pointers (bench/dwarf_options.py,
bench/trimmed_vmlinux.py); the BPF backend then keeps in .BTF only what its own walk from the
program's functions, globals and maps reaches. A header in which every struct or union that
walk did not touch is only declared (`struct mm_struct;`, on the line of its definition, the
lines after it left blank) gives clang far less to build and, when the walk touches only kept
definitions, the same .BTF, .BTF.ext and instructions.

The kept set of a vmlinux.h grows and never shrinks (each file compiles on the one it last
needed, so that another file needing more does not make its cut and PCH new). It starts from
every struct and union name (defined or forward) in the .BTF of a compile on the whole header,
closed under what the kept definitions and the header's always-whole parts (anonymous
typedef'd structs, typedefs of arrays) hold by value, plus any struct the file or its headers
define themselves (a redefinition must stay an error). A compile on the cut header is taken
only when it is exact, judged on what clang said and made (`CutHeaders.judge`):

- clang named a cut struct or union (an incomplete type, a `sizeof`, a member reached through
  a pointer): it joins the kept set and the file is compiled again;
- any other error: the file is compiled on the whole header, whose diagnostics are published;
- the object's .BTF names a cut struct or union, whole or forward: BTF generation touched a
  type whose definition the whole header has and the cut one lacks (a global or a kfunc
  parameter of its pointer type, a map value, a CO-RE relocation), so the objects could
  differ: the file is compiled on the whole header, and what that compile's .BTF holds joins
  the kept set (at once: once such a struct is whole, what it reaches can take rounds to find).

Otherwise the walk touched only definitions both headers have, the same ones, so the object is
the one the whole header gives. tests/toolchain/test_trim.py compares both builds over every
program under tests/programs and over edits made to defeat each rule.

Only a header in bpftool's layout is cut (the preserve_access_index pragma, each definition's
`struct X {` and closing `}` at column 0). The cut header is put in place of the real one with
`-ivfsoverlay`, under the real one's name (`use-external-names: false`): clang's `-H` lines,
diagnostics and DWARF name the file the user has.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from elftools.elf.elffile import ELFFile

from kptr_lsp.btf.spec import Spec
from kptr_lsp.btf.wire import Kind
from kptr_lsp.toolchain import vmlinux
from kptr_lsp.toolchain.headers import opened_headers, without_header_lines

log = logging.getLogger(__name__)

ROUNDS = 2  # cut compiles before one on the whole header
_KEEP_FILES = 24  # cut headers on disk (≤ a few MB each)
_FORMAT = "1"

_DEFINITION = re.compile(r"(struct|union) (\w+) \{$")
_ANONYMOUS = re.compile(r"typedef (?:struct|union) \{$")
_CLOSING = re.compile(r"\}[^;]*?(\w+)?;$")
# `typedef struct X name;`, `typedef name2 name[4];`: `name` holds what it names by value
_TYPEDEF = re.compile(
    r"typedef (?:(?:const|volatile) )*(?:(?:struct|union) )?(\w+) (\w+)((?:\[\w*\])*);$"
)
_ATTRS = r"(?:\s*__attribute__\(\((?:[^()]|\([^()]*\))*\)\))*"
# A type named before a member's name (not before `*`, `(`, `)`): held by value.
_HELD = re.compile(r"\b(?:(struct|union) )?(\w+)" + _ATTRS + r"\s+(?=[A-Za-z_])")
_PRAGMA = "#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)"
# A struct or union named in clang's diagnostics (`incomplete type 'struct X'`, `(aka 'struct X')`)
_NAMED = re.compile(r"\b(?:struct|union) (\w+)")
# A definition in the file or its headers: one of a cut name must stay a redefinition error.
_DEFINES = re.compile(r"\b(?:struct|union)\s+(\w+)\s*(?:__attribute__\(\(.*?\)\)\s*)?\{")


def _identity(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class Header:
    """One vmlinux.h in bpftool's layout: where each named definition is, and (worked out when
    first asked: a closure touches a few hundred of ~9000) what it holds by value."""

    def __init__(
        self,
        path: str,
        identity: tuple[int, int, int],
        lines: list[str],
        spans: dict[str, tuple[int, int, str]],
        anonymous: dict[str, tuple[int, int]],
        typedefs: dict[str, str],
        arrays: set[str],
    ) -> None:
        self.path = path
        self.identity = identity
        self.lines = lines
        self.spans = spans  # name → (first line, closing line, struct|union)
        self._anonymous = anonymous  # typedef name → (first line, closing line)
        self._typedefs = typedefs  # name → the type name it stands for
        self._direct: dict[str, frozenset[str]] = {}
        # Never cut: what the anonymous typedef'd definitions and typedefs of arrays hold.
        always: set[str] = set()
        for name in anonymous:
            always |= self._holds(name)
        for name in arrays:
            target = self._named(name)
            if target in spans:
                always.add(target)
            elif target is not None:
                always |= self._holds(target)
        self.always = frozenset(always)

    def _named(self, name: str) -> str | None:
        """The definition a type name stands for by value (through typedefs)."""
        for _ in range(32):
            if name in self.spans or name in self._anonymous:
                return name
            nxt = self._typedefs.get(name)
            if nxt is None or nxt == name:
                return None
            name = nxt
        return None

    def _direct_holds(self, name: str) -> frozenset[str]:
        memo = self._direct.get(name)
        if memo is None:
            span = self.spans.get(name) or self._anonymous.get(name)
            held: set[str] = set()
            if span is not None:
                for line in self.lines[span[0] + 1 : span[1]]:
                    for h in _HELD.finditer(line):
                        target = self._named(h[2])
                        if target is not None:
                            held.add(target)
            memo = self._direct[name] = frozenset(held)
        return memo

    def _holds(self, name: str) -> set[str]:
        """The named definitions `name` holds by value, looking through anonymous ones."""
        out: set[str] = set()
        seen = {name}
        todo = list(self._direct_holds(name))
        while todo:
            held = todo.pop()
            if held in seen:
                continue
            seen.add(held)
            if held in self._anonymous:
                todo.extend(self._direct_holds(held))
            else:
                out.add(held)
        return out

    def closure(self, names: set[str]) -> frozenset[str]:
        """`names` (those the header defines) and everything they hold by value, at any depth."""
        out = {n for n in names if n in self.spans}
        todo = list(out)
        while todo:
            for held in self._holds(todo.pop()):
                if held not in out:
                    out.add(held)
                    todo.append(held)
        return frozenset(out)

    def cut(self, keep: frozenset[str]) -> str:
        lines = list(self.lines)
        for name, (first, last, keyword) in self.spans.items():
            if name not in keep:
                lines[first] = f"{keyword} {name};"
                for i in range(first + 1, last + 1):
                    lines[i] = ""
        return "\n".join(lines) + "\n"


def read_header(path: str) -> Header | None:
    """The header's definitions, or None when it is not in bpftool's layout."""
    ident = _identity(path)
    if ident is None:
        return None
    try:
        text = Path(path).read_text(errors="surrogateescape")
    except OSError:
        return None
    if _PRAGMA not in text[:4096]:
        return None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    spans: dict[str, tuple[int, int, str]] = {}
    anonymous: dict[str, tuple[int, int]] = {}
    typedefs: dict[str, str] = {}
    arrays: set[str] = set()
    i, total = 0, len(lines)
    while i < total:
        line = lines[i]
        if line[:1] not in ("s", "u", "t"):
            i += 1
            continue
        m = _DEFINITION.match(line)
        if m or _ANONYMOUS.match(line):
            j = i + 1
            while j < total and not lines[j].startswith("}"):
                j += 1
            if j == total:
                return None  # not the layout we cut
            if m:
                if m[2] in spans:
                    return None
                spans[m[2]] = (i, j, m[1])
            else:
                closing = _CLOSING.match(lines[j])
                if closing is None or closing[1] is None:
                    return None
                anonymous[closing[1]] = (i, j)
            i = j + 1
            continue
        t = _TYPEDEF.match(line)
        if t:
            typedefs[t[2]] = t[1]
            if t[3]:
                arrays.add(t[2])
        i += 1
    return Header(path, ident, lines, spans, anonymous, typedefs, arrays)


def btf_record_names(obj: bytes) -> set[str]:
    """The names of the object's .BTF structs, unions and forward declarations."""
    section = ELFFile(io.BytesIO(obj)).get_section_by_name(".BTF")
    if section is None:
        return set()
    return Spec.parse(section.data(), lazy=True).names_of((Kind.STRUCT, Kind.UNION, Kind.FWD))


@dataclass(frozen=True)
class Cut:
    """A cut of one vmlinux.h, with the overlay that puts it in the header's place."""

    header: str  # the real path of the whole header
    keep: frozenset[str]
    file: str
    overlay: str
    names: frozenset[str]  # the names clang opens the header by, which the overlay maps

    def command(self, cmd: tuple[str, ...]) -> tuple[str, ...]:
        """`cmd` (compile.build_command's, ending in `-x c - -o -`) on the cut header."""
        return (*cmd[:-5], "-ivfsoverlay", self.overlay, *cmd[-5:])


@dataclass
class _Kept:
    header: Header
    keep: frozenset[str]
    opened_as: set[str] = field(default_factory=set)


class CutHeaders:
    """The kept set of each vmlinux.h the open files compile on, and their cuts on disk."""

    def __init__(self, root: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._root = root
        self._kept: dict[str, _Kept] = {}  # real path of a vmlinux.h → its kept set
        self._not_cut: dict[str, tuple[int, int, int] | None] = {}  # not bpftool's layout
        # source → (its vmlinux.h, the other headers it read, the kept set it compiles on),
        # after a compile on the whole header. A file keeps its set until it needs more (then
        # it takes the header's, which every file widens): another file that needs more does
        # not make its cut, and the PCH on it, new.
        self._files: dict[str, tuple[str, tuple[str, ...], frozenset[str]]] = {}
        self._defined: dict[str, tuple[tuple[int, int, int] | None, frozenset[str]]] = {}
        self._cuts: dict[str, Cut] = {}

    def root(self) -> Path:
        return self._root or vmlinux.cache_root().parent / "trim"

    def cut_for(self, path: str, text: str) -> Cut | None:
        """The cut header for compiling `text` as `path`; None before a compile of the file on
        a whole header in bpftool's layout succeeded."""
        path = os.path.abspath(path)
        with self._lock:
            seen = self._files.get(path)
            kept = None if seen is None else self._kept.get(seen[0])
            if seen is None or kept is None:
                return None
            if _identity(seen[0]) != kept.header.identity:  # the header changed on disk
                del self._kept[seen[0]]
                self._files.pop(path, None)
                return None
            keep, header = seen[2], kept.header
            own = self._defines(text, seen[1]) & header.spans.keys()
            if own - keep:
                keep = self._widen(path, kept, own)
            names = frozenset({*kept.opened_as, header.path})
        return self._cut(header, keep, names)

    def _widen(self, path: str, kept: _Kept, names: set[str]) -> frozenset[str]:
        """The header's kept set with `names`, now the file's too (under the lock)."""
        kept.keep = kept.header.closure(set(kept.keep | names))
        seen = self._files.get(path)
        if seen is not None:
            self._files[path] = (seen[0], seen[1], kept.keep)
        return kept.keep

    def judge(
        self, path: str, cut: Cut, returncode: int | None, obj: bytes, stderr: str, cwd: str
    ) -> str:
        """What to do with a compile on `cut`: "exact" (take it), "again" (the kept set grew:
        compile on the new cut) or "whole" (compile on the whole header): the module's rules."""
        headers = [p for p in opened_headers(stderr, cwd) if os.path.basename(p) == "vmlinux.h"]
        if headers and not cut.names & set(headers):
            return "exact"  # clang found another vmlinux.h: a compile on a whole header
        if not headers and returncode != 0:
            return "whole"  # stopped before its headers (a bad overlay?): the whole one says
        if not headers:
            return "exact"  # no vmlinux.h at all: nothing was cut
        with self._lock:
            kept = self._kept.get(cut.header)
            if kept is None:
                return "whole"
            cut_names = kept.header.spans.keys() - cut.keep
            named = set(_NAMED.findall(without_header_lines(stderr))) & cut_names
            if named:  # clang needs them whole: keep them, compile on the wider cut
                self._widen(os.path.abspath(path), kept, named)
                log.debug("cut vmlinux.h %s keeps %s", cut.header, sorted(named))
                return "again"
            if returncode != 0 or not obj.startswith(b"\x7fELF"):
                return "whole"
            try:
                named = btf_record_names(obj) & cut_names
            except Exception as exc:  # a malformed object: the whole header's compile says
                log.info("cut vmlinux.h: cannot read the object's .BTF: %s", exc)
                return "whole"
            if not named:
                return "exact"
            # BTF reached a cut type: what else it reaches once that one is whole (members
            # that are arrays of pointers, say) takes rounds to find; the whole header's
            # compile, which follows, gives all of it to `learn` at once.
            log.debug("cut vmlinux.h %s: the object's BTF holds %s", cut.header, sorted(named))
            return "whole"

    def learn(self, path: str, returncode: int | None, obj: bytes, stderr: str, cwd: str) -> None:
        """After a compile on the whole header: which vmlinux.h the file reads, and the names
        its .BTF holds (the start of the kept set)."""
        path = os.path.abspath(path)
        opened = opened_headers(stderr, cwd)
        found = [p for p in opened if os.path.basename(p) == "vmlinux.h"]
        if returncode != 0 or not obj.startswith(b"\x7fELF") or not found:
            return
        real = os.path.realpath(found[0])
        others = tuple(
            sorted({os.path.realpath(p) for p in opened if os.path.basename(p) != "vmlinux.h"})
        )
        ident = _identity(real)
        with self._lock:
            kept = self._kept.get(real)
            stale = kept is None or kept.header.identity != ident
            if stale and real in self._not_cut and self._not_cut[real] == ident:
                return
        header = read_header(real) if stale else None
        try:
            names = btf_record_names(obj)
        except Exception as exc:
            log.info("cut vmlinux.h: cannot read the object's .BTF: %s", exc)
            return
        with self._lock:
            if stale:
                if header is None:
                    self._not_cut[real] = ident
                    return
                kept = _Kept(header, header.closure(set(header.always)))
                self._kept[real] = kept
            assert kept is not None
            kept.opened_as.update(found)
            self._files[path] = (real, others, frozenset())
            self._widen(path, kept, names)

    def _defines(self, text: str, headers: tuple[str, ...]) -> set[str]:
        """The structs and unions the file and its other headers define (under the lock)."""
        out = set(_DEFINES.findall(text))
        for h in headers:
            ident = _identity(h)
            memo = self._defined.get(h)
            if memo is None or memo[0] != ident:
                try:
                    found = frozenset(_DEFINES.findall(Path(h).read_text(errors="replace")))
                except OSError:
                    found = frozenset()
                memo = (ident, found)
                self._defined[h] = memo
            out |= memo[1]
        return out

    def _cut(self, header: Header, keep: frozenset[str], names: frozenset[str]) -> Cut:
        digest = hashlib.sha256(
            "\n".join([_FORMAT, header.path, repr(header.identity), *sorted(keep), "\0",
                       *sorted(names)]).encode()
        ).hexdigest()[:32]  # fmt: skip
        with self._lock:
            cut = self._cuts.get(digest)
        if cut is not None and os.path.exists(cut.file) and os.path.exists(cut.overlay):
            return cut
        root = self.root()
        file = root / f"{digest}.vmlinux.h"
        overlay = root / f"{digest}.yaml"
        # Named by what they hold: one already there (another server's, an earlier session's)
        # is the same, and is not written again — a new mtime would make clang refuse the
        # PCHs built on it.
        if not file.exists():
            vmlinux.write_atomic(file, header.cut(keep).encode(errors="surrogateescape"))
        roots = [
            {
                "name": os.path.dirname(name),
                "type": "directory",
                "contents": [
                    {"name": os.path.basename(name), "type": "file", "external-contents": str(file)}
                ],
            }
            for name in sorted(names)
        ]
        spec = {"version": 0, "use-external-names": False, "roots": roots}
        if not overlay.exists():
            vmlinux.write_atomic(overlay, json.dumps(spec).encode())
        cut = Cut(header.path, keep, str(file), str(overlay), names)
        with self._lock:
            self._cuts[digest] = cut
        self._prune(root)
        return cut

    def _prune(self, root: Path) -> None:
        """Keep the most recently written cuts and those this server uses (a PCH on one another
        server pruned is refused by clang, and the cut written and the PCH built again)."""
        with self._lock:
            mine = set(self._cuts)
        with contextlib.suppress(OSError):
            files = sorted(root.glob("*.vmlinux.h"), key=lambda p: p.stat().st_mtime_ns)
            for old in files[:-_KEEP_FILES]:
                if old.name.split(".")[0] in mine:
                    continue
                for stale in (old, old.with_name(old.name.replace(".vmlinux.h", ".yaml"))):
                    with contextlib.suppress(FileNotFoundError):
                        stale.unlink()


CUTS = CutHeaders()
