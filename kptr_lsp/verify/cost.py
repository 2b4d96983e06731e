"""Where the verifier spends its budget: instructions processed per C line, from its own log.

Pure. At log level 2 the verifier prints every instruction it processes (`N: (op) ...`) under
the source note of its line (`; <text> @ <file>:<line>`, printed when the line changes), and
every instruction where it pruned the walk because an equivalent state was already proven safe
(`N: safe`, `from A to B: safe`). Both count in its `processed N insns` total (do_check in
kernel/bpf/verifier.c increments `insn_processed` before the pruning check), so over a whole
level-2 log the per-line counts add up to that total exactly: `ProgramCost.complete`.

A walk that hits a verifier limit has a log far bigger than any buffer; the kernel (6.4+) keeps
its end. That end, even at level 1 (a path that never finished is never cut from the log), is a
sample of where the walk spent its last instructions: `ProgramCost.complete` is False then and
the counts are those of the sample.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from .log import FROM_LINE, PROCESSED_LINE, log_body

_INSN = re.compile(r"(\d{1,19}): (?:\(([0-9a-f]{2})\) (.*)|<invalid [^>]*>\s*)")
_NOTE = re.compile(r"; (.*) @ (\S+):(\d{1,19})")
_SAFE = re.compile(r"(?:from \d{1,19} to )?(\d{1,19})(?: \(speculative execution\))?: safe")
_STATE_LINE = re.compile(r"\d{1,19}:((?: (?:frame\d+:|R\d+\w*=|fp-?\d+\w*=|refs=).*)?)")
_JUMP = re.compile(r"\bgoto(?:l)? pc([+-]\d{1,19})")
_COND = re.compile(r"if (?:w|r)(\d{1,2}) \S+ (?:(?:w|r)(\d{1,2})|\S+) goto")
_REG = re.compile(r"\bR(\d{1,2})(?:_\w+)?=(\S+)")
_CONST = re.compile(r"P?-?(?:0x[0-9a-f]+|\d+)")
_MAY_GOTO = re.compile(r"\bmay_goto\b")

# The messages with which the verifier gives up on a program's size or shape rather than on a
# bug of one instruction (kernel/bpf/verifier.c: do_check, push_stack, is_state_visited).
BUDGET_ERROR = re.compile(
    r"BPF program is too large\. Processed \d+ insn"
    r"|The sequence of \d+ jumps is too complex"
    r"|infinite loop detected at insn \d+"
)

Line = tuple[str, int]  # (file as the kernel prints it, line)


@dataclass(frozen=True)
class LineCost:
    """What the verifier did on one source line."""

    file: str
    line: int
    text: str  # the source text the kernel printed for it
    insns: int  # instructions processed on it, pruned ones included
    visits: int  # times the walk came to the line (from another line, or a new path)
    pruned: int  # times the walk stopped here: an equivalent state was already proven safe
    branches: int  # paths the verifier took up here, left pending by an earlier branch
    cond_jumps: int  # conditional jumps it walked on the line
    # ... of them on a register it did not know as one number: a branch it may have left
    # pending, to verify later (printed values; the log shows no push as such)
    undecided: int = 0


@dataclass(frozen=True)
class Loop:
    """A back-edge the walk took: a loop of instructions [head, tail]."""

    head: int  # first instruction (the back-edge's target)
    tail: int  # the jump back
    taken: int  # times the walk jumped back
    insns: int  # instructions processed inside [head, tail]
    lines: tuple[Line, ...]  # the source lines of the loop's instructions, in source order


@dataclass(frozen=True)
class ProgramCost:
    lines: tuple[LineCost, ...]  # hottest first
    counted: int  # instructions counted in the log
    processed: int | None  # the verifier's own `processed N insns`, when the log has it
    loops: tuple[Loop, ...] = ()  # most instructions first
    unplaced: int = 0  # counted instructions no source line is known for

    @property
    def complete(self) -> bool:
        """The log held the whole walk: the counts add up to the verifier's total."""
        return self.processed is not None and self.counted == self.processed

    @property
    def total(self) -> int:
        """What shares are taken of: the verifier's total for a whole walk, else the sample."""
        return self.processed if self.complete and self.processed else self.counted

    def share(self, cost: LineCost) -> float:
        return cost.insns / self.total if self.total else 0.0

    def at(self, file: str, line: int) -> LineCost | None:
        base = os.path.basename(file)
        return next(
            (c for c in self.lines if c.line == line and os.path.basename(c.file) == base), None
        )

    @property
    def hottest(self) -> LineCost | None:
        return self.lines[0] if self.lines else None


@dataclass
class _Counter:
    insns: int = 0
    visits: int = 0
    pruned: int = 0
    branches: int = 0
    cond_jumps: int = 0
    undecided: int = 0


