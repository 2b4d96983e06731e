"""Hover on a C line inside a program: what the verifier knew on entry to that line.

Reads the level-2 log of each program whose code lies on the line (taken on the first such
hover and kept with the analysis: `Analysis.verbose`). Blocking: the server calls hovers from a
worker thread.
"""

from __future__ import annotations

from collections.abc import Callable

from ...analysis import Analysis
from ...verify.layout import insn_lines
from ...verify.states import describe_line

MAX_STATES = 3  # distinct states shown per program; the rest are counted


def state_hover(analysis: Analysis, line: int, character: int) -> str | None:
    verbose = analysis.verbose
    if verbose is None or not analysis.verified:
        return None
    paragraphs: list[str] = []
    for program in analysis.programs_on_line(line):
        trace = verbose.trace(program, _line_of(analysis, program))
        if trace is None:
            continue
        described = describe_line(trace, analysis.path, line, limit=MAX_STATES)
        if described is None:
            continue
        states, more, visits = described
        paths = "once" if visits == 1 else f"{visits} times"
        distinct = f", {len(states) + more} distinct states" if len(states) + more > 1 else ""
        head = (
            f"**Verifier state** on entry to line {line} in program `{program}` "
            f"(walked {paths}{distinct}):"
        )
        blocks = []
        for i, bullets in enumerate(states):
            title = f"State {i + 1}:\n" if len(states) > 1 else ""
            body = "\n".join(f"- {b}" for b in bullets) or "- no live registers or stack slots"
            blocks.append(title + body)
        text = head + "\n\n" + "\n\n".join(blocks)
        if more:
            text += f"\n\n…and {more} more distinct state{'s' if more > 1 else ''}."
        paragraphs.append(text)
    return "\n\n".join(paragraphs) or None


def _line_of(analysis: Analysis, program: str) -> Callable[[int], tuple[str, int] | None] | None:
    """Source lines of the program's loaded instructions, by the object's line info (for a
    kernel whose log names none: Debian's 6.1 in a guest)."""
    model = analysis.model
    result = next((p for p in analysis.programs if p.name == program), None)
    fn = next((f for f in model.obj.programs if f.name == program), None) if model else None
    if model is None or result is None or fn is None or not result.insns:
        return None
    return insn_lines(fn, model.obj.functions, model.ext, result.insns)
