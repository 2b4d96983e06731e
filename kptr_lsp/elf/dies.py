"""A fast walk over a compile unit's top-level DWARF entries, for declaration lines.

pyelftools parses every attribute of every entry. The DWARF of an object that includes
vmlinux.h holds ~25k entries (every type reachable from the kernel structs it uses), ~0.5 s of
pure Python per save. Here an entry nobody reads is skipped by its abbreviation's byte size,
and only names and `decl_file`/`decl_line`/`decl_column` are decoded (~25 ms). Entries keep
pyelftools' shape (`tag`, `attributes[name].value`, `iter_children()`) so callers read both
alike; anything unusual raises `Unsupported` and the caller walks with pyelftools instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

# Attributes decoded; every other one is skipped.
WANTED = frozenset({"DW_AT_name", "DW_AT_decl_file", "DW_AT_decl_line", "DW_AT_decl_column"})
_FIXED = {
    "DW_FORM_data1": 1,
    "DW_FORM_ref1": 1,
    "DW_FORM_flag": 1,
    "DW_FORM_strx1": 1,
    "DW_FORM_addrx1": 1,
    "DW_FORM_data2": 2,
    "DW_FORM_ref2": 2,
    "DW_FORM_strx2": 2,
    "DW_FORM_addrx2": 2,
    "DW_FORM_strx3": 3,
    "DW_FORM_addrx3": 3,
    "DW_FORM_data4": 4,
    "DW_FORM_ref4": 4,
    "DW_FORM_strx4": 4,
    "DW_FORM_addrx4": 4,
    "DW_FORM_ref_sup4": 4,
    "DW_FORM_data8": 8,
    "DW_FORM_ref8": 8,
    "DW_FORM_ref_sig8": 8,
    "DW_FORM_ref_sup8": 8,
    "DW_FORM_data16": 16,
    "DW_FORM_flag_present": 0,
    "DW_FORM_implicit_const": 0,
}
# One offset (4 bytes in 32-bit DWARF, 8 in 64-bit) from DWARF 3 on.
_OFFSET = frozenset(
    {
        "DW_FORM_strp",
        "DW_FORM_line_strp",
        "DW_FORM_sec_offset",
        "DW_FORM_ref_addr",
        "DW_FORM_strp_sup",
        "DW_FORM_GNU_ref_alt",
        "DW_FORM_GNU_strp_alt",
    }
)
_LEB = frozenset(
    {
        "DW_FORM_udata",
        "DW_FORM_sdata",
        "DW_FORM_ref_udata",
        "DW_FORM_strx",
        "DW_FORM_addrx",
        "DW_FORM_loclistx",
        "DW_FORM_rnglistx",
        "DW_FORM_GNU_addr_index",
        "DW_FORM_GNU_str_index",
    }
)
_STRX = {"DW_FORM_strx1": 1, "DW_FORM_strx2": 2, "DW_FORM_strx3": 3, "DW_FORM_strx4": 4}
_UNSIGNED = {"DW_FORM_data1": 1, "DW_FORM_data2": 2, "DW_FORM_data4": 4, "DW_FORM_data8": 8}


class Unsupported(Exception):
    """DWARF this walker does not read; walk it with pyelftools."""


@dataclass(frozen=True)
class Value:
    value: int | bytes


@dataclass
class Entry:
    """One entry, with only the attributes in WANTED; children only when asked for."""

    tag: str
    attributes: dict[str, Value]
    children: list[Entry] = field(default_factory=list)

    def iter_children(self) -> Iterator[Entry]:
        return iter(self.children)


@dataclass(frozen=True)
class _Abbrev:
    tag: str
    has_children: bool
    size: int | None  # bytes of every attribute together, when all have a fixed size
    specs: tuple[tuple[str, str, int | None], ...]  # (attribute, form, implicit value)


class _Unit:
    """One compile unit's bytes, abbreviations and string tables."""

    def __init__(self, dwarf: Any, cu: Any, top: Any) -> None:
        if cu["version"] < 3:
            raise Unsupported(f"DWARF version {cu['version']}")
        self.info = _section(dwarf.debug_info_sec)
        self.strings = _section(dwarf.debug_str_sec)
        self.line_strings = _section(getattr(dwarf, "debug_line_str_sec", None))
        self.str_offsets = _section(getattr(dwarf, "debug_str_offsets_sec", None))
        self.offset_size = 8 if cu.dwarf_format() == 64 else 4
        self.address_size = int(cu["address_size"])
        base = top.attributes.get("DW_AT_str_offsets_base")
        self.str_base = None if base is None else int(base.value)
        self.table = cu.get_abbrev_table()
        self.abbrevs: dict[int, _Abbrev] = {}

    def abbrev(self, code: int) -> _Abbrev:
        found = self.abbrevs.get(code)
        if found is None:
            decl = self.table.get_abbrev(code)
            specs = tuple((str(s.name), str(s.form), s.get("value")) for s in decl["attr_spec"])
            sizes = [self._fixed_size(form) for _, form, _ in specs]
            size = None if any(s is None for s in sizes) else sum(s or 0 for s in sizes)
            found = _Abbrev(str(decl["tag"]), decl.has_children(), size, specs)
            self.abbrevs[code] = found
        return found

    def _fixed_size(self, form: str) -> int | None:
        if form in _FIXED:
            return _FIXED[form]
        if form in _OFFSET:
            return self.offset_size
        if form == "DW_FORM_addr":
            return self.address_size
        return None

    def skip(self, pos: int, form: str) -> int:
        fixed = self._fixed_size(form)
        if fixed is not None:
            return pos + fixed
        data = self.info
        if form in _LEB:
            while data[pos] & 0x80:
                pos += 1
            return pos + 1
        if form == "DW_FORM_string":
            end = data.index(b"\0", pos)
            return end + 1
        if form in ("DW_FORM_exprloc", "DW_FORM_block"):
            length, pos = _uleb(data, pos)
            return pos + length
        if form in ("DW_FORM_block1", "DW_FORM_block2", "DW_FORM_block4"):
            width = {"DW_FORM_block1": 1, "DW_FORM_block2": 2, "DW_FORM_block4": 4}[form]
            return pos + width + int.from_bytes(data[pos : pos + width], "little")
        raise Unsupported(form)

    def read(self, pos: int, form: str, implicit: int | None) -> tuple[int | bytes, int]:
        """(value as pyelftools gives it, next position) for a name or decl_* attribute."""
        data = self.info
        if form in _UNSIGNED:
            width = _UNSIGNED[form]
            return int.from_bytes(data[pos : pos + width], "little"), pos + width
        if form == "DW_FORM_udata":
            return _uleb(data, pos)
        if form == "DW_FORM_sdata":
            return _sleb(data, pos)
        if form == "DW_FORM_implicit_const" and implicit is not None:
            return implicit, pos
        if form in _STRX or form == "DW_FORM_strx":
            if form == "DW_FORM_strx":
                index, end = _uleb(data, pos)
            else:
                end = pos + _STRX[form]
                index = int.from_bytes(data[pos:end], "little")
            if self.str_base is None:
                raise Unsupported("strx without DW_AT_str_offsets_base")
            at = self.str_base + index * self.offset_size
            offset = int.from_bytes(self.str_offsets[at : at + self.offset_size], "little")
            return _cstring(self.strings, offset), end
        if form in ("DW_FORM_strp", "DW_FORM_line_strp"):
            end = pos + self.offset_size
            offset = int.from_bytes(data[pos:end], "little")
            table = self.strings if form == "DW_FORM_strp" else self.line_strings
            return _cstring(table, offset), end
        if form == "DW_FORM_string":
            end = data.index(b"\0", pos)
            return bytes(data[pos:end]), end + 1
        raise Unsupported(f"{form} for a name or declaration attribute")

    def entry(self, pos: int, abbrev: _Abbrev) -> tuple[Entry, int]:
        attributes: dict[str, Value] = {}
        for name, form, implicit in abbrev.specs:
            if name in WANTED:
                value, pos = self.read(pos, form, implicit)
                attributes[name] = Value(value)
            else:
                pos = self.skip(pos, form)
        return Entry(abbrev.tag, attributes), pos


