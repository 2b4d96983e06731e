"""The annotations in tests/programs: what a file must produce, written on the line itself.

`/* EXPECT: error "text" */` on a line means a diagnostic of that severity whose message holds
the text must land on that line; `/* RELATED: word */` marks a line that must appear in that
file's related information. A file without EXPECT must produce no Error at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_EXPECT = re.compile(r'/\*\s*EXPECT:\s*(error|warning|info)\s+"((?:[^"\\]|\\.)*)"\s*\*/')
_RELATED = re.compile(r"/\*\s*RELATED:\s*(\S+)\s*\*/")
SEVERITY = {"error": 1, "warning": 2, "info": 3}


@dataclass(frozen=True)
class Expect:
    line: int  # 1-based
    severity: int  # LSP DiagnosticSeverity
    text: str


@dataclass(frozen=True)
class Expectations:
    expects: tuple[Expect, ...]
    related_lines: tuple[int, ...]


def read_expectations(path: Path) -> Expectations:
    expects: list[Expect] = []
    related: list[int] = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        for m in _EXPECT.finditer(line):
            text = m.group(2).replace('\\"', '"').replace("\\\\", "\\")
            expects.append(Expect(n, SEVERITY[m.group(1)], text))
        if _RELATED.search(line):
            related.append(n)
    return Expectations(tuple(expects), tuple(related))
