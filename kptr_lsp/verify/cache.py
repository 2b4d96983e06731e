"""Verifier results kept per program, so an edit re-verifies only the programs it changed.

A program's key covers everything its load depends on except line numbers: its own
instructions and relocations, the subprograms in `.text`, the object's BTF types (names
resolved, so new strings elsewhere do not matter), its data sections, its line info's file,
column and source text, and the loader's settings. Inserting a line above a program therefore
keeps its key, while its log still names the old lines in its `; src @ file:line` notes: a hit
is re-placed by mapping the stored line info onto the current one, record by record (the key
guarantees both have the same records in the same order).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..btf import wire
from ..btf.errors import BTFError
from ..btf.ext import BTFExt, LineInfo
from ..elf.objfile import TEXT, Function, ObjectFile
from .loader import ObjectResult, ProgramResult, verify_object

# Sections whose bytes do not reach the kernel (or are covered another way).
_IGNORED = (".BTF", ".BTF.ext", ".symtab", ".strtab", ".llvm_addrsig")
_NOTE_LINE = re.compile(r"(@ (\S+):)(\d+)$", re.MULTILINE)
_SYM = struct.Struct("<IBBHQQ")  # Elf64_Sym
_REL = struct.Struct("<QQ")  # Elf64_Rel


@dataclass(frozen=True)
class ProgramKey:
    digest: str
    lines: tuple[tuple[str, int], ...]  # (file, line) of the program's line info, in order


@dataclass(frozen=True)
class _Entry:
    result: ProgramResult
    lines: tuple[tuple[str, int], ...]


def _names_resolved_types(btf: bytes) -> bytes:
    """The BTF type records with every name offset replaced by the name itself."""
    header = wire.parse_header(btf)
    words = wire.type_words(btf, header)
    offsets, kinds = wire.scan_types(words)
    base = header.hdr_len + header.str_off
    strings = btf[base : base + header.str_len]

    def name(off: int) -> bytes:
        end = strings.find(b"\0", off)
        return strings[off : end if end >= 0 else len(strings)]

    # Kinds whose trailer entries start with a name offset: the entry width in words.
    named: dict[int, int] = {
        wire.Kind.STRUCT: 3,
        wire.Kind.UNION: 3,
        wire.Kind.ENUM: 2,
        wire.Kind.ENUM64: 3,
        wire.Kind.FUNC_PROTO: 2,
    }
    out = bytearray()
    ends = [*offsets[1:], len(words)]
    for start, end, kind in zip(offsets, ends, kinds, strict=True):
        record = list(words[start:end])
        out += name(record[0]) + b"\0"
        record[0] = 0
        width = named.get(kind)
        if width is not None:
            for i in range(3, len(record), width):
                out += name(record[i]) + b"\0"
                record[i] = 0
        out += struct.pack(f"<{len(record)}I", *record)
    return bytes(out)


def _symbols(obj: ObjectFile) -> list[tuple[bytes, int, int, int]]:
    """(name, info, shndx, value) per symbol table entry."""
    symtab, strtab = obj.section_data(".symtab") or b"", obj.section_data(".strtab") or b""
    out = []
    for off in range(0, len(symtab) - _SYM.size + 1, _SYM.size):
        st_name, info, _, shndx, value, _ = _SYM.unpack_from(symtab, off)
        end = strtab.find(b"\0", st_name)
        out.append((strtab[st_name:end], info, shndx, value))
    return out


def _relocations(
    obj: ObjectFile, section: str, lo: int, hi: int, symbols: list[tuple[bytes, int, int, int]]
) -> bytes:
    """Relocations of `section` in [lo, hi) bytes, offsets relative to lo, symbols by name."""
    rel = obj.section_data(f".rel{section}") or b""
    out = bytearray()
    for off in range(0, len(rel) - _REL.size + 1, _REL.size):
        r_offset, r_info = _REL.unpack_from(rel, off)
        if not lo <= r_offset < hi:
            continue
        sym = r_info >> 32
        name, info, shndx, value = symbols[sym] if sym < len(symbols) else (b"?", 0, 0, 0)
        out += struct.pack("<QI", r_offset - lo, r_info & 0xFFFFFFFF)
        out += name + struct.pack("<BHQ", info, shndx, value)
    return bytes(out)


def _lines_in(ext: BTFExt | None, section: str, fn: Function | None) -> list[LineInfo]:
    if ext is None:
        return []
    infos = ext.line_info.get(section, [])
    if fn is None:
        return list(infos)
    return [li for li in infos if fn.start <= li.insn_off < fn.start + fn.count]


def program_keys(
    obj: ObjectFile, ext: BTFExt | None, settings: Iterable[object]
) -> dict[str, ProgramKey]:
    """A key per program of the object; {} when the object cannot be keyed (no BTF)."""
    if obj.btf is None:
        return {}
    try:
        types = _names_resolved_types(obj.btf)
    except (BTFError, struct.error, ValueError, IndexError):
        return {}
    symbols = _symbols(obj)
    shared = hashlib.sha256(types)
    for item in settings:
        shared.update(repr(item).encode() + b"\0")
    for name in obj.section_names:
        is_code = any(f.section == name for f in obj.functions)
        if name in _IGNORED or name.startswith((".debug", ".rel")) or is_code:
            continue
        shared.update(name.encode() + b"\0" + (obj.section_data(name) or b""))
    text = obj.section_data(TEXT) or b""
    shared.update(text + _relocations(obj, TEXT, 0, len(text), symbols))
    text_lines = _lines_in(ext, TEXT, None)
    keys: dict[str, ProgramKey] = {}
    for fn in obj.programs:
        h = shared.copy()
        lo, hi = fn.start * 8, (fn.start + fn.count) * 8
        h.update(f"\0{fn.name}\0{fn.section}\0".encode() + fn.insns)
        h.update(_relocations(obj, fn.section, lo, hi, symbols))
        if ext is not None:
            for fi in ext.func_info.get(fn.section, []):
                if lo <= fi.insn_off * 8 < hi:
                    h.update(f"f{fi.insn_off - fn.start}:{fi.type_id}:{fi.name}\0".encode())
            for cr in ext.core_relos.get(fn.section, []):
                if lo <= cr.insn_off * 8 < hi:
                    h.update(
                        f"c{cr.insn_off - fn.start}:{cr.type_id}:{cr.access}:{cr.kind}\0".encode()
                    )
            for cr in ext.core_relos.get(TEXT, []):
                h.update(f"t{cr.insn_off}:{cr.type_id}:{cr.access}:{cr.kind}\0".encode())
        lines = _lines_in(ext, fn.section, fn)
        for li in lines:
            h.update(f"l{li.insn_off - fn.start}:{li.file}:{li.col}:{li.text}\0".encode())
        for li in text_lines:
            h.update(f"t{li.insn_off}:{li.file}:{li.col}:{li.text}\0".encode())
        where = tuple((li.file, li.line) for li in (*lines, *text_lines))
        keys[fn.name] = ProgramKey(h.hexdigest(), where)
    return keys


def _moved(text: str, mapping: dict[tuple[str, int], int]) -> str:
    def sub(m: re.Match[str]) -> str:
        new = mapping.get((os.path.basename(m.group(2)), int(m.group(3))))
        return m.group(0) if new is None else f"{m.group(1)}{new}"

    return _NOTE_LINE.sub(sub, text)


def replace_lines(
    result: ProgramResult, old: tuple[tuple[str, int], ...], new: tuple[tuple[str, int], ...]
) -> ProgramResult:
    """The stored result with its source notes moved from the old lines to the current ones."""
    mapping = {(os.path.basename(f), a): b for (f, a), (_, b) in zip(old, new, strict=True)}
    if all(k[1] == v for k, v in mapping.items()):
        return result
    messages = tuple(
        dataclasses.replace(m, text=_moved(m.text, mapping)) for m in result.libbpf_messages
    )
    return dataclasses.replace(result, log=_moved(result.log, mapping), libbpf_messages=messages)


class VerifyCache:
    """Results by program key, least recently used dropped first."""

    def __init__(self, capacity: int = 512) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: ProgramKey) -> ProgramResult | None:
        with self._lock:
            entry = self._entries.get(key.digest)
            if entry is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key.digest)
            self.hits += 1
        return replace_lines(entry.result, entry.lines, key.lines)

    def put(self, key: ProgramKey, result: ProgramResult) -> None:
        with self._lock:
            self._entries[key.digest] = _Entry(result, key.lines)
            self._entries.move_to_end(key.digest)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)


CACHE = VerifyCache()


def verify_cached(
    data: bytes,
    obj: ObjectFile | None,
    ext: BTFExt | None,
    *,
    cache: VerifyCache = CACHE,
    on_program: Callable[[int, int], None] | None = None,
    **options: Any,
) -> ObjectResult:
    """`verify_object(data, **options)` for the programs whose key has no stored result; the
    others come from the cache, re-placed on the current lines. `on_program(done, total)`
    reports progress as programs finish."""
    # Everything passed to the loader can change a verdict, except how many run at once.
    settings = sorted((k, v) for k, v in options.items() if k != "jobs")
    keys = program_keys(obj, ext, settings) if obj is not None else {}
    if not keys:
        return verify_object(data, **options)
    cached = {name: r for name, key in keys.items() if (r := cache.get(key)) is not None}
    misses = [name for name in keys if name not in cached]
    total, done = len(keys), len(cached)
    if on_program is not None:
        on_program(done, total)
    lock = threading.Lock()

    def finished(_: ProgramResult) -> None:
        nonlocal done
        with lock:
            done += 1
            now = done
        if on_program is not None:
            on_program(now, total)

    # Even with every program cached, open the object once: its open error and placeholders
    # are the object's own, and that costs a few milliseconds without touching the verifier.
    fresh = verify_object(data, programs=misses, on_program=finished, **options)
    if fresh.open_error is not None or fresh.btf_rejected:
        return fresh  # object-wide trouble: nothing cached is trusted here
    for r in fresh.programs:
        key = keys.get(r.name)
        if key is not None and not r.object_wide:
            cache.put(key, r)
    by_name = {r.name: r for r in fresh.programs} | cached
    order = [name for name in keys if name in by_name]
    return dataclasses.replace(fresh, programs=tuple(by_name[name] for name in order))


def cached_object(
    obj: ObjectFile | None,
    ext: BTFExt | None,
    verify: Callable[[], ObjectResult],
    *,
    settings: Iterable[object],
    cache: VerifyCache = CACHE,
) -> ObjectResult:
    """For a verifier that loads every program of the object each time (a guest kernel's
    loader, targets/vm.py): the stored results, re-placed on the current lines, when every
    program has one; else `verify()`, whose results are stored. `settings` name the verifier
    and everything else its verdict depends on (its kernel, log level, rodata patches)."""
    keys = program_keys(obj, ext, ["whole object", *settings]) if obj is not None else {}
    if keys:
        hits = {name: r for name, key in keys.items() if (r := cache.get(key)) is not None}
        if len(hits) == len(keys):
            return ObjectResult(tuple(hits[name] for name in keys), False, "", None)
    fresh = verify()
    if not keys or fresh.open_error is not None or fresh.btf_rejected:
        return fresh  # object-wide trouble: not kept
    if {r.name for r in fresh.programs} == set(keys) and not any(
        r.object_wide for r in fresh.programs
    ):
        for r in fresh.programs:
            cache.put(keys[r.name], r)
    return fresh
