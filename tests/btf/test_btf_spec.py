"""The BTF type model inflated from a real clang object: every kind a BPF program uses."""

from __future__ import annotations

from btf_sample import Sample

from kptr_lsp.btf import Spec, size_of
from kptr_lsp.btf.types import (
    Array,
    Composite,
    Const,
    Datasec,
    DeclTag,
    Enum64,
    Func,
    FuncProto,
    Fwd,
    Int,
    Linkage,
    Ptr,
    Struct,
    Type,
    Typedef,
    TypeTag,
    Union,
    Var,
)
from kptr_lsp.btf.wire import Kind


def _struct(spec: Spec, name: str) -> Struct:
    t = spec.find(name, Struct)
    assert isinstance(t, Struct), f"struct {name} not in BTF"
    return t


def _member_type(s: Composite, name: str) -> Type:
    m = s.member(name)
    assert m is not None, f"{s.name} has no member {name}"
    return m.type


def test_ids_and_iteration_cover_every_type(sample: Sample) -> None:
    spec = sample.spec
    types = list(spec)
    assert len(types) == len(spec)
    assert [t.id for t in types] == list(range(len(spec)))
    assert spec.type_by_id(0).name == "" and spec.type_by_id(0) is types[0]
    # One object per id: references resolve to the very same objects.
    val = _struct(spec, "kl_val")
    assert spec.type_by_id(val.id) is val


def test_bitfield_members_carry_size_and_bit_offset(sample: Sample) -> None:
    flags = _struct(sample.spec, "kl_flags")
    a, b, c = flags.members
    assert (a.name, a.offset_bits, a.bitfield_size) == ("a", 0, 3)
    assert (b.name, b.offset_bits, b.bitfield_size) == ("b", 3, 5)
    assert (c.name, c.offset_bits, c.bitfield_size) == ("c", 32, 0)
    assert isinstance(a.type, Int) and not a.type.encoding & 1  # BTF_INT_SIGNED
    assert isinstance(c.type, Int) and c.type.encoding & 1
    assert flags.size == 8 == size_of(flags)


def test_union_members_share_offset_zero(sample: Sample) -> None:
    either = sample.spec.find("kl_either", Union)
    assert isinstance(either, Union)
    assert [(m.name, m.offset_bits) for m in either.members] == [("i", 0), ("l", 0)]
    assert size_of(either) == 8


def test_enum64_values_are_signed_64_bit(sample: Sample) -> None:
    big = sample.spec.find("kl_big")
    assert isinstance(big, Enum64)
    assert big.signed and big.size == 8
    assert {v.name: v.value for v in big.values} == {"KL_SMALL": -1, "KL_BIG": 1 << 32}


def test_typedef_chain_resolves_through_const_to_int(sample: Sample) -> None:
    spec = sample.spec
    c = _member_type(_struct(spec, "kl_val"), "c")
    assert isinstance(c, Typedef) and c.name == "kl_c"
    assert isinstance(c.type, Const)
    chain = []
    t: Type = c
    while isinstance(t, Typedef | Const):
        chain.append(t.name or type(t).__name__)
        t = t.type
    assert chain == ["kl_c", "Const", "kl_b", "kl_a"]
    resolved = spec.resolve(c)
    assert isinstance(resolved, Int) and resolved.name == "int"
    assert size_of(c) == 4


def test_forward_declared_struct_is_fwd(sample: Sample) -> None:
    opaque = _member_type(_struct(sample.spec, "kl_val"), "opaque")
    assert isinstance(opaque, Ptr)
    fwd = opaque.type
    assert isinstance(fwd, Fwd) and fwd.name == "kl_opaque" and not fwd.is_union


def test_kptr_type_tag_sits_between_ptr_and_struct(sample: Sample) -> None:
    spec = sample.spec
    val = _struct(spec, "kl_val")
    node = _member_type(val, "node")
    assert isinstance(node, Ptr)
    tag = node.type
    assert isinstance(tag, TypeTag) and tag.value == "kptr"
    assert tag.type is _struct(spec, "kl_node")
    # resolve() must keep the tag: it is what makes the field a kptr.
    assert spec.resolve(tag) is tag
    # The kernel type is the same object the CO-RE read in kl_tp uses.
    task = _member_type(val, "task")
    assert isinstance(task, Ptr) and isinstance(task.type, TypeTag)
    assert task.type.type is _struct(spec, "task_struct")


def test_self_referencing_struct_is_a_cycle_of_the_same_object(sample: Sample) -> None:
    node = _struct(sample.spec, "kl_node")
    nxt = _member_type(node, "next")
    assert isinstance(nxt, Ptr) and nxt.type is node


def test_decl_tag_names_the_tagged_member(sample: Sample) -> None:
    spec = sample.spec
    val = _struct(spec, "kl_val")
    tags = spec.decl_tags(val)
    assert [(t.value, t.component_idx) for t in tags] == [("x", len(val.members) - 1)]
    assert isinstance(tags[0], DeclTag) and tags[0].type is val
    assert val.members[tags[0].component_idx].name == "tagged"


def test_map_definition_is_var_in_maps_datasec(sample: Sample) -> None:
    spec = sample.spec
    maps = spec.find(".maps", Datasec)
    assert isinstance(maps, Datasec)
    (secinfo,) = maps.vars
    var = secinfo.var
    assert isinstance(var, Var) and var.name == "kl_map" and var.linkage == Linkage.GLOBAL
    definition = var.type
    assert isinstance(definition, Struct)
    value = _member_type(definition, "value")
    # __type(value, struct kl_val) is a pointer to the value type.
    assert isinstance(value, Ptr) and value.type is _struct(spec, "kl_val")
    max_entries = _member_type(definition, "max_entries")
    assert isinstance(max_entries, Ptr) and isinstance(max_entries.type, Array)
    assert max_entries.type.nelems == 1


def test_functions_and_prototypes(sample: Sample) -> None:
    spec = sample.spec
    helper = spec.find("kl_helper", Func)
    assert isinstance(helper, Func) and helper.linkage == Linkage.STATIC
    proto = helper.proto
    assert isinstance(proto, FuncProto) and not proto.variadic
    assert [p.name for p in proto.params] == ["x"]
    assert spec.resolve(proto.params[0].type).name == "int"
    assert proto.return_type.name == "int"
    xdp = spec.find("kl_xdp", Func)
    assert isinstance(xdp, Func) and xdp.linkage == Linkage.GLOBAL
    ctx = xdp.proto.params[0].type
    assert isinstance(ctx, Ptr) and ctx.type.name == "xdp_md"


def test_types_by_name_lists_every_match_and_misses_cleanly(sample: Sample) -> None:
    spec = sample.spec
    assert [type(t) for t in spec.types_by_name("kl_val")] == [Struct]
    assert spec.types_by_name("no_such_type_anywhere") == []
    assert spec.find("kl_val", Union) is None


def test_names_of_kinds_matches_the_inflated_types(sample: Sample) -> None:
    assert sample.obj.btf is not None
    lazy = Spec.parse(sample.obj.btf, lazy=True)
    names = lazy.names_of((Kind.STRUCT, Kind.UNION, Kind.FWD))
    inflated = {t.name for t in sample.spec if isinstance(t, Struct | Union | Fwd) and t.name}
    assert names == inflated
    assert {"kl_val", "kl_either", "kl_opaque"} <= names and "kl_xdp" not in names
