"""The BTF and .BTF.ext wire formats: headers, kinds, and the raw type records.

Everything here is about bytes; nothing knows about the public type model in `types.py`.
Layouts follow include/uapi/linux/btf.h and libbpf's libbpf_internal.h (struct btf_ext_header).
Both byte orders are accepted: the magic tells which one the producer used.
"""

from __future__ import annotations

import struct
import sys
from array import array
from dataclasses import dataclass
from enum import IntEnum

from .errors import BTFError

BTF_MAGIC = 0xEB9F
BTF_VERSION = 1

# struct btf_header: magic u16, version u8, flags u8, hdr_len, type_off, type_len, str_off,
# str_len (all u32); section offsets are relative to the end of the header.
_BTF_HEADER = "HBBIIIII"
BTF_HEADER_SIZE = struct.calcsize("<" + _BTF_HEADER)

# struct btf_ext_header: magic, version, flags, hdr_len, func_info_off/len, line_info_off/len,
# and (newer) core_relo_off/len.
_EXT_HEADER = "HBBIIIII"
EXT_HEADER_MIN_SIZE = struct.calcsize("<" + _EXT_HEADER)
EXT_HEADER_CORE_SIZE = EXT_HEADER_MIN_SIZE + 8

# Record sizes (bytes) of the .BTF.ext info kinds; producers may use larger records.
FUNC_INFO_MIN_SIZE = 8  # insn_off, type_id
LINE_INFO_MIN_SIZE = 16  # insn_off, file_name_off, line_off, line_col
CORE_RELO_MIN_SIZE = 16  # insn_off, type_id, access_str_off, kind

# Limits the kernel enforces too; they keep a hostile object from making us spin.
MAX_VLEN = 0xFFFF
MAX_RESOLVE_DEPTH = 32


class Kind(IntEnum):
    UNKN = 0  # only type id 0 (void) has it; a record of this kind is malformed
    INT = 1
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12
    FUNC_PROTO = 13
    VAR = 14
    DATASEC = 15
    FLOAT = 16
    DECL_TAG = 17
    TYPE_TAG = 18
    ENUM64 = 19


# u32 words that follow the 3-word struct btf_type: (fixed, per vlen entry).
_TRAILER_WORDS: dict[int, tuple[int, int]] = {
    Kind.INT: (1, 0),
    Kind.PTR: (0, 0),
    Kind.ARRAY: (3, 0),  # struct btf_array
    Kind.STRUCT: (0, 3),  # struct btf_member
    Kind.UNION: (0, 3),
    Kind.ENUM: (0, 2),  # struct btf_enum
    Kind.FWD: (0, 0),
    Kind.TYPEDEF: (0, 0),
    Kind.VOLATILE: (0, 0),
    Kind.CONST: (0, 0),
    Kind.RESTRICT: (0, 0),
    Kind.FUNC: (0, 0),
    Kind.FUNC_PROTO: (0, 2),  # struct btf_param
    Kind.VAR: (1, 0),  # struct btf_var
    Kind.DATASEC: (0, 3),  # struct btf_var_secinfo
    Kind.FLOAT: (0, 0),
    Kind.DECL_TAG: (1, 0),  # struct btf_decl_tag
    Kind.TYPE_TAG: (0, 0),
    Kind.ENUM64: (0, 3),  # struct btf_enum64
}


def kind_name(kind: int) -> str:
    try:
        return Kind(kind).name
    except ValueError:
        return f"kind {kind}"


def as_s32(value: int) -> int:
    return value - (1 << 32) if value & 0x80000000 else value


@dataclass(frozen=True)
class Header:
    byteorder: str  # struct prefix, "<" or ">"
    version: int
    flags: int
    hdr_len: int
    type_off: int
    type_len: int
    str_off: int
    str_len: int


def _byteorder(data: bytes, what: str) -> str:
    if len(data) < 2:
        raise BTFError(f"{what}: {len(data)} bytes is too short for a header")
    (magic,) = struct.unpack_from("<H", data)
    if magic == BTF_MAGIC:
        return "<"
    if magic == 0x9FEB:
        return ">"
    raise BTFError(f"{what}: bad magic {magic:#06x} (want {BTF_MAGIC:#06x})")


def parse_header(data: bytes) -> Header:
    order = _byteorder(data, "header")
    if len(data) < BTF_HEADER_SIZE:
        raise BTFError(f"header: {len(data)} bytes is too short (need {BTF_HEADER_SIZE})")
    _, version, flags, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(
        order + _BTF_HEADER, data
    )
    if version != BTF_VERSION:
        raise BTFError(f"header: unsupported version {version}")
    if hdr_len < BTF_HEADER_SIZE or hdr_len > len(data):
        raise BTFError(f"header: hdr_len {hdr_len} out of range (data is {len(data)} bytes)")
    body = len(data) - hdr_len
    for name, off, length in (("types", type_off, type_len), ("strings", str_off, str_len)):
        if off + length > body:
            raise BTFError(
                f"header: {name} [{off}, {off + length}) run past the end ({body} bytes)"
            )
    if type_off % 4:
        raise BTFError(f"header: type_off {type_off} is not 4-byte aligned")
    if type_len % 4:
        raise BTFError(f"header: type_len {type_len} is not a multiple of 4")
    return Header(order, version, flags, hdr_len, type_off, type_len, str_off, str_len)


