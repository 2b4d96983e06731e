"""What the code lens above each program says: the verifier's verdict and its statistics,
and how the instruction count moved since the previous save. Pure: no LSP types here.

The statistics come from the verifier log: `processed N insns ... peak_states P` at every log
level, `verification time T usec` and `stack depth D+D...` only with BPF_LOG_STATS (4) in
the log level, which the default setting (5) includes.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from ..analysis import Analysis
from ..findings import Location
from ..verify.externs import STRUCT_OPS_NOT_FOUND
from ..verify.loader import NOT_VERIFIABLE, Failure, ProgramResult
from ..verify.log import Stats
from ..verify.struct_ops_link import refused_link_map

T = TypeVar("T")


class Verdict(enum.StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"  # by the verifier, or libbpf could not prepare it
    NOT_VERIFIED = "not verified"  # not loadable here for reasons outside the code, or no bpf()


@dataclass(frozen=True)
class ProgramLens:
    program: str
    section: str
    location: Location  # the program function's declaration
    verdict: Verdict
    stats: Stats | None
    delta_insns: int | None  # change in processed insns since the previous save
    title: str


_VERDICT_MARK = {Verdict.ACCEPTED: "✓", Verdict.REJECTED: "✗", Verdict.NOT_VERIFIED: "–"}
_NOT_VERIFIED = {
    Failure.ATTACH_TARGET: "not verified: its attach target is not in this kernel",
    Failure.NOT_PERMITTED: "not verified: this kernel does not allow this program type here",
    Failure.KERNEL_LACKS: "not verifiable here: this kernel lacks what the object plugs into",
}


def verdict_of(result: ProgramResult) -> Verdict:
    if result.accepted:
        return Verdict.ACCEPTED
    if result.failure in NOT_VERIFIABLE:
        return Verdict.NOT_VERIFIED
    return Verdict.REJECTED


def _not_verified(result: ProgramResult) -> str:
    """Why the program was not verified here, in a few words (the lens title)."""
    if result.failure is Failure.KERNEL_LACKS:
        text = "".join(m.text for m in result.libbpf_messages)
        found = STRUCT_OPS_NOT_FOUND.search(text)
        if found is not None:
            return f"not verifiable here: this kernel has no struct {found.group(1)}"
        if refused_link_map(result) is not None:
            return "not verifiable here: this kernel has no struct_ops links (6.4+)"
    return _NOT_VERIFIED.get(result.failure, "")


def insn_counts(analysis: Analysis) -> dict[str, int]:
    """Processed instructions per program, for the programs whose log has statistics."""
    out: dict[str, int] = {}
    for result in analysis.programs:
        stats = result.parsed_log.stats
        if stats is not None:
            out[result.name] = stats.processed_insns
    return out


def _duration(us: int) -> str:
    return f"{us} µs" if us < 1000 else f"{us / 1000:.1f} ms"


def lens_title(verdict: Verdict, stats: Stats | None, delta: int | None, reason: str = "") -> str:
    """E.g. `✓ 1,204 insns (+37) · 12 peak states · 0.3 ms · stack 16 B`."""
    mark = _VERDICT_MARK[verdict]
    if verdict is Verdict.NOT_VERIFIED:
        return f"{mark} {reason or 'not verified'}"
    parts = [] if verdict is Verdict.ACCEPTED else ["rejected"]
    if stats is not None:
        moved = f" ({delta:+,})" if delta else ""
        parts.append(f"{stats.processed_insns:,} insns{moved}")
        parts.append(f"{stats.peak_states:,} peak state{'' if stats.peak_states == 1 else 's'}")
        if stats.verification_time_us is not None:
            parts.append(_duration(stats.verification_time_us))
        if stats.stack_depth:
            parts.append(f"stack {'+'.join(str(d) for d in stats.stack_depth)} B")
    elif verdict is Verdict.REJECTED:
        parts.append("not loaded")
    return f"{mark} {' · '.join(parts)}"


def program_lenses(
    analysis: Analysis, previous: Mapping[str, int] | None = None
) -> list[ProgramLens]:
    """One lens per program of the analysed object, at its declaration. `previous` holds the
    processed instruction counts of the previous save, by program name."""
    model = analysis.model
    if model is None:
        return []
    results = {r.name: r for r in analysis.programs}
    lenses: list[ProgramLens] = []
    for fn in model.obj.programs:
        location = model.decls.functions.get(fn.name)
        if location is None:
            continue
        result = results.get(fn.name)
        if result is None:
            reason = analysis.not_verified_reason or "not verified"
            title = lens_title(Verdict.NOT_VERIFIED, None, None, f"not verified: {reason}")
            lenses.append(
                ProgramLens(fn.name, fn.section, location, Verdict.NOT_VERIFIED, None, None, title)
            )
            continue
        verdict = verdict_of(result)
        stats = result.parsed_log.stats
        delta = None
        if stats is not None and previous is not None and fn.name in previous:
            delta = stats.processed_insns - previous[fn.name]
        reason = _not_verified(result)
        title = lens_title(verdict, stats, delta, reason) + other_kernels(analysis, fn.name)
        if fn.name in analysis.guest_programs:  # guestVerify: the guest kernel judged it
            title += f" · in guest {analysis.guest_label}"
        lenses.append(ProgramLens(fn.name, fn.section, location, verdict, stats, delta, title))
    return lenses


def other_kernels(analysis: Analysis, program: str) -> str:
    """` · 6.1.0-56 ✗ rejected` per target kernel, when targets are configured."""
    parts = []
    for kernel in analysis.kernels:
        if kernel.running:
            continue
        result = next((r for r in kernel.programs if r.name == program), None)
        if result is None:
            parts.append(f"{kernel.label} – not verified")
            continue
        verdict = verdict_of(result)
        word = "" if verdict is Verdict.ACCEPTED else f" {verdict}"
        parts.append(f"{kernel.label} {_VERDICT_MARK[verdict]}{word}")
    return "".join(f" · {p}" for p in parts)


class SaveHistory(Generic[T]):
    """Per-document memory of what the last two distinct saves measured: the instruction
    counts (the lens), or the analysis's level-2 logs (per-line cost, verify/cost.py).

    A lens compares an analysis of the saved text with the save before it, and an analysis
    of unsaved edits with the last save.
    """

    def __init__(self) -> None:
        self._saved_text: str | None = None  # the text on disk, as of the last open/save
        self._last: tuple[str, T] | None = None  # (text, counts) of that save
        self._before: T | None = None  # counts of the save before it

    def saved(self, text: str) -> None:
        """The document was opened or saved with this text."""
        self._saved_text = text

    def record(self, text: str, counts: T) -> None:
        """An analysis of `text` finished with these counts."""
        if text != self._saved_text or not counts:
            return
        if self._last is not None and self._last[0] == text:
            return  # saved again without changes: keep comparing with the save before
        self._before = self._last[1] if self._last is not None else None
        self._last = (text, counts)

    def baseline(self, text: str) -> T | None:
        """The counts an analysis of `text` is compared with."""
        if self._last is None:
            return None
        if self._last[0] == text:
            return self._before
        return self._last[1]
