"""What a project's userspace does between open and load, done for verification.

Real loaders size maps at run time (`max_entries` 0, a stack-trace map's value size from a
command-line depth) and set `const volatile` globals before load. Without the same step the
kernel refuses to create those maps (EINVAL) and no program of the object gets verified. We
give such maps a small placeholder and write the workspace's rodata overrides, through the same
libbpf calls a skeleton's user would make.

One step is ours, not the project's: `weaken_externs` binds the kfunc externs this kernel
lacks weak, so libbpf loads the programs that never call them instead of failing the whole
object on the first one it cannot resolve (see verify/externs.py).
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection
from elftools.elf.sections import SymbolTableSection

from kptr_lsp.kernel.uapi import MapType
from kptr_lsp.verify.libbpf import Libbpf

# enum bpf_map_type values whose kernel check refuses max_entries 0. Types that require 0
# (local storages, cgroup storage, struct_ops) or that libbpf sizes itself (perf event array:
# one entry per CPU) are left alone.
_SIZED_BY_MAX_ENTRIES = frozenset(
    {
        MapType.HASH,
        MapType.ARRAY,
        MapType.PROG_ARRAY,
        MapType.PERCPU_HASH,
        MapType.PERCPU_ARRAY,
        MapType.STACK_TRACE,
        MapType.CGROUP_ARRAY,
        MapType.LRU_HASH,
        MapType.LRU_PERCPU_HASH,
        MapType.LPM_TRIE,
        MapType.ARRAY_OF_MAPS,
        MapType.HASH_OF_MAPS,
        MapType.DEVMAP,
        MapType.SOCKMAP,
        MapType.CPUMAP,
        MapType.XSKMAP,
        MapType.SOCKHASH,
        MapType.QUEUE,
        MapType.STACK,
        MapType.DEVMAP_HASH,
        MapType.RINGBUF,
        MapType.BLOOM_FILTER,
        MapType.USER_RINGBUF,
    }
)
PLACEHOLDER_ENTRIES = 1
# bpf_get_stackid() stores up to PERF_MAX_STACK_DEPTH (127) u64 frames; tools set
# depth * 8 at run time.
PLACEHOLDER_STACK_VALUE_SIZE = 127 * 8
STACK_KEY_SIZE = 4  # the kernel accepts only a u32 stack id as key


@dataclass(frozen=True)
class Placeholder:
    """A map attribute the object left for its userspace to set, and what we used instead."""

    map_name: str
    attribute: str  # "max_entries", "key_size" or "value_size"
    value: int


@dataclass(frozen=True)
class DataPatch:
    """Bytes written into a global-data section (".rodata") before load."""

    section: str
    offset: int
    data: bytes


def placeholders_for(
    map_type: int, max_entries: int, key_size: int, value_size: int
) -> list[tuple[str, int]]:
    """(attribute, value) pairs a map needs before the kernel will create it."""
    out: list[tuple[str, int]] = []
    if max_entries == 0 and map_type in _SIZED_BY_MAX_ENTRIES:
        ring = map_type in (MapType.RINGBUF, MapType.USER_RINGBUF)
        # A ring buffer must be a power-of-two number of pages: one page is the smallest.
        out.append(("max_entries", os.sysconf("SC_PAGE_SIZE") if ring else PLACEHOLDER_ENTRIES))
    if map_type == MapType.STACK_TRACE:
        if key_size == 0:
            out.append(("key_size", STACK_KEY_SIZE))
        if value_size == 0:
            out.append(("value_size", PLACEHOLDER_STACK_VALUE_SIZE))
    return out


def prepare(lib: Libbpf, obj: int, patches: Iterable[DataPatch] = ()) -> list[Placeholder]:
    """Give runtime-sized maps of the open object `obj` placeholders and apply `patches`.
    Returns the placeholders used; a setter libbpf refuses is skipped (the load then says why)."""
    used: list[Placeholder] = []
    wanted = list(patches)
    setters = {
        "max_entries": lib.set_map_max_entries,
        "key_size": lib.set_map_key_size,
        "value_size": lib.set_map_value_size,
    }
    for m in lib.maps(obj):
        name = lib.map_name(m)
        needed = placeholders_for(
            lib.map_type(m), lib.map_max_entries(m), lib.map_key_size(m), lib.map_value_size(m)
        )
        for attribute, value in needed:
            if setters[attribute](m, value) == 0:
                used.append(Placeholder(name, attribute, value))
        mine = [p for p in wanted if _holds_section(name, p.section)]
        if mine:
            _patch(lib, m, mine)
    return used


def _holds_section(map_name: str, section: str) -> bool:
    # libbpf names internal maps "<object name prefix><section>", e.g. "prog.rodata".
    if not map_name.endswith(section):
        return False
    return "." not in map_name[: len(map_name) - len(section)]


def _patch(lib: Libbpf, m: int, patches: list[DataPatch]) -> None:
    current = lib.map_initial_value(m)
    if current is None:
        return
    data = bytearray(current)
    for p in patches:
        if p.offset + len(p.data) <= len(data):
            data[p.offset : p.offset + len(p.data)] = p.data
    lib.set_map_initial_value(m, bytes(data))


# Elf64_Sym: st_name (4 bytes), then st_info, whose high nibble is the binding.
_ST_INFO_OFFSET = 4
STB_GLOBAL = 1
STB_WEAK = 2


def weaken_externs(data: bytes, names: Collection[str]) -> bytes:
    """The object `data` with its undefined global symbols named in `names` bound weak, as if
    declared `__weak`: libbpf then resolves a missing one to nothing instead of failing the
    object (it decides weakness by the ELF binding alone; BTF says `extern` either way).
    Unparseable input comes back unchanged."""
    if not names:
        return data
    out = bytearray(data)
    try:
        elf = ELFFile(io.BytesIO(data))
        symtab = elf.get_section_by_name(".symtab")
        if not isinstance(symtab, SymbolTableSection):
            return data
        base, size = symtab["sh_offset"], symtab["sh_entsize"]
        for index, sym in enumerate(symtab.iter_symbols()):
            if sym["st_shndx"] != "SHN_UNDEF" or sym.name not in names:
                continue
            at = base + index * size + _ST_INFO_OFFSET
            if out[at] >> 4 == STB_GLOBAL:
                out[at] = (STB_WEAK << 4) | (out[at] & 0xF)
    except (ELFError, LookupError, ValueError, TypeError, AttributeError):
        return data
    return bytes(out)


def with_patches(data: bytes, patches: Iterable[DataPatch]) -> bytes:
    """The object `data` with `patches` written into its sections' bytes: for a loader that
    takes no patches (the guest's, targets/guest_loader.c). A global-data map's initial value
    is its section's bytes, so the kernel sees what `prepare` would have set. A patch outside
    its section, or unparseable input, is left out."""
    wanted = list(patches)
    if not wanted:
        return data
    out = bytearray(data)
    try:
        elf = ELFFile(io.BytesIO(data))
        for p in wanted:
            sec = elf.get_section_by_name(p.section)
            if sec is None or sec["sh_type"] != "SHT_PROGBITS":
                continue
            if p.offset >= 0 and p.offset + len(p.data) <= sec["sh_size"]:
                at = sec["sh_offset"] + p.offset
                out[at : at + len(p.data)] = p.data
    except (ELFError, LookupError, ValueError, TypeError, AttributeError):
        return data
    return bytes(out)


_SH_SIZE_OFFSET = 32  # Elf64_Shdr: sh_name, sh_type (4 each), sh_flags, sh_addr, sh_offset (8 each)


def detach_struct_ops(data: bytes, programs: Collection[str]) -> bytes:
    """The object `data` with `programs` taken out of its struct_ops maps (their slots left
    NULL): libbpf loads every program of a struct_ops map with the map, so one that cannot load
    would fail the others. Drops the slots' relocations; unparseable input comes back as is."""
    if not programs:
        return data
    out = bytearray(data)
    try:
        elf = ELFFile(io.BytesIO(data))
        order = "<" if elf.little_endian else ">"
        for index, sec in enumerate(elf.iter_sections()):
            if not isinstance(sec, RelocationSection) or not sec.name.startswith(".rel.struct_ops"):
                continue
            symtab = elf.get_section(sec["sh_link"])
            if not isinstance(symtab, SymbolTableSection):
                continue
            size = sec["sh_entsize"]
            entries = [
                (data[sec["sh_offset"] + i * size : sec["sh_offset"] + (i + 1) * size], rel)
                for i, rel in enumerate(sec.iter_relocations())
            ]
            kept = [
                raw
                for raw, rel in entries
                if symtab.get_symbol(rel["r_info_sym"]).name not in programs
            ]
            if len(kept) == len(entries):
                continue
            start = sec["sh_offset"]
            out[start : start + len(kept) * size] = b"".join(kept)
            header = elf["e_shoff"] + index * elf["e_shentsize"] + _SH_SIZE_OFFSET
            out[header : header + 8] = struct.pack(f"{order}Q", len(kept) * size)
    except (ELFError, LookupError, ValueError, TypeError, AttributeError, struct.error):
        return data
    return bytes(out)
