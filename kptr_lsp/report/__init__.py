"""How `kptr-lsp check` prints what it found: one module per output format.

Every format is a `Writer`: `file()` is called once per analysed file, as soon as it is done
(text and GitHub annotations stream; JSON and SARIF are one document, written by `close()`).
The formats know nothing of how the files were found or analysed; `exit_status` turns the
reports into the documented exit code.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Protocol

from ..findings import Severity
from ..verify.loader import NOT_VERIFIABLE, Failure, ProgramResult

if TYPE_CHECKING:
    from ..analysis import Analysis

FORMATS = ("text", "json", "sarif", "github")
# Finding codes that mean "this machine cannot analyse", not "the code is wrong".
ENVIRONMENT_CODES = frozenset({"toolchain"})


class Exit(enum.IntEnum):
    """`kptr-lsp check`'s exit status (documented in README.md, tested in tests/report/)."""

    CLEAN = 0  # nothing rejected, no error finding (warnings and notes allowed)
    REJECTED = 1  # a program rejected by the verifier, or any error finding
    USAGE = 2  # bad arguments or environment: unreadable file, no clang, no kernel BTF
    CRASH = 3  # kptr-lsp itself failed (a bug): traceback on stderr


@dataclass(frozen=True)
class FileReport:
    name: str  # as given on the command line
    analysis: Analysis


class Writer(Protocol):
    def file(self, report: FileReport) -> None: ...

    def close(self) -> None: ...


def writer(fmt: str, out: IO[str], cwd: str) -> Writer:
    """The writer for `fmt` (one of FORMATS), printing to `out`, paths relative to `cwd`."""
    from . import github, json_, sarif, text

    writers: dict[str, type[Writer]] = {
        "text": text.TextWriter,
        "json": json_.JsonWriter,
        "sarif": sarif.SarifWriter,
        "github": github.GithubWriter,
    }
    if fmt not in writers:
        raise ValueError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")
    return writers[fmt](out, cwd)  # type: ignore[call-arg]


def environment_error(analysis: Analysis) -> bool:
    return any(f.code in ENVIRONMENT_CODES for f in analysis.findings)


def exit_status(reports: Iterable[FileReport], *, unreadable: bool = False) -> Exit:
    """USAGE when a file could not be read or the toolchain is missing, else REJECTED when
    anything was rejected or is an error, else CLEAN."""
    rejected = False
    usage = unreadable
    for r in reports:
        usage |= environment_error(r.analysis)
        rejected |= any(f.severity is Severity.ERROR for f in r.analysis.findings)
    if usage:
        return Exit.USAGE
    return Exit.REJECTED if rejected else Exit.CLEAN


def verdict(p: ProgramResult) -> str:
    """One program's verdict in words, for the text and JSON reports."""
    if p.accepted:
        return "accepted"
    if p.failure in NOT_VERIFIABLE:
        return "not verifiable here"
    if p.failure is Failure.MAP_TOO_LARGE:
        return "not loaded (a map is over the memory cap)"
    return "rejected"


def relative(path: str, cwd: str) -> str:
    """`path` relative to `cwd` when it lies below it, else unchanged."""
    prefix = cwd.rstrip("/") + "/"
    return path[len(prefix) :] if path.startswith(prefix) else path
