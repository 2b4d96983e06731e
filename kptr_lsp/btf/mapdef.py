"""A BTF-defined map (`SEC(".maps")`) decoded as libbpf's parse_btf_map_def reads it: the one
place that knows the `__uint` / `__type` encoding of bpf_helpers.h.

`__uint(name, N)` is `int (*name)[N]`: the number is the array's length. `__type(name, T)` is
`T *name`: the type is the pointee, kept unresolved (typedef names are what users wrote).
"""

from __future__ import annotations

from dataclasses import dataclass

from .spec import Spec
from .types import Array, Ptr, Struct, Type

_TYPES = ("key", "value")


@dataclass(frozen=True)
class MapDefinition:
    map_type: int | None = None
    key: Type | None = None
    value: Type | None = None
    key_size: int | None = None
    value_size: int | None = None
    max_entries: int | None = None


def read_map_definition(spec: Spec, type_id: int) -> MapDefinition | None:
    """The map whose definition struct is BTF type `type_id`; None when it is not a struct."""
    definition = spec.resolve(spec.type_by_id(type_id))
    if not isinstance(definition, Struct):
        return None
    uints: dict[str, int] = {}
    types: dict[str, Type] = {}
    for member in definition.members:
        t = spec.resolve(member.type)
        if not isinstance(t, Ptr):
            continue
        if member.name in _TYPES:
            types.setdefault(member.name, t.type)
            continue
        target = spec.resolve(t.type)
        if isinstance(target, Array):
            uints.setdefault(member.name, target.nelems)
    return MapDefinition(
        map_type=uints.get("type"),
        key=types.get("key"),
        value=types.get("value"),
        key_size=uints.get("key_size"),
        value_size=uints.get("value_size"),
        max_entries=uints.get("max_entries"),
    )
