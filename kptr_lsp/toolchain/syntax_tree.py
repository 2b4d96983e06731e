"""The main file's functions as a small syntax tree, parsed by libclang: plain data for fixes.

Quick fixes need to know which expression the verifier rejected (`v->task->pid`: the load of
`v->task`, not `v`), which statement holds it and which block holds that statement. libclang
gives the real parse; this module turns the parts of it that lie in the file itself into
`Node`s (kind, spelling, 1-based line and 0-based character columns, the type's canonical
spelling, children) so that nothing above the toolchain touches libclang's cursors. Parses are
kept per (text, flags): the fixes of one analysis ask several times.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kptr_lsp.toolchain import pch
from kptr_lsp.toolchain.clang import find_clang
from kptr_lsp.toolchain.syntax import SyntaxUnavailable, _index, parse_args

_KEEP = 4  # parsed files kept
_PCH_WAIT_S = 10.0


@dataclass(frozen=True)
class Node:
    """One cursor of the file: `kind` is libclang's CursorKind name (`MEMBER_REF_EXPR`, …)."""

    kind: str
    spelling: str
    line: int
    col: int  # 0-based, in characters of the line
    end_line: int
    end_col: int  # exclusive
    type: str  # canonical type spelling ("struct task_struct *"), "" when none
    pointee: str  # canonical pointee spelling for pointers ("struct task_struct"), else ""
    children: tuple[Node, ...]
    # For references (DECL_REF_EXPR, MEMBER_REF_EXPR): the kind of what they name.
    ref_kind: str = ""
    # For binary/unary operators: the operator's spelling ("->", ">", "!", "&", …).
    operator: str = ""

    def walk(self) -> Iterator[Node]:
        yield self
        for c in self.children:
            yield from c.walk()

    def contains(self, line: int, col: int) -> bool:
        return (self.line, self.col) <= (line, col) < (self.end_line, self.end_col)

    def text(self, lines: list[str]) -> str:
        """The node's source text."""
        if self.line == self.end_line:
            return lines[self.line - 1][self.col : self.end_col]
        parts = [lines[self.line - 1][self.col :]]
        parts += lines[self.line : self.end_line - 1]
        parts.append(lines[self.end_line - 1][: self.end_col])
        return "\n".join(parts)


@dataclass(frozen=True)
class Function:
    name: str
    result: str  # canonical result type spelling
    body: Node  # COMPOUND_STMT
    params: tuple[tuple[str, str], ...] = ()  # (name, canonical type spelling)


@dataclass(frozen=True)
class SyntaxTree:
    path: str
    text: str
    functions: tuple[Function, ...]

    def function_at(self, line: int) -> Function | None:
        """The innermost function whose body holds `line` (the user's body of a BPF_PROG)."""
        best: Function | None = None
        for fn in self.functions:
            if fn.body.line <= line <= fn.body.end_line and (
                best is None or fn.body.line >= best.body.line
            ):
                best = fn
        return best


def _char_col(lines: list[bytes], line: int, byte_col: int) -> int:
    """libclang's 1-based byte column as a 0-based character column."""
    if not 0 < line <= len(lines):
        return max(byte_col - 1, 0)
    return len(lines[line - 1][: max(byte_col - 1, 0)].decode("utf-8", "replace"))


_OPERATOR_KINDS = {"BINARY_OPERATOR", "UNARY_OPERATOR", "COMPOUND_ASSIGNMENT_OPERATOR"}


def _operator(cursor: Any, cindex: Any) -> str:
    """The operator token of a binary/unary operator or `->`/`.` of a member access."""
    kind = cursor.kind.name
    tokens = list(cursor.get_tokens())
    if kind == "MEMBER_REF_EXPR":
        children = list(cursor.get_children())
        if not children:
            return ""
        end = children[0].extent.end.offset
        for t in tokens:
            if t.extent.start.offset >= end and t.spelling in ("->", "."):
                return str(t.spelling)
        return ""
    if kind == "UNARY_OPERATOR":
        return str(tokens[0].spelling) if tokens else ""
    children = list(cursor.get_children())
    if len(children) == 2:
        end = children[0].extent.end.offset
        for t in tokens:
            if t.extent.start.offset >= end and t.kind == cindex.TokenKind.PUNCTUATION:
                return str(t.spelling)
    return ""


