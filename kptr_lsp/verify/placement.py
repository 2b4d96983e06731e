"""Turn load results into Findings placed on the C line where the fix belongs.

Pure: takes the object model (kptr_lsp/model.py: the object, its line info, declarations)
and the loader's results, returns Findings. The kernel's and libbpf's own words come first
and verbatim; ours follow.
"""

from __future__ import annotations

import dataclasses
import errno as errno_mod
import os
import re
from collections.abc import Iterable, Sequence

from ..btf.ext import LineInfo, line_for
from ..elf.decls import symbol_uses
from ..elf.objfile import Function
from ..findings import Finding, Location, Related, Severity, Source
from ..model import ObjectModel
from .causal import derive, with_causal_path
from .cost import budget_spent, gave_up, line_costs
from .explanations import Entry, explain
from .externs import KFUNC_NOT_FOUND, kernel_lacks_findings
from .kernel_block import with_kernel_block
from .layout import Placement, loaded_layout, locate
from .loader import Failure, ObjectResult, ProgramResult
from .log import (
    SourceNote,
    VerifierLog,
    note_may_be_stale,
    parse_log,
    source_of,
    verdict_error,
)
from .log_facts import described, log_facts, path_facts
from .map_memory import MIB
from .setup import Placeholder


def _program_label(result: ProgramResult) -> str:
    return f"program '{result.name}' (SEC(\"{result.section}\"))"


class _Locator:
    """Resolves instructions and source notes of one program to Locations."""

    def __init__(self, ctx: ObjectModel, result: ProgramResult, log: VerifierLog) -> None:
        self.ctx = ctx
        self.result = result
        self.log = log
        self._layout: list[Placement] | None = None
        self._by_basename: dict[tuple[str, int], LineInfo] = {}
        if ctx.ext is not None:
            for infos in ctx.ext.line_info.values():
                for li in infos:
                    self._by_basename.setdefault((os.path.basename(li.file), li.line), li)

    def function(self) -> Function | None:
        for fn in self.ctx.obj.programs:
            if fn.name == self.result.name:
                return fn
        return None

    def declaration(self) -> Location:
        """The program function's own line: for findings about the program as a whole."""
        loc = self.ctx.decls.functions.get(self.result.name)
        return loc or Location(self.ctx.path, 1)

    def from_note(self, note: SourceNote) -> Location:
        # The kernel prints the file name recorded in BTF; resolve it against the object's
        # line info, which also gives the column.
        li = self._by_basename.get((os.path.basename(note.file), note.line))
        if li is not None:
            return Location(_absolute(li.file, self.ctx.path), li.line, li.col)
        return Location(_absolute(note.file, self.ctx.path), note.line)

    def from_insn(self, insn: int) -> Location | None:
        note = source_of(self.log, insn)
        if note is not None and note.line > 0:
            return self.from_note(note)
        # Kernels before 6.3 print notes without "@ file:line": use the object's line info.
        return self.from_line_info(insn)

    def _owner(self, insn: int) -> tuple[Function, int, list[LineInfo]] | None:
        """The function loaded instruction `insn` comes from (libbpf appends subprograms
        after the program), the instruction's offset in its section, and that section's
        line info."""
        fn = self.function()
        if fn is None or self.ctx.ext is None or not self.result.insns:
            return None
        if self._layout is None:
            self._layout = loaded_layout(fn, self.ctx.obj.functions, self.result.insns)
        hit = locate(self._layout, insn)
        if hit is None:
            return None
        owner, insn_off = hit
        return owner, insn_off, self.ctx.ext.line_info.get(owner.section, [])

    def naming(self, insn: int, word: str) -> Location | None:
        """The source line of the function holding `insn` whose text names `word`, nearest to
        that instruction: where the code reads a field whose instruction the compiler moved."""
        found = self._owner(insn)
        if found is None:
            return None
        owner, insn_off, infos = found
        named = re.compile(rf"\b{re.escape(word)}\b")
        candidates = [
            li
            for li in infos
            if owner.start <= li.insn_off < owner.start + owner.count and named.search(li.text)
        ]
        if not candidates:
            return None
        li = min(candidates, key=lambda c: abs(c.insn_off - insn_off))
        return Location(_absolute(li.file, self.ctx.path), li.line, li.col)

    def from_line_info(self, insn: int) -> Location | None:
        """Without source notes (no BTF in the kernel): through the loaded layout."""
        li = self.line_info(insn)
        if li is None:
            return None
        return Location(_absolute(li.file, self.ctx.path), li.line, li.col)

    def line_info(self, insn: int) -> LineInfo | None:
        """The object's line info for a loaded instruction (exact, unlike a stale note)."""
        found = self._owner(insn)
        if found is None:
            return None
        _, insn_off, infos = found
        return line_for(infos, insn_off)


