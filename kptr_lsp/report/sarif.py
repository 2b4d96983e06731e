"""`--format sarif`: SARIF 2.1.0, the format code scanning (GitHub, GitLab, Azure) reads.

One run; `tool.driver.rules` holds every rule (kptr_lsp.report.rules: every finding code and
every explanation-catalogue entry) plus any other code seen; each result has its physical
location, the causal path or a leak's exit as related locations, a level from the severity
and a `partialFingerprints` entry that survives unrelated edits: a hash of the rule, the file,
the programs and the whitespace-normalised text of the finding's line — no line numbers, so
inserting lines above a finding does not make code scanning open a new alert.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from .. import __version__
from ..findings import Finding, Location, Severity
from . import FileReport, relative
from .rules import Rule, known_rules, rule_for, rule_id

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT_KEY = "kptrLsp/v1"
SRCROOT = "%SRCROOT%"
_LEVEL = {
    Severity.ERROR: "error",
    Severity.WARNING: "warning",
    Severity.INFORMATION: "note",
    Severity.HINT: "note",
}


def _rule_json(rule: Rule) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": rule.id,
        "name": "".join(w.capitalize() for w in rule.id.lstrip("-").split("-")),
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.help},
        "help": {"text": rule.help},
        "defaultConfiguration": {"level": _LEVEL[rule.severity]},
        "properties": {"tags": ["bpf", rule.category]},
    }
    if rule.help_uri:
        out["helpUri"] = rule.help_uri
        out["help"]["markdown"] = f"{rule.help}\n\n[{rule.title}]({rule.help_uri})"
    return out


def normalised(line: str) -> str:
    return " ".join(line.split())


class _Lines:
    """Source lines for fingerprints: the analysed buffer itself, other files from disk."""

    def __init__(self) -> None:
        self.files: dict[str, list[str]] = {}

    def add(self, path: str, text: str) -> None:
        self.files[os.path.abspath(path)] = text.split("\n")

    def line(self, path: str, number: int) -> str:
        key = os.path.abspath(path)
        if key not in self.files:
            try:
                # Split on newlines only, as clang and the kernel number lines.
                self.files[key] = Path(key).read_text(errors="replace").split("\n")
            except OSError:
                self.files[key] = []
        lines = self.files[key]
        return lines[number - 1].rstrip("\r") if 0 < number <= len(lines) else ""

    def code_point_column(self, path: str, number: int, byte_col: int) -> int:
        """A 1-based byte column (clang's, BTF's) as the 1-based code-point column SARIF's
        `unicodeCodePoints` asks for: they differ after any non-ASCII text on the line."""
        prefix = self.line(path, number).encode()[: max(byte_col - 1, 0)]
        return len(prefix.decode("utf-8", "replace")) + 1


class SarifWriter:
    def __init__(self, out: IO[str], cwd: str) -> None:
        self.out = out
        self.cwd = os.path.abspath(cwd)
        self.results: list[dict[str, Any]] = []
        self.rules: dict[str, Rule] = {r.id: r for r in known_rules()}
        self.lines = _Lines()
        self.seen: Counter[str] = Counter()  # identical fingerprint inputs, told apart in order

    def _uri(self, path: str) -> dict[str, Any]:
        rel = relative(os.path.abspath(path), self.cwd)
        if os.path.isabs(rel):
            return {"uri": Path(rel).as_uri()}
        return {"uri": quote(Path(rel).as_posix()), "uriBaseId": SRCROOT}

    def _physical(self, loc: Location) -> dict[str, Any]:
        region: dict[str, Any] = {"startLine": max(loc.line, 1)}
        if loc.col > 0:
            region["startColumn"] = self.lines.code_point_column(loc.file, loc.line, loc.col)
        if loc.end_line is not None and loc.end_line >= region["startLine"]:
            region["endLine"] = loc.end_line
            if loc.end_col is not None and loc.end_col > 0:
                region["endColumn"] = self.lines.code_point_column(
                    loc.file, loc.end_line, loc.end_col
                )
        return {"artifactLocation": self._uri(loc.file), "region": region}

    def fingerprint(self, f: Finding) -> str:
        rel = relative(os.path.abspath(f.location.file), self.cwd)
        parts = [
            rule_id(f),
            rel,
            ",".join(sorted(f.programs)),
            normalised(self.lines.line(f.location.file, f.location.line)),
        ]
        key = "\0".join(parts)
        self.seen[key] += 1
        digest = hashlib.sha256(f"{key}\0{self.seen[key]}".encode()).hexdigest()
        return digest[:32]

    def _result(self, f: Finding) -> dict[str, Any]:
        rule = rule_for(f)
        self.rules.setdefault(rule.id, rule)
        text = f.message if not f.explanation else f"{f.message}\n\n{f.explanation}"
        result: dict[str, Any] = {
            "ruleId": rule.id,
            "level": _LEVEL[f.severity],
            "message": {"text": text},
            "locations": [{"physicalLocation": self._physical(f.location)}],
            "partialFingerprints": {FINGERPRINT_KEY: self.fingerprint(f)},
        }
        if f.related:
            result["relatedLocations"] = [
                {
                    "id": n,
                    "physicalLocation": self._physical(r.location),
                    "message": {"text": r.message},
                }
                for n, r in enumerate(f.related, start=1)
            ]
        props: dict[str, Any] = {"source": str(f.source)}
        if f.code:
            props["code"] = f.code
        if f.programs:
            props["programs"] = list(f.programs)
        result["properties"] = props
        return result

    def file(self, report: FileReport) -> None:
        self.lines.add(report.analysis.path, report.analysis.text)
        self.results.extend(self._result(f) for f in report.analysis.findings)

    def document(self) -> dict[str, Any]:
        rules = list(self.rules.values())
        index = {r.id: n for n, r in enumerate(rules)}
        for result in self.results:
            result["ruleIndex"] = index[result["ruleId"]]
        return {
            "$schema": SCHEMA,
            "version": "2.1.0",
            "runs": [
                {
                    "tool": {
                        "driver": {
                            "name": "kptr-lsp",
                            "version": __version__,
                            "semanticVersion": __version__,
                            "rules": [_rule_json(r) for r in rules],
                        }
                    },
                    "originalUriBaseIds": {SRCROOT: {"uri": Path(self.cwd).as_uri() + "/"}},
                    "results": self.results,
                    "columnKind": "unicodeCodePoints",
                }
            ],
        }

    def close(self) -> None:
        json.dump(self.document(), self.out, indent=2)
        print(file=self.out)
        self.out.flush()