def type_words(data: bytes, header: Header) -> array[int]:
    """The type section as native u32 words (byte-swapped if the producer's order differs)."""
    start = header.hdr_len + header.type_off
    words = array("I")
    if words.itemsize != 4:  # pragma: no cover - every CPython we run on has 4-byte "I"
        raise BTFError("this Python has no 4-byte unsigned array type")
    words.frombytes(data[start : start + header.type_len])
    native = "<" if sys.byteorder == "little" else ">"
    if header.byteorder != native:
        words.byteswap()
    return words


def scan_types(words: array[int]) -> tuple[array[int], bytearray]:
    """Walk the variable-length type records once: the word offset and kind of each.

    Only layout is checked here (known kind, record inside the section); references and
    strings are checked when a record is inflated, so a lazy kernel Spec stays cheap.
    """
    offsets = array("I")
    kinds = bytearray()
    trailers = _TRAILER_WORDS
    total = len(words)
    i = 0
    while i < total:
        n = len(offsets) + 1
        if i + 3 > total:
            raise BTFError(f"type record {n}: truncated header at byte {i * 4}")
        info = words[i + 1]
        kind = (info >> 24) & 0x1F
        shape = trailers.get(kind)
        if shape is None:
            raise BTFError(f"type record {n}: unknown {kind_name(kind)} at byte {i * 4}")
        end = i + 3 + shape[0] + shape[1] * (info & 0xFFFF)
        if end > total:
            raise BTFError(f"type record {n} ({kind_name(kind)}): runs past the type section")
        offsets.append(i)
        kinds.append(kind)
        i = end
    return offsets, kinds


@dataclass(frozen=True)
class ExtHeader:
    byteorder: str
    version: int
    flags: int
    hdr_len: int
    func_info_off: int
    func_info_len: int
    line_info_off: int
    line_info_len: int
    core_relo_off: int
    core_relo_len: int


def parse_ext_header(data: bytes) -> ExtHeader:
    order = _byteorder(data, "header")
    if len(data) < EXT_HEADER_MIN_SIZE:
        raise BTFError(f"header: {len(data)} bytes is too short (need {EXT_HEADER_MIN_SIZE})")
    _, version, flags, hdr_len, fi_off, fi_len, li_off, li_len = struct.unpack_from(
        order + _EXT_HEADER, data
    )
    if version != BTF_VERSION:
        raise BTFError(f"header: unsupported version {version}")
    if hdr_len < EXT_HEADER_MIN_SIZE or hdr_len > len(data):
        raise BTFError(f"header: hdr_len {hdr_len} out of range (data is {len(data)} bytes)")
    cr_off = cr_len = 0
    if hdr_len >= EXT_HEADER_CORE_SIZE:
        cr_off, cr_len = struct.unpack_from(order + "II", data, EXT_HEADER_MIN_SIZE)
    body = len(data) - hdr_len
    for name, off, length in (
        ("func_info", fi_off, fi_len),
        ("line_info", li_off, li_len),
        ("core_relo", cr_off, cr_len),
    ):
        if off + length > body:
            raise BTFError(
                f"header: {name} [{off}, {off + length}) runs past the end ({body} bytes)"
            )
    return ExtHeader(order, version, flags, hdr_len, fi_off, fi_len, li_off, li_len, cr_off, cr_len)


@dataclass(frozen=True)
class InfoBlock:
    """One `btf_ext_info_sec`: the records of one ELF section, each as a tuple of u32s."""

    sec_name_off: int
    records: list[tuple[int, ...]]


def parse_info_blocks(
    data: bytes, header: ExtHeader, off: int, length: int, min_size: int
) -> list[InfoBlock]:
    """Split one .BTF.ext info area (u32 record_size, then per-section blocks) into records.

    Only the first `min_size` bytes of each record are decoded; the rest is a newer producer's
    extension, skipped the way libbpf does.
    """
    if length == 0:
        return []
    start = header.hdr_len + off
    end = start + length
    order = header.byteorder
    if length < 4:
        raise BTFError(f"{length} bytes is too short for the record size")
    (rec_size,) = struct.unpack_from(order + "I", data, start)
    if rec_size < min_size or rec_size % 4:
        raise BTFError(f"record size {rec_size} is invalid (want >= {min_size}, 4-aligned)")
    fmt = struct.Struct(order + "I" * (min_size // 4))
    blocks: list[InfoBlock] = []
    pos = start + 4
    while pos < end:
        where = f"section block {len(blocks)}"
        if pos + 8 > end:
            raise BTFError(f"{where}: truncated block header")
        sec_name_off, count = struct.unpack_from(order + "II", data, pos)
        pos += 8
        if count == 0:
            raise BTFError(f"{where}: has no records")
        if count * rec_size > end - pos:
            raise BTFError(f"{where}: {count} records of {rec_size} bytes run past the end")
        records = [fmt.unpack_from(data, pos + k * rec_size) for k in range(count)]
        pos += count * rec_size
        blocks.append(InfoBlock(sec_name_off, records))
    return blocks
