"""`--format text`: gcc-style lines (`file:line:col: error: …`), the explanation indented
beneath, then one verdict line per file (per kernel with target kernels)."""

from __future__ import annotations

import dataclasses
from typing import IO

from ..findings import Finding, Location
from . import FileReport, verdict


def _relative_all(text: str, cwd: str) -> str:
    return text.replace(cwd.rstrip("/") + "/", "")


def _where(loc: Location) -> str:
    return f"{loc.file}:{loc.line}:{max(loc.col, 1)}"


def _head(f: Finding) -> str:
    """The gcc-style line and its `note:` lines, then the causal path (the kernel's block or
    kptr-lsp's reading of the log) indented under it: each step, then where to fix."""
    path = {e.related() for e in f.causal_path} | {p.related() for p in f.fix_points}
    if not path or not path <= set(f.related):
        # Merged from kernels that explained it differently: each kernel's steps stay
        # `note:` lines tagged with its name (targets/verdicts.py).
        return f.gcc_style()
    plain = dataclasses.replace(f, related=tuple(r for r in f.related if r not in path))
    lines = [plain.gcc_style()]
    if f.causal_path or f.fix_points:
        by = " (the kernel's own)" if f.explained_by == "kernel" else ""
        lines.append(f"    causal path{by}:")
        lines += [f"      {_where(e.location)}: {e.label}: {e.text}" for e in f.causal_path]
        lines += [f"      {_where(p.location)}: fix here: {p.text}" for p in f.fix_points]
    return "\n".join(lines)


class TextWriter:
    def __init__(self, out: IO[str], cwd: str) -> None:
        self.out = out
        self.cwd = cwd

    def _print(self, line: str) -> None:
        print(line, file=self.out)

    def file(self, report: FileReport) -> None:
        analysis, name = report.analysis, report.name
        for finding in analysis.findings:
            self._print(_relative_all(_head(finding), self.cwd))
            if finding.explanation:  # our words, beneath the kernel's
                self._print("\n".join(f"    {line}" for line in finding.explanation.splitlines()))
        if analysis.not_verified_reason:
            self._print(f"{name}: note: not verified by the kernel: {analysis.not_verified_reason}")
        elif analysis.kernels:
            for k in analysis.kernels:
                verdicts = ", ".join(f"{p.name} {verdict(p)}" for p in k.programs)
                why = k.error or "no program was loaded"
                self._print(f"{name}: [{k.label}] {verdicts or 'not verified: ' + why}")
        elif analysis.programs:
            verdicts = ", ".join(f"{p.name} {verdict(p)}" for p in analysis.programs)
            self._print(f"{name}: {len(analysis.programs)} program(s) verified: {verdicts}")
        self.out.flush()

    def close(self) -> None:
        self.out.flush()
