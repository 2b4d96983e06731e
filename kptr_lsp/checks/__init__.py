"""Static checks over an object's BTF, run before the verifier.

`run_checks` gives the findings; `culprits` gives the fields that later libbpf warnings or
verifier errors follow from, so the pipeline can attach them as related information; both
read one `Context` (`build_context`, kept by the object model: built once per analysis).
`describe_kptr_field` is one line of hover text for a struct member.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..btf.spec import Spec
from ..btf.types import Struct
from ..findings import Finding, Location, Related
from ..kernel.facts import KernelFacts
from . import fields
from .type_tags import RULES, Context, build_context, check_map_type, describe

__all__ = [
    "Context",
    "Culprit",
    "build_context",
    "culprits",
    "describe_kptr_field",
    "run_checks",
]

# What a culprit field leads to, in the words a later diagnostic will match.
BTF_REJECTED = "btf-rejected"  # libbpf: "Error loading .BTF into kernel" → maps without BTF
FIELD_IGNORED = "field-ignored"  # map created, its special fields silently dropped
MAP_WITHOUT_BTF = "map-without-btf"  # map creation with BTF failed; libbpf retried without


@dataclass(frozen=True)
class Culprit:
    location: Location
    code: str  # the check's diagnostic code
    effect: str  # BTF_REJECTED, FIELD_IGNORED or MAP_WITHOUT_BTF
    map_name: str | None  # the map whose value holds the field, if any
    field: str  # member or variable name
    reason: str  # one sentence for relatedInformation

    def related(self) -> Related:
        return Related(self.location, self.reason)


def run_checks(ctx: Context) -> list[Finding]:
    found: list[Finding] = []
    for rule in RULES:
        found.extend(rule(ctx))
    found.sort(key=lambda f: (f.file, f.line, f.code or ""))
    return found


def culprits(ctx: Context) -> list[Culprit]:
    """Fields behind a `btf-rejected` warning or a verifier error about a map's kptrs."""
    out: list[Culprit] = []
    seen: set[tuple[int, str]] = set()
    for f in ctx.btf_rejecting.values():
        seen.add(f.key)
        out.append(
            Culprit(
                ctx.location(f),
                f.problem or "",
                BTF_REJECTED,
                None,
                f.name,
                f"the kernel rejects the object's BTF because of field `{f.name}` ({f.problem})",
            )
        )
    for v in ctx.values:
        err = v.scan.error
        if err is not None and err.key not in seen:
            seen.add(err.key)
            out.append(
                Culprit(
                    ctx.location(err, v.map_name),
                    err.problem or "",
                    FIELD_IGNORED,
                    v.map_name,
                    err.name,
                    f"the kernel ignores the special fields of '{v.map_name}' because of "
                    f"field `{err.name}` ({err.problem})",
                )
            )
    for finding in check_map_type(ctx):
        out.append(
            Culprit(
                finding.location,
                "kptr-map-type",
                MAP_WITHOUT_BTF,
                None,
                "",
                "this map type cannot hold kptrs, so libbpf created it without BTF",
            )
        )
    return out


def describe_kptr_field(spec: Spec, struct_name: str, member_name: str, target: KernelFacts) -> str:
    """What the target kernel makes of `struct_name.member_name`; "" if it has no type tag."""
    owner = spec.find(struct_name, Struct)
    if not isinstance(owner, Struct):
        return ""
    result = fields.scan(owner, target)
    for f in result.fields:
        if f.owner is owner and f.name == member_name:
            return describe(f, target)
    member = owner.member(member_name)
    if member is None:
        return ""
    got = fields.classify_pointer(member.type, target, uptr=True)
    if got is None:
        return ""
    tags, pointee, kind, problem = got
    f = fields.Field(owner, member_name, 0, tuple(tags), pointee, kind, problem)
    return describe(f, target)
