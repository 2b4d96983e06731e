"""Quick fixes for the verifier's complaints, as plain text edits. Pure: no LSP.

`fixes_for()` first asks ast_fixes.py, which places fixes on libclang's syntax tree (the
expression the register held, the statement and block around it). What follows here is the
lexical fallback, used when the tree gives nothing (libclang missing, a shape it does not know):

- `invalid mem access '…or_null…'`: return early when the pointer is NULL, right after the
  line that produced it (a map lookup or a kptr load);
- `Unreleased reference`: release the reference with the kfunc or helper that matches what
  took it, before the `return` the leaking path reaches (read from the verifier's path);
- `store to referenced kptr disallowed`: swap the pointer in with `bpf_kptr_xchg()` and
  release what comes back.

None of these is offered to the editor before the kernel accepted it (fix_proof.py).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from ..analysis import Analysis
from ..findings import Finding, Source
from ..kernel.facts import KPTR_REF
from ..kernel.kfuncs import release_kfunc


@dataclass(frozen=True)
class Edit:
    """Replace [line:col, end_line:end_col) with `text`; lines 1-based, columns 0-based."""

    line: int
    col: int
    end_line: int
    end_col: int
    text: str


@dataclass(frozen=True)
class Fix:
    title: str
    edits: tuple[Edit, ...]
    finding: Finding


def apply_edits(text: str, edits: tuple[Edit, ...] | list[Edit]) -> str:
    """The text with the (non-overlapping) edits applied."""
    lines = text.split("\n")
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)

    def offset(line: int, col: int) -> int:
        return starts[line - 1] + col

    out = text
    for e in sorted(edits, key=lambda e: (e.line, e.col), reverse=True):
        out = out[: offset(e.line, e.col)] + e.text + out[offset(e.end_line, e.end_col) :]
    return out


_IDENT = r"[A-Za-z_]\w*"
_ASSIGN = re.compile(
    rf"^(\s*)(?:(?:struct\s+{_IDENT}|{_IDENT})(?:\s*\*\s*|\s+))?({_IDENT})\s*=\s*(.+);"
)
_RETURN = re.compile(r"^(\s*)(.*?)\breturn\b(.*?);")
_OPEN_IF = re.compile(r"^\s*(?:(?:\}\s*)?else\b.*|if\s*\(.*\)|for\s*\(.*\)|while\s*\(.*\))\s*$")


def _unused_name(text: str, names: tuple[str, ...]) -> str:
    """The first of `names` the source does not use yet (suffixed if it uses them all)."""
    for name in names:
        if not re.search(rf"\b{name}\b", text):
            return name
    n = 2
    while re.search(rf"\b{names[0]}{n}\b", text):
        n += 1
    return f"{names[0]}{n}"


def _lines(analysis: Analysis) -> list[str]:
    return analysis.text.split("\n")


def _unit(line: str) -> str:
    """One level of the file's indentation, guessed from the line's own."""
    return "\t" if line.startswith("\t") or not line.startswith(" ") else "    "


# --- NULL checks --------------------------------------------------------------------------


def null_check(analysis: Analysis, finding: Finding) -> list[Fix]:
    lines = _lines(analysis)
    at = finding.line
    if not 0 < at <= len(lines):
        return []
    used = lines[at - 1]
    # The assignment nearest above whose variable the failing line dereferences.
    for n in range(at - 1, max(0, at - 40), -1):
        m = _ASSIGN.match(lines[n - 1])
        if m is None:
            continue
        var = m.group(2)
        if not re.search(rf"(?:\*\s*{var}\b|\b{var}\s*(?:->|\[))", used):
            continue
        indent = m.group(1)
        check = f"{indent}if (!{var})\n{indent}{_unit(indent)}return 0;\n"
        title = f"Return early when `{var}` is NULL"
        return [Fix(title, (Edit(n + 1, 0, n + 1, 0, check),), finding)]
    return []


# --- reference leaks ----------------------------------------------------------------------

_RINGBUF_DYNPTR = re.compile(r"bpf_ringbuf_reserve_dynptr\s*\(.*&\s*(" + _IDENT + r")\s*\)")


def _releases(analysis: Analysis, acquire_line: str, var: str) -> list[tuple[str, str]]:
    """(title, call) pairs that release what `acquire_line` took into `var`."""
    if "bpf_ringbuf_reserve(" in acquire_line:
        return [
            (f"Submit `{var}` to the ring buffer", f"bpf_ringbuf_submit({var}, 0);"),
            (f"Discard `{var}`", f"bpf_ringbuf_discard({var}, 0);"),
        ]
    if re.search(r"\bbpf_obj_new\s*\(", acquire_line):
        return [(f"Drop `{var}`", f"bpf_obj_drop({var});")]
    if "bpf_obj_new_impl(" in acquire_line:
        return [(f"Drop `{var}`", f"bpf_obj_drop_impl({var}, NULL);")]
    if "bpf_percpu_obj_new(" in acquire_line:
        return [(f"Drop `{var}`", f"bpf_percpu_obj_drop({var});")]
    struct = _declared_struct(analysis.text, var)
    model = analysis.model
    if struct is None or model is None:
        return []
    if model.target is not None and (rel := release_kfunc(model.target.spec, struct)):
        return [(f"Release `{var}` with {rel}()", f"{rel}({var});")]
    if re.search(r"\bbpf_obj_drop\b", analysis.text):
        return [(f"Drop `{var}`", f"bpf_obj_drop({var});")]
    return []


def _declared_struct(text: str, var: str) -> str | None:
    """`struct task_struct *acquired, *old;` → task_struct for `old`."""
    for m in re.finditer(rf"struct\s+({_IDENT})\s*((?:[^;{{}}()]*?,)?\s*\*\s*{var})\b", text):
        if re.search(rf"\*\s*{var}\s*$", m.group(0)):
            return m.group(1)
    return None


def _leak_path_line(analysis: Analysis, finding: Finding) -> int | None:
    """The last line of the main file on the leaking path other than the function's own."""
    for result in analysis.programs:
        if finding.programs and result.name not in finding.programs:
            continue
        log = result.parsed_log
        if log.unreleased is None:
            continue
        decl = analysis.model.decls.functions.get(result.name) if analysis.model else None
        skip = decl.line if decl is not None else -1
        base = analysis.path.rsplit("/", 1)[-1]
        for note in reversed(log.notes):
            if note.line != skip and note.file.rsplit("/", 1)[-1] == base:
                return note.line
    return None


