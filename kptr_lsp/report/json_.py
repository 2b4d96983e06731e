"""`--format json`: one JSON array, an object per file with its programs, per-kernel verdicts
and findings (absolute paths, 1-based lines as the compiler prints them)."""

from __future__ import annotations

import json
from typing import IO

from ..findings import Finding, Severity
from . import FileReport, verdict


def finding_json(f: Finding) -> dict[str, object]:
    return {
        "file": f.location.file,
        "line": f.location.line,
        "column": f.location.col,
        "severity": Severity(f.severity).name.lower(),
        "source": str(f.source),
        "code": f.code,
        "message": f.message,
        "explanation": f.explanation,
        "explanation_id": f.explanation_id,
        "programs": list(f.programs),
        "related": [
            {"file": r.location.file, "line": r.location.line, "message": r.message}
            for r in f.related
        ],
        # The kernel's own explanation block (7.3+), or kptr-lsp's reading of the classic log
        # in the same shape (other kernels); null / [] when neither has one.
        "category": f.category,
        "problem": f.problem,
        "reason": f.reason,
        "causal_path": [
            {
                "file": e.location.file,
                "line": e.location.line,
                "column": e.location.col,
                "label": e.label,
                "text": e.text,
            }
            for e in f.causal_path
        ],
        "suggestion": f.suggestion,
        # "kernel" (its own block) or "kptr-lsp" (derived from the classic log); null: neither.
        "explained_by": f.explained_by,
        # Where the causal path says the fix belongs (also in `related` as `fix here: …`).
        "fix_points": [
            {
                "file": p.location.file,
                "line": p.location.line,
                "column": p.location.col,
                "kind": str(p.kind),
                "text": p.text,
                "register": p.register,
            }
            for p in f.fix_points
        ],
    }


def file_json(report: FileReport) -> dict[str, object]:
    analysis = report.analysis
    return {
        "file": analysis.path,
        "verified": analysis.verified,
        "not_verified_reason": analysis.not_verified_reason,
        "programs": [
            {"name": p.name, "section": p.section, "accepted": p.accepted, "verdict": verdict(p)}
            for p in analysis.programs
        ],
        "kernels": [
            {
                "label": k.label,
                "release": k.release,
                "running": k.running,
                "error": k.error,
                "programs": {p.name: verdict(p) for p in k.programs},
            }
            for k in analysis.kernels
        ],
        "findings": [finding_json(f) for f in analysis.findings],
    }


class JsonWriter:
    def __init__(self, out: IO[str], cwd: str) -> None:
        self.out = out
        self.files: list[dict[str, object]] = []

    def file(self, report: FileReport) -> None:
        self.files.append(file_json(report))

    def close(self) -> None:
        json.dump(self.files, self.out, indent=2)
        print(file=self.out)
        self.out.flush()
