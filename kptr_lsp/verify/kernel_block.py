"""The explanation block newer kernels (7.3+) print after the classic error line, as data.

The format is kernel/bpf/diagnostics.c's (bpf_diag_header, diag_section, bpf_diag_source,
diag_print_history, diag_print_wrapped_prefixed):

    Verification failed: <Category>: <Problem>

    Reason:
      <text, wrapped at 100 columns, indented two spaces>

    At:
      <func> @ <file>:<line>:<col>          (or `<file>:<line>:<col>`, or `insn <N>`)
      Source context:
          21 | ...
      >>> 23 |         *count += 1;
             |         ^-- error: invalid dereference of R0 (a nullable map value pointer)
      Instruction context:
      >>>  8 | (79) r1 = *(u64 *)(r0 +0)

    Causal path:
      <one event per source location, as under At, separated by blank lines; the label
       after `^--` is update / acquired / released / branch / spilled / invalidated /
       context>

    Suggestion:
      <text>

`Active lock:` (bpf_diag_lock) is one more event section; its event (label `acquired`) joins
the causal path. The kernel may also say, inside `Causal path`, that events were omitted or not
retained: those sentences are kept in `notes`. The parser is total: any lines give a block or
None, never an exception; a block cut short by a rotated or truncated log keeps what it has.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..findings import Finding, Location, PathEvent

HEADER = "Verification failed: "
# The sections that hold source events; any other titled section does too (newer kernels).
_TEXT_SECTIONS = frozenset({"Reason", "Suggestion"})
_SECTION = re.compile(r"([A-Z][A-Za-z]*(?: [a-z][A-Za-z]*)*):")
_WHERE = re.compile(r"(?:(\S+) @ )?(\S+?):(\d{1,9}):(\d{1,9})")
_NO_SOURCE = re.compile(r"insn (\d{1,9})")
_ANNOTATION = re.compile(r" +\| *\^-- ([a-z][a-z_ ]*?): (.*)")
_CONTINUATION = re.compile(r" +\| +(\S.*)")
_CONTEXT_ROW = re.compile(r"  (>>> |    ) *(\d{1,9}) \| ?(.*)")


@dataclass(frozen=True)
class BlockEvent:
    """One source event the kernel printed: where, its label and its text (unwrapped)."""

    label: str  # error (the `At` event), update, acquired, released, branch, spilled, …
    text: str
    file: str  # as the kernel printed it (the name clang was given), "" when unknown
    line: int  # 0 when the kernel had no line info (`insn N`)
    column: int
    function: str | None = None
    insn: int | None = None  # the instruction marked `>>>` in its instruction context
    section: str = "Causal path"


@dataclass(frozen=True)
class KernelBlock:
    category: str  # e.g. "Register Type Safety"
    problem: str  # e.g. "Invalid dereference"; "" when the kernel printed only a category
    reason: str
    at: BlockEvent | None
    causal_path: tuple[BlockEvent, ...]
    suggestion: str
    notes: tuple[str, ...] = ()  # e.g. "3 intermediate causal-history events omitted"

    @property
    def headline(self) -> str:
        """`Register Type Safety: Invalid dereference`, as the kernel's header says it."""
        return f"{self.category}: {self.problem}" if self.problem else self.category


def split_block(lines: Sequence[str]) -> tuple[list[str], KernelBlock | None]:
    """The lines outside the kernel's block (the classic error lines, before and after it)
    and the block parsed, or None when these lines hold none."""
    start = next((i for i, line in enumerate(lines) if line.startswith(HEADER)), None)
    if start is None:
        return list(lines), None
    end = start + 1
    while end < len(lines):
        line = lines[end]
        if line.strip() and not line[:1].isspace() and not _opens_section(lines, end):
            break  # the kernel's classic words again (e.g. `BPF_EXIT instruction …`)
        end += 1
    outside = [*lines[:start], *lines[end:]]
    return outside, parse_block(lines[start:end])