def release_leak(analysis: Analysis, finding: Finding) -> list[Fix]:
    lines = _lines(analysis)
    at = finding.line
    if not 0 < at <= len(lines) or "Unreleased reference" not in finding.message:
        return []
    acquire = lines[at - 1]
    dyn = _RINGBUF_DYNPTR.search(acquire)
    if dyn is not None:
        var = dyn.group(1)
        releases = [
            (f"Submit the record in `{var}`", f"bpf_ringbuf_submit_dynptr(&{var}, 0);"),
            (f"Discard the record in `{var}`", f"bpf_ringbuf_discard_dynptr(&{var}, 0);"),
        ]
    else:
        m = _ASSIGN.match(acquire)
        if m is None:
            return []
        var = m.group(2)
        releases = _releases(analysis, acquire, var)
    last = _leak_path_line(analysis, finding)
    if last is None or not releases:
        return []
    ret_line = next(
        (n for n in range(last, min(len(lines), last + 40) + 1) if _RETURN.match(lines[n - 1])),
        None,
    )
    if ret_line is None:
        return []
    return [
        Fix(title + " before this return", _release_before(lines, ret_line, var, call), finding)
        for title, call in releases
    ]


def _release_before(lines: list[str], ret_line: int, var: str, call: str) -> tuple[Edit, ...]:
    src = lines[ret_line - 1]
    m = _RETURN.match(src)
    assert m is not None
    indent, lead, value = m.group(1), m.group(2), m.group(3).strip()
    unit = _unit(indent)
    body: list[str] = []
    if re.search(rf"\b{var}\b", value):
        # The return value reads the reference: compute it before releasing.
        ret = _unused_name("\n".join(lines), ("ret", "retval", "ret_value"))
        body += [f"long {ret} = {value};", call, f"return {ret};"]
    else:
        body += [call, f"return {value};" if value else "return;"]
    braces = bool(lead.strip()) or (ret_line > 1 and _OPEN_IF.match(lines[ret_line - 2]))
    if lead.strip():  # `if (x) return …;` on one line
        head = f"{indent}{lead.rstrip()} {{\n"
        inner = "".join(f"{indent}{unit}{b}\n" for b in body)
        text = head + inner + f"{indent}}}"
    elif braces:  # the return is the lone body of an `if`/`else` above: brace it
        outer = indent[: -len(unit)] if indent.endswith(unit) else indent
        inner = "".join(f"{indent}{b}\n" for b in body)
        above = lines[ret_line - 2]
        if "//" in above or "/*" in above:
            return (Edit(ret_line, 0, ret_line, m.end(), f"{outer}{{\n{inner}{outer}}}"),)
        opening = Edit(ret_line - 1, len(above.rstrip()), ret_line - 1, len(above), " {")
        return (opening, Edit(ret_line, 0, ret_line, m.end(), f"{inner}{outer}}}"))
    else:
        text = "\n".join(f"{indent}{b}" for b in body)
    end = m.end()
    return (Edit(ret_line, 0, ret_line, end, text),)