def _absolute(file: str, main: str) -> str:
    if os.path.isabs(file):
        return file
    if os.path.basename(file) == os.path.basename(main):
        return main
    return os.path.join(os.path.dirname(main), file)


def program_findings(ctx: ObjectModel, result: ProgramResult) -> list[Finding]:
    if result.accepted:
        return []
    if result.failure is Failure.VERIFIER:
        return _verifier_findings(ctx, result)
    if result.failure is Failure.KERNEL_LACKS:
        return []  # the object's finding says it, once (externs.kernel_lacks_findings)
    core = _core_relo_findings(ctx, result)
    if core:
        return core
    return [_with_explanation(f) for f in _load_findings(ctx, result)]


# libbpf's fixup of the verifier log (fixup_log_failed_core_relo) replaces the kernel's
# `invalid func unknown#195896080` on a poisoned instruction with these two lines.
_CORE_POISON = re.compile(r"^(\d{1,19}): <invalid CO-RE relocation>$", re.M)
_CORE_FAILED = re.compile(
    r"^failed to resolve CO-RE relocation <[^>]*> \[\d+\] (?:struct|union|enum|typedef)? ?"
    r"(?P<type>[\w]+)(?:\.(?P<field>[\w.\[\]]+))? \(.*\)$",
    re.M,
)


def _core_relo_findings(ctx: ObjectModel, result: ProgramResult) -> list[Finding]:
    """A CO-RE relocation libbpf could not resolve against this kernel: libbpf poisoned the
    instruction and the verifier stopped on it. libbpf's and the kernel's words verbatim, on
    the line that reads the field (the poisoned instruction's line, or the source line of the
    program naming the field when the compiler moved the instruction away from it)."""
    if result.failure is not Failure.RELOCATION:
        return []
    poison = _CORE_POISON.search(result.log)
    failed = _CORE_FAILED.search(result.log)
    if poison is None or failed is None:
        return []
    log = result.parsed_log
    loc = _Locator(ctx, result, log)
    insn = int(poison.group(1))
    member = failed.group("field")
    where = loc.naming(insn, member.split(".")[-1]) if member else None
    where = where or loc.from_line_info(insn) or loc.from_insn(insn) or loc.declaration()
    kernel_said = [failed.group(0), poison.group(0)]
    loaded = next((t for t in _warnings(result) if "BPF program load failed" in t), None)
    if loaded is not None:
        kernel_said.append(loaded.removeprefix("libbpf: "))
    flavor, _, _ = failed.group("type").partition("___")
    what = f"{failed.group('type')}.{member}" if member else failed.group("type")
    message = (
        "\n".join(kernel_said) + f"\nlibbpf found no {what} in this kernel's BTF (it looks "
        f"for `{flavor}`, ignoring any `___suffix`), so it could not relocate this read and "
        f"made the instruction invalid: the verifier rejected {_program_label(result)} on it. "
        "The field is missing from this kernel: guard the read with "
        "`bpf_core_field_exists()` (or `bpf_core_type_exists()`), or read it through a "
        "`___flavor` struct only on the kernels that have it."
    )
    return [
        Finding(
            where,
            Severity.ERROR,
            Source.VERIFIER,
            message,
            code="relocation",
            programs=(result.name,),
        )
    ]


