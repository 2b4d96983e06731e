""".BTF.ext: per-section func_info, line_info and CO-RE relocation records.

In the ELF object, record offsets are byte offsets into the section; we report instruction
indexes (offset // 8) within the section, which is what Function.start uses. Strings (file
names, source lines, section names) live in the .BTF string table, hence the Spec argument.
"""

from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass, field

from . import wire
from .errors import BTFError
from .spec import Spec

INSN_SIZE = 8


@dataclass(frozen=True)
class FuncInfo:
    insn_off: int  # instruction index within the section
    type_id: int  # a Func
    name: str


@dataclass(frozen=True)
class LineInfo:
    insn_off: int  # instruction index within the section
    file: str
    line: int
    col: int  # 1-based as clang emits it; 0 when unknown
    text: str  # the source line as clang saw it


@dataclass(frozen=True)
class CoreRelo:
    insn_off: int  # instruction index within the section
    type_id: int  # the local root type of the access
    access: str  # access string, e.g. "0:1:0"
    kind: int  # enum bpf_core_relo_kind


@dataclass(frozen=True)
class BTFExt:
    func_info: dict[str, list[FuncInfo]]  # keyed by ELF section name
    line_info: dict[str, list[LineInfo]]
    core_relos: dict[str, list[CoreRelo]] = field(default_factory=dict)


def parse_ext(data: bytes, spec: Spec) -> BTFExt:
    """Parse .BTF.ext against the object's .BTF; raises BTFError naming the area and record."""
    try:
        header = wire.parse_ext_header(data)
    except BTFError as e:
        raise BTFError(f"section .BTF.ext: {e}") from e
    except (struct.error, ValueError, IndexError) as e:
        raise BTFError(f"section .BTF.ext: header: {e}") from e
    func_info: dict[str, list[FuncInfo]] = {}
    line_info: dict[str, list[LineInfo]] = {}
    core_relos: dict[str, list[CoreRelo]] = {}
    areas = (
        ("func_info", header.func_info_off, header.func_info_len, wire.FUNC_INFO_MIN_SIZE),
        ("line_info", header.line_info_off, header.line_info_len, wire.LINE_INFO_MIN_SIZE),
        ("core_relo", header.core_relo_off, header.core_relo_len, wire.CORE_RELO_MIN_SIZE),
    )
    for area, off, length, min_size in areas:
        where = f"section .BTF.ext: {area}"
        try:
            blocks = wire.parse_info_blocks(data, header, off, length, min_size)
        except BTFError as e:
            raise BTFError(f"{where}: {e}") from e
        except (struct.error, ValueError, IndexError) as e:
            raise BTFError(f"{where}: {e}") from e
        for b, block in enumerate(blocks):
            try:
                section = spec.string(block.sec_name_off)
            except BTFError as e:
                raise BTFError(f"{where}: section block {b}: name: {e}") from e
            for r, rec in enumerate(block.records):
                try:
                    if area == "func_info":
                        func_info.setdefault(section, []).append(_func_info(rec, spec))
                    elif area == "line_info":
                        line_info.setdefault(section, []).append(_line_info(rec, spec))
                    else:
                        core_relos.setdefault(section, []).append(_core_relo(rec, spec))
                except BTFError as e:
                    raise BTFError(f"{where}: section {section!r}: record {r}: {e}") from e
    for infos in line_info.values():
        infos.sort(key=lambda li: li.insn_off)
    return BTFExt(func_info, line_info, core_relos)


def _insn(byte_off: int) -> int:
    if byte_off % INSN_SIZE:
        raise BTFError(f"insn_off {byte_off} is not a multiple of {INSN_SIZE}")
    return byte_off // INSN_SIZE


def _func_info(rec: tuple[int, ...], spec: Spec) -> FuncInfo:
    insn_off, type_id = rec[0], rec[1]
    func = spec.type_by_id(type_id)
    if func.kind != wire.Kind.FUNC:
        raise BTFError(f"type id {type_id} is a {func.kind.name}, not a FUNC")
    return FuncInfo(_insn(insn_off), type_id, func.name)


def _line_info(rec: tuple[int, ...], spec: Spec) -> LineInfo:
    insn_off, file_off, line_off, line_col = rec[0], rec[1], rec[2], rec[3]
    return LineInfo(
        insn_off=_insn(insn_off),
        file=spec.string(file_off),
        line=line_col >> 10,
        col=line_col & 0x3FF,
        text=spec.string(line_off),
    )


def _core_relo(rec: tuple[int, ...], spec: Spec) -> CoreRelo:
    insn_off, type_id, access_off, kind = rec[0], rec[1], rec[2], rec[3]
    spec.type_by_id(type_id)  # range check, with the id in the message
    return CoreRelo(_insn(insn_off), type_id, spec.string(access_off), kind)


def line_for(infos: list[LineInfo], insn_off: int) -> LineInfo | None:
    """The line_info in effect at `insn_off`: the last one at or before it (infos sorted)."""
    i = bisect.bisect_right(infos, insn_off, key=lambda li: li.insn_off)
    return infos[i - 1] if i else None