# --- stores into referenced kptrs ---------------------------------------------------------

_STORE = re.compile(rf"^(\s*)({_IDENT}\s*->\s*({_IDENT})|{_IDENT}\.({_IDENT}))\s*=\s*([^;=]+);")


def kptr_xchg(analysis: Analysis, finding: Finding) -> list[Fix]:
    lines = _lines(analysis)
    at = finding.line
    if not 0 < at <= len(lines) or "store to referenced kptr disallowed" not in finding.message:
        return []
    m = _STORE.match(lines[at - 1])
    model = analysis.model
    ctx = analysis.checks_context
    if m is None or model is None or model.target is None or ctx is None:
        return []
    indent, lhs, field_name = m.group(1), m.group(2), m.group(3) or m.group(4)
    value = m.group(5).strip()
    fields = [f for v in ctx.values for f in v.scan.fields]
    kptr = next((f for f in fields if (f.name, f.kind) == (field_name, KPTR_REF)), None)
    if kptr is None or not kptr.target.name:
        return []
    struct = kptr.target.name
    if kptr.kernel_struct:
        release = release_kfunc(model.target.spec, struct)
    else:
        release = "bpf_obj_drop" if re.search(r"\bbpf_obj_drop\b", analysis.text) else None
    if release is None:
        return []
    old = _unused_name(analysis.text, ("old", f"old_{field_name}", f"old_{field_name}_kptr"))
    unit = _unit(indent)
    text = (
        f"{indent}struct {struct} *{old} = bpf_kptr_xchg(&{lhs}, {value});\n"
        f"{indent}if ({old})\n{indent}{unit}{release}({old});"
    )
    end = m.end()
    title = f"Store with bpf_kptr_xchg() and release the old value with {release}()"
    return [Fix(title, (Edit(at, 0, at, end, text),), finding)]


def fixes_for(analysis: Analysis, finding: Finding) -> list[Fix]:
    """The quick fixes for one of the analysis's verifier findings."""
    same = os.path.realpath(finding.file) == os.path.realpath(analysis.path)
    if finding.source is not Source.VERIFIER or not same:
        return []
    from .ast_fixes import tree_fixes  # placed on libclang's tree (imports this module)

    placed = tree_fixes(analysis, finding)
    if placed:
        return placed
    if "invalid mem access" in finding.message and "or_null" in finding.message:
        return null_check(analysis, finding)
    if "Unreleased reference" in finding.message:
        return release_leak(analysis, finding)
    if "store to referenced kptr disallowed" in finding.message:
        return kptr_xchg(analysis, finding)
    return []
