"""Type-tag rules: one function per diagnostic code, each saying what the kernel will do.

All rules read one `Context`: the object's map values scanned as the target kernel's BTF
field parser would (fields.py), and the structs that would make it reject the whole BTF.
Severity is WARNING throughout: the object may still load (the kernel is silent about most of
these), so the verifier's own error, when one follows, stays the Error and these explain it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ..btf.mapdef import read_map_definition
from ..btf.spec import Spec
from ..btf.types import Datasec, Struct, Type
from ..elf.decls import Declarations
from ..elf.objfile import MAPS, ObjectFile
from ..findings import Finding, Location, Severity, Source
from ..kernel.facts import KPTR_REF, KPTR_UNREF, KernelFacts
from ..kernel.uapi import MapType, map_type_label
from . import fields as F

# Sections libbpf turns into array maps whose value type is the section's DATASEC.
_DATA_PREFIXES = (".bss", ".data")


@dataclass
class MapValue:
    map_name: str  # BPF map name, or the data section for globals
    map_type: int | None
    value: Type
    scan: F.Scan
    is_section: bool = False


@dataclass
class Context:
    spec: Spec
    target: KernelFacts
    decls: Declarations
    path: str
    values: list[MapValue] = field(default_factory=list)
    # field key → field, for fields that make the kernel reject the object's BTF
    btf_rejecting: dict[tuple[int, str], F.Field] = field(default_factory=dict)

    def location(self, f: F.Field, fallback: str | None = None) -> Location:
        """The field's declaration line (DWARF), else its map's, else the file's top."""
        loc: Location | None = None
        if isinstance(f.owner, Struct):
            loc = self.decls.members.get((f.owner.name, f.name))
        else:
            loc = self.decls.variables.get(f.name)
        if loc is None and fallback is not None:
            loc = self.decls.variables.get(fallback)
        return loc or Location(self.path, 1)

    def consequence(self, f: F.Field, value: MapValue | None) -> str:
        """What the kernel does about a field it cannot parse."""
        if f.key in self.btf_rejecting:
            return (
                f"{self.target.name} rejects the object's whole BTF because of it (libbpf: "
                '"Error loading .BTF into kernel ... BTF is optional, ignoring") and loads '
                "maps and programs without BTF, so every kptr in the object is lost and "
                "verifier logs carry no source lines"
            )
        if value is None:
            return f"{self.target.name} cannot use this struct's special fields"
        where = (
            f"global data section {value.map_name}"
            if value.is_section
            else f"map '{value.map_name}''s value"
        )
        return (
            f"{self.target.name} silently ignores every special field of {where}: "
            f"`{f.name}` is a plain 8-byte value to the verifier and no error is reported"
        )


def build_context(
    obj: ObjectFile, spec: Spec, decls: Declarations, target: KernelFacts, path: str
) -> Context:
    ctx = Context(spec=spec, target=target, decls=decls, path=path)
    for name, map_type, value in _map_values(obj, spec):
        ctx.values.append(MapValue(name, map_type, value, F.scan(value, target)))
    for sec in spec:
        if isinstance(sec, Datasec) and sec.name.startswith(_DATA_PREFIXES):
            result = F.scan(sec, target)
            if result.fields:
                ctx.values.append(MapValue(sec.name, MapType.ARRAY, sec, result, True))
    for _struct, bad in F.load_time_failures(spec, target):
        ctx.btf_rejecting.setdefault(bad.key, bad)
    return ctx


def _map_values(obj: ObjectFile, spec: Spec) -> Iterator[tuple[str, int | None, Type]]:
    """(name, map type, value type) of BTF-defined maps (libbpf's parse_btf_map_def)."""
    for m in obj.maps:
        if m.section != MAPS or m.type_id is None:
            continue
        d = read_map_definition(spec, m.type_id)
        if d is not None and d.value is not None:
            yield m.name, d.map_type, spec.resolve(d.value)


def _problems(ctx: Context, code: str) -> Iterator[tuple[F.Field, MapValue | None]]:
    """Fields with problem `code`: in map values, then in structs only the BTF load parses."""
    seen: set[tuple[int, str]] = set()
    for v in ctx.values:
        for f in v.scan.fields:
            if f.problem == code and f.key not in seen:
                seen.add(f.key)
                yield f, v
    for f in ctx.btf_rejecting.values():
        if f.problem == code and f.key not in seen:
            seen.add(f.key)
            yield f, None