def _convert(cursor: Any, path: str, lines: list[bytes], cindex: Any) -> Node | None:
    ext = cursor.extent
    if ext.start.file is None or os.path.abspath(ext.start.file.name) != path:
        return None
    children = tuple(
        n for c in cursor.get_children() if (n := _convert(c, path, lines, cindex)) is not None
    )
    kind = cursor.kind.name
    ctype = cursor.type
    spelling_type = ""
    pointee = ""
    if ctype is not None and ctype.kind != cindex.TypeKind.INVALID:
        canon = ctype.get_canonical()
        spelling_type = canon.spelling
        if canon.kind == cindex.TypeKind.POINTER:
            pointee = canon.get_pointee().get_canonical().spelling
    ref_kind = ""
    if kind in ("DECL_REF_EXPR", "MEMBER_REF_EXPR") and cursor.referenced is not None:
        ref_kind = cursor.referenced.kind.name
    operator = ""
    if kind in _OPERATOR_KINDS or kind == "MEMBER_REF_EXPR":
        operator = _operator(cursor, cindex)
    return Node(
        kind=kind,
        spelling=cursor.spelling or "",
        line=ext.start.line,
        col=_char_col(lines, ext.start.line, ext.start.column),
        end_line=ext.end.line,
        end_col=_char_col(lines, ext.end.line, ext.end.column),
        type=spelling_type,
        pointee=pointee,
        children=children,
        ref_kind=ref_kind,
        operator=operator,
    )


def _functions(tu: Any, path: str, text: str, cindex: Any) -> tuple[Function, ...]:
    lines = text.encode().split(b"\n")
    out: list[Function] = []
    for cursor in tu.cursor.get_children():
        if cursor.kind != cindex.CursorKind.FUNCTION_DECL or not cursor.is_definition():
            continue
        body = next(
            (c for c in cursor.get_children() if c.kind == cindex.CursorKind.COMPOUND_STMT), None
        )
        if body is None:
            continue
        node = _convert(body, path, lines, cindex)
        if node is None:
            continue
        result = cursor.result_type.get_canonical().spelling
        params = tuple(
            (a.spelling, a.type.get_canonical().spelling) for a in cursor.get_arguments()
        )
        out.append(Function(cursor.spelling, result, node, params))
    return tuple(out)


def _without_pch(cmd: tuple[str, ...]) -> tuple[str, ...]:
    """The compile command as built, before the PCH the compile found was added to it."""
    out: list[str] = []
    skip = False
    for arg in cmd:
        if skip:
            skip = False
        elif arg == "-include-pch":
            skip = True
        else:
            out.append(arg)
    return tuple(out)


class _Cache:
    def __init__(self) -> None:
        self._trees: OrderedDict[str, SyntaxTree] = OrderedDict()
        self._lock = threading.Lock()
        self._index: Any = None
        self._shares_pch = False
        self._version = ""
        self._parsing = threading.Lock()

    def parse(self, path: str, text: str, cmd: tuple[str, ...]) -> SyntaxTree:
        path = os.path.abspath(path)
        cmd = _without_pch(cmd)
        key = hashlib.sha256(repr((path, text, cmd)).encode()).hexdigest()
        with self._lock:
            hit = self._trees.get(key)
            if hit is not None:
                self._trees.move_to_end(key)
                return hit
            if self._index is None:
                clang = find_clang(cmd[0])
                self._index, self._shares_pch = _index(clang)
                self._version = ".".join(map(str, clang.version))
            index = self._index
        from clang import cindex

        # The compile's preamble PCH (when this libclang reads it): a parse of the file's own
        # text, tens of milliseconds, instead of vmlinux.h again.
        ready = None
        if self._shares_pch:
            cwd = os.path.dirname(path)
            if pch.CACHE.building(cmd, text, self._version):
                # The analysis's compile is building it: waiting beats parsing vmlinux.h
                # beside that build on two cores.
                ready = pch.CACHE.wait_ready(cmd, text, self._version, cwd, _PCH_WAIT_S)
            else:
                ready = pch.CACHE.lookup(cmd, text, self._version, cwd)
        args = parse_args(cmd, ready)
        unsaved = text if ready is None else ready.preamble.blanked(text)
        try:
            with self._parsing:  # one parse at a time on the shared index
                tu = index.parse(path, args=list(args), unsaved_files=[(path, unsaved)], options=0)
            if ready is not None and any(
                pch.PCH_REFUSED.search(d.spelling) for d in tu.diagnostics
            ):
                pch.CACHE.refused(ready.key)
                args = parse_args(cmd, None)
                with self._parsing:
                    tu = index.parse(path, args=list(args), unsaved_files=[(path, text)], options=0)
        except cindex.TranslationUnitLoadError as exc:
            raise SyntaxUnavailable(f"libclang could not parse {path}: {exc}") from exc
        tree = SyntaxTree(path, text, _functions(tu, path, text, cindex))
        with self._lock:
            self._trees[key] = tree
            while len(self._trees) > _KEEP:
                self._trees.popitem(last=False)
        return tree


_CACHE = _Cache()


def parse(path: str, text: str, cmd: tuple[str, ...]) -> SyntaxTree:
    """The functions of `path` (with the unsaved `text`), parsed with the flags of the compile
    command `cmd` (toolchain/compile.py's, which reads the source from stdin)."""
    return _CACHE.parse(path, text, cmd)