def _is_section(line: str) -> bool:
    return _SECTION.fullmatch(line.rstrip()) is not None


def _opens_section(lines: Sequence[str], at: int) -> bool:
    """`Title:` followed by the section's indented lines (a classic error line that happens
    to end in a colon is not followed by any)."""
    if not _is_section(lines[at]):
        return False
    following = next((line for line in lines[at + 1 :] if line.strip()), "")
    return following[:1].isspace()


def parse_block(lines: Sequence[str]) -> KernelBlock | None:
    """Parse lines from `Verification failed:` on; None when the first is not that header."""
    if not lines or not lines[0].startswith(HEADER):
        return None
    category, _, problem = lines[0][len(HEADER) :].strip().partition(": ")
    sections: list[tuple[str, list[str]]] = []
    for line in lines[1:]:
        if not line[:1].isspace() and _is_section(line):
            sections.append((line.rstrip()[:-1], []))
        elif sections:
            sections[-1][1].append(line.rstrip())
    reason = suggestion = ""
    at: BlockEvent | None = None
    path: list[BlockEvent] = []
    notes: list[str] = []
    for title, body in sections:
        if title == "Reason":
            reason = _unwrap(body)
        elif title == "Suggestion":
            suggestion = _unwrap(body)
        elif title not in _TEXT_SECTIONS:
            events, said = _events(title, body)
            notes += said
            if title == "At" and events:
                at, *rest = events
                path += rest
            else:
                path += events
    return KernelBlock(
        category=category.strip(),
        problem=problem.strip(),
        reason=reason,
        at=at,
        causal_path=tuple(path),
        suggestion=suggestion,
        notes=tuple(notes),
    )


def _unwrap(body: Sequence[str]) -> str:
    """diag_print_wrapped_prefixed breaks text at spaces: join the pieces again."""
    return " ".join(line.strip() for line in body if line.strip())


@dataclass
class _Event:
    function: str | None
    file: str
    line: int
    column: int
    label: str = ""
    text: list[str] | None = None
    insn: int | None = None
    in_insns: bool = False
    annotating: bool = False

    def done(self, section: str) -> BlockEvent | None:
        if not self.label:
            return None
        return BlockEvent(
            label=self.label,
            text=" ".join(self.text or ()),
            file=self.file,
            line=self.line,
            column=self.column,
            function=self.function,
            insn=self.insn,
            section=section,
        )


def _events(section: str, body: Sequence[str]) -> tuple[list[BlockEvent], list[str]]:
    events: list[BlockEvent] = []
    notes: list[str] = []
    current: _Event | None = None

    def finish() -> None:
        nonlocal current
        if current is not None and (event := current.done(section)) is not None:
            events.append(event)
        current = None

    for raw in body:
        if not raw.strip():
            if current is not None:
                current.annotating = False
            continue
        stripped = raw.strip()
        if raw.startswith("  ") and not raw.startswith("   "):  # an event's own lines
            if (m := _WHERE.fullmatch(stripped)) is not None:
                finish()
                current = _Event(m.group(1), m.group(2), int(m.group(3)), int(m.group(4)))
                continue
            if (m := _NO_SOURCE.fullmatch(stripped)) is not None:
                finish()
                current = _Event(None, "", 0, 0, insn=int(m.group(1)))
                continue
            if stripped in ("Source context:", "Instruction context:"):
                if current is not None:
                    current.annotating = False
                    current.in_insns = stripped == "Instruction context:"
                continue
            if not stripped.startswith(">>>"):
                finish()
                notes.append(stripped)  # e.g. "no retained diagnostic events on this path"
                continue
        if current is None:
            continue
        if (m := _ANNOTATION.fullmatch(raw)) is not None and not current.label:
            current.label, current.text, current.annotating = m.group(1), [m.group(2)], True
        elif current.annotating and (m := _CONTINUATION.fullmatch(raw)) is not None:
            assert current.text is not None
            current.text.append(m.group(1).strip())
        elif (m := _CONTEXT_ROW.fullmatch(raw)) is not None:
            current.annotating = False
            if current.in_insns and m.group(1) == ">>> ":
                current.insn = int(m.group(2))
    finish()
    return events, notes


