"""Hover on the declaration of a tagged pointer field: its kind, offset and the verifier's rules."""

from __future__ import annotations

from ...analysis import Analysis
from ...checks.type_tags import describe
from ...kernel.facts import KPTR_PERCPU, KPTR_REF, KPTR_UNREF, UPTR

# What the verifier lets a program do with each kind of field, in its own terms.
_RULES = {
    KPTR_UNREF: (
        "A load gives an untrusted pointer that may be NULL: check it before dereferencing. "
        "Plain stores of a pointer of this type (or NULL) are allowed; no reference is held."
    ),
    KPTR_REF: (
        "A load gives a pointer that may be NULL. Only `bpf_kptr_xchg()` stores into it (a plain "
        "store is refused: `store to referenced kptr disallowed`); it returns the old value, "
        "which the program then owns and must release{dtor}."
    ),
    KPTR_PERCPU: (
        "Holds a per-CPU object from `bpf_percpu_obj_new()`; store it with `bpf_kptr_xchg()` "
        "and drop what comes back with `bpf_percpu_obj_drop()`."
    ),
    UPTR: "Points into user memory pinned by the kernel for task storage maps.",
}


def kptr_field_hover(analysis: Analysis, line: int, character: int) -> str | None:
    """On the declaration of a tagged pointer field: its kind, offset and rules."""
    model = analysis.model
    ctx = analysis.checks_context
    if model is None or model.target is None or ctx is None:
        return None
    paragraphs: list[str] = []
    seen: set[tuple[int, str]] = set()
    for value in ctx.values:
        for f in value.scan.fields:
            loc = ctx.location(f)
            if loc.file != analysis.path or loc.line != line or f.key in seen:
                continue
            seen.add(f.key)
            where = (
                f"global data `{value.map_name}`"
                if value.is_section
                else f"value of map `{value.map_name}`"
            )
            text = (
                f"**`{f.name}`**: {describe(f, model.target)}.\n\nOffset {f.offset} in the {where}."
            )
            rule = _RULES.get(f.kind or "") if f.problem is None else None
            if rule:
                if f.kind == KPTR_REF and not f.kernel_struct:
                    dtor = " with `bpf_obj_drop()`"
                else:
                    dtor = f" with `{f.dtor}()`" if f.dtor and f.dtor.startswith("bpf_") else ""
                text += "\n\n" + rule.format(dtor=dtor)
            paragraphs.append(text)
    return "\n\n".join(paragraphs) or None
