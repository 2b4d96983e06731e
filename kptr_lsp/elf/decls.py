"""Where things are declared, from the object's DWARF and relocations.

BTF carries no source positions for maps, functions or struct members; DWARF does
(DW_AT_decl_file/decl_line). Diagnostics that are about a declaration rather than an
instruction (a map that could not be created, a program the kernel will not load here, a badly
tagged kptr field) are placed with this. Relocations tell where a program calls an extern
(a kfunc that the kernel lacks).
"""

from __future__ import annotations

import functools
import io
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection
from elftools.elf.sections import SymbolTableSection

from ..findings import Location
from . import dies

# Headers whose declarations nobody wants to be pointed at and that are huge to walk.
_SKIP_MEMBER_FILES = ("vmlinux.h",)


@dataclass
class _Tables:
    variables: dict[str, Location] = field(default_factory=dict)
    functions: dict[str, Location] = field(default_factory=dict)
    # (struct name, member name) → where the member is declared
    members: dict[tuple[str, str], Location] = field(default_factory=dict)
    # struct name → where the struct is declared
    structs: dict[str, Location] = field(default_factory=dict)


K = TypeVar("K")


class _LazyTable(Mapping[K, Location]):
    """One table of a Declarations, read from DWARF the first time anyone looks into it."""

    def __init__(self, load: Callable[[], dict[K, Location]]) -> None:
        self._load = load

    def __getitem__(self, key: K) -> Location:
        return self._load()[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


class Declarations:
    """Where the object's variables, functions, structs and members are declared.

    Read from DWARF on first use: the DWARF of an object that includes vmlinux.h holds ~30k
    entries (~25 ms to walk with elf/dies.py, ~0.5 s with pyelftools), and most analyses
    (every program loads, no tag problem) never ask for a declaration line.
    """

    def __init__(self, data: bytes | None = None) -> None:
        self._data = data
        self._tables: _Tables | None = None if data is not None else _Tables()
        self._lock = threading.Lock()
        self.variables: Mapping[str, Location] = _LazyTable(lambda: self._read().variables)
        self.functions: Mapping[str, Location] = _LazyTable(lambda: self._read().functions)
        self.members: Mapping[tuple[str, str], Location] = _LazyTable(lambda: self._read().members)
        self.structs: Mapping[str, Location] = _LazyTable(lambda: self._read().structs)

    def _read(self) -> _Tables:
        with self._lock:
            if self._tables is None:
                self._tables = _read_tables(self._data or b"")
                self._data = None
            return self._tables

    def read_in_background(self, checkpoint: Callable[[], None]) -> None:
        """Read the tables now, off the critical path: `checkpoint` is called first and every
        ~16 KB of DWARF, and may wait (the walk is pure Python and holds the GIL: a save arriving
        meanwhile would wait for it) or raise to abandon the walk, which leaves the tables to
        be read on first use. No lock is held while walking, so a reader that needs them at
        once reads them itself rather than waiting for a paused walk."""
        with self._lock:
            if self._tables is not None:
                return
            data = self._data or b""
        checkpoint()
        tables = _read_tables(data, checkpoint)
        with self._lock:
            if self._tables is None:
                self._tables = tables
                self._data = None


def _attr(die: Any, name: str) -> Any:
    attr = die.attributes.get(name)
    return None if attr is None else attr.value


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def read_declarations(data: bytes) -> Declarations:
    """Declarations of the object's CUs (read when first used); no DWARF gives empty tables."""
    return Declarations(data)


_RECORDED = frozenset(
    {"DW_TAG_variable", "DW_TAG_subprogram", "DW_TAG_structure_type", "DW_TAG_union_type"}
)


def _read_tables(data: bytes, checkpoint: Callable[[], None] | None = None) -> _Tables:
    try:
        return _read_tables_fast(data, checkpoint)
    except (dies.Unsupported, ELFError, LookupError, ValueError, AttributeError, TypeError):
        return _read_tables_pyelftools(data)  # the same tables, ~20x slower: unusual DWARF


def _read_tables_fast(data: bytes, checkpoint: Callable[[], None] | None = None) -> _Tables:
    """`_read_tables_pyelftools`, skipping the entries nobody reads (see elf/dies.py)."""
    decls = _Tables()
    elf = ELFFile(io.BytesIO(data))
    if not elf.has_dwarf_info():
        return decls
    dwarf = elf.get_dwarf_info(relocate_dwarf_sections=False)
    for cu in dwarf.iter_CUs():
        files = _file_table(dwarf, cu)
        wanted = functools.partial(_wants_members, files)
        top = cu.get_top_DIE()
        for entry in dies.top_level_entries(dwarf, cu, top, _RECORDED, wanted, checkpoint):
            _record(entry, files, decls)
    return decls


def _wants_members(files: list[str], entry: dies.Entry) -> bool:
    """Whether `_record` reads this struct's members (so the walk must collect them)."""
    name, loc = _attr(entry, "DW_AT_name"), _location(entry, files)
    return bool(name) and loc is not None and not _skips_members(loc)


def _read_tables_pyelftools(data: bytes) -> _Tables:
    decls = _Tables()
    try:
        elf = ELFFile(io.BytesIO(data))
        if not elf.has_dwarf_info():
            return decls
        # BPF objects use REL relocations against section symbols (value 0), so the DWARF
        # offsets in place are already right; pyelftools applying ~12k of them costs seconds.
        dwarf = elf.get_dwarf_info(relocate_dwarf_sections=False)
        for cu in dwarf.iter_CUs():
            files = _file_table(dwarf, cu)
            top = cu.get_top_DIE()
            for die in top.iter_children():
                _record(die, files, decls)
    except (ELFError, KeyError, IndexError, ValueError, AttributeError, TypeError):
        # Malformed DWARF must not stop the analysis: positions are a nicety here.
        return decls
    return decls


def _skips_members(loc: Location) -> bool:
    return os.path.basename(loc.file) in _SKIP_MEMBER_FILES


def _file_table(dwarf: Any, cu: Any) -> list[str]:
    lp = dwarf.line_program_for_CU(cu)
    if lp is None:
        return []
    dirs = [_text(d) for d in lp["include_directory"]]
    comp_dir = _text(_attr(cu.get_top_DIE(), "DW_AT_comp_dir") or "")
    if lp.header.version < 5:
        # Before v5 directory 0 is the compilation directory, and the table starts at 1.
        dirs.insert(0, comp_dir)
    names: list[str] = []
    for entry in lp["file_entry"]:
        name = _text(entry.name)
        if not os.path.isabs(name):
            idx = entry.dir_index
            base = dirs[idx] if 0 <= idx < len(dirs) else comp_dir
            if not os.path.isabs(base):
                base = os.path.join(comp_dir, base)
            name = os.path.normpath(os.path.join(base, name))
        names.append(name)
    # DWARF < 5 numbers files from 1; v5 from 0. Either way DW_AT_decl_file indexes this list
    # once a placeholder is put in front for the older versions.
    if lp.header.version < 5:
        names.insert(0, comp_dir)
    return names


def _location(die: Any, files: list[str]) -> Location | None:
    line = _attr(die, "DW_AT_decl_line")
    idx = _attr(die, "DW_AT_decl_file")
    if line is None or idx is None or not 0 <= idx < len(files):
        return None
    return Location(files[idx], int(line), int(_attr(die, "DW_AT_decl_column") or 0))


def _record(die: Any, files: list[str], decls: _Tables) -> None:
    name_value = _attr(die, "DW_AT_name")
    name = _text(name_value) if name_value is not None else None
    loc = _location(die, files)
    if die.tag == "DW_TAG_variable" and name and loc:
        decls.variables.setdefault(name, loc)
    elif die.tag == "DW_TAG_subprogram" and name and loc:
        decls.functions.setdefault(name, loc)
    elif die.tag in ("DW_TAG_structure_type", "DW_TAG_union_type") and name and loc:
        if _skips_members(loc):
            return
        decls.structs.setdefault(name, loc)
        for member in die.iter_children():
            if member.tag != "DW_TAG_member":
                continue
            mname = _attr(member, "DW_AT_name")
            mloc = _location(member, files)
            if mname is not None and mloc is not None:
                decls.members.setdefault((name, _text(mname)), mloc)


@dataclass(frozen=True)
class SymbolUse:
    section: str  # the code section holding the instruction
    insn_off: int  # instruction index within that section


def symbol_uses(data: bytes, symbol: str) -> list[SymbolUse]:
    """Instructions that reference `symbol` through a relocation (calls to externs, map refs)."""
    uses: list[SymbolUse] = []
    try:
        elf = ELFFile(io.BytesIO(data))
        for sec in elf.iter_sections():
            if not isinstance(sec, RelocationSection):
                continue
            target = elf.get_section(sec["sh_info"])
            if not target["sh_flags"] & 0x4:  # SHF_EXECINSTR: only code sections
                continue
            symtab = elf.get_section(sec["sh_link"])
            if not isinstance(symtab, SymbolTableSection):
                continue
            for rel in sec.iter_relocations():
                sym = symtab.get_symbol(rel["r_info_sym"])
                if sym is not None and sym.name == symbol:
                    uses.append(SymbolUse(target.name, rel["r_offset"] // 8))
    except (ELFError, KeyError, IndexError, ValueError, AttributeError, TypeError):
        return uses
    return uses