def _verifier_findings(ctx: ObjectModel, result: ProgramResult) -> list[Finding]:
    log = result.parsed_log
    if _log_cut(result) and log.stats is None:
        # The kernel kept the log's start: its last line is cut mid-way, not an error, and
        # the instruction it names is not where the walk ended.
        log = dataclasses.replace(log, error=None, failing_insn=None, mentioned_insns=())
    loc = _Locator(ctx, result, log)
    # A log that lost its end (kept head) has no error: the verdict-only load has the words.
    verdict = parse_log(result.verdict_log) if result.verdict_log else None
    error = (
        log.error
        or verdict_error(result.verdict_log)
        or _libbpf_reason(result)
        or f"rejected with errno {result.errno}"
    )
    label = _program_label(result)
    related: list[Related] = []
    primary: Location | None = None
    if log.unreleased is not None:
        primary = loc.from_insn(log.unreleased.alloc_insn)
        message = (
            f"{error}\nThe reference taken here (instruction {log.unreleased.alloc_insn}) is "
            f"still held when {label} exits; release it on every path."
        )
        if log.failing_insn is not None:
            # The last note printed before the exit can be stale when the path reached the
            # exit by a jump; the object's own line info for that instruction is exact.
            exit_loc = loc.from_line_info(log.failing_insn) or loc.from_insn(log.failing_insn)
            if exit_loc is not None:
                related.append(Related(exit_loc, "the program exits here still holding it"))
    else:
        insn = log.failing_insn
        primary = None
        if insn is not None:
            # The failing statement's own line when the log's note may be the jump's (the
            # `if` before the load it led to); else the note, which names the line as the
            # kernel printed it.
            exact = loc.from_line_info(insn) if note_may_be_stale(log, insn) else None
            primary = exact or loc.from_insn(insn)
        where = f" at instruction {insn}" if insn is not None else ""
        stats_from = verdict if log.stats is None and verdict is not None else log
        message = (
            f"{error}\nThe verifier rejected {label}{where}."
            f"{_complexity(stats_from, error)}{_cut_note(result, log)}"
        )
        if gave_up(log.error):  # where the walk spent its budget (verify/cost.py)
            spent = budget_spent(line_costs(result.log), error)
            related += [Related(loc.from_note(SourceNote(0, "", f, n)), w) for (f, n), w in spent]
    for insn in log.mentioned_insns:
        if log.unreleased is not None and insn == log.unreleased.alloc_insn:
            continue
        other = loc.from_insn(insn)
        if other is not None and other != primary:
            related.append(Related(other, f"instruction {insn}, named by the verifier"))
    if primary is None:
        primary = loc.declaration()
        message += " (no source line is known for the failing instruction)"

    def line_of(insn: int) -> tuple[int, str] | None:
        li = loc.line_info(insn)
        if li is not None:
            return li.line, li.text
        note = source_of(log, insn)
        return (note.line, note.text) if note is not None and note.line > 0 else None

    # The causal path from the classic log (on 7.3+ too: its facts name the acquire, the
    # branch and the release in the catalogue's words; the kernel's own path is shown there).
    derived = derive(log)

    def facts(entry: Entry, groups: dict[str, str]) -> dict[str, str]:
        found = path_facts(derived, log, line_of)
        found.update(log_facts(log, groups, line_of, entry.calls))
        op = groups.get("op", "")
        fn = loc.function()
        if entry.id == "unknown-opcode" and fn is not None and re.fullmatch(r"[0-9a-f]{1,2}", op):
            at = _first_opcode(fn.insns, int(op, 16))
            if at is not None:
                found["opcode_at"] = described(at, line_of, log)
        return found

    explained = explain(error, facts=facts)
    if explained is None:
        path = _failing_path(loc, primary)
        related += [Related(step, f"on the failing path: `{text}`") for step, text in path[:-1]]
        explanation = _path_text(path, ctx.path)
    else:
        explanation = explained.text()
    found = [
        Finding(
            location=primary,
            severity=Severity.ERROR,
            source=Source.VERIFIER,
            message=message,
            code="verifier",
            related=tuple(related),
            programs=(result.name,),
            explanation=explanation,
            explanation_id=explained.entry.id if explained else None,
        )
    ]

    def at_line(file: str, line: int) -> Location:
        return loc.from_note(SourceNote(0, "", file, line))

    def at_step(insn: int, file: str, line: int) -> Location | None:
        exact = loc.from_line_info(insn)  # the instruction's own line and column
        if exact is not None and (not line or exact.line == line):
            return exact
        return at_line(file, line) if line else exact

    # 7.3+: the kernel's own explanation block, parsed (kernel_block.py); other kernels: the
    # causal path kptr-lsp derives from the classic log (causal.py).
    found = [with_kernel_block(f, log.kernel_block, error, at_line, loc.from_insn) for f in found]
    causal = derived if log.kernel_block is None else None
    return [with_causal_path(f, causal, error, at_step) for f in found]


