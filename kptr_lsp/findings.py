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


class FixKind(enum.StrEnum):
    """What the causal path says is wrong at a fix point (issue 14 §3)."""

    # A NULL check tested another value (another lookup's result, the struct holding the
    # pointer): the dereferenced pointer is still maybe-NULL. At the check that tested it.
    NULL_CHECK_WRONG_COPY = "null-check-wrong-copy"
    # No NULL check at all between where the pointer was produced and its use. At the producer.
    NULL_CHECK_MISSING = "null-check-missing"
    # A packet bounds check (`data + N > data_end`) proved fewer bytes than the access needs.
    # At the comparison; `proven` and `needed` are byte counts from the packet start.
    BOUNDS_CHECK_TOO_SHORT = "bounds-check-too-short"
    # A scalar (a length, an index) reaches the access with no upper bound, or a too-large one.
    # At the instruction that computed it (its last producer or bounding comparison);
    # `bound` is the largest value the verifier allowed it, when known; `allowed` the limit.
    CLAMP_MISSING = "clamp-missing"
    # A reference acquired at `acquired_at` reaches an exit unreleased on one branch. At that
    # branch; `release` names the function matching the acquire (bpf_task_release, …).
    RELEASE_MISSING = "release-missing"


@dataclass(frozen=True)
class FixPoint:
    """Where the fix belongs according to the causal path, when that is not (only) the
    failing line: shown as a `fix here: …` related entry, read by the quick fixes.

    `location` is the C line (and column of the first instruction there) to act on;
    `register` is the BPF register or stack slot (`R1`, `fp-16`) that holds the value there;
    the rest is set per kind (see FixKind). Pure data: built by verify/causal.py."""

    location: Location
    kind: FixKind
    text: str  # our words after `fix here: `
    register: str | None = None
    # Where the value the fix is about was produced (the lookup, the acquire, the load).
    origin: Location | None = None
    proven: int | None = None  # BOUNDS_CHECK_TOO_SHORT: bytes the check proved
    needed: int | None = None  # BOUNDS_CHECK_TOO_SHORT: bytes the access needs
    bound: int | None = None  # CLAMP_MISSING: the largest value the verifier saw (None: none)
    allowed: int | None = None  # CLAMP_MISSING: the largest value the access allows
    release: str | None = None  # RELEASE_MISSING: the function that releases the reference
    acquired_at: Location | None = None  # RELEASE_MISSING: where it was acquired

    def related(self) -> Related:
        return Related(self.location, f"fix here: {self.text}")


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
    # Who explained it: "kernel" (its own block, 7.3+) or "kptr-lsp" (verify/causal.py, from
    # the classic log of kernels without the block); None when nobody did.
    explained_by: str | None = None
    # Where the fix belongs by the causal path (also in `related` as `fix here: …`).
    fix_points: tuple[FixPoint, ...] = ()

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
