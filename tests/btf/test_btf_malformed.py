"""Malformed objects fail with ObjectError/BTFError saying where, never with anything else."""

from __future__ import annotations

import contextlib
import random
import struct

import pytest
from btf_sample import Sample

from kptr_lsp.btf import BTFError, ObjectError, Spec, parse_ext, size_of, wire
from kptr_lsp.btf.types import Ptr, Struct, TypeTag
from kptr_lsp.elf import ObjectFile

CASES = 300
INTERESTING = (0, 1, 7, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x10000)


def _mutate(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    choice = rng.randrange(4)
    if choice == 0:  # truncate
        return bytes(buf[: rng.randrange(len(buf))])
    if choice == 1:  # flip a few bytes
        for _ in range(rng.randint(1, 8)):
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
        return bytes(buf)
    # overwrite an aligned u32 with an edge value (headers, ids, offsets, counts)
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(0, len(buf) - 3) & ~3
        struct.pack_into("<I", buf, at, rng.choice(INTERESTING))
    if choice == 3:
        buf.extend(rng.randbytes(rng.randrange(1, 64)))
    return bytes(buf)


def _use_spec(spec: Spec) -> None:
    """Do what callers do with a Spec; anything malformed must surface as BTFError."""
    for t in spec:
        spec.resolve(t)
        spec.decl_tags(t)
        with contextlib.suppress(BTFError):  # sizeless kinds (func, fwd, void) by contract
            size_of(t)
    spec.types_by_name("kl_val")
    spec.kfuncs()


def _check_btf(btf: bytes, ext: bytes | None) -> None:
    spec = Spec.parse(btf)
    _use_spec(spec)
    if ext is not None:
        parse_ext(ext, spec)


def test_mutated_btf_raises_only_btf_error(sample: Sample) -> None:
    assert sample.obj.btf is not None and sample.obj.btf_ext is not None
    rng = random.Random(0xB7F)
    failures = 0
    for _ in range(CASES):
        try:
            _check_btf(_mutate(sample.obj.btf, rng), sample.obj.btf_ext)
        except BTFError:
            failures += 1
    assert failures > CASES // 10, "mutations should break a fair share of inputs"


def test_mutated_btf_ext_raises_only_btf_error(sample: Sample) -> None:
    assert sample.obj.btf_ext is not None
    rng = random.Random(0xE47)
    failures = 0
    for _ in range(CASES):
        try:
            parse_ext(_mutate(sample.obj.btf_ext, rng), sample.spec)
        except BTFError as e:
            assert str(e).startswith("section .BTF.ext: ")
            failures += 1
    assert failures > CASES // 10


def test_mutated_object_raises_only_object_error(sample: Sample) -> None:
    rng = random.Random(0x0B1)
    for _ in range(CASES):
        mutated = _mutate(sample.raw, rng)
        try:
            obj = ObjectFile.parse(mutated)
            spec = obj.btf_spec()
            if spec is not None:
                _use_spec(spec)
                if obj.btf_ext is not None:
                    parse_ext(obj.btf_ext, spec)
        except ObjectError:
            pass


def test_bad_magic_is_named() -> None:
    with pytest.raises(BTFError, match="bad magic 0x1234"):
        Spec.parse(b"\x34\x12" + bytes(30))
    with pytest.raises(BTFError, match="too short"):
        Spec.parse(b"\x9f\xeb\x01")


def test_truncated_type_section_names_the_record(sample: Sample) -> None:
    assert sample.obj.btf is not None
    header = wire.parse_header(sample.obj.btf)
    cut = bytearray(sample.obj.btf)
    # Claim fewer type bytes than the records need: the last record is cut in half.
    struct.pack_into("<I", cut, 12, header.type_len - 8)
    with pytest.raises(BTFError, match=r"type record \d+ \(\w+\): runs past|truncated header"):
        Spec.parse(bytes(cut))


def test_dangling_type_reference_names_the_type(sample: Sample) -> None:
    spec, btf = sample.spec, bytearray(sample.obj.btf or b"")
    ptr = next(t for t in spec if isinstance(t, Ptr) and isinstance(t.type, TypeTag))
    header = wire.parse_header(bytes(btf))
    offsets, _ = wire.scan_types(wire.type_words(bytes(btf), header))
    offset = header.hdr_len + header.type_off + offsets[ptr.id - 1] * 4
    struct.pack_into("<I", btf, offset + 8, 0xFFFF)  # btf_type.type
    with pytest.raises(BTFError, match=rf"type id {ptr.id} \(PTR\): target: type id 65535 out"):
        Spec.parse(bytes(btf))


def test_line_info_bad_string_names_section_and_record(sample: Sample) -> None:
    ext = bytearray(sample.obj.btf_ext or b"")
    header = wire.parse_ext_header(bytes(ext))
    area = header.hdr_len + header.line_info_off
    (rec_size,) = struct.unpack_from("<I", ext, area)
    name_off, count = struct.unpack_from("<II", ext, area + 4)
    assert count > 3, "the first line_info block needs 4 records"
    section = sample.spec.string(name_off)
    record3 = area + 12 + 3 * rec_size
    struct.pack_into("<I", ext, record3 + 8, 0x7FFFFFF0)  # line_off
    with pytest.raises(BTFError) as info:
        parse_ext(bytes(ext), sample.spec)
    assert str(info.value).startswith(
        f"section .BTF.ext: line_info: section {section!r}: record 3: string offset 2147483632"
    )


def test_split_btf_continues_base_ids_and_strings(sample: Sample) -> None:
    base = sample.spec
    node = base.find("kl_node", Struct)
    assert node is not None
    base_strlen = wire.parse_header(sample.obj.btf or b"").str_len
    strings = b"kl_mod\0head\0"
    first = len(base)
    types = struct.pack(
        "<IIIIII",
        # [first] STRUCT kl_mod size 8 vlen 1, member "head" of type [first + 1]
        base_strlen,
        (wire.Kind.STRUCT << 24) | 1,
        8,
        base_strlen + 7,
        first + 1,
        0,
    ) + struct.pack("<III", 0, wire.Kind.PTR << 24, node.id)  # [first + 1] PTR → base kl_node
    hdr = struct.pack(
        "<HBBIIIII", wire.BTF_MAGIC, 1, 0, 24, 0, len(types), len(types), len(strings)
    )
    split = Spec.parse(hdr + types + strings, base=base)
    assert len(split) == first + 2
    mod = split.find("kl_mod", Struct)
    assert isinstance(mod, Struct) and mod.id == first
    head = mod.members[0]
    assert head.name == "head"
    assert isinstance(head.type, Ptr) and head.type.type is node
    assert split.types_by_name("kl_node") == [node]
    assert split.string(0) == "" and split.string(base_strlen) == "kl_mod"