def _first_opcode(code: bytes, opcode: int) -> int | None:
    """The index of the first instruction of `code` (the program's own, as in the ELF: it
    is loaded first, so the index is the kernel's) whose opcode byte is `opcode`; the second
    half of a 16-byte load (`ld_imm64`, opcode 0x18) is not an instruction of its own."""
    i = 0
    while i * 8 < len(code):
        op = code[i * 8]
        if op == opcode:
            return i
        i += 2 if op == 0x18 else 1
    return None


PATH_STEPS = 5  # source lines of the failing path shown for a message we cannot explain


def _failing_path(loc: _Locator, primary: Location) -> list[tuple[Location, str]]:
    """The last source lines the verifier walked to the failure, from the log's notes,
    oldest first and ending at the failing line."""
    steps: list[tuple[Location, str]] = []
    for note in loc.log.notes:
        found = loc.from_note(note) if note.line > 0 else loc.from_line_info(note.insn)
        if found is None:
            continue
        where = found
        if steps and steps[-1][0].line == where.line and steps[-1][0].file == where.file:
            continue
        steps.append((where, note.text.strip()))
    while steps and (steps[-1][0].file, steps[-1][0].line) != (primary.file, primary.line):
        steps.pop()  # notes after the failing line belong to other paths
    return steps[-PATH_STEPS:]


def _path_text(path: list[tuple[Location, str]], main: str) -> str:
    head = "kptr-lsp's catalogue has no explanation for this message."
    if len(path) < 2:
        return head
    lines = [
        f"line {w.line}" if w.file == main else f"{os.path.basename(w.file)}:{w.line}"
        for w, _ in path
    ]
    return f"{head} The verifier reached it through {' → '.join(lines)}."


def _with_explanation(f: Finding) -> Finding:
    """A load error (libbpf's words) explained when the catalogue knows it."""
    explained = explain(f.message.split("\n", 1)[0]) if f.severity is Severity.ERROR else None
    if explained is None or f.explanation is not None:
        return f
    return dataclasses.replace(f, explanation=explained.text(), explanation_id=explained.entry.id)


def _log_cut(result: ProgramResult) -> bool:
    """The loader says the log did not fit, or (a loader that does not say: a target kernel's
    guest) the kernel failed the load with ENOSPC, its answer for a log that did not fit."""
    return result.log_cut or result.errno == errno_mod.ENOSPC


def _cut_note(result: ProgramResult, log: VerifierLog) -> str:
    """Says that the verifier's log did not fit its buffer, and what was kept."""
    if not _log_cut(result):
        return ""
    size = f"{result.log_size / MIB:g} MiB" if result.log_size else "its"
    if log.stats is not None:
        return (
            f"\nThe verifier's log was longer than its {size} buffer; the kernel kept the "
            "end, with this error and the statistics."
        )
    return (
        f"\nThe verifier's log was longer than its {size} buffer and this kernel keeps only "
        "the start, so the line where the walk ended is not known; the kernel's words above "
        "come from a second load that logged only its verdict."
    )


def _complexity(log: VerifierLog, error: str) -> str:
    """The statistics, when the verifier gave up on the program's size rather than a bug."""
    st = log.stats
    if st is None or not (st.processed_insns > st.insn_limit or "too complex" in error):
        return ""
    return (
        f"\nIt gave up after processing {st.processed_insns} instructions (limit "
        f"{st.insn_limit}; {st.total_states} states, peak {st.peak_states}): every path and "
        "loop iteration counts; bound loops tighter, or use bpf_loop() for long ones."
    )


