"""What the kernel gets from a compile, compared across ways of compiling the same file: the
programs' instructions and maps byte for byte; BTF types and .BTF.ext records with type ids
resolved (a PCH numbers the same types apart)."""

from __future__ import annotations

import collections
import dataclasses
import os
from typing import Any

from kptr_lsp.btf.ext import parse_ext
from kptr_lsp.btf.spec import Spec
from kptr_lsp.btf.types import Type
from kptr_lsp.elf.objfile import ObjectFile
from kptr_lsp.toolchain.compile import CompileResult


def _canonical(value: Any, spec: Spec, depth: int = 0) -> Any:
    """A BTF type (or member, parameter, section variable) with every type id replaced by
    the type it names: a named type by its kind and name, an anonymous one by its whole
    shape. Two objects whose BTF holds the same types (in any order) give the same."""
    if isinstance(value, Type) and depth and value.name:
        return (type(value).__name__, value.name)
    if isinstance(value, tuple):
        return tuple(_canonical(v, spec, depth) for v in value)
    if not dataclasses.is_dataclass(value) or depth > 30:
        return value
    out: list[Any] = [type(value).__name__]
    for f in dataclasses.fields(value):
        if f.name in ("id", "_r"):
            continue
        item = getattr(value, f.name)
        if f.name.endswith("_id"):
            item = _canonical(spec.type_by_id(item), spec, depth + 1)
        else:
            item = _canonical(item, spec, depth + 1)
        out.append((f.name, item))
    return tuple(out)


def what_the_kernel_gets(result: CompileResult) -> tuple[object, ...]:
    """The programs' instructions and maps byte for byte; the object's BTF types and its
    .BTF.ext records (function and line info, CO-RE relocations) with type ids resolved. The
    ids themselves are numbered in the order clang's debug info reached the types, which a
    PCH changes (its declarations are read back lazily): the same types, numbered apart.
    Line info names a project header `DIR/./x.h` in a plain compile from stdin, `DIR/x.h`
    from a PCH: the same file."""
    assert result.obj is not None
    obj = ObjectFile.parse(result.obj)
    assert obj.btf is not None and obj.btf_ext is not None
    spec = Spec.parse(obj.btf)
    ext = parse_ext(obj.btf_ext, spec)

    def ref(type_id: int) -> Any:
        return _canonical(spec.type_by_id(type_id), spec, 1)

    records = {
        section: (
            [(f.insn_off, f.name, ref(f.type_id)) for f in ext.func_info.get(section, [])],
            [
                (line.insn_off, os.path.normpath(line.file), line.line, line.col, line.text)
                for line in ext.line_info.get(section, [])
            ],
            [
                (r.insn_off, ref(r.type_id), r.access, r.kind)
                for r in ext.core_relos.get(section, [])
            ],
        )
        for section in sorted({*ext.func_info, *ext.line_info, *ext.core_relos})
    }
    types = collections.Counter(repr(_canonical(t, spec)) for t in spec)
    return (
        [(f.name, f.insns) for f in obj.programs],
        obj.section_data(".maps"),
        types,
        records,
    )
