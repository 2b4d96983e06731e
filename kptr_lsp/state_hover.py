"""Hover on a C line inside a program: what the verifier knew on entry to that line.

Reads the level-2 log of each program whose code lies on the line (taken on the first such
hover and kept with the analysis: `Analysis.verbose`). Blocking: the server calls hovers from a
worker thread.
"""

from __future__ import annotations

import os

from .elf.objfile import Function
from .pipeline import Analysis
from .verify.loader import Failure
from .verify.states import describe_line

MAX_STATES = 3  # distinct states shown per program; the rest are counted


def _lines_of(analysis: Analysis, fn: Function) -> set[int]:
    """Lines of the main file that the function's own instructions come from."""
    model = analysis.model
    if model is None or model.ext is None:
        return set()
    base = os.path.basename(analysis.path)
    return {
        li.line
        for li in model.ext.line_info.get(fn.section, [])
        if fn.start <= li.insn_off < fn.start + fn.count and os.path.basename(li.file) == base
    }


def programs_on_line(analysis: Analysis, line: int) -> list[str]:
    """Programs whose code is on `line`; for a line of a shared subprogram, every program that
    reached the verifier (any of them may call it)."""
    model = analysis.model
    if model is None:
        return []
    loaded = [p.name for p in analysis.programs if p.failure in (Failure.NONE, Failure.VERIFIER)]
    direct = [fn.name for fn in model.obj.programs if line in _lines_of(analysis, fn)]
    if direct:
        return [name for name in direct if name in loaded]
    subprogs = [fn for fn in model.obj.functions if not fn.is_program]
    if any(line in _lines_of(analysis, fn) for fn in subprogs):
        return loaded
    return []


def state_hover(analysis: Analysis, line: int, character: int) -> str | None:
    verbose = analysis.verbose
    if verbose is None or not analysis.verified:
        return None
    paragraphs: list[str] = []
    for program in programs_on_line(analysis, line):
        trace = verbose.trace(program)
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