def _warnings(result: ProgramResult) -> list[str]:
    return [m.text.rstrip() for m in result.libbpf_messages if m.level == "warn" and m.text.strip()]


def _libbpf_reason(result: ProgramResult) -> str | None:
    """libbpf's most telling warning: the first one that is not a log dump or the final
    'failed to load object' summary."""
    for text in _warnings(result):
        if "BEGIN PROG LOAD LOG" in text or "END PROG LOAD LOG" in text:
            continue
        if re.search(r"failed to load object|failed to load BPF skeleton", text):
            continue
        return text.removeprefix("libbpf: ")
    return None


_MAP_NAME = re.compile(r"map '([^']+)'")
_EXTERN_NAME = re.compile(r"extern \([^)]*\) '([^']+)'")


def _load_findings(ctx: ObjectModel, result: ProgramResult) -> list[Finding]:
    loc = _Locator(ctx, result, result.parsed_log)
    reason = _libbpf_reason(result) or (os.strerror(result.errno) if result.errno else "unknown")
    label = _program_label(result)
    if result.failure is Failure.MAP_TOO_LARGE:
        return [
            Finding(
                ctx.decls.variables.get(m.size.name) or loc.declaration(),
                Severity.ERROR,
                Source.CHECKS,
                f"{m.message()}.\nNo program of this file was loaded into the kernel "
                "verifier: with the map over the cap, none of them could be.",
                code="map-too-large",
                programs=(result.name,),
            )
            for m in result.oversized_maps
        ]
    place: Location | None
    severity, code = Severity.ERROR, "load"
    if result.failure is Failure.MAP_CREATE:
        m = _MAP_NAME.search(reason)
        place = ctx.decls.variables.get(m.group(1)) if m else None
        message = (
            f"{reason}\nThe kernel refused to create this map, so {label} could not be verified."
        )
        code = "map-create"
    elif result.failure is Failure.RELOCATION:
        if not result.object_wide and KFUNC_NOT_FOUND.search(reason):
            return _missing_kfunc_findings(ctx, result, loc)
        m = _EXTERN_NAME.search(reason)
        place = _extern_use(ctx, result, m.group(1)) if m else None
        message = f"{reason}\nlibbpf could not prepare {label} for this kernel."
        code = "relocation"
    elif result.failure is Failure.ATTACH_TARGET:
        place, severity, code = None, Severity.INFORMATION, "attach-target"
        message = (
            f"{label} was not verified: its attach target is not in this kernel, so the "
            f"program would not load here ({reason})."
        )
    elif result.failure is Failure.NOT_PERMITTED:
        place, severity, code = None, Severity.INFORMATION, "not-verifiable"
        message = (
            f"{label} was not verified: this kernel does not allow this program type "
            f"here ({reason}). This says nothing about the code."
        )
    else:
        place = None
        errno_text = os.strerror(result.errno) if result.errno else "error"
        message = f"{reason}\n{label} failed to load ({errno_text})."
    return [
        Finding(
            place or loc.declaration(),
            severity,
            Source.VERIFIER,
            message,
            code=code,
            programs=(result.name,),
        )
    ]


def _missing_kfunc_findings(
    ctx: ObjectModel, result: ProgramResult, loc: _Locator
) -> list[Finding]:
    """A program that calls kfuncs this kernel lacks: libbpf's words for each, on the call.
    (verify/externs.py verified the programs that do not call them.)"""
    found = []
    for text in _warnings(result):
        m = KFUNC_NOT_FOUND.search(text)
        if m is None:
            continue
        found.append(
            Finding(
                _extern_use(ctx, result, m.group(1)) or loc.declaration(),
                Severity.ERROR,
                Source.VERIFIER,
                f"{text.removeprefix('libbpf: ')}\nlibbpf could not prepare "
                f"{_program_label(result)} for this kernel: loaded as compiled, it fails the "
                "whole object on this call. The programs that do not call it were verified "
                "without it.",
                code="relocation",
                programs=(result.name,),
            )
        )
    return found


