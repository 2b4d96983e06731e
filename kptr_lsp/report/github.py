"""`--format github`: GitHub Actions workflow commands, one annotation per finding:

    ::error file=src/x.bpf.c,line=30,col=13,title=kptr-lsp reference-leak::message…

Escaping follows GitHub's toolkit (@actions/core, command.ts): in the message `%`, CR and LF
become %25, %0D, %0A; in property values `:` and `,` also become %3A and %2C. Related
locations (a leak's exit, the causal path) are appended to the message as `file:line: note`
lines: an annotation has one location.
"""

from __future__ import annotations

from typing import IO

from ..findings import Finding, Severity
from . import FileReport, relative
from .rules import rule_id

_COMMAND = {
    Severity.ERROR: "error",
    Severity.WARNING: "warning",
    Severity.INFORMATION: "notice",
    Severity.HINT: "notice",
}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(kind: str, properties: dict[str, str | int], message: str) -> str:
    props = ",".join(f"{k}={escape_property(str(v))}" for k, v in properties.items())
    return (
        f"::{kind} {props}::{escape_data(message)}"
        if props
        else f"::{kind}::{escape_data(message)}"
    )


class GithubWriter:
    def __init__(self, out: IO[str], cwd: str) -> None:
        self.out = out
        self.cwd = cwd

    def annotation(self, f: Finding) -> str:
        loc = f.location
        props: dict[str, str | int] = {"file": relative(loc.file, self.cwd), "line": loc.line}
        if loc.col > 0:
            props["col"] = loc.col
        if loc.end_line is not None and loc.end_line >= loc.line:
            props["endLine"] = loc.end_line
            if loc.end_col is not None and loc.end_col > 0 and loc.end_line == loc.line:
                props["endColumn"] = loc.end_col
        props["title"] = f"kptr-lsp {rule_id(f)}"
        body = [f.message]
        if f.explanation:
            body += ["", f.explanation]
        for r in f.related:
            body.append(f"{relative(r.location.file, self.cwd)}:{r.location.line}: {r.message}")
        return command(_COMMAND[f.severity], props, "\n".join(body))

    def file(self, report: FileReport) -> None:
        analysis = report.analysis
        for f in analysis.findings:
            print(self.annotation(f), file=self.out)
        if analysis.not_verified_reason:
            note = f"not verified by the kernel: {analysis.not_verified_reason}"
            file = relative(analysis.path, self.cwd)
            print(command("notice", {"file": file, "title": "kptr-lsp"}, note), file=self.out)
        self.out.flush()

    def close(self) -> None:
        self.out.flush()