@dataclass
class _Walk:
    per_line: dict[Line, _Counter] = field(default_factory=dict)
    texts: dict[Line, str] = field(default_factory=dict)
    line_of_insn: dict[int, Line] = field(default_factory=dict)  # learned from the notes
    # Instructions seen before any note (a log whose head was rotated away), by index.
    pending: dict[int, int] = field(default_factory=dict)
    pending_safe: dict[int, int] = field(default_factory=dict)
    per_insn: dict[int, int] = field(default_factory=dict)
    back_edges: dict[tuple[int, int], int] = field(default_factory=dict)
    where: Line | None = None
    regs: dict[str, str] = field(default_factory=dict)  # last printed value per register
    visiting: Line | None = None
    counted: int = 0

    def counter(self, at: Line) -> _Counter:
        c = self.per_line.get(at)
        if c is None:
            c = self.per_line[at] = _Counter()
        return c

    def step(self, insn: int, at: Line, *, safe: bool, cond: bool, undecided: bool) -> None:
        c = self.counter(at)
        c.insns += 1
        if at != self.visiting:
            c.visits += 1
        self.visiting = at
        if safe:
            c.pruned += 1
            self.visiting = None  # the path ends here
        if cond:
            c.cond_jumps += 1
            c.undecided += undecided


def line_costs(log_text: str, line_of: Callable[[int], Line | None] | None = None) -> ProgramCost:
    """Count a verifier log per source line. `line_of(insn)` places instructions the log's own
    notes do not (a log that lost its head; a kernel that prints no `@ file:line`), typically
    through the object's .BTF.ext line info. Never raises."""
    w = _Walk()
    processed: int | None = None
    for raw in log_body(log_text):
        if not raw or raw[0] == " ":
            if not raw.strip():
                w.visiting = None  # a blank line separates paths (level 2)
            continue
        c0 = raw[0]
        if c0.isdigit():
            m = _INSN.fullmatch(raw)
            if m is not None:
                insn = int(m.group(1))
                asm, _, state = (m.group(3) or "").partition(" ;")
                cond = _COND.match(asm)
                undecided = cond is not None and any(
                    r is not None and _CONST.fullmatch(w.regs.get(r, "")) is None
                    for r in cond.groups()
                )
                _count(w, insn, safe=False, cond=cond is not None, undecided=undecided)
                if state:
                    w.regs.update(_REG.findall(state))
                j = _JUMP.search(asm)
                if j is not None and int(j.group(1)) < 0 and _MAY_GOTO.search(asm) is None:
                    edge = (insn + 1 + int(j.group(1)), insn)
                    w.back_edges[edge] = w.back_edges.get(edge, 0) + 1
                continue
            if raw.endswith(": safe") and (s := _SAFE.fullmatch(raw)) is not None:
                _count(w, int(s.group(1)), safe=True, cond=False, undecided=False)
            elif (st := _STATE_LINE.match(raw)) is not None:
                w.regs = dict(_REG.findall(st.group(1)))
            continue
        if c0 == ";":
            n = _NOTE.fullmatch(raw)
            if n is not None:
                w.where = (n.group(2), int(n.group(3)))
                w.texts.setdefault(w.where, n.group(1).strip())
            continue
        if c0 == "f" and raw.startswith("from "):
            if raw.endswith(": safe") and (s := _SAFE.fullmatch(raw)) is not None:
                w.visiting = None
                _count(w, int(s.group(1)), safe=True, cond=False, undecided=False)
            elif (f := FROM_LINE.match(raw)) is not None:
                w.visiting = None
                w.regs = dict(_REG.findall(raw[f.end() :]))
                target = int(f.group(2))
                at = w.line_of_insn.get(target) or (line_of(target) if line_of else None)
                if at is not None:
                    w.counter(at).branches += 1
            continue
        if c0 == "p" and (p := PROCESSED_LINE.match(raw)) is not None:
            processed = int(p.group(1))
    unplaced = _place_pending(w, line_of)
    return ProgramCost(
        lines=_ranked(w),
        counted=w.counted,
        processed=processed,
        loops=_loops(w, line_of),
        unplaced=unplaced,
    )


def _count(w: _Walk, insn: int, *, safe: bool, cond: bool, undecided: bool) -> None:
    w.counted += 1
    w.per_insn[insn] = w.per_insn.get(insn, 0) + 1
    if safe:
        # Printed before the instruction's note: place it where the walk saw it before.
        at = w.line_of_insn.get(insn)
        if at is None:
            w.pending_safe[insn] = w.pending_safe.get(insn, 0) + 1
            return
    else:
        at = w.where
        if at is None:
            w.pending[insn] = w.pending.get(insn, 0) + 1
            return
        w.line_of_insn.setdefault(insn, at)
    w.step(insn, at, safe=safe, cond=cond, undecided=undecided)


