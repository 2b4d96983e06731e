"""`const volatile` globals: the read-only configuration a project's userspace sets before load.

clang places them in `.rodata` (or a `.rodata.*` section), one ELF symbol each whose value is
the offset in that section; the section's bytes are their defaults. The verifier sees .rodata
as constant, so the values decide which branches it explores.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection


@dataclass(frozen=True)
class ConstGlobal:
    name: str
    section: str  # ".rodata" or a custom ".rodata.*" section
    offset: int
    size: int
    default: bytes

    def default_value(self) -> int:
        return int.from_bytes(self.default, "little")


def read_const_globals(data: bytes) -> tuple[ConstGlobal, ...]:
    """Every named data object in the object's .rodata sections, in section order."""
    try:
        elf = ELFFile(io.BytesIO(data))
        symtab = elf.get_section_by_name(".symtab")
        if not isinstance(symtab, SymbolTableSection):
            return ()
        found: list[ConstGlobal] = []
        for sym in symtab.iter_symbols():
            shndx = sym["st_shndx"]
            if sym["st_info"]["type"] != "STT_OBJECT" or not isinstance(shndx, int):
                continue
            section = elf.get_section(shndx)
            # String literals live in .rodata.str*.* and have no symbol of their own.
            if not section.name.startswith(".rodata") or section["sh_type"] != "SHT_PROGBITS":
                continue
            offset, size = int(sym["st_value"]), int(sym["st_size"])
            # "fn.____fmt" and the like are bpf_printk() format strings, not configuration.
            if not sym.name or "." in sym.name or size <= 0:
                continue
            default = section.data()[offset : offset + size]
            found.append(ConstGlobal(sym.name, section.name, offset, size, default))
    except (ELFError, KeyError, IndexError, ValueError):
        return ()
    return tuple(sorted(found, key=lambda g: (g.section, g.offset)))


def override_bytes(g: ConstGlobal, value: int) -> bytes:
    """`value` in the variable's size, little-endian (BPF's byte order on this host);
    negative values in two's complement. Raises OverflowError when it does not fit."""
    if value < 0:
        value += 1 << (8 * g.size)
    return value.to_bytes(g.size, "little")