def _extern_use(ctx: ObjectModel, result: ProgramResult, symbol: str) -> Location | None:
    """The line of the first use of an extern, preferring uses inside this program."""
    if ctx.ext is None:
        return ctx.decls.functions.get(symbol) or ctx.decls.variables.get(symbol)
    uses = symbol_uses(ctx.data, symbol)
    prog = next((f for f in ctx.obj.programs if f.name == result.name), None)
    if prog is not None:
        mine = [
            u
            for u in uses
            if u.section == prog.section and prog.start <= u.insn_off < prog.start + prog.count
        ]
        uses = mine or uses
    for use in uses:
        li = line_for(ctx.ext.line_info.get(use.section, []), use.insn_off)
        if li is not None:
            return Location(_absolute(li.file, ctx.path), li.line, li.col)
    return ctx.decls.functions.get(symbol)


def object_findings(ctx: ObjectModel, result: ObjectResult) -> list[Finding]:
    """Findings about the object as a whole, then each program's, merged so that one error in
    a subprogram shared by several programs is reported once, naming them all."""
    findings: list[Finding] = []
    if result.open_error:
        findings.append(
            Finding(
                Location(ctx.path, 1),
                Severity.ERROR,
                Source.VERIFIER,
                f"{result.open_error}\nlibbpf could not open the compiled object.",
                code="open",
            )
        )
    if result.btf_rejected:
        findings.append(_btf_rejected(ctx, result))
    findings.extend(_maps_without_btf(ctx, result))
    findings.extend(placeholder_findings(ctx, result))
    findings.extend(kernel_lacks_findings(ctx, result))
    for prog in result.programs:
        findings.extend(program_findings(ctx, prog))
    return merge_shared(findings)


