"""A BPF ELF object as the rest of kptr-lsp needs it: functions, programs, maps, raw sections.

pyelftools does the ELF parsing; everything is read once in `ObjectFile.parse`, inside one
try block, because pyelftools reads lazily and raises many exception types on garbage. Any of
them becomes an ObjectError, so a broken object yields one clear diagnostic.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from ..btf.errors import BTFError, ObjectError
from ..btf.spec import Spec
from ..btf.types import Datasec, Var

__all__ = ["Function", "MapDef", "ObjectError", "ObjectFile", "Undefined"]

INSN_SIZE = 8
SHF_EXECINSTR = 0x4
EM_BPF = 247
TEXT = ".text"
MAPS = ".maps"
LEGACY_MAPS = "maps"


@dataclass(frozen=True)
class Function:
    name: str
    section: str  # ELF section name, e.g. "xdp", "tp/syscalls/sys_enter_open", ".text"
    start: int  # first instruction index within the section
    count: int  # number of 8-byte instructions
    is_global: bool
    insns: bytes = field(repr=False)  # as in the ELF, before relocation

    @property
    def is_program(self) -> bool:
        # libbpf: every FUNC in an executable section other than .text is a program entry.
        return self.section != TEXT


@dataclass(frozen=True)
class Undefined:
    """A symbol the object uses and does not define (an extern)."""

    name: str
    local: bool  # STB_LOCAL
    function: bool  # STT_FUNC


@dataclass(frozen=True)
class MapDef:
    name: str
    section: str  # ".maps" (BTF-defined) or "maps" (legacy struct bpf_map_def)
    # For ".maps": the BTF id of the map's definition struct (the VAR's type), when the
    # object's BTF describes it; None for legacy maps or when BTF is missing/broken.
    type_id: int | None


def _machine_number(machine: object) -> int | None:
    # pyelftools gives a name like "EM_BPF" for known machines and the raw number otherwise.
    if isinstance(machine, int):
        return machine
    return EM_BPF if machine == "EM_BPF" else None


class ObjectFile:
    """A parsed BPF object. Build with `ObjectFile.parse(data)`."""

    def __init__(
        self,
        *,
        sections: dict[str, bytes],
        functions: list[Function],
        map_symbols: list[tuple[str, str]],
        undefined: tuple[Undefined, ...] = (),
    ) -> None:
        self._sections = sections
        self.functions = functions
        self.undefined = undefined
        self.programs = [f for f in functions if f.is_program]
        self.btf: bytes | None = sections.get(".BTF")
        self.btf_ext: bytes | None = sections.get(".BTF.ext")
        lic = sections.get("license")
        self.license: str | None = (
            lic.split(b"\0", 1)[0].decode("utf-8", "replace") if lic is not None else None
        )
        self._spec: Spec | None = None
        self._spec_error: BTFError | None = None
        self.maps = self._map_defs(map_symbols)

    @classmethod
    def parse(cls, data: bytes) -> ObjectFile:
        """Parse an ELF BPF object; raises ObjectError if it is not one or is malformed."""
        try:
            return cls._parse(data)
        except ObjectError:
            raise
        except Exception as e:  # pyelftools raises ELFError, struct.error, ValueError, ...
            raise ObjectError(f"malformed ELF object: {type(e).__name__}: {e}") from e

    @classmethod
    def _parse(cls, data: bytes) -> ObjectFile:
        if data[:4] != b"\x7fELF":
            raise ObjectError("not an ELF object (bad magic)")
        elf = ELFFile(io.BytesIO(data))
        machine = elf["e_machine"]
        if _machine_number(machine) != EM_BPF:
            raise ObjectError(f"not a BPF object (machine {machine})")
        sections: dict[str, bytes] = {}
        names: list[str] = []
        code: dict[int, bytes] = {}  # by index: section names need not be unique
        for index, sec in enumerate(elf.iter_sections()):
            names.append(sec.name)
            if sec["sh_type"] == "SHT_NOBITS":
                continue
            data = sec.data()
            if sec["sh_flags"] & SHF_EXECINSTR:
                code[index] = data
            sections.setdefault(sec.name, data)
        functions: list[tuple[int, Function]] = []
        map_symbols: list[tuple[int, int, str, str]] = []
        undefined: list[Undefined] = []
        symtab = elf.get_section_by_name(".symtab")
        symbols = symtab.iter_symbols() if isinstance(symtab, SymbolTableSection) else ()
        for sym in symbols:
            shndx = sym["st_shndx"]
            if shndx == "SHN_UNDEF" and sym.name:
                info = sym["st_info"]
                undefined.append(
                    Undefined(sym.name, info["bind"] == "STB_LOCAL", info["type"] == "STT_FUNC")
                )
            if not isinstance(shndx, int) or not 0 < shndx < len(names):
                continue  # SHN_UNDEF/ABS/COMMON: externs and the like
            sym_type = sym["st_info"]["type"]
            section = names[shndx]
            if sym_type == "STT_FUNC" and shndx in code:
                functions.append((shndx, cls._function(sym, section, code[shndx])))
            elif sym_type == "STT_OBJECT" and section in (MAPS, LEGACY_MAPS):
                map_symbols.append((shndx, sym["st_value"], sym.name, section))
        functions.sort(key=lambda f: (f[0], f[1].start))
        map_symbols.sort()
        return cls(
            sections=sections,
            functions=[f for _, f in functions],
            map_symbols=[(name, section) for _, _, name, section in map_symbols],
            undefined=tuple(undefined),
        )

    @staticmethod
    def _function(sym: Any, section: str, data: bytes) -> Function:
        name: str = sym.name
        value: int = sym["st_value"]
        size: int = sym["st_size"]
        bind: str = sym["st_info"]["bind"]
        where = f"section {section}: function {name}"
        if value % INSN_SIZE or size % INSN_SIZE:
            raise ObjectError(f"{where}: offset {value}/size {size} not instruction-aligned")
        if value + size > len(data):
            raise ObjectError(f"{where}: [{value}, {value + size}) past section end {len(data)}")
        return Function(
            name=name,
            section=section,
            start=value // INSN_SIZE,
            count=size // INSN_SIZE,
            is_global=bind in ("STB_GLOBAL", "STB_WEAK"),
            insns=bytes(data[value : value + size]),
        )

    def _map_defs(self, map_symbols: list[tuple[str, str]]) -> list[MapDef]:
        var_types: dict[str, int] = {}
        if any(section == MAPS for _, section in map_symbols):
            try:
                spec = self.btf_spec()
            except BTFError:
                spec = None  # reported by whoever needs the BTF; maps still get names
            datasec = spec.find(MAPS, Datasec) if spec is not None else None
            if isinstance(datasec, Datasec):
                for secinfo in datasec.vars:
                    var = secinfo.var
                    if isinstance(var, Var):
                        var_types[var.name] = var.type_id
        return [
            MapDef(name, section, var_types.get(name) if section == MAPS else None)
            for name, section in map_symbols
        ]

    def btf_spec(self) -> Spec | None:
        """The object's .BTF parsed (eagerly, once); None without .BTF; BTFError if broken."""
        if self.btf is None:
            return None
        if self._spec_error is not None:
            raise self._spec_error
        if self._spec is None:
            try:
                self._spec = Spec.parse(self.btf)
            except BTFError as e:
                self._spec_error = BTFError(f"section .BTF: {e}")
                raise self._spec_error from e
        return self._spec

    def section_data(self, name: str) -> bytes | None:
        return self._sections.get(name)

    @property
    def section_names(self) -> list[str]:
        return list(self._sections)
