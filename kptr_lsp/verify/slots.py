"""Prog-array slots that name the object's own programs, dropped before libbpf opens it.

The libbpf idiom `struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __array(values, ...); }
jmp_table SEC(".maps") = { .values = { [0] = &handle_ipv4 } };` becomes relocations in
`.rel.maps` against the programs' symbols. After loading the programs, libbpf writes each
program's fd into its slot (`init_prog_array_slots`). We load one program per object, so the
other programs have no fd (-2), the update fails with EBADF and libbpf fails the whole load
(`map 'jmp_table': failed to initialize slot [0] to prog 'handle_ipv4' fd=-2: -9`) although
the kernel accepted the program. The verifier never reads a prog array's contents (a tail
call into an empty slot just falls through), so the slots are not needed to verify anything:
dropping those relocations makes libbpf create the map empty, in every libbpf version.

Map-in-map slots (`.values = { &inner_map }`) are kept: libbpf fills them when it creates the
maps, before any program loads, and that works whichever programs load.
"""

from __future__ import annotations

import io
import struct

from elftools.common.exceptions import ELFError
from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

MAPS_SECTION = ".maps"  # libbpf's BTF-defined maps (MAPS_ELF_SEC)
# Its relocations' section name, as the section-name string table holds it (NUL-terminated)
_REL_MAPS = b".rel.maps\0"
_SHDR_SIZE_OFFSET = 32  # Elf64_Shdr: name, type (4+4), flags, addr, offset (8 each), size
_REL_SIZE = 16  # Elf64_Rel: r_offset, r_info


def without_program_slots(data: bytes) -> bytes:
    """`data` with the `.rel.maps` relocations that put programs into prog-array slots
    removed; `data` itself when it has none (or is not an ELF64 object we can read: libbpf
    then reports the problem itself)."""
    if _REL_MAPS not in data:  # no section of that name: nothing to strip (the usual case)
        return data
    try:
        return _strip(data)
    except (ELFError, ValueError, KeyError, IndexError, struct.error, AttributeError):
        return data


def _strip(data: bytes) -> bytes:
    elf = ELFFile(io.BytesIO(data))
    if elf.elfclass != 64:
        return data
    maps_index = next(
        (i for i, s in enumerate(elf.iter_sections()) if s.name == MAPS_SECTION), None
    )
    symtab = elf.get_section_by_name(".symtab")
    if maps_index is None or not isinstance(symtab, SymbolTableSection):
        return data
    executable = {
        i for i, s in enumerate(elf.iter_sections()) if s["sh_flags"] & SH_FLAGS.SHF_EXECINSTR
    }
    order = "<" if elf.little_endian else ">"
    rel = struct.Struct(order + "QQ")
    out: bytearray | None = None
    for index, section in enumerate(elf.iter_sections()):
        if section["sh_type"] != "SHT_REL" or section["sh_info"] != maps_index:
            continue
        if section["sh_entsize"] != _REL_SIZE:
            continue
        start, size = section["sh_offset"], section["sh_size"]
        entries = [rel.unpack_from(data, start + k) for k in range(0, size, _REL_SIZE)]
        kept = [e for e in entries if not _names_program(symtab, e[1] >> 32, executable)]
        if len(kept) == len(entries):
            continue
        out = bytearray(data) if out is None else out
        for k, entry in enumerate(kept):
            rel.pack_into(out, start + k * _REL_SIZE, *entry)
        header = elf["e_shoff"] + index * elf["e_shentsize"]
        struct.pack_into(order + "Q", out, header + _SHDR_SIZE_OFFSET, len(kept) * _REL_SIZE)
    return bytes(out) if out is not None else data


def _names_program(symtab: SymbolTableSection, sym_index: int, executable: set[int]) -> bool:
    symbol = symtab.get_symbol(sym_index)
    shndx = symbol["st_shndx"]
    return isinstance(shndx, int) and shndx in executable
