"""Command line: `kptr-lsp` speaks LSP on stdio; `kptr-lsp check FILE…` prints the findings."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import traceback
from collections.abc import Sequence

from . import __version__
from .kernel.running import VMLINUX_BTF
from .report import FORMATS, Exit


def _check(args: argparse.Namespace) -> int:
    from .batch import ProgressLine, check_all, default_jobs, summarise
    from .report import FileReport, exit_status, writer
    from .report.stats import budget_exit, stats_writer
    from .settings import GuestKernel, Settings
    from .sources import collect

    settings = Settings(
        kernels=tuple(GuestKernel.parse(k) for k in args.kernel or ()),
        clang=args.clang,
        extra_flags=tuple(args.flag or ()),
        include_dirs=tuple(args.include or ()),
        kernel_btf=args.kernel_btf,
        verify=not args.no_verify,
        jobs=args.jobs or default_jobs(),
        rodata_overrides=tuple(sorted(args.rodata or ())),
    )
    cwd = os.getcwd()
    started = time.perf_counter()
    inputs = collect(args.files, cwd)
    for problem in inputs.problems:
        print(problem, file=sys.stderr)
    unreadable = bool(inputs.problems)
    try:  # --stats / --compare print the verifier's statistics instead (report/stats.py)
        stats = stats_writer(
            sys.stdout, cwd, args.format, stats=args.stats, compare=args.compare,
            max_growth=args.max_growth,
        )  # fmt: skip
    except ValueError as exc:
        print(f"kptr-lsp: {exc}", file=sys.stderr)
        return int(Exit.USAGE)
    out = stats or writer(args.format, sys.stdout, cwd)
    reports: list[FileReport] = []
    progress = ProgressLine(sys.stderr)
    for source, analysis in check_all(
        inputs.sources, settings, jobs=settings.jobs, progress=progress
    ):
        report = FileReport(source.name, analysis)
        reports.append(report)
        with progress.paused():
            out.file(report)
    with progress.paused():
        out.close()
    summary = summarise(
        (r.analysis for r in reports),
        skipped=len(inputs.skipped),
        seconds=time.perf_counter() - started,
    )
    print(f"kptr-lsp: {summary.line()}", file=sys.stderr)
    status: Exit = exit_status(reports, unreadable=unreadable)
    if stats is not None:
        status = max(status, budget_exit(stats, args.max_growth, sys.stderr))
    return int(status)


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return number


def _serve(args: argparse.Namespace) -> int:
    from .memory import freeze_long_lived
    from .server import server

    freeze_long_lived()  # after the imports: what lives as long as the server (memory.py)

    logging.basicConfig(
        level=getattr(logging, args.log_level.upper(), logging.INFO), stream=sys.stderr
    )
    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        server.start_tcp(host or "127.0.0.1", int(port))
    else:
        server.start_io()
    return 0


class _Version(argparse.Action):
    """kptr-lsp's version and the libbpf it loads programs through (looked up only when
    asked: it loads the library)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from .verify.libbpf import status

        libbpf, _warning = status()
        sys.stdout.write(f"kptr-lsp {__version__}\n{libbpf}\n")
        parser.exit()


def main(argv: Sequence[str] | None = None) -> int:
    from .memory import limit_malloc_arenas

    limit_malloc_arenas()  # before any thread starts (kptr_lsp/memory.py says why)
    parser = argparse.ArgumentParser(
        prog="kptr-lsp",
        description="Language server that puts the Linux BPF verifier's verdict on the C line.",
    )
    parser.add_argument("--version", action=_Version, nargs=0, help="show versions and exit")
    parser.add_argument(
        "--tcp",
        metavar="HOST:PORT",
        help="listen on TCP instead of stdio (HOST defaults to 127.0.0.1)",
    )
    # Clients such as vscode-languageclient append --stdio; stdio is the default anyway.
    parser.add_argument("--stdio", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--log-level", default="warning")
    sub = parser.add_subparsers(dest="command")
    check = sub.add_parser(
        "check",
        help="analyse files and print findings gcc-style",
        description="Exit status: 0 nothing rejected, 1 a program rejected or an error "
        "finding, 2 usage or environment error (unreadable file, no clang, no kernel BTF), "
        "3 kptr-lsp itself crashed.",
    )
    check.add_argument(
        "files",
        nargs="+",
        metavar="FILE|DIR|compile_commands.json",
        help="a BPF C file; a directory (every BPF source below it; user-space C is skipped); "
        "a compile_commands.json (every BPF entry, with its flags)",
    )
    check.add_argument(
        "--format",
        choices=(*FORMATS, "csv"),
        default="text",
        help="text (gcc-style), json, sarif (SARIF 2.1.0 for code scanning) or github "
        "(GitHub Actions annotations)",
    )
    check.add_argument("--clang", help="clang to use (default: newest clang/clang-NN)")
    check.add_argument(
        "--kernel-btf", default=VMLINUX_BTF, help="target kernel's BTF, for vmlinux.h"
    )
    check.add_argument("-I", dest="include", action="append", help="extra include directory")
    check.add_argument("--flag", action="append", help="extra clang flag (repeatable)")
    check.add_argument("--no-verify", action="store_true", help="do not load into the kernel")
    check.add_argument(
        "--rodata",
        action="append",
        type=_rodata_override,
        metavar="NAME=VALUE",
        help="verify with this `const volatile` global set to VALUE (an integer: 1, -1, 0x10) "
        "instead of the source's default, as the program's userspace sets it before load "
        "(repeatable; the rodataOverrides setting)",
    )
    check.add_argument(
        "--stats",
        action="store_true",
        help="print the verifier's statistics per program instead of the findings "
        "(--format text, json or csv)",
    )
    check.add_argument(
        "--compare",
        metavar="OLD.json",
        help="print the change per program since OLD.json (written by --stats --format json)",
    )
    check.add_argument(
        "--max-growth",
        type=float,
        metavar="PCT",
        help="with --compare: exit 1 when a program's processed instructions grew by more "
        "than PCT %%",
    )
    check.add_argument(
        "--kernel",
        action="append",
        metavar="PACKAGE_OR_IMAGE",
        help="also verify in this kernel, booted in a VM: a Debian kernel package name "
        "(linux-image-6.1.0-56-amd64) or a path to a bzImage/vmlinuz (repeatable)",
    )
    check.add_argument(
        "-j",
        "--jobs",
        type=_positive,
        default=None,
        help="files analysed at once, and programs of a file verified at once "
        "(default: the number of cores)",
    )
    sub.add_parser(
        "verify-helper",
        help="privileged helper: load objects sent on stdin into the verifier (never attach)",
    )
    args = parser.parse_args(argv)
    if args.command == "check":
        try:
            return _check(args)
        except Exception:  # a bug in kptr-lsp: not to be mistaken for a rejected program
            traceback.print_exc()
            print("kptr-lsp: internal error (a bug); please report it", file=sys.stderr)
            return int(Exit.CRASH)
    if args.command == "verify-helper":
        return _verify_helper()
    return _serve(args)


def _rodata_override(text: str) -> tuple[str, int]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip().isidentifier():
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE")
    try:
        return name.strip(), int(value.strip(), 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: {value!r} is not an integer") from None


def _verify_helper() -> int:
    from .verify.helper import run_helper

    return run_helper(sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    sys.exit(main())
