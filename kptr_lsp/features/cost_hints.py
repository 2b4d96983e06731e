"""Per-line verifier cost of an analysed buffer, for the editor: inlay hints (`×1,063 · 4,252
insns` after the line), a hover paragraph with the change since the last save, and the code
lens's `hottest: line 30, 72 % of processed insns`. Pure: no LSP types here.

The counts come from verify/cost.py over the level-2 log the state hover takes
(`Analysis.verbose`, on first use and kept). A program the verifier gave up on (too large,
too complex) is counted from the analysis's own log instead: the end of the walk, which the
kernel keeps; a level-2 walk to the same limit would cost as much again and be cut alike.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..analysis import Analysis
from ..verify.cost import LineCost, ProgramCost, gave_up, line_costs, line_deltas
from ..verify.loader import Failure, ProgramResult


@dataclass(frozen=True)
class CostHint:
    """One inlay hint: after `line` (1-based) of the analysed file."""

    line: int
    label: str
    tooltip: str


def _result(analysis: Analysis, program: str) -> ProgramResult | None:
    return next((r for r in analysis.programs if r.name == program), None)


def program_cost(analysis: Analysis, program: str, *, load: bool = True) -> ProgramCost | None:
    """The program's per-line cost; `load=False` answers only from logs already taken."""
    result = _result(analysis, program)
    if result is None or result.failure not in (Failure.NONE, Failure.VERIFIER):
        return None
    # The error and statistics end the log: its tail says whether the walk hit a limit.
    sample = result.log if not result.accepted and gave_up(result.log[-4096:]) else None
    verbose = analysis.verbose
    if verbose is None:
        return line_costs(sample) if sample is not None else None
    return verbose.cost(program, load=load, sample=sample)


def _loaded(analysis: Analysis) -> list[str]:
    if not analysis.verified:
        return []
    return [p.name for p in analysis.programs if p.failure in (Failure.NONE, Failure.VERIFIER)]


def _mine(analysis: Analysis, cost: LineCost) -> bool:
    return os.path.basename(cost.file) == os.path.basename(analysis.path)


def _pct(share: float) -> str:
    return f"{share * 100:.0f} %" if share >= 0.01 or share == 0 else "<1 %"


def _of_total(cost: ProgramCost) -> str:
    if cost.complete:
        return f"of {cost.total:,}"
    return f"of the last {cost.counted:,} it processed before giving up"


def _walked(c: LineCost) -> str:
    parts = [f"walked {'once' if c.visits == 1 else f'{c.visits:,} times'}"]
    if c.pruned:
        parts.append(f"pruned {c.pruned:,} times (state already proven safe)")
    if c.branches:
        parts.append(f"{c.branches:,} pending branches taken up here")
    return ", ".join(parts)


def inlay_hints(analysis: Analysis, min_insns: int) -> list[CostHint]:
    """A hint after every line of the file on which the verifier processed at least
    `min_insns` instructions (summed over the programs whose code is on it)."""
    per_line: dict[int, list[tuple[str, ProgramCost, LineCost]]] = {}
    for program in _loaded(analysis):
        cost = program_cost(analysis, program)
        if cost is None:
            continue
        for c in cost.lines:
            if _mine(analysis, c):
                per_line.setdefault(c.line, []).append((program, cost, c))
    hints: list[CostHint] = []
    for line in sorted(per_line):
        entries = per_line[line]
        insns = sum(c.insns for _, _, c in entries)
        if insns < max(1, min_insns):
            continue
        visits = sum(c.visits for _, _, c in entries)
        tooltip = "\n".join(
            f"`{program}`: {c.insns:,} instructions processed on this line "
            f"({_pct(cost.share(c))} {_of_total(cost)}), {_walked(c)}"
            for program, cost, c in entries
        )
        hints.append(CostHint(line, f"×{visits:,} · {insns:,} insns", tooltip))
    return hints


def cost_hover(analysis: Analysis, line: int, character: int) -> str | None:
    """What the verifier spent on this line, per program, and the change since the last save."""
    paragraphs: list[str] = []
    for program in analysis.programs_on_line(line):
        cost = program_cost(analysis, program)
        c = cost.at(analysis.path, line) if cost is not None else None
        if cost is None or c is None:
            continue
        text = (
            f"**Verifier cost** of line {line} in `{program}`: {c.insns:,} instructions "
            f"processed ({_pct(cost.share(c))} {_of_total(cost)}), {_walked(c)}."
        )
        delta = _delta(analysis, program, cost, c)
        if delta is not None:
            text += f" Since the last save: {delta:+,} instructions" + (
                " (unchanged)." if delta == 0 else "."
            )
        paragraphs.append(text)
    return "\n\n".join(paragraphs) or None


def _delta(analysis: Analysis, program: str, cost: ProgramCost, c: LineCost) -> int | None:
    verbose = analysis.verbose
    baseline = verbose.baseline if verbose is not None else None
    old = baseline.cost(program, load=False) if baseline is not None else None
    if old is None or not (old.complete and cost.complete):
        return None
    assert baseline is not None and verbose is not None
    return line_deltas(old, cost, baseline.source, verbose.source).get((c.file, c.line))


def hottest_summary(analysis: Analysis, program: str) -> str | None:
    """` · hottest: line 30, 72 % of processed insns`, once the program's cost is known."""
    cost = program_cost(analysis, program, load=False)
    top = cost.hottest if cost is not None else None
    if cost is None or top is None or not _mine(analysis, top):
        return None
    what = "processed insns" if cost.complete else "the last insns before the limit"
    return f"hottest: line {top.line}, {_pct(cost.share(top))} of {what}"
