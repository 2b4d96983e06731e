"""clang's stderr → Findings.

Expects `-fno-caret-diagnostics -fdiagnostics-print-source-range-info -fno-color-diagnostics`:
every diagnostic is then one line, `file:line:col:{l:c-l:c}: severity: message [-Wflag]`,
preceded by `In file included from file:line:` lines when it sits in a header.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

from kptr_lsp.findings import Finding, Location, Related, Severity, Source

_DIAG_RE = re.compile(
    r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+):(?:(?P<ranges>(?:\{\d+:\d+-\d+:\d+\})+):)? "
    r"(?P<sev>fatal error|error|warning|note|remark): (?P<msg>.*)$"
)
_NOLOC_RE = re.compile(
    r"^(?:(?P<tool>\S*clang\S*): )?(?P<sev>fatal error|error|warning|note|remark): (?P<msg>.*)$"
)
_INCLUDED_RE = re.compile(r"^In file included from (?P<file>.+?):(?P<line>\d+):$")
_RANGE_RE = re.compile(r"\{(\d+):(\d+)-(\d+):(\d+)\}")
_FLAG_RE = re.compile(r" \[(-W[^\]]*)\]$")

_SEVERITY = {
    "fatal error": Severity.ERROR,
    "error": Severity.ERROR,
    "warning": Severity.WARNING,
    "remark": Severity.INFORMATION,
    "note": Severity.INFORMATION,
}


@dataclass(frozen=True)
class _Record:
    location: Location
    severity: str
    message: str
    code: str | None
    chain: tuple[Location, ...]  # outermost include first


def _split_code(msg: str) -> tuple[str, str | None]:
    """`unused variable 'x' [-Wunused-variable]` → message, "-Wunused-variable"."""
    m = _FLAG_RE.search(msg)
    if not m:
        return msg, None
    flags = [f.strip() for f in m[1].split(",")]
    specific = [f for f in flags if f.startswith("-W") and f != "-Werror"]
    return msg[: m.start()], (specific[-1] if specific else flags[-1])


@dataclass(frozen=True)
class _Context:
    cwd: str
    main_path: str
    prefix_lines: int


def _location(file: str, line: int, col: int, ranges: str | None, ctx: _Context) -> Location:
    path = ctx.main_path if file == "<stdin>" else os.path.normpath(os.path.join(ctx.cwd, file))
    # Ranges come in physical lines, which `#line` does not renumber: undo our prefix.
    shift = ctx.prefix_lines if path == ctx.main_path else 0
    end_line: int | None = None
    end_col: int | None = None
    # Only a range that covers the caret describes the diagnosed token; others are context.
    for r in _RANGE_RE.finditer(ranges or ""):
        sl, sc, el, ec = (int(g) for g in r.groups())
        sl, el = sl - shift, el - shift
        if (sl, sc) <= (line, col) <= (el, ec):
            end_line, end_col = el, ec
            break
    return Location(path, line, col, end_line, end_col)


def _records(stderr: str, ctx: _Context) -> Iterable[_Record]:
    chain: list[Location] = []
    chains: dict[str, tuple[Location, ...]] = {}  # clang prints a header's stack only once
    for raw in stderr.splitlines():
        line = raw.rstrip()
        if m := _INCLUDED_RE.match(line):
            chain.append(_location(m["file"], int(m["line"]), 0, None, ctx))
            continue
        if m := _DIAG_RE.match(line):
            loc = _location(m["file"], int(m["line"]), int(m["col"]), m["ranges"], ctx)
            if chain:
                chains[loc.file] = tuple(chain)
            this_chain = chains.get(loc.file, ()) if loc.file != ctx.main_path else ()
            chain = []
            msg, code = _split_code(m["msg"])
            yield _Record(loc, m["sev"], msg, code, this_chain)
            continue
        if m := _NOLOC_RE.match(line):
            msg, code = _split_code(m["msg"])
            # Driver and backend errors name no place: the top of the file is the honest spot.
            yield _Record(Location(ctx.main_path, 1, 0), m["sev"], msg, code, ())
            chain = []


def _lift_to_main(rec: _Record, main_path: str) -> tuple[Location, str, tuple[Related, ...]]:
    """A diagnostic inside a header is shown on the main file's #include line, with the
    header location (and the include steps between) as related information."""
    if rec.location.file == main_path:
        return rec.location, rec.message, ()
    outer = [i for i, loc in enumerate(rec.chain) if loc.file == main_path]
    if not outer:
        return rec.location, rec.message, ()
    at = outer[-1]
    files = [loc.file for loc in rec.chain[1:]] + [rec.location.file]  # what each step includes
    steps = tuple(
        Related(rec.chain[i], f"{os.path.basename(files[i])} included from here")
        for i in range(at + 1, len(rec.chain))
    )
    related = (Related(rec.location, rec.message), *steps)
    return rec.chain[at], f"In included file: {rec.message}", related


def parse_clang_stderr(
    stderr: str, *, main_path: str, cwd: str, prefix_lines: int = 0
) -> tuple[Finding, ...]:
    """Findings (source CLANG) from clang's stderr; notes join the preceding diagnostic.

    `cwd` resolves relative header paths; `prefix_lines` is how many lines were fed to clang
    before the user's text (our `#line` directive)."""
    ctx = _Context(cwd, os.path.normpath(main_path), prefix_lines)
    main_path = ctx.main_path
    findings: list[Finding] = []
    for rec in _records(stderr, ctx):
        if rec.severity == "note" and findings:
            prev = findings[-1]
            note = Related(rec.location, rec.message)
            findings[-1] = dataclasses.replace(prev, related=(*prev.related, note))
            continue
        location, message, related = _lift_to_main(rec, main_path)
        findings.append(
            Finding(location, _SEVERITY[rec.severity], Source.CLANG, message, rec.code, related)
        )
    return tuple(findings)
