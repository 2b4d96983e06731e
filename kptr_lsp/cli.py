"""Command line: `kptr-lsp` speaks LSP on stdio; `kptr-lsp check FILE…` prints the findings."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence

from . import __version__
from .findings import Finding, Severity
from .verify.loader import Failure, ProgramResult


def _check(args: argparse.Namespace) -> int:
    from .pipeline import analyse
    from .settings import Settings, TargetKernel

    settings = Settings(
        kernels=tuple(TargetKernel.parse(k) for k in args.kernel or ()),
        clang=args.clang,
        extra_flags=tuple(args.flag or ()),
        include_dirs=tuple(args.include or ()),
        kernel_btf=args.kernel_btf,
        verify=not args.no_verify,
        jobs=args.jobs,
    )
    rejected = False
    report: list[dict[str, object]] = []
    for name in args.files:
        path = os.path.abspath(name)
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        except OSError as exc:
            print(f"{name}: error: cannot read: {exc.strerror}", file=sys.stderr)
            rejected = True
            continue
        analysis = analyse(path, text, settings, workspace_root=os.getcwd())
        rejected |= analysis.rejected
        if args.format == "json":
            report.append(
                {
                    "file": path,
                    "verified": analysis.verified,
                    "not_verified_reason": analysis.not_verified_reason,
                    "programs": [
                        {"name": p.name, "section": p.section, "accepted": p.accepted}
                        for p in analysis.programs
                    ],
                    "kernels": [
                        {
                            "label": k.label,
                            "release": k.release,
                            "running": k.running,
                            "error": k.error,
                            "programs": {p.name: _verdict(p) for p in k.programs},
                        }
                        for k in analysis.kernels
                    ],
                    "findings": [_finding_json(f) for f in analysis.findings],
                }
            )
            continue
        for finding in analysis.findings:
            print(_relative(finding.gcc_style(), os.getcwd()))
            if finding.explanation:  # our words, beneath the kernel's
                print("\n".join(f"    {line}" for line in finding.explanation.splitlines()))
        if analysis.not_verified_reason:
            print(f"{name}: note: not verified by the kernel: {analysis.not_verified_reason}")
        elif analysis.kernels:
            for k in analysis.kernels:
                verdicts = ", ".join(f"{p.name} {_verdict(p)}" for p in k.programs)
                print(f"{name}: [{k.label}] {verdicts or 'not verified: ' + str(k.error)}")
        elif analysis.programs:
            verdicts = ", ".join(f"{p.name} {_verdict(p)}" for p in analysis.programs)
            print(f"{name}: {len(analysis.programs)} program(s) verified: {verdicts}")
    if args.format == "json":
        json.dump(report, sys.stdout, indent=2)
        print()
    return 1 if rejected else 0


def _verdict(p: ProgramResult) -> str:
    if p.accepted:
        return "accepted"
    if p.failure in (Failure.ATTACH_TARGET, Failure.NOT_PERMITTED):
        return "not verifiable here"
    if p.failure is Failure.MAP_TOO_LARGE:
        return "not loaded (a map is over the memory cap)"
    return "rejected"


def _relative(text: str, cwd: str) -> str:
    return text.replace(cwd.rstrip("/") + "/", "")


def _finding_json(f: Finding) -> dict[str, object]:
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
    }


def _serve(args: argparse.Namespace) -> int:
    from .server import server

    logging.basicConfig(
        level=getattr(logging, args.log_level.upper(), logging.INFO), stream=sys.stderr
    )
    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        server.start_tcp(host or "127.0.0.1", int(port))
    else:
        server.start_io()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="kptr-lsp",
        description="Language server that puts the Linux BPF verifier's verdict on the C line.",
    )
    parser.add_argument("--version", action="version", version=f"kptr-lsp {__version__}")
    parser.add_argument(
        "--tcp",
        metavar="HOST:PORT",
        help="listen on TCP instead of stdio (HOST defaults to 127.0.0.1)",
    )
    # Clients such as vscode-languageclient append --stdio; stdio is the default anyway.
    parser.add_argument("--stdio", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--log-level", default="warning")
    sub = parser.add_subparsers(dest="command")
    check = sub.add_parser("check", help="analyse files and print findings gcc-style")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.add_argument("--clang", help="clang to use (default: newest clang/clang-NN)")
    check.add_argument(
        "--kernel-btf", default="/sys/kernel/btf/vmlinux", help="target kernel's BTF, for vmlinux.h"
    )
    check.add_argument("-I", dest="include", action="append", help="extra include directory")
    check.add_argument("--flag", action="append", help="extra clang flag (repeatable)")
    check.add_argument("--no-verify", action="store_true", help="do not load into the kernel")
    check.add_argument(
        "--kernel",
        action="append",
        metavar="PACKAGE_OR_IMAGE",
        help="also verify in this kernel, booted in a VM: a Debian kernel package name "
        "(linux-image-6.1.0-56-amd64) or a path to a bzImage/vmlinuz (repeatable)",
    )
    check.add_argument("-j", "--jobs", type=int, default=2, help="programs verified at once")
    sub.add_parser(
        "verify-helper",
        help="privileged helper: load objects sent on stdin into the verifier (never attach)",
    )
    args = parser.parse_args(argv)
    if args.command == "check":
        return _check(args)
    if args.command == "verify-helper":
        return _verify_helper()
    return _serve(args)


def _verify_helper() -> int:
    from .verify.helper import serve

    return serve(sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    sys.exit(main())