def block_explanation(reason: str | None, suggestion: str | None, by: str | None = "kernel") -> str:
    """The reason and suggestion, as the explanation shows them: the kernel's own (its block),
    or kptr-lsp's (`by="kptr-lsp"`: derived from the classic log, verify/causal.py)."""
    ours = by == "kptr-lsp"
    parts = []
    if reason:
        head = "Why" if ours else "The kernel's reason"
        parts.append(f"{head}: {reason}")
    if suggestion:
        head = "Suggestion" if ours else "The kernel's suggestion"
        parts.append(f"{head}: {suggestion}")
    return "\n".join(parts)


def shared_explanation(f: Finding) -> str | None:
    """`f`'s explanation without the kernel's own reason and suggestion (kptr-lsp's words)."""
    if f.explanation is None:
        return None
    own = block_explanation(f.reason, f.suggestion, f.explained_by)
    if own and f.explained_by == "kptr-lsp" and f.explanation.endswith(own):
        return f.explanation[: -len(own)].rstrip("\n") or None  # verify/causal.py: after
    if not own or not f.explanation.startswith(own):
        return f.explanation
    return f.explanation[len(own) :].lstrip("\n") or None


def headline_of(f: Finding) -> str | None:
    """The `<Category>: <Problem>` line of `f`'s message, when its kernel printed one."""
    if f.category is None:
        return None
    return f"{f.category}: {f.problem}" if f.problem else f.category


def shared_message(f: Finding) -> str:
    """`f`'s message without the kernel's headline line: what kernels without the block say."""
    headline = headline_of(f)
    if headline is None:
        return f.message
    lines = f.message.split("\n")
    return "\n".join(line for i, line in enumerate(lines) if not (i > 0 and line == headline))


def with_kernel_block(
    finding: Finding,
    block: KernelBlock | None,
    error: str,
    at_line: Callable[[str, int], Location],
    at_insn: Callable[[int], Location | None],
) -> Finding:
    """`finding` (a verifier rejection whose message starts with the kernel's classic `error`
    lines) with the kernel's block: its headline after those lines, its reason and suggestion
    ahead of the explanation, its causal path as related information on each step's line.
    `at_line(file, line)` resolves a file name as the kernel prints it, `at_insn` an
    instruction of the program (for steps the kernel had no line info for)."""
    if block is None:
        return finding

    def locate(event: BlockEvent) -> Location | None:
        if event.line > 0:
            found = at_line(event.file, event.line)
            return dataclasses.replace(found, col=event.column or found.col)
        return at_insn(event.insn) if event.insn is not None else None

    message = finding.message
    if message == error or message.startswith(error + "\n"):
        message = f"{error}\n{block.headline}{message[len(error) :]}"
    path: list[PathEvent] = []
    for event in block.causal_path:
        where = locate(event)
        if where is not None:
            path.append(PathEvent(where, event.label, event.text))
    own = block_explanation(block.reason, block.suggestion)
    # Without a catalogue entry the explanation only said so; the kernel's words replace it.
    ours = finding.explanation if finding.explanation_id is not None else None
    explanation = "\n\n".join(t for t in (own, ours) if t) or finding.explanation
    related = [*finding.related, *(e.related() for e in path)]
    return dataclasses.replace(
        finding,
        message=message,
        explanation=explanation,
        related=tuple(dict.fromkeys(related)),
        category=block.category,
        explained_by="kernel",
        problem=block.problem,
        reason=block.reason,
        causal_path=tuple(path),
        suggestion=block.suggestion,
    )