def _finding(ctx: Context, f: F.Field, v: MapValue | None, code: str, msg: str) -> Finding:
    return Finding(
        location=ctx.location(f, v.map_name if v is not None else None),
        severity=Severity.WARNING,
        source=Source.CHECKS,
        message=msg,
        code=code,
    )


def _known_tags(target: KernelFacts) -> str:
    tags = list(target.tag_kinds())
    return ", ".join(f'"{t}"' for t in tags) if tags else "none: kptrs arrived in Linux 5.19"


def _tag_advice(tag: str, target: KernelFacts) -> str:
    """How to spell what `tag` meant on the target kernel."""
    renamed = {
        # meaning → the tag name that carries it on the target
        "kptr_ref": KPTR_REF,
        "kptr_rcu": KPTR_REF,
        "kptr_untrusted": KPTR_UNREF,
    }
    if tag in renamed:
        good = target.tag_for(renamed[tag])
        if good is not None:
            history = (
                ' ("kptr_ref" became "kptr" in Linux 6.4; libbpf 1.1\'s __kptr_ref still '
                'emits "kptr_ref")'
                if tag == "kptr_ref"
                else ""
            )
            kind = renamed[tag]
            return f'For a {kind} write btf_type_tag("{good}"){history}.'
    since = {"percpu_kptr": "6.7", "uptr": "6.13"}
    if tag in since:
        return f'"{tag}" needs Linux {since[tag]} or newer.'
    return "Other type tags cannot sit on a map-value pointer: remove it or make it a kptr tag."


# -- rules ----------------------------------------------------------------------------------


def check_unknown_tag(ctx: Context) -> list[Finding]:
    """kptr-unknown-tag: a tag btf_find_kptr does not know (-EINVAL)."""
    out = []
    for f, v in _problems(ctx, F.UNKNOWN_TAG):
        tag = f.tags[0]
        msg = (
            f'type tag "{tag}" on `{f.name}` is not a kptr tag on {ctx.target.name} '
            f"(it knows {_known_tags(ctx.target)}); {ctx.consequence(f, v)}. "
            f"{_tag_advice(tag, ctx.target)}"
        )
        out.append(_finding(ctx, f, v, F.UNKNOWN_TAG, msg))
    return out


def check_extra_tag(ctx: Context) -> list[Finding]:
    """kptr-extra-tag: more than one type tag on the pointee ("Reject extra tags")."""
    out = []
    for f, v in _problems(ctx, F.EXTRA_TAG):
        tags = ", ".join(f'"{t}"' for t in f.tags)
        msg = (
            f"`{f.name}` has {len(f.tags)} type tags on its pointee ({tags}); the kernel "
            f"accepts exactly one on a kptr field, so {ctx.consequence(f, v)}. "
            "Keep only the kptr tag."
        )
        out.append(_finding(ctx, f, v, F.EXTRA_TAG, msg))
    return out


def check_not_struct(ctx: Context) -> list[Finding]:
    """kptr-not-struct: "Only pointer to struct is allowed"."""
    out = []
    for f, v in _problems(ctx, F.NOT_STRUCT):
        msg = (
            f'`{f.name}` is tagged "{f.tags[0]}" but points to {f.target_name}; a kptr must '
            f"point to a struct, so {ctx.consequence(f, v)}. Point it at a struct type or "
            "drop the tag."
        )
        out.append(_finding(ctx, f, v, F.NOT_STRUCT, msg))
    return out


def check_incomplete_type(ctx: Context) -> list[Finding]:
    """kptr-incomplete-type: the pointee is a FWD in the object's BTF, not a STRUCT."""
    out = []
    for f, v in _problems(ctx, F.INCOMPLETE):
        name = f.target.name
        msg = (
            f"struct {name} is only forward-declared in this object's BTF (the program never "
            f"uses its members), so the kernel does not take `{f.name}` for a kptr: "
            f"{ctx.consequence(f, v)}. Make clang emit the full type: read one of its members "
            f"(e.g. with BPF_CORE_READ) or use bpf_core_type_size(struct {name})."
        )
        out.append(_finding(ctx, f, v, F.INCOMPLETE, msg))
    return out