def merge_shared(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per (place, first line of the kernel's text, severity), naming every
    program that hit it. Programs whose whole text is the same share one block; a program
    whose text differs after the first line keeps its own block, every line of it."""
    groups: dict[tuple[Location, str, Severity], list[list[Finding]]] = {}
    for f in findings:
        key = (f.location, f.message.split("\n", 1)[0], f.severity)
        blocks = groups.setdefault(key, [])
        same = next((b for b in blocks if _quoted(b[0]) == _quoted(f)), None)
        if same is None:
            blocks.append([f])
        else:
            same.append(f)
    return [_merged(blocks) for blocks in groups.values()]


# How placement names a program in its own sentences (_program_label).
_LABEL = re.compile(r"program '([^']*)' \(SEC\(\"[^\"]*\"\)\)")


def _quoted(f: Finding) -> str:
    """The kernel's or libbpf's verbatim text at the head of a finding: the lines before our
    first sentence naming the program (all of it when no sentence names one)."""
    lines = f.message.split("\n")
    for i, line in enumerate(lines):
        if i > 0 and any(f"program '{p}'" in line for p in f.programs):
            return "\n".join(lines[:i])
    return f.message


def _block(same: list[Finding]) -> str:
    """One text and the programs that got it."""
    first = same[0]
    if len(same) == 1:
        return first.message
    programs = _programs(same)
    names = ", ".join(repr(p) for p in programs)
    quoted = _quoted(first)
    if first.code == "verifier":
        return f"{quoted}\nThe verifier rejected programs {names} here."
    # Our sentence, naming them all instead of the first one.
    ours = first.message[len(quoted) :]
    return quoted + _LABEL.sub(f"programs {names}", ours, count=1)


def _programs(found: Iterable[Finding]) -> tuple[str, ...]:
    out: list[str] = []
    for f in found:
        out += [p for p in f.programs if p not in out]
    return tuple(out)


def _merged(blocks: list[list[Finding]]) -> Finding:
    everyone = [f for block in blocks for f in block]
    first = everyone[0]
    related: list[Related] = []
    for f in everyone:
        related += [r for r in f.related if r not in related]
    return dataclasses.replace(
        first,
        message="\n\n".join(_block(block) for block in blocks),
        related=tuple(related),
        programs=_programs(everyone),
    )


def sorted_findings(findings: Sequence[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (f.location.file, f.location.line, f.location.col))


_BTF_OPTIONAL = re.compile(r"Error loading \.BTF into kernel.*BTF is optional, ignoring\.")
_TYPE_DUMP_LINE = re.compile(r"^\[\d+\] ")
_RETRY_WITHOUT_BTF = re.compile(r"bpf_create_map_xattr\(([^)]+)\):(.*)\. Retrying without BTF")


def _messages(result: ObjectResult) -> list[str]:
    return [m.text.strip() for p in result.programs for m in p.libbpf_messages if m.level == "warn"]


def _btf_rejected(ctx: ObjectModel, result: ObjectResult) -> Finding:
    said = next((m for m in _messages(result) if _BTF_OPTIONAL.search(m)), None)
    head = said or "libbpf: Error loading .BTF into kernel. BTF is optional, ignoring."
    lines = [ln for ln in result.btf_log.strip().splitlines() if ln.strip()]
    # The kernel's BTF log lists every type it checked; its last line is the reason only
    # when it is not one more type (some checks fail with no message at all).
    if lines and not _TYPE_DUMP_LINE.match(lines[-1]):
        reason = f"The kernel's BTF check said: {lines[-1]}"
    elif lines:
        reason = (
            "The kernel's BTF log gives no reason: it ends after checking type "
            f"{lines[-1].split()[0]}."
        )
    else:
        reason = ""
    return Finding(
        Location(ctx.path, 1),
        Severity.WARNING,
        Source.VERIFIER,
        "\n".join(
            part
            for part in (
                head,
                reason,
                "libbpf went on without the object's BTF: kptr fields, spin locks and other "
                "special fields vanish, and the verifier log has no source lines.",
            )
            if part
        ),
        code="btf-rejected",
    )


def _maps_without_btf(ctx: ObjectModel, result: ObjectResult) -> list[Finding]:
    """Maps libbpf created only after dropping their BTF: the kernel then ignores every
    special field (kptrs, locks, timers) of the value type."""
    messages = _messages(result)
    found: dict[str, Finding] = {}
    for text in messages:
        m = _RETRY_WITHOUT_BTF.search(text)
        if m is None:
            continue
        name = m.group(1)
        if any(f"map '{name}': failed to create" in t for t in messages):
            continue  # the retry failed too: the map-create Error says it all
        found.setdefault(
            name,
            Finding(
                ctx.decls.variables.get(name) or Location(ctx.path, 1),
                Severity.WARNING,
                Source.VERIFIER,
                f"{text.removeprefix('libbpf: ')}\nThe kernel refused this map with its BTF "
                f"({m.group(2).strip()}); libbpf created it without BTF, so special fields in "
                "its value (kptrs, spin locks, timers) are plain bytes to the verifier.",
                code="map-without-btf",
            ),
        )
    return list(found.values())


_LEFT_FOR_USERSPACE = {
    "max_entries": "its size (max_entries 0)",
    "key_size": "its key size",
    "value_size": "its value size",
}


def _placeholder_text(p: Placeholder) -> str:
    if p.attribute == "max_entries":
        return f"max_entries {p.value}"
    return f"{p.attribute} {p.value} bytes"


def placeholder_findings(ctx: ObjectModel, result: ObjectResult) -> list[Finding]:
    """One Information per map that its userspace sizes at run time: what we used instead."""
    by_map: dict[str, list[Placeholder]] = {}
    for p in result.placeholders:
        by_map.setdefault(p.map_name, []).append(p)
    findings: list[Finding] = []
    for name, used in by_map.items():
        left = " and ".join(_LEFT_FOR_USERSPACE[p.attribute] for p in used)
        placeholders = ", ".join(_placeholder_text(p) for p in used)
        findings.append(
            Finding(
                ctx.decls.variables.get(name) or Location(ctx.path, 1),
                Severity.INFORMATION,
                Source.VERIFIER,
                f"map '{name}' leaves {left} to be set by its userspace before load; the "
                f"programs were verified with a placeholder of {placeholders}.",
                code="map-placeholder",
            )
        )
    return findings
