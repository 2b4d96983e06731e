"""What the kernel's BTF field parser makes of a map value, as plain data.

A port of kernel/bpf/btf.c btf_find_field → btf_find_struct_field / btf_find_datasec_var →
btf_find_field_one → btf_find_kptr, then btf_parse_kptr, for the object's BTF and one target
kernel. Unlike the kernel, it does not stop at the first bad field: every field is classified,
and `Scan.error` names the one the kernel would stop at.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..btf.spec import Spec
from ..btf.types import (
    Array,
    Const,
    Datasec,
    Fwd,
    Ptr,
    Restrict,
    Struct,
    Type,
    Typedef,
    TypeTag,
    Var,
    Volatile,
    c_type_name,
)
from ..kernel.facts import (
    ALLOC_OBJ_FIELDS,
    KPTR_REF,
    LOAD_SPECIALS,
    MAP_SPECIALS,
    UPTR,
    KernelFacts,
)

# Problem codes: the kernel's btf_find_kptr / btf_parse_kptr failures, one per rule.
EXTRA_TAG = "kptr-extra-tag"
UNKNOWN_TAG = "kptr-unknown-tag"
NOT_STRUCT = "kptr-not-struct"
INCOMPLETE = "kptr-incomplete-type"
NO_DTOR = "kptr-no-dtor"
TOO_MANY = "kptr-too-many-fields"

_MAX_DEPTH = 32  # MAX_RESOLVE_DEPTH


@dataclass(frozen=True)
class Field:
    """A pointer member (or global variable) whose pointee carries BTF type tags."""

    owner: Struct | Datasec  # the type declaring it
    name: str  # member or variable name
    offset: int  # bytes from the start of the scanned value
    tags: tuple[str, ...]  # type tags on the pointee, outermost first
    target: Type  # the pointee with tags and modifiers stripped
    kind: str | None  # kptr kind when the tag is one the target knows
    problem: str | None = None  # the rule the kernel trips on; None for a valid field
    kernel_struct: bool = False  # the target exists in the kernel's BTF
    dtor: str | None = None  # release kfunc freeing a referenced kernel kptr

    @property
    def key(self) -> tuple[int, str]:
        return (self.owner.id, self.name)

    @property
    def target_name(self) -> str:
        return c_type_name(self.target)


@dataclass
class Scan:
    fields: list[Field] = field(default_factory=list)
    special: int = 0  # special fields found (what BTF_FIELDS_MAX limits)
    error: Field | None = None  # the field btf_parse_fields fails at, if any


def _skip_modifiers(t: Type) -> Type:
    # btf_type_skip_modifiers: typedef, volatile, const, restrict and type tags.
    for _ in range(_MAX_DEPTH):
        if not isinstance(t, Typedef | Volatile | Const | Restrict | TypeTag):
            return t
        t = t.type
    return t


def _tags(t: Type) -> tuple[list[str], Type]:
    tags: list[str] = []
    while isinstance(t, TypeTag) and not t.is_attr and len(tags) < _MAX_DEPTH:
        tags.append(t.value)
        t = t.type
    return tags, t


def classify_pointer(
    t: Type, target: KernelFacts, *, uptr: bool
) -> tuple[list[str], Type, str | None, str | None] | None:
    """btf_find_kptr on the type `t` of a member: None when it is not a tagged pointer (the
    kernel ignores it), else (tags, pointee, kind, problem)."""
    if isinstance(t, Volatile):  # "Permit modifiers on the pointer itself": one volatile
        t = t.type
    if not isinstance(t, Ptr):
        return None
    tags, rest = _tags(t.type)
    if not tags:
        return None
    pointee = _skip_modifiers(rest)
    if len(tags) > 1:
        return tags, pointee, None, EXTRA_TAG
    kind = target.tag_kinds().get(tags[0])
    if kind is None:
        return tags, pointee, None, UNKNOWN_TAG
    if kind == UPTR and not uptr:
        return None  # not in this caller's field_mask: ignored
    if isinstance(pointee, Fwd) and not pointee.is_union:
        return tags, pointee, kind, INCOMPLETE
    if not isinstance(pointee, Struct):
        return tags, pointee, kind, NOT_STRUCT
    return tags, pointee, kind, None


def scan(
    value: Type,
    target: KernelFacts,
    *,
    specials: frozenset[str] = MAP_SPECIALS,
    uptr: bool = True,
) -> Scan:
    """btf_parse_fields(value) for this target: fields found and where parsing fails."""
    out = Scan()
    if isinstance(value, Struct):
        _scan_struct(value, 0, target, specials, uptr, out, 0)
    elif isinstance(value, Datasec):
        for vsi in value.vars:
            var = vsi.var
            if isinstance(var, Var):
                _scan_one(value, var.name, var.type, vsi.offset, target, specials, uptr, out, 0)
    _parse_kptrs(out, target)
    return out


def _scan_struct(
    t: Struct,
    base: int,
    target: KernelFacts,
    specials: frozenset[str],
    uptr: bool,
    out: Scan,
    depth: int,
) -> None:
    if depth >= _MAX_DEPTH:
        return
    for m in t.members:
        _scan_one(t, m.name, m.type, base + m.offset_bits // 8, target, specials, uptr, out, depth)


def _scan_one(
    owner: Struct | Datasec,
    name: str,
    t: Type,
    off: int,
    target: KernelFacts,
    specials: frozenset[str],
    uptr: bool,
    out: Scan,
    depth: int,
) -> None:
    nelems = 1
    while isinstance(t, Array):  # fields repeat over (flattened) arrays
        nelems *= t.nelems
        t = t.elem
    if nelems == 0:
        return
    if isinstance(t, Struct):
        if t.name in specials:
            _count(out, nelems, None, target)
        else:
            _scan_struct(t, off, target, specials, uptr, out, depth + 1)
        return
    found = classify_pointer(t, target, uptr=uptr)
    if found is None:
        return
    tags, pointee, kind, problem = found
    f = Field(
        owner=owner,
        name=name,
        offset=off,
        tags=tuple(tags),
        target=pointee,
        kind=kind,
        problem=problem,
    )
    out.fields.append(f)
    if problem is not None:
        if out.error is None:
            out.error = f
        return
    _count(out, nelems, f, target)


def _count(out: Scan, n: int, f: Field | None, target: KernelFacts) -> None:
    out.special += n
    if out.special > target.fields_max and out.error is None and f is not None:
        # info_arr[BTF_FIELDS_MAX] is full: btf_find_field_one returns -E2BIG.
        too_many = replace(f, problem=TOO_MANY)
        out.fields[out.fields.index(f)] = too_many
        out.error = too_many


def _parse_kptrs(out: Scan, target: KernelFacts) -> None:
    """btf_parse_kptr: look the target up in the kernel; referenced ones need a dtor."""
    for i, f in enumerate(out.fields):
        if f.problem is not None or not isinstance(f.target, Struct):
            continue
        kernel = target.find_struct(f.target.name) is not None if f.target.name else False
        dtor = target.dtor_for(f.target.name) if kernel else None
        # The kernel only gets here when finding fields succeeded.
        missing = kernel and f.kind == KPTR_REF and dtor is None and out.error is None
        problem = NO_DTOR if missing else None
        out.fields[i] = replace(f, kernel_struct=kernel, dtor=dtor, problem=problem)
        if problem is not None and out.error is None:
            out.error = out.fields[i]


def load_time_failures(spec: Spec, target: KernelFacts) -> list[tuple[Struct, Field]]:
    """Structs whose fields make the kernel reject the program's whole BTF at load.

    btf_parse_struct_metas: a struct with a member that is a valid kptr pointer, or one of the
    alloc_obj_fields structs, is parsed with btf_parse_fields; any failure fails BTF load.
    """
    if not target.btf_parses_kptrs_at_load:
        return []
    triggers: set[int] = set()
    for name in ALLOC_OBJ_FIELDS:
        found = spec.find(name, Struct)
        if found is not None:
            triggers.add(found.id)
    types = list(spec)
    for t in types:
        got = classify_pointer(t, target, uptr=False)
        if got is not None and got[3] is None:
            triggers.add(t.id)
    failures: list[tuple[Struct, Field]] = []
    for t in types:
        if not isinstance(t, Struct) or not any(m.type_id in triggers for m in t.members):
            continue
        result = scan(t, target, specials=LOAD_SPECIALS, uptr=False)
        if result.error is not None:
            failures.append((t, result.error))
    return failures
