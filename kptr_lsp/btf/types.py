"""The public BTF type model.

A Spec inflates each type id into exactly one object, so types compare by identity and the
graph may be cyclic (`struct list_head { struct list_head *next; }`). To allow cycles and lazy
inflation of the kernel's ~100k types, references are stored as ids (`type_id`, `elem_id`, ...)
and the matching properties (`type`, `elem`, `proto`, ...) look the target up through the Spec
that made the object. Raw ids are checked against the Spec's range when a type is inflated,
so following a reference never fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar, Protocol

from .wire import Kind


class Resolver(Protocol):
    """What a type needs from its Spec: id → type."""

    def type_by_id(self, type_id: int) -> Type: ...


class Linkage(IntEnum):
    """FUNC linkage (btf_func_linkage) and VAR linkage share these values."""

    STATIC = 0
    GLOBAL = 1
    EXTERN = 2


@dataclass(eq=False, slots=True, kw_only=True, repr=False)
class Type:
    """Base of every BTF type. `id` is the type id in its Spec; `name` is "" when anonymous."""

    kind: ClassVar[Kind] = Kind.UNKN
    id: int
    name: str
    _r: Resolver = field(repr=False)

    def _ref(self, type_id: int) -> Type:
        return self._r.type_by_id(type_id)

    def __str__(self) -> str:
        return f"{self.kind.name.lower()} {self.name or '(anon)'} [{self.id}]"

    def __repr__(self) -> str:
        # Compact on purpose: the generated repr of a big struct would list every member.
        return f"{type(self).__name__}(id={self.id}, name={self.name!r})"


@dataclass(eq=False, slots=True, kw_only=True, repr=False)
class Void(Type):
    """Type id 0."""


@dataclass(eq=False, slots=True, kw_only=True, repr=False)
class Int(Type):
    kind: ClassVar[Kind] = Kind.INT
    size: int  # bytes
    encoding: int  # BTF_INT_ENCODING: BTF_INT_SIGNED (1) | char (2) | bool (4)
    bit_offset: int
    bits: int


@dataclass(eq=False, slots=True, kw_only=True, repr=False)
class Float(Type):
    kind: ClassVar[Kind] = Kind.FLOAT
    size: int


@dataclass(eq=False, slots=True, kw_only=True, repr=False)
class _Ref(Type):
    """A type that wraps exactly one other type."""

    type_id: int

    @property
    def type(self) -> Type:
        return self._ref(self.type_id)


@dataclass(eq=False, slots=True, kw_only=True, repr=False)
class Ptr(_Ref):
    kind: ClassVar[Kind] = Kind.PTR


@dataclass(eq=False, slots=True, kw_only=True, repr=False)
class Typedef(_Ref):
    kind: ClassVar[Kind] = Kind.TYPEDEF


@dataclass(eq=False, slots=True, kw_only=True, repr=False)
class Volatile(_Ref):
    kind: ClassVar[Kind] = Kind.VOLATILE


@dataclass(eq=False, slots=True, kw_only=True, repr=False)
class Const(_Ref):
    kind: ClassVar[Kind] = Kind.CONST


@dataclass(eq=False, slots=True, kw_only=True, repr=False)
class Restrict(_Ref):
    kind: ClassVar[Kind] = Kind.RESTRICT


@dataclass(eq=False, slots=True, kw_only=True, repr=False)
class TypeTag(_Ref):
    """`__attribute__((btf_type_tag(value)))` on the pointee: Ptr → TypeTag → pointee."""

    kind: ClassVar[Kind] = Kind.TYPE_TAG
    is_attr: bool = False  # kind_flag: the tag is a type attribute, not a type tag

    @property
    def value(self) -> str:
        return self.name


@dataclass(eq=False, slots=True, kw_only=True, repr=False)
class Array(Type):
    kind: ClassVar[Kind] = Kind.ARRAY
    elem_id: int
    index_id: int
    nelems: int

    @property
    def elem(self) -> Type:
        return self._ref(self.elem_id)

    @property
    def index(self) -> Type:
        return self._ref(self.index_id)


@dataclass(eq=False, slots=True, kw_only=True)
class Member:
    name: str
    type_id: int
    offset_bits: int
    bitfield_size: int  # 0 unless the member is a bitfield
    _r: Resolver = field(repr=False)

    @property
    def type(self) -> Type:
        return self._r.type_by_id(self.type_id)


@dataclass(eq=False, slots=True, kw_only=True, repr=False)
class Composite(Type):
    """Struct or Union."""

    size: int
    members: tuple[Member, ...]

    def member(self, name: str) -> Member | None:
        for m in self.members:
            if m.name == name:
                return m
        return None


@dataclass(eq=False, slots=True, kw_only=True, repr=False)
class Struct(Composite):
    kind: ClassVar[Kind] = Kind.STRUCT


@dataclass(eq=False, slots=True, kw_only=True, repr=False)
class Union(Composite):
    kind: ClassVar[Kind] = Kind.UNION


@dataclass(frozen=True, slots=True)
class EnumValue:
    name: str
    value: int


@dataclass(eq=False, slots=True, kw_only=True, repr=False)
class Enum(Type):
    kind: ClassVar[Kind] = Kind.ENUM
    size: int
    signed: bool  # kind_flag
    values: tuple[EnumValue, ...]


@dataclass(eq=False, slots=True, kw_only=True, repr=False)
class Enum64(Type):
    kind: ClassVar[Kind] = Kind.ENUM64
    size: int
    signed: bool
    values: tuple[EnumValue, ...]


@dataclass(eq=False, slots=True, kw_only=True, repr=False)
class Fwd(Type):
    kind: ClassVar[Kind] = Kind.FWD
    is_union: bool  # kind_flag


@dataclass(eq=False, slots=True, kw_only=True)
class FuncParam:
    name: str
    type_id: int
    _r: Resolver = field(repr=False)

    @property
    def type(self) -> Type:
        return self._r.type_by_id(self.type_id)


@dataclass(eq=False, slots=True, kw_only=True, repr=False)
class FuncProto(Type):
    kind: ClassVar[Kind] = Kind.FUNC_PROTO
    return_id: int
    params: tuple[FuncParam, ...]  # without the trailing variadic marker
    variadic: bool

    @property
    def return_type(self) -> Type:
        return self._ref(self.return_id)


@dataclass(eq=False, slots=True, kw_only=True, repr=False)
class Func(Type):
    kind: ClassVar[Kind] = Kind.FUNC
    proto_id: int
    linkage: Linkage

    @property
    def proto(self) -> FuncProto:
        proto = self._ref(self.proto_id)
        assert isinstance(proto, FuncProto)  # checked at inflation
        return proto


@dataclass(eq=False, slots=True, kw_only=True, repr=False)
class Var(_Ref):
    kind: ClassVar[Kind] = Kind.VAR
    linkage: Linkage


@dataclass(eq=False, slots=True, kw_only=True)
class VarSecinfo:
    type_id: int  # a Var (or Func for .ksyms externs)
    offset: int
    size: int
    _r: Resolver = field(repr=False)

    @property
    def var(self) -> Type:
        return self._r.type_by_id(self.type_id)


@dataclass(eq=False, slots=True, kw_only=True, repr=False)
class Datasec(Type):
    """Clang emits size 0 and offsets 0 for object files; libbpf fills them in at load."""

    kind: ClassVar[Kind] = Kind.DATASEC
    size: int
    vars: tuple[VarSecinfo, ...]


@dataclass(eq=False, slots=True, kw_only=True, repr=False)
class DeclTag(_Ref):
    """`btf_decl_tag(value)` on `type` (component_idx -1) or on its member/param number idx."""

    kind: ClassVar[Kind] = Kind.DECL_TAG
    component_idx: int
    is_attr: bool = False  # kind_flag: the tag is a declaration attribute

    @property
    def value(self) -> str:
        return self.name


# Types that only qualify another one; `Spec.resolve` strips these (but not TypeTag).
QUALIFIERS: tuple[type[Type], ...] = (Typedef, Volatile, Const, Restrict)


def c_type_name(t: Type, depth: int = 0) -> str:
    """A C spelling of a BTF type, short enough for an outline, a hover row or a diagnostic:
    the one formatter of BTF types."""
    if depth > 16:
        return "…"
    if isinstance(t, Struct | Union | Enum | Enum64 | Fwd):
        word = "union" if isinstance(t, Union) or (isinstance(t, Fwd) and t.is_union) else None
        word = word or ("enum" if isinstance(t, Enum | Enum64) else "struct")
        return f"{word} {t.name or '(anonymous)'}"
    if isinstance(t, Int | Typedef) and t.name:
        return t.name
    if isinstance(t, Ptr):
        return f"{c_type_name(t.type, depth + 1)} *"
    if isinstance(t, Const):
        return f"const {c_type_name(t.type, depth + 1)}"
    if isinstance(t, Volatile):
        return f"volatile {c_type_name(t.type, depth + 1)}"
    if isinstance(t, TypeTag):
        return c_type_name(t.type, depth + 1)
    if isinstance(t, Array):
        return f"{c_type_name(t.elem, depth + 1)}[{t.nelems}]"
    if isinstance(t, Void):
        return "void"
    return t.name or t.kind.name.lower()
