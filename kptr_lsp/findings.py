"""The Finding: what every stage reports, as plain data that knows nothing of LSP.

Lines and columns are 1-based, as compilers and the kernel print them; the LSP shell converts
them to 0-based UTF-16 positions. A column of 0 means "the whole line".
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Severity(enum.IntEnum):
    """Same numbering as LSP's DiagnosticSeverity, so the shell can pass it through."""

    ERROR = 1
    WARNING = 2
    INFORMATION = 3
    HINT = 4


class Source(enum.StrEnum):
    """Which stage produced a finding; the LSP shell keeps one diagnostic set per source."""

    CLANG = "clang"
    CHECKS = "kptr-lsp"
    VERIFIER = "verifier"


@dataclass(frozen=True)
class Location:
    file: str
    line: int
    col: int = 0
    end_line: int | None = None
    end_col: int | None = None


@dataclass(frozen=True)
class Related:
    location: Location
    message: str


@dataclass(frozen=True)
class PathEvent:
    """One step of a verifier's causal path: where, what happened (update, acquired, released,
    branch, spilled, invalidated, context), and the kernel's words for it."""

    location: Location
    label: str
    text: str

    def related(self) -> Related:
        """The step as related information on its source line."""
        return Related(self.location, f"{self.label}: {self.text}")


@dataclass(frozen=True)
class Finding:
    location: Location
    severity: Severity
    source: Source
    message: str
    code: str | None = None
    related: tuple[Related, ...] = ()
    explanation: str | None = None
    programs: tuple[str, ...] = field(default=())
    # The catalogue entry (kptr_lsp/data/explanations.toml) the explanation comes from.
    explanation_id: str | None = None
    # The kernel's own explanation of a rejection (7.3+: `Verification failed: <category>:
    # <problem>`, Reason, Causal path, Suggestion); None and () when it printed none. The
    # causal path is also in `related`, the reason and suggestion also in `explanation`.
    category: str | None = None
    problem: str | None = None
    reason: str | None = None
    causal_path: tuple[PathEvent, ...] = ()
    suggestion: str | None = None

    @property
    def file(self) -> str:
        return self.location.file

    @property
    def line(self) -> int:
        return self.location.line

    def gcc_style(self) -> str:
        """`file:line:col: error: message [code]`, the form terminals and CI annotate."""
        word = {
            Severity.ERROR: "error",
            Severity.WARNING: "warning",
            Severity.INFORMATION: "note",
            Severity.HINT: "note",
        }[self.severity]
        loc = self.location
        col = max(loc.col, 1)
        code = f" [{self.code}]" if self.code else ""
        head = f"{loc.file}:{loc.line}:{col}: {word}: {self.message}{code}"
        lines = [head]
        for rel in self.related:
            r = rel.location
            lines.append(f"{r.file}:{r.line}:{max(r.col, 1)}: note: {rel.message}")
        return "\n".join(lines)
