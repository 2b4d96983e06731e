"""Hover on an identifier: structs with member offsets, maps, globals, kfuncs and helpers.

Which identifier is under the cursor is read lexically (the word at the position, and whether
`struct`/`union` precedes it) and looked up by name in what the compiled object and the kernel
describe. That is enough because everything described here has a global, unique name: map and
global-variable symbols, struct tags, kfuncs (kernel BTF) and helpers (bpf_helper_defs.h). It
costs no second parse of the buffer; libclang over a 2.8 MB vmlinux.h would cost about a
second per hover without a PCH, only to tell locals apart, which we do not describe.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass

from ...analysis import Analysis
from ...btf.errors import BTFError
from ...btf.mapdef import read_map_definition
from ...btf.spec import Spec, size_of
from ...btf.types import (
    Array,
    Composite,
    Datasec,
    Func,
    Ptr,
    Struct,
    Type,
    TypeTag,
    Union,
    Var,
    c_type_name,
)
from ...kernel.facts import (
    KPTR_PERCPU,
    KPTR_REF,
    KPTR_TAGS,
    KPTR_UNREF,
    SPECIAL_STRUCTS,
    UPTR,
    KernelFacts,
)
from ...kernel.kfuncs import RefEffect, ref_effect, release_kfunc
from ...model import ObjectModel
from ..outline import map_detail

MAX_MEMBERS = 40  # rows shown for a struct; big kernel structs say how many more
HELPER_DEFS = "/usr/include/bpf/bpf_helper_defs.h"

# How the hover names each field kind (kernel/facts.py says which tag means which, when).
_KIND_LABELS = {
    KPTR_REF: "referenced kptr",
    KPTR_UNREF: "unreferenced kptr",
    KPTR_PERCPU: "per-CPU kptr",
    UPTR: "user pointer (uptr)",
}
# bpf_experimental.h macros over `_impl` kfuncs
_KFUNC_MACROS = {
    m: f"{m}_impl"
    for m in ("bpf_obj_new", "bpf_obj_drop", "bpf_percpu_obj_new", "bpf_percpu_obj_drop")
}
_KFUNC_MACROS["bpf_refcount_acquire"] = "bpf_refcount_acquire_impl"
_WORD = re.compile(r"[A-Za-z_]\w*")


def word_at(text: str, line: int, character: int) -> tuple[str, str] | None:
    """The identifier at 1-based `line`, 0-based `character`, and the keyword before it."""
    lines = text.splitlines()
    if not 0 < line <= len(lines):
        return None
    src = lines[line - 1]
    words = list(_WORD.finditer(src))
    for i, m in enumerate(words):
        if m.start() <= character <= m.end():
            if m.group(0) in ("struct", "union") and i + 1 < len(words):
                return words[i + 1].group(0), m.group(0)  # on the keyword: the tag after it
            before = src[: m.start()].rstrip()
            keyword = next((k for k in ("struct", "union") if before.endswith(k)), "")
            return m.group(0), keyword
    return None


def special_field(spec: Spec, t: Type, target: KernelFacts | None) -> str | None:
    """What the target kernel's verifier makes of a member of type `t`, if it is special.
    A kptr tag means what that kernel reads it as ("kptr" was unreferenced before 6.4)."""
    r = spec.resolve(t)
    while isinstance(r, Array):
        r = spec.resolve(r.elem)
    if isinstance(r, Ptr) and isinstance(r.type, TypeTag) and r.type.name in KPTR_TAGS:
        tag = r.type.name
        if target is None:
            return f"`{tag}`-tagged pointer"
        kind = target.tag_kinds().get(tag)
        if kind is None:
            return f"plain pointer: {target.name} does not know the tag `{tag}`"
        return _KIND_LABELS.get(kind, kind)
    if isinstance(r, Struct):
        return SPECIAL_STRUCTS.get(r.name)
    return None


def _size(t: Type) -> str:
    try:
        return str(size_of(t))
    except BTFError:
        return "?"


def describe_struct(spec: Spec, t: Composite, origin: str, target: KernelFacts | None) -> str:
    word = "union" if isinstance(t, Union) else "struct"
    head = f"**`{word} {t.name}`** — {t.size} bytes, {len(t.members)} members ({origin})"
    rows = ["| offset | size | member | type |", "| ---: | ---: | --- | --- |"]
    for m in t.members[:MAX_MEMBERS]:
        offset = f"{m.offset_bits // 8}" + (
            f" (bit {m.offset_bits % 8}, {m.bitfield_size} bits)" if m.bitfield_size else ""
        )
        special = special_field(spec, m.type, target)
        mark = f" — **{special}**" if special else ""
        ctype = c_type_name(m.type).replace("|", "\\|")
        rows.append(f"| {offset} | {_size(m.type)} | `{m.name or '(anon)'}` | `{ctype}`{mark} |")
    more = len(t.members) - MAX_MEMBERS
    tail = f"\n\n…and {more} more members." if more > 0 else ""
    return head + "\n\n" + "\n".join(rows) + tail


def _defined_in_buffer(text: str, keyword: str, name: str) -> bool:
    return re.search(rf"\b{keyword}\s+{re.escape(name)}\s*\{{", text) is not None


def _declared_by_project(model: ObjectModel, name: str) -> bool:
    """Declared in the buffer or one of the project's headers, at any depth: the object's
    DWARF records where each struct is declared, and leaves out those of any vmlinux.h
    (the project's own or a generated one, however it was included)."""
    return name in model.decls.structs


def _struct_hover(analysis: Analysis, name: str, keyword: str) -> str | None:
    model = analysis.model
    cls = Union if keyword == "union" else Struct
    local = model.spec.find(name, cls) if model and model.spec else None
    program_type = model is not None and (
        model.target is None
        or _defined_in_buffer(analysis.text, keyword, name)
        or _declared_by_project(model, name)
    )
    if isinstance(local, Composite) and local.members and model and model.spec and program_type:
        return describe_struct(
            model.spec, local, "program type, from the object's BTF", model.target
        )
    if model is not None and model.target is not None:
        kernel = model.target.spec
        found = kernel.find(name, cls)
        if isinstance(found, Composite):
            origin = "kernel type, from the kernel's BTF"
            return describe_struct(kernel, found, origin, model.target)
    if isinstance(local, Composite) and model and model.spec:
        return describe_struct(model.spec, local, "from the object's BTF", model.target)
    return None


def _map_hover(analysis: Analysis, name: str) -> str | None:
    model = analysis.model
    if model is None:
        return None
    for m in model.obj.maps:
        if m.name == name:
            text = f"**map `{name}`**: {map_detail(model.spec, m)}"
            value = _map_value(model.spec, m.type_id)
            if value is not None and model.spec is not None:
                text += "\n\nValue layout:\n\n" + describe_struct(
                    model.spec, value, "the map's value", model.target
                )
            return text
    return None


def _map_value(spec: Spec | None, type_id: int | None) -> Composite | None:
    if spec is None or type_id is None:
        return None
    d = read_map_definition(spec, type_id)
    value = spec.resolve(d.value) if d is not None and d.value is not None else None
    return value if isinstance(value, Composite) else None


def _global_hover(analysis: Analysis, name: str) -> str | None:
    model = analysis.model
    if model is None or model.spec is None:
        return None
    for t in model.spec:
        if not isinstance(t, Datasec) or t.name in (".maps", ".ksyms", ".kconfig"):
            continue
        for info in t.vars:
            var = info.var
            if isinstance(var, Var) and var.name == name:
                return (
                    f"**global `{c_type_name(var.type)} {name}`** — {_size(var.type)} bytes "
                    f"in `{t.name}` (a map libbpf creates for the object's global data)"
                )
    return None


def _prototype(spec: Spec, func: Func) -> str:
    proto = func.proto
    params = (
        ", ".join(f"{c_type_name(p.type)} {p.name}".replace("* ", "*") for p in proto.params)
        or "void"
    )
    ret = c_type_name(proto.return_type) if proto.return_id else "void"
    sep = "" if ret.endswith("*") else " "
    return f"{ret}{sep}{func.name}({params})"


def _kfunc_hover(analysis: Analysis, name: str) -> str | None:
    model = analysis.model
    if model is None or model.target is None:
        return None
    kernel = model.target.spec
    name = _KFUNC_MACROS.get(name, name)
    func = kernel.find(name, Func)
    if not isinstance(func, Func) or not any(
        t.value == "bpf_kfunc" for t in kernel.decl_tags(func)
    ):
        return None
    text = f"**kfunc** (kernel BTF, {model.target.name})\n\n```c\n{_prototype(kernel, func)}\n```"
    effect, known = ref_effect(name)
    how = (
        "the kernel's KF_ACQUIRE/KF_RELEASE lists as kptr-lsp knows them"
        if known
        else "its name only: the kernel keeps these flags out of BTF, so this is a guess"
    )
    if effect is RefEffect.ACQUIRE:
        text += f"\n\n**Acquires a reference** (per {how}): release it on every path"
        ret = kernel.resolve(func.proto.return_type)
        target = kernel.resolve(ret.type) if isinstance(ret, Ptr) else None
        rel = release_kfunc(kernel, target.name) if isinstance(target, Struct) else None
        if name in ("bpf_obj_new_impl", "bpf_percpu_obj_new_impl"):
            rel = name.replace("new", "drop")
        text += f" with `{rel}()`" if rel else ""
        text += ", or store it in a map with `bpf_kptr_xchg()`."
    elif effect is RefEffect.RELEASE:
        text += f"\n\n**Releases the reference** passed to it (per {how})."
    else:
        text += "\n\nNot on kptr-lsp's KF_ACQUIRE/KF_RELEASE lists: takes no reference."
    return text


@dataclass(frozen=True)
class Helper:
    name: str
    prototype: str
    doc: str


_HELPER = re.compile(
    r"/\*\n(?P<doc>(?: \*.*\n)*?) \*/\n"
    r"static (?P<ret>[^(]*?)\s*\(\s*\*\s*(?:const\s+)?(?P<name>\w+)\)"
    r"\((?P<args>[^)]*)\)\s*=\s*\(void \*\)\s*(?P<id>\d+);"
)


@functools.lru_cache(maxsize=4)
def helpers_in(path: str) -> dict[str, Helper]:
    """Helpers declared in a bpf_helper_defs.h, with their doc comments."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return {}
    out: dict[str, Helper] = {}
    for m in _HELPER.finditer(text):
        doc_lines = [re.sub(r"^ \*\s?", "", line) for line in m.group("doc").splitlines()]
        doc = "\n".join(line.replace("\t", "") for line in doc_lines).strip()
        if doc.startswith(m.group("name")):
            doc = doc[len(m.group("name")) :].strip()
        ret = m.group("ret").strip()
        sep = "" if ret.endswith("*") else " "
        proto = f"{ret}{sep}{m.group('name')}({m.group('args')})"
        out[m.group("name")] = Helper(m.group("name"), proto, doc)
    return out


def _helper_defs(analysis: Analysis) -> str:
    headers = analysis.compile.headers if analysis.compile is not None else ()
    for h in headers:
        if os.path.basename(h.path) == "bpf_helper_defs.h":
            return h.path
    return HELPER_DEFS


def _helper_hover(analysis: Analysis, name: str) -> str | None:
    if not name.startswith("bpf_"):
        return None
    helper = helpers_in(_helper_defs(analysis)).get(name)
    if helper is None:
        return None
    doc = helper.doc
    if len(doc) > 1200:
        doc = doc[:1200].rsplit("\n", 1)[0] + "\n…"
    return f"**helper**\n\n```c\n{helper.prototype}\n```\n\n{doc}"


def type_hover(analysis: Analysis, line: int, character: int) -> str | None:
    found = word_at(analysis.text, line, character)
    if found is None:
        return None
    name, keyword = found
    if keyword:
        return _struct_hover(analysis, name, keyword)
    for provider in (_map_hover, _global_hover, _kfunc_hover, _helper_hover):
        text = provider(analysis, name)
        if text is not None:
            return text
    return None
