"""Hover text (Markdown) for a position in an analysed buffer. Pure: no LSP types here.

Each provider looks at the analysis and a 1-based line / 0-based character and returns a
paragraph or None; `hover_text` joins what they say. New hover kinds add a provider to
PROVIDERS.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

from .checks.kernel import KPTR_PERCPU, KPTR_REF, KPTR_UNREF, UPTR
from .checks.type_tags import build_context, describe
from .cost_hints import cost_hover
from .pipeline import Analysis
from .state_hover import state_hover
from .toolchain import debian, vmlinux
from .type_hover import type_hover
from .verify.libbpf import status as libbpf_status

HoverProvider = Callable[[Analysis, int, int], str | None]

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
    if model is None or model.spec is None or model.target is None:
        return None
    ctx = build_context(model.obj, model.spec, model.decls, model.target, analysis.path)
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


PROVIDERS: list[HoverProvider] = [kptr_field_hover]


def hover_text(analysis: Analysis, line: int, character: int) -> str | None:
    parts = [p for p in (provider(analysis, line, character) for provider in PROVIDERS) if p]
    return "\n\n---\n\n".join(parts) or None


_INCLUDE_LINE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]')


def _header_origin(analysis: Analysis, path: str) -> str:
    result = analysis.compile
    vendored = result.vendored_libbpf if result is not None else None
    if vendored is not None:
        roots = {os.path.realpath(vendored.include_dir)}
        roots.add(os.path.realpath(os.path.join(vendored.include_dir, "bpf")))
        if any(path.startswith(r + os.sep) for r in roots):
            return f"The project's vendored libbpf ({vendored.origin}), preferred to the system's."
    current = debian.libbpf_tree()
    if current is not None and path.startswith(str(current.include) + os.sep):
        return (
            f"The current libbpf's headers ({current.origin}, fetched into the cache by "
            "`make setup`), preferred to the system's."
        )
    if path.startswith(str(vmlinux.cache_root()) + os.sep):
        return "Generated from the kernel's BTF: the project has no vmlinux.h of its own."
    if os.path.basename(path) == "vmlinux.h":
        return "The project's own vmlinux.h, preferred to one generated from the kernel's BTF."
    return "Found on the include path."


def include_hover(analysis: Analysis, line: int, character: int) -> str | None:
    """On an `#include` line of the buffer: the file clang really opened for it, and why."""
    lines = analysis.text.splitlines()
    if analysis.compile is None or not 0 < line <= len(lines):
        return None
    m = _INCLUDE_LINE.match(lines[line - 1])
    if m is None:
        return None
    name = m.group(1)
    direct = [h.path for h in analysis.compile.headers if h.depth == 1]
    hit = next((p for p in direct if p.endswith(os.sep + name)), None) or next(
        (p for p in direct if os.path.basename(p) == os.path.basename(name)), None
    )
    if hit is None:
        return None
    text = f"`{name}` → `{hit}`\n\n{_header_origin(analysis, hit)}"
    if name.startswith("bpf/"):
        text += f"\n\nPrograms load through {libbpf_status()[0]}."
    return text


def rodata_hover(analysis: Analysis, line: int, character: int) -> str | None:
    """On a `const volatile` global's declaration: the value the verifier was given."""
    notes = [
        v.note()
        for v in analysis.rodata
        if v.location is not None and v.location.file == analysis.path and v.location.line == line
    ]
    return "\n\n".join(notes) or None


PROVIDERS += [include_hover, rodata_hover]

PROVIDERS += [type_hover, state_hover, cost_hover]