def check_no_dtor(ctx: Context) -> list[Finding]:
    """kptr-no-dtor: a referenced kptr to a kernel struct without a destructor kfunc."""
    out = []
    for f, v in _problems(ctx, F.NO_DTOR):
        unref = ctx.target.tag_for(KPTR_UNREF)
        msg = (
            f'`{f.name}` is a referenced kptr ("{f.tags[0]}") to {f.target_name}, but '
            f"{ctx.target.name} has no release kfunc registered to free that type from a "
            f"map; {ctx.consequence(f, v)}. Store it as an unreferenced kptr "
            f'(btf_type_tag("{unref}")) or keep a type the kernel can release.'
        )
        out.append(_finding(ctx, f, v, F.NO_DTOR, msg))
    return out


def check_too_many_fields(ctx: Context) -> list[Finding]:
    """kptr-too-many-fields: more special fields than BTF_FIELDS_MAX (-E2BIG)."""
    out = []
    for f, v in _problems(ctx, F.TOO_MANY):
        msg = (
            f"`{f.name}` is a special field past the limit: {ctx.target.name} parses at most "
            f"{ctx.target.fields_max} special fields (kptrs, locks, timers, ...) per struct, "
            f"so {ctx.consequence(f, v)}. Split the value across maps or structs."
        )
        out.append(_finding(ctx, f, v, F.TOO_MANY, msg))
    return out


def check_map_type(ctx: Context) -> list[Finding]:
    """kptr-map-type: map_check_btf refuses the field in this map type (-EOPNOTSUPP)."""
    out = []
    for v in ctx.values:
        if v.scan.error is not None or v.map_type is None:
            continue  # the record is dropped anyway: other rules explain why
        for f in v.scan.fields:
            if f.problem is not None or f.kind is None:
                continue
            allowed = ctx.target.map_types_for(f.kind)
            if v.map_type in allowed:
                continue
            names = ", ".join(sorted(map_type_label(t) for t in allowed))
            this = map_type_label(v.map_type)
            msg = (
                f"{f.kind} `{f.name}` in {this} map '{v.map_name}': {ctx.target.name} allows "
                f"{f.kind}s only in {names} maps; creating the map with BTF fails "
                "(EOPNOTSUPP), libbpf retries without BTF, and the field becomes a plain "
                "8-byte value to the verifier. Use one of those map types."
            )
            out.append(_finding(ctx, f, v, "kptr-map-type", msg))
            break  # one per map: the whole map loses its BTF
    return out


def check_no_kernel_type(ctx: Context) -> list[Finding]:
    """kptr-no-kernel-type: a vmlinux.h struct the target kernel lacks becomes a local type."""
    out: list[Finding] = []
    for v in ctx.values:
        for f in v.scan.fields:
            if f.problem is not None or f.kernel_struct or not isinstance(f.target, Struct):
                continue
            # Asked only for a candidate field: declarations are read from DWARF on first use.
            if not ctx.decls.structs and not ctx.decls.members:
                return out  # no DWARF: cannot tell kernel types from the program's own
            if f.target.name in ctx.decls.structs:
                continue  # declared in the program's own sources: a local object type
            msg = (
                f"struct {f.target.name} does not exist in {ctx.target.name}'s BTF, so the "
                f"kernel takes `{f.name}` for a kptr to a program-allocated object "
                "(bpf_obj_new), not a kernel object: storing a kernel pointer in it fails "
                "verification. Use a struct the target kernel has."
            )
            out.append(_finding(ctx, f, v, "kptr-no-kernel-type", msg))
    return out


RULES: tuple[Callable[[Context], list[Finding]], ...] = (
    check_unknown_tag,
    check_extra_tag,
    check_not_struct,
    check_incomplete_type,
    check_no_dtor,
    check_too_many_fields,
    check_map_type,
    check_no_kernel_type,
)


def describe(f: F.Field, target: KernelFacts) -> str:
    """One line on what the target kernel makes of a tagged field (hover material)."""
    tags = ", ".join(f'"{t}"' for t in f.tags)
    if f.problem is not None:
        return f"not a kptr on {target.name} ({f.problem}): tags {tags} on {f.target_name}"
    origin = "kernel type" if f.kernel_struct else "program-local type (bpf_obj_new)"
    text = f"{f.kind} to {f.target_name} ({origin}), tag {tags} on {target.name}"
    if f.kind == KPTR_REF and f.dtor:
        text += f"; freed with {f.dtor} when the map element goes"
    return text