# ~1 ms of the walk on the development machine (two_progs.bpf.c has 250 KB of .debug_info).
CHECKPOINT_BYTES = 16 * 1024


def top_level_entries(
    dwarf: Any,
    cu: Any,
    top: Any,
    tags: frozenset[str],
    wants_children: Callable[[Entry], bool],
    checkpoint: Callable[[], None] | None = None,
) -> list[Entry]:
    """The children of the unit's top entry whose tag is in `tags`, in order; an entry for
    which `wants_children` says so gets its own children (all tags). Raises Unsupported,
    IndexError or ValueError on DWARF it cannot read. `checkpoint` is called every
    `CHECKPOINT_BYTES` or so of entries (between two top-level ones): it may wait, or raise
    to stop the walk."""
    unit = _Unit(dwarf, cu, top)
    next_check = top.offset + CHECKPOINT_BYTES
    out: list[Entry] = []
    if not top.has_children:
        return out
    data = unit.info
    pos, end = top.offset + top.size, cu.cu_offset + cu.size
    depth = 1
    collecting: Entry | None = None  # the depth-1 entry whose children are being read
    while pos < end:
        code = data[pos]
        if code < 0x80:
            pos += 1
        else:
            code, pos = _uleb(data, pos)
        if code == 0:
            depth -= 1
            if depth == 0:
                break
            if depth == 1:
                collecting = None
                if checkpoint is not None and pos >= next_check:
                    checkpoint()
                    next_check = pos + CHECKPOINT_BYTES
            continue
        abbrev = unit.abbrev(code)
        if depth == 1 and abbrev.tag in tags:
            entry, pos = unit.entry(pos, abbrev)
            out.append(entry)
            if abbrev.has_children and wants_children(entry):
                collecting = entry
        elif depth == 2 and collecting is not None:
            child, pos = unit.entry(pos, abbrev)
            collecting.children.append(child)
        elif abbrev.size is not None:
            pos += abbrev.size
        else:
            for _, form, _ in abbrev.specs:
                pos = unit.skip(pos, form)
        if abbrev.has_children:
            depth += 1
    if depth != 0:
        raise Unsupported("the unit ends inside an entry")
    return out


def _section(descriptor: Any) -> bytes:
    if descriptor is None:
        return b""
    return bytes(descriptor.stream.getbuffer())


def _cstring(table: bytes, offset: int) -> bytes:
    end = table.index(b"\0", offset)
    return table[offset:end]


def _uleb(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _sleb(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            if byte & 0x40:
                result -= 1 << shift
            return result, pos