def _place_pending(w: _Walk, line_of: Callable[[int], Line | None] | None) -> int:
    """Instructions met before their line was known, placed now; returns how many stay unknown."""
    unplaced = 0
    for table, safe in ((w.pending, False), (w.pending_safe, True)):
        for insn, times in table.items():
            at = w.line_of_insn.get(insn) or (line_of(insn) if line_of else None)
            if at is None:
                unplaced += times
                continue
            c = w.counter(at)
            c.insns += times
            c.visits += times if safe else 0
            c.pruned += times if safe else 0
            w.texts.setdefault(at, "")
    return unplaced


def _ranked(w: _Walk) -> tuple[LineCost, ...]:
    costs = [
        LineCost(f, ln, w.texts.get((f, ln), ""), c.insns, c.visits, c.pruned, c.branches,
                 c.cond_jumps, c.undecided)
        for (f, ln), c in w.per_line.items()
        if c.insns or c.branches
    ]  # fmt: skip
    costs.sort(key=lambda c: (-c.insns, c.file, c.line))
    return tuple(costs)


def _loops(w: _Walk, line_of: Callable[[int], Line | None] | None) -> tuple[Loop, ...]:
    loops: list[Loop] = []
    for (head, tail), taken in w.back_edges.items():
        insns = sum(n for i, n in w.per_insn.items() if head <= i <= tail)
        lines: set[Line] = set()
        for i in w.per_insn:
            if head <= i <= tail:
                at = w.line_of_insn.get(i) or (line_of(i) if line_of else None)
                if at is not None:
                    lines.add(at)
        loops.append(Loop(head, tail, taken, insns, tuple(sorted(lines, key=lambda x: x[1]))))
    loops.sort(key=lambda lp: (-lp.insns, lp.head))
    return tuple(loops)


def gave_up(error: str | None) -> bool:
    """The verifier stopped on a limit of its walk, not on one bad instruction."""
    return error is not None and BUDGET_ERROR.search(error) is not None


def line_deltas(
    old: ProgramCost, new: ProgramCost, old_source: str = "", new_source: str = ""
) -> dict[Line, int]:
    """Change in instructions processed per line of `new` since `old`. Lines are matched by
    file and text (the n-th line with a text matches the n-th), so that inserting lines above
    a loop does not read as a change of its cost; a line new since `old` has no entry. The
    kernel prints the text BTF recorded, which is empty for a buffer compiled from stdin:
    `*_source` (the main file's text) fills it in."""

    def keyed(cost: ProgramCost, source: str) -> list[tuple[tuple[str, str], LineCost]]:
        lines = source.splitlines()
        out = []
        for c in sorted(cost.lines, key=lambda c: (c.file, c.line)):
            text = c.text.strip() or (lines[c.line - 1].strip() if 0 < c.line <= len(lines) else "")
            if text:
                out.append(((os.path.basename(c.file), text), c))
        return out

    before: dict[tuple[str, str], list[LineCost]] = {}
    for key, c in keyed(old, old_source):
        before.setdefault(key, []).append(c)
    out: dict[Line, int] = {}
    seen: dict[tuple[str, str], int] = {}
    for key, c in keyed(new, new_source):
        n = seen.get(key, 0)
        seen[key] = n + 1
        match = before.get(key, [])
        if n < len(match):
            out[(c.file, c.line)] = c.insns - match[n].insns
    return out


HOT_SPOTS = 3  # lines named besides the loop when the verifier gives up


def budget_spent(cost: ProgramCost, error: str) -> list[tuple[Line, str]]:
    """Where a walk that hit a verifier limit spent its instructions, as (line, words): the
    loop it went round most, then the lines with the most instructions. The counts are those
    of the log the kernel kept (its end), which says so."""
    if not cost.counted:
        return []
    span = (
        f"{cost.counted:,} instructions processed"
        if cost.complete
        else f"last {cost.counted:,} instructions it processed before giving up"
    )
    said: dict[Line, list[str]] = {}
    loop = cost.loops[0] if cost.loops else None
    if loop is not None and loop.lines:
        first, last = loop.lines[0], loop.lines[-1]
        where = f"lines {first[1]}–{last[1]}" if first[1] != last[1] else f"line {first[1]}"
        inside = "all" if loop.insns == cost.counted else f"{loop.insns:,}"
        said[first] = [
            f"the loop ({where}) the walk spent its budget in: {inside} of the {span} were "
            f"inside it, going round {loop.taken:,} times; the verifier checks every "
            "iteration on its own"
        ]
    jumps = "jumps is too complex" in error
    for c in cost.lines[:HOT_SPOTS]:
        pct = c.insns * 100 // cost.counted
        if not pct:
            break
        words = f"{pct} % of the {span} were on this line"
        if jumps and c.undecided:
            words += (
                f"; {c.undecided:,} of its conditional jumps tested a value the verifier did "
                "not know, and each such jump leaves the other branch pending: those pile up "
                "into the jump sequence"
            )
        said.setdefault((c.file, c.line), []).append(words)
    return [(at, "; ".join(parts)) for at, parts in said.items()]
