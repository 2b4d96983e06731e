"""A parsed BTF blob: type lookup by id and name, modifier stripping, decl tags, kfuncs.

Parsing scans the type section once (offset and kind of each record) and inflates records into
`types.py` objects on demand, one object per id. `Spec.parse` inflates everything up front, so
a malformed object fails at parse time; `Spec.load_kernel` stays lazy because the kernel has
~100k types and a caller usually needs a handful. Name and decl-tag indexes are built on first
use. Split BTF (kernel modules) continues the base's type ids and string offsets.
"""

from __future__ import annotations

import struct
import time
from array import array
from collections.abc import Container, Iterator

from . import wire
from .errors import BTFError
from .types import (
    Array,
    Composite,
    Const,
    Datasec,
    DeclTag,
    Enum,
    Enum64,
    EnumValue,
    Float,
    Func,
    FuncParam,
    FuncProto,
    Fwd,
    Int,
    Linkage,
    Member,
    Ptr,
    Restrict,
    Struct,
    Type,
    Typedef,
    TypeTag,
    Union,
    Var,
    VarSecinfo,
    Void,
    Volatile,
)
from .wire import Kind, as_s32, kind_name

KFUNC_TAG = "bpf_kfunc"


class Spec:
    """Types of one BTF blob (plus its base for split BTF), indexed by id."""

    def __init__(
        self,
        *,
        words: array[int],
        offsets: array[int],
        kinds: bytearray,
        strings: bytes,
        base: Spec | None,
    ) -> None:
        self._words = words
        self._offsets = offsets
        self._kinds = kinds
        self._strings = strings
        self._base = base
        # Ids below first_id and string offsets below str_base belong to the base.
        self._first_id = len(base) if base is not None else 1
        self._str_base = base._str_end if base is not None else 0
        self._str_end: int = self._str_base + len(strings)
        self._cache: list[Type | None] = [None] * len(offsets)
        self._str_cache: dict[int, str] = {}
        self._void = Void(id=0, name="", _r=self)
        self._by_name: dict[str, list[int]] | None = None
        self._tags_by_target: dict[int, list[int]] | None = None
        self.parse_seconds = 0.0  # how long parse/load took, for reporting

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def parse(cls, data: bytes, base: Spec | None = None, *, lazy: bool = False) -> Spec:
        """Parse a .BTF blob; raises BTFError (with where) on any malformation.

        With lazy=False every type is inflated now, so later lookups cannot fail.
        """
        started = time.perf_counter()
        try:
            header = wire.parse_header(data)
            words = wire.type_words(data, header)
            offsets, kinds = wire.scan_types(words)
            start = header.hdr_len + header.str_off
            strings = bytes(data[start : start + header.str_len])
        except BTFError:
            raise
        except (struct.error, ValueError, IndexError, OverflowError) as e:
            raise BTFError(f"malformed BTF: {e}") from e
        if base is None and strings[:1] != b"\0":
            raise BTFError("string section: does not start with the empty string")
        if strings and strings[-1:] != b"\0":
            raise BTFError("string section: last string is not NUL-terminated")
        spec = cls(words=words, offsets=offsets, kinds=kinds, strings=strings, base=base)
        if not lazy:
            for type_id in range(spec._first_id, len(spec)):
                spec.type_by_id(type_id)
        spec.parse_seconds = time.perf_counter() - started
        return spec

    @classmethod
    def load_kernel(cls, path: str, base: Spec | None = None) -> Spec:
        """The running kernel's BTF (or a module's, given the vmlinux Spec as base), lazily."""
        started = time.perf_counter()
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as e:
            raise BTFError(f"{path}: {e.strerror or e}") from e
        try:
            spec = cls.parse(data, base, lazy=True)
        except BTFError as e:
            raise BTFError(f"{path}: {e}") from e
        spec.parse_seconds = time.perf_counter() - started
        return spec

    # -- lookup -------------------------------------------------------------------------------

    def __len__(self) -> int:
        """Number of type ids, void included: valid ids are range(len(spec))."""
        return self._first_id + len(self._offsets)

    def __iter__(self) -> Iterator[Type]:
        for type_id in range(len(self)):
            yield self.type_by_id(type_id)

    @property
    def base(self) -> Spec | None:
        return self._base

    def type_by_id(self, type_id: int) -> Type:
        if type_id == 0:
            return self._void if self._base is None else self._base.type_by_id(0)
        if type_id < self._first_id:
            if self._base is None or type_id < 0:
                raise BTFError(f"type id {type_id} out of range")
            return self._base.type_by_id(type_id)
        local = type_id - self._first_id
        if local >= len(self._offsets):
            raise BTFError(f"type id {type_id} out of range (have {len(self)})")
        cached = self._cache[local]
        if cached is None:
            try:
                cached = self._inflate(type_id, local)
            except BTFError as e:
                kind = kind_name(self._kinds[local])
                raise BTFError(f"type id {type_id} ({kind}): {e}") from e
            self._cache[local] = cached
        return cached

    def string(self, offset: int) -> str:
        if offset < self._str_base:
            if self._base is None or offset < 0:
                raise BTFError(f"string offset {offset} out of range")
            return self._base.string(offset)
        cached = self._str_cache.get(offset)
        if cached is not None:
            return cached
        local = offset - self._str_base
        if local >= len(self._strings):
            raise BTFError(f"string offset {offset} out of range (table ends at {self._str_end})")
        end = self._strings.find(b"\0", local)
        if end < 0:  # pragma: no cover - parse() checks the table ends with NUL
            raise BTFError(f"string at offset {offset} is not NUL-terminated")
        text = self._strings[local:end].decode("utf-8", "replace")
        self._str_cache[offset] = text
        return text

    def types_by_name(self, name: str) -> list[Type]:
        """All types called `name` (base types first for split BTF)."""
        if self._by_name is None:
            self._by_name = self._build_name_index()
        found = self._base.types_by_name(name) if self._base is not None else []
        found.extend(self.type_by_id(i) for i in self._by_name.get(name, ()))
        return found

    def find(self, name: str, cls: type[Type] = Type) -> Type | None:
        """The first type called `name` that is an instance of `cls`, if any."""
        for t in self.types_by_name(name):
            if isinstance(t, cls):
                return t
        return None

    def resolve(self, t: Type) -> Type:
        """Strip typedef/const/volatile/restrict; type tags are kept (they carry meaning)."""
        for _ in range(wire.MAX_RESOLVE_DEPTH):
            if not isinstance(t, Typedef | Volatile | Const | Restrict):
                return t
            t = t.type
        raise BTFError(f"type id {t.id}: more than {wire.MAX_RESOLVE_DEPTH} modifiers deep")

    def names_of(self, kinds: Container[int]) -> set[str]:
        """The names of this blob's own types of these kinds, read without inflating them."""
        words = self._words
        return {
            self.string(words[off])
            for off, kind in zip(self._offsets, self._kinds, strict=True)
            if kind in kinds and words[off]
        }

    def decl_tags(self, target: Type) -> list[DeclTag]:
        """Decl tags naming `target` (on the type itself or one of its members/params)."""
        if self._tags_by_target is None:
            index: dict[int, list[int]] = {}
            for local, kind in enumerate(self._kinds):
                if kind == Kind.DECL_TAG:
                    tag_target = self._words[self._offsets[local] + 2]
                    index.setdefault(tag_target, []).append(local + self._first_id)
            self._tags_by_target = index
        found = self._base.decl_tags(target) if self._base is not None else []
        for type_id in self._tags_by_target.get(target.id, ()):
            tag = self.type_by_id(type_id)
            assert isinstance(tag, DeclTag)
            found.append(tag)
        return found

    def kfuncs(self) -> list[Func]:
        """FUNCs carrying a whole-function `bpf_kfunc` decl tag, in type id order."""
        found = self._base.kfuncs() if self._base is not None else []
        seen: set[int] = set()
        for local, kind in enumerate(self._kinds):
            if kind != Kind.DECL_TAG:
                continue
            tag = self.type_by_id(local + self._first_id)
            assert isinstance(tag, DeclTag)
            if tag.value != KFUNC_TAG or tag.component_idx != -1 or tag.type_id in seen:
                continue
            func = tag.type
            if isinstance(func, Func):
                seen.add(func.id)
                found.append(func)
        found.sort(key=lambda f: f.id)
        return found

    # -- internals ----------------------------------------------------------------------------

    def _build_name_index(self) -> dict[str, list[int]]:
        index: dict[str, list[int]] = {}
        words, first = self._words, self._first_id
        for local, off in enumerate(self._offsets):
            name_off = words[off]
            if name_off:
                index.setdefault(self.string(name_off), []).append(local + first)
        return index

    def _id(self, type_id: int, what: str) -> int:
        if type_id >= len(self):
            raise BTFError(f"{what}: type id {type_id} out of range (have {len(self)})")
        return type_id

    def _inflate(self, type_id: int, local: int) -> Type:
        """The Type of one wire record: its header read here, its kind's trailer by a helper."""
        w = self._words
        off = self._offsets[local]
        name_off, info, size_type = w[off], w[off + 1], w[off + 2]
        kind = self._kinds[local]
        vlen = info & 0xFFFF
        kflag = bool(info >> 31)
        name = self.string(name_off)
        t = off + 3  # first trailer word
        if kind == Kind.INT:
            return self._int(type_id, name, size_type, w[t])
        if kind in _REF_KINDS:
            return _REF_KINDS[kind](
                id=type_id, name=name, _r=self, type_id=self._id(size_type, "target")
            )
        if kind == Kind.TYPE_TAG:
            return TypeTag(
                id=type_id,
                name=name,
                _r=self,
                type_id=self._id(size_type, "target"),
                is_attr=kflag,
            )
        if kind == Kind.ARRAY:
            return Array(
                id=type_id,
                name=name,
                _r=self,
                elem_id=self._id(w[t], "array element"),
                index_id=self._id(w[t + 1], "array index"),
                nelems=w[t + 2],
            )
        if kind in (Kind.STRUCT, Kind.UNION):
            return self._composite(type_id, name, size_type, vlen, kflag, t, kind)
        if kind in (Kind.ENUM, Kind.ENUM64):
            return self._enum(type_id, name, size_type, vlen, kflag, t, kind)
        if kind == Kind.FWD:
            return Fwd(id=type_id, name=name, _r=self, is_union=kflag)
        if kind == Kind.FUNC:
            return self._func(type_id, name, size_type, vlen)
        if kind == Kind.FUNC_PROTO:
            return self._func_proto(type_id, name, size_type, vlen, t)
        if kind == Kind.VAR:
            return self._var(type_id, name, size_type, w[t])
        if kind == Kind.DATASEC:
            return self._datasec(type_id, name, size_type, vlen, t)
        if kind == Kind.FLOAT:
            if size_type not in (2, 4, 8, 12, 16):
                raise BTFError(f"float: invalid size {size_type}")
            return Float(id=type_id, name=name, _r=self, size=size_type)
        if kind == Kind.DECL_TAG:
            return self._decl_tag(type_id, name, size_type, kflag, w[t])
        raise BTFError(f"unexpected {kind_name(kind)}")  # pragma: no cover - scan rejects these

    def _int(self, type_id: int, name: str, size: int, enc: int) -> Int:
        bits = enc & 0xFF
        if size not in (1, 2, 4, 8, 16) or bits > size * 8:
            raise BTFError(f"int: size {size} with {bits} bits is invalid")
        return Int(
            id=type_id,
            name=name,
            _r=self,
            size=size,
            encoding=(enc >> 24) & 0xF,
            bit_offset=(enc >> 16) & 0xFF,
            bits=bits,
        )

    def _func(self, type_id: int, name: str, proto: int, linkage: int) -> Func:
        """A FUNC's vlen is its linkage; its type must be a FUNC_PROTO (in this Spec or the
        base it splits from)."""
        if linkage > Linkage.EXTERN:
            raise BTFError(f"func: unknown linkage {linkage}")
        proto_id = self._id(proto, "prototype")
        if proto_id < self._first_id:
            base_kind = self.type_by_id(proto_id).kind
        else:
            base_kind = Kind(self._kinds[proto_id - self._first_id])
        if base_kind != Kind.FUNC_PROTO:
            raise BTFError(f"func: prototype {proto_id} is a {base_kind.name}")
        return Func(id=type_id, name=name, _r=self, proto_id=proto_id, linkage=Linkage(linkage))

    def _func_proto(self, type_id: int, name: str, ret: int, vlen: int, t: int) -> FuncProto:
        w = self._words
        params = []
        for i in range(vlen):
            p = t + 2 * i
            params.append(
                FuncParam(
                    name=self.string(w[p]),
                    type_id=self._id(w[p + 1], f"param {i}"),
                    _r=self,
                )
            )
        # A trailing nameless void parameter marks "...".
        variadic = bool(params) and params[-1].type_id == 0 and not params[-1].name
        if variadic:
            params.pop()
        return FuncProto(
            id=type_id,
            name=name,
            _r=self,
            return_id=self._id(ret, "return type"),
            params=tuple(params),
            variadic=variadic,
        )

    def _var(self, type_id: int, name: str, var_type: int, linkage: int) -> Var:
        if linkage > Linkage.EXTERN:
            raise BTFError(f"var: unknown linkage {linkage}")
        return Var(
            id=type_id,
            name=name,
            _r=self,
            type_id=self._id(var_type, "var type"),
            linkage=Linkage(linkage),
        )

    def _datasec(self, type_id: int, name: str, size: int, vlen: int, t: int) -> Datasec:
        w = self._words
        secinfos = []
        for i in range(vlen):
            p = t + 3 * i
            secinfos.append(
                VarSecinfo(
                    type_id=self._id(w[p], f"var {i}"), offset=w[p + 1], size=w[p + 2], _r=self
                )
            )
        return Datasec(id=type_id, name=name, _r=self, size=size, vars=tuple(secinfos))

    def _decl_tag(self, type_id: int, name: str, tagged: int, kflag: bool, idx: int) -> DeclTag:
        if not name:
            raise BTFError("decl tag: empty value")
        return DeclTag(
            id=type_id,
            name=name,
            _r=self,
            type_id=self._id(tagged, "tagged type"),
            component_idx=as_s32(idx),
            is_attr=kflag,
        )

    def _composite(
        self, type_id: int, name: str, size: int, vlen: int, kflag: bool, t: int, kind: int
    ) -> Composite:
        w = self._words
        members = []
        for i in range(vlen):
            p = t + 3 * i
            offset = w[p + 2]
            # kind_flag: offset packs bitfield_size (high 8 bits) and bit offset (low 24).
            bitfield_size, bit_offset = (offset >> 24, offset & 0xFFFFFF) if kflag else (0, offset)
            members.append(
                Member(
                    name=self.string(w[p]),
                    type_id=self._id(w[p + 1], f"member {i}"),
                    offset_bits=bit_offset,
                    bitfield_size=bitfield_size,
                    _r=self,
                )
            )
        cls = Struct if kind == Kind.STRUCT else Union
        return cls(id=type_id, name=name, _r=self, size=size, members=tuple(members))

    def _enum(
        self, type_id: int, name: str, size: int, vlen: int, kflag: bool, t: int, kind: int
    ) -> Type:
        w = self._words
        values = []
        if kind == Kind.ENUM:
            for i in range(vlen):
                raw = w[t + 2 * i + 1]
                values.append(EnumValue(self.string(w[t + 2 * i]), as_s32(raw) if kflag else raw))
            return Enum(
                id=type_id, name=name, _r=self, size=size, signed=kflag, values=tuple(values)
            )
        for i in range(vlen):
            p = t + 3 * i
            raw = w[p + 1] | (w[p + 2] << 32)
            if kflag and raw >> 63:
                raw -= 1 << 64
            values.append(EnumValue(self.string(w[p]), raw))
        return Enum64(id=type_id, name=name, _r=self, size=size, signed=kflag, values=tuple(values))


_REF_KINDS: dict[int, type[Ptr | Typedef | Volatile | Const | Restrict]] = {
    Kind.PTR: Ptr,
    Kind.TYPEDEF: Typedef,
    Kind.VOLATILE: Volatile,
    Kind.CONST: Const,
    Kind.RESTRICT: Restrict,
}


def size_of(t: Type) -> int:
    """Size in bytes, following typedefs, qualifiers, tags and arrays; BTFError if sizeless."""
    nelems = 1
    for _ in range(wire.MAX_RESOLVE_DEPTH):
        if isinstance(t, Composite | Int | Float | Enum | Enum64 | Datasec):
            return nelems * t.size
        if isinstance(t, Ptr):
            return nelems * 8  # BPF is 64-bit
        if isinstance(t, Array):
            nelems *= t.nelems
            t = t.elem
        elif isinstance(t, Typedef | Volatile | Const | Restrict | TypeTag | Var):
            t = t.type
        else:
            raise BTFError(f"{t}: has no size")
    raise BTFError(f"{t}: more than {wire.MAX_RESOLVE_DEPTH} levels deep")
