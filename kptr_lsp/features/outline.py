"""The outline of a BPF source: its programs (with their SEC), maps (type, key/value,
max_entries) and global variables. Pure: no LSP types here.

Read from the compiled object, not from a C parser: the ELF says which functions are
programs and in which section, BTF describes the maps as libbpf will create them (the
`__uint`/`__type` encoding), and DWARF gives the declaration lines. When the buffer does not
compile, the server keeps showing the outline of the last version that did.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass

from ..btf.ext import BTFExt
from ..btf.mapdef import read_map_definition
from ..btf.spec import Spec
from ..btf.types import (
    Datasec,
    Var,
    c_type_name,
)
from ..elf.objfile import Function, MapDef
from ..findings import Location
from ..kernel.uapi import MapType, map_type_label
from ..model import ObjectModel

_SKIP_SECTIONS = (".maps", ".ksyms", ".kconfig", "maps")


class SymbolKind(enum.StrEnum):
    PROGRAM = "program"
    MAP = "map"
    VARIABLE = "variable"


@dataclass(frozen=True)
class Symbol:
    name: str
    kind: SymbolKind
    detail: str
    location: Location  # the declaration (name's line and column)
    end_line: int  # last line of the definition (programs: their last source line)


def map_detail(spec: Spec | None, m: MapDef) -> str:
    """E.g. `hash · __u32 → struct val · 1,024 entries`."""
    if spec is None or m.type_id is None:
        return "legacy map" if m.section != ".maps" else "map"
    d = read_map_definition(spec, m.type_id)
    if d is None:
        return "map"
    parts: list[str] = []
    if d.map_type is not None:
        parts.append(map_type_label(d.map_type))
    sides: list[str] = []
    for t, size in ((d.key, d.key_size), (d.value, d.value_size)):
        if t is not None:
            sides.append(c_type_name(t))
        elif size is not None:
            sides.append(f"{size} B")
    if sides:
        parts.append(" → ".join(sides))
    if (n := d.max_entries) is not None:
        ring = d.map_type in (MapType.RINGBUF, MapType.USER_RINGBUF)
        # A ring buffer's max_entries is its size in bytes.
        parts.append(f"{n:,} bytes" if ring else f"{n:,} entr{'y' if n == 1 else 'ies'}")
    return " · ".join(parts) or "map"


def _last_line(fn: Function, ext: BTFExt | None, start: int) -> int:
    if ext is None:
        return start
    lines = [
        li.line
        for li in ext.line_info.get(fn.section, [])
        if fn.start <= li.insn_off < fn.start + fn.count
    ]
    return max([start, *lines])


def _same_file(a: str, b: str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def document_symbols(model: ObjectModel, path: str) -> list[Symbol]:
    """The programs, maps and globals declared in `path`, in source order."""
    out: list[Symbol] = []
    decls = model.decls
    for fn in model.obj.programs:
        loc = decls.functions.get(fn.name)
        if loc is not None and _same_file(loc.file, path):
            detail = f'SEC("{fn.section}")'
            end = _last_line(fn, model.ext, loc.line)
            out.append(Symbol(fn.name, SymbolKind.PROGRAM, detail, loc, end))
    for m in model.obj.maps:
        loc = decls.variables.get(m.name)
        if loc is not None and _same_file(loc.file, path):
            out.append(Symbol(m.name, SymbolKind.MAP, map_detail(model.spec, m), loc, loc.line))
    for name, detail in _globals(model.spec):
        loc = decls.variables.get(name)
        if loc is not None and _same_file(loc.file, path):
            out.append(Symbol(name, SymbolKind.VARIABLE, detail, loc, loc.line))
    return sorted(out, key=lambda s: (s.location.line, s.location.col))


def _globals(spec: Spec | None) -> list[tuple[str, str]]:
    """(name, `type in section`) of every global variable the object's BTF describes."""
    if spec is None:
        return []
    out: list[tuple[str, str]] = []
    for t in spec:
        if not isinstance(t, Datasec) or t.name in _SKIP_SECTIONS:
            continue
        for info in t.vars:
            var = info.var
            if isinstance(var, Var):
                out.append((var.name, f"{c_type_name(var.type)} · {t.name}"))
    return out
