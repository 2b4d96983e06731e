"""compile_commands.json: the flags the project's own build uses for a file, allow-listed.

A workspace is not trusted: opening a cloned repository must not run its code or write files.
Only flags that change how the buffer is parsed and compiled are kept — defines, include
paths, warnings, -std, -target, -m (not -mllvm), -O, -g and -f flags known to be harmless.
Build plumbing we never pass (output, input and dependency files, diagnostics format) is
dropped silently; anything else (-fplugin=, -fpass-plugin=, -Xclang …, -B, --config,
-ccc-*, -fprofile-*=, @response files, -save-temps …) is dropped and named in one
Information diagnostic (`dropped_finding`).
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from kptr_lsp.findings import Finding, Location, Severity, Source

FLAGS_DROPPED = "compile-flags-dropped"  # the Information's code

# Flags whose value is a path, either joined (-Ifoo) or separate (-I foo): clang only reads it.
_PATH_FLAGS = ("-I", "-isystem", "-idirafter", "-iquote", "-include", "-imacros")
# Other flags we keep whose value may be a separate argument.
_VALUE_FLAGS = ("-D", "-U", "-target")
# Build plumbing that swallows the next argument; dropped without a word (we write no file).
_PLUMBING_WITH_VALUE = frozenset({"-o", "-MF", "-MT", "-MQ", "-MJ", "-x", "-main-file-name"})
# Flags not allowed that swallow the next argument: dropped together with it, and named.
_DROP_WITH_VALUE = frozenset(
    {
        "-Xclang", "-B", "--config", "-mllvm", "-Xpreprocessor", "-Xassembler", "-Xlinker",
        "-Xanalyzer", "-include-pch", "-isysroot", "--sysroot", "-iprefix", "-iwithprefix",
        "-ivfsoverlay", "-working-directory", "-resource-dir", "--gcc-toolchain",
        "-dependency-file", "-arch", "-Xarch_host", "-Xopenmp-target", "-serialize-diagnostics",
        "-ccc-install-dir", "-ccc-gcc-name", "-ccc-objcmt-migrate", "-ccc-arcmt-migrate",
    }
)  # fmt: skip
# Build plumbing without a value: diagnostics format is ours to choose (the parser depends on
# it), dependency output and linker flags mean nothing for a compile to stdout.
_PLUMBING_PREFIXES = (
    "-fcolor-diagnostics",
    "-fno-color-diagnostics",
    "-fdiagnostics-",
    "-fansi-escape-codes",
    "-fcaret-diagnostics",
    "-fno-caret-diagnostics",
    "-MD",
    "-MMD",
    "-MP",
    "-MG",
    "-M",
    "-Wp,-MD",
    "-Wp,-MMD",
    "-Wl,",
)
_PLUMBING = frozenset({"-c", "-fsyntax-only", "-pipe", "-v", "-Q"})

_WARNING = re.compile(r"-W(?!l,|p,|a,)[A-Za-z0-9][A-Za-z0-9_=+#-]*|-w|-pedantic(-errors)?")
_MACHINE = re.compile(r"-m(?!llvm)[A-Za-z0-9][A-Za-z0-9_=.,+-]*")
_OPT = re.compile(r"-O([0-3sz]|fast|g)?")
_DEBUG = re.compile(
    r"-g([0-3]|dwarf(-[2-5])?|btf|line-tables-only|line-directives-only|(no-)?column-info|"
    r"full|(no-)?strict-dwarf|(no-)?inline-line-tables|(no-)?record-command-line)?"
)
_STD = re.compile(r"-std=[A-Za-z0-9+]+|-ansi")
# -f flags that only change code generation or the language accepted: they run nothing and
# write nothing. Names are exact, after stripping one leading "no-"; `=` values allowed.
_HARMLESS_F = frozenset(
    {
        "builtin", "stack-protector", "stack-protector-strong", "stack-protector-all",
        "freestanding", "common", "strict-aliasing", "asynchronous-unwind-tables",
        "unwind-tables", "jump-tables", "omit-frame-pointer", "short-wchar", "signed-char",
        "unsigned-char", "PIE", "pie", "PIC", "pic", "stack-clash-protection", "cf-protection",
        "delete-null-pointer-checks", "wrapv", "strict-overflow", "ident", "exceptions",
        "ms-extensions", "gnu89-inline", "inline", "inline-functions", "unroll-loops",
        "vectorize", "slp-vectorize", "zero-initialized-in-bss", "zero-call-used-regs",
        "trapping-math", "math-errno", "visibility", "data-sections", "function-sections",
        "eliminate-unused-debug-types", "standalone-debug", "strict-flex-arrays",
        "trivial-auto-var-init", "signed-zeros", "merge-all-constants", "asm", "gnu-keywords",
        "dollars-in-identifiers", "fast-math", "finite-math-only", "lax-vector-conversions",
        "optimize-sibling-calls", "plt", "semantic-interposition", "split-stack",
        "strict-enums", "threadsafe-statics", "use-init-array",
        "debug-default-version", "macro-backtrace-limit", "error-limit", "max-errors",
        "keep-static-consts", "discard-value-names", "addrsig", "integrated-as",
        "pack-struct", "max-type-align", "short-enums", "trivial-auto-var-init-stop-after",
        "bracket-depth", "template-depth", "constexpr-depth", "emit-compact-unwind-non-canonical",
        "reroll-loops", "tree-vectorize", "conserve-stack", "allow-store-data-races",
        "isolate-erroneous-paths-dereference", "ipa-sra",
    }
)  # fmt: skip
# -fno-builtin-memcpy and the like.
_F_ALLOWED_PREFIX = ("-fno-builtin-",)


def _harmless_f(flag: str) -> bool:
    if flag.startswith(_F_ALLOWED_PREFIX) or flag.startswith("-fmacro-prefix-map="):
        return True  # -fmacro-prefix-map= rewrites __FILE__ only
    if flag == "-fno-integrated-as":
        return False  # would run an external assembler
    name, _, value = flag[2:].removeprefix("no-").partition("=")
    return name in _HARMLESS_F and "/" not in value


def _allowed(flag: str) -> bool:
    """A flag without a separate value that we pass to clang."""
    if flag.startswith(("-D", "-U")) and len(flag) > 2:
        return True
    if flag.startswith("-f"):
        return _harmless_f(flag)
    if flag.startswith(("--target=", "-target=")):
        return True
    if flag in ("-nostdinc", "-nostdlibinc", "-nobuiltininc", "-trigraphs"):
        return True
    return any(p.fullmatch(flag) for p in (_WARNING, _MACHINE, _OPT, _DEBUG, _STD))


def _parents(start: str, stop: str | None) -> Iterator[str]:
    d = os.path.abspath(start)
    stop_at = os.path.abspath(stop) if stop else None
    while True:
        yield d
        parent = os.path.dirname(d)
        if d == stop_at or parent == d:
            return
        d = parent


def find_compdb(file_path: str, workspace_root: str | None) -> str | None:
    """The nearest compile_commands.json from the file's directory up to the workspace root."""
    root = workspace_root
    if root and os.path.commonpath([os.path.abspath(root), os.path.abspath(file_path)]) != (
        os.path.abspath(root)
    ):
        root = None  # a file outside the workspace: walk to /
    for d in _parents(os.path.dirname(os.path.abspath(file_path)), root):
        for cand in (
            os.path.join(d, "compile_commands.json"),
            os.path.join(d, "build", "compile_commands.json"),
        ):
            if os.path.isfile(cand):
                return cand
    return None


def _entry_args(entry: dict[str, Any]) -> list[str]:
    args = entry.get("arguments")
    if isinstance(args, list):
        return [str(a) for a in args]
    return shlex.split(str(entry.get("command", "")))


def _same_file(a: str, b: str) -> bool:
    return os.path.normpath(a) == os.path.normpath(b) or os.path.realpath(a) == os.path.realpath(b)


def entry_directory(entry: dict[str, Any], compdb_path: str) -> str:
    # A relative "directory" is taken against the database's own directory.
    return os.path.join(
        os.path.dirname(os.path.abspath(compdb_path)), str(entry.get("directory", "."))
    )


def entry_for(compdb_path: str, file_path: str) -> dict[str, Any] | None:
    try:
        with open(compdb_path, encoding="utf-8") as fh:
            entries = json.load(fh)
    except (OSError, ValueError):
        return None
    if not isinstance(entries, list):
        return None
    target = os.path.abspath(file_path)
    for entry in entries:
        if not isinstance(entry, dict) or "file" not in entry:
            continue
        directory = entry_directory(entry, compdb_path)
        if _same_file(os.path.join(directory, str(entry["file"])), target):
            return entry
    return None


def split_flags(args: Sequence[str], directory: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(kept, dropped): the allow-listed flags, relative paths resolved against the entry's
    directory, and the flags (with their values) dropped as not allowed. args[0] is the
    compiler; build plumbing and the input file are in neither."""
    out: list[str] = []
    dropped: list[str] = []

    def absolute(p: str) -> str:
        return os.path.normpath(os.path.join(directory, p))

    i = 1
    while i < len(args):
        a = args[i]
        nxt = args[i + 1] if i + 1 < len(args) else None
        i += 1
        if a in _PLUMBING_WITH_VALUE:
            i += 1
            continue
        if a in _DROP_WITH_VALUE:
            dropped.append(a if nxt is None else f"{a} {nxt}")
            i += 1
            continue
        if a in _PLUMBING or a.startswith(_PLUMBING_PREFIXES):
            continue
        if a.startswith("@"):
            dropped.append(a)  # a response file: clang would read more flags from it
            continue
        if not a.startswith("-"):
            continue  # the input file (or another input): we feed stdin
        path_flag = next((f for f in _PATH_FLAGS if a == f or a.startswith(f)), None)
        if path_flag is not None and not (path_flag == "-include" and a.startswith("-include-")):
            value = a[len(path_flag) :] if a != path_flag else nxt
            if value is None:
                continue
            if a == path_flag:
                i += 1
            out += [path_flag, absolute(value)]
            continue
        value_flag = next((f for f in _VALUE_FLAGS if a == f), None)
        if value_flag is not None:
            if nxt is not None:
                out += [a, nxt]
                i += 1
            continue
        if _allowed(a):
            out.append(a)
        else:
            dropped.append(a)
    return tuple(out), tuple(dropped)


@dataclass(frozen=True)
class ProjectFlags:
    compdb: str  # the compile_commands.json they come from
    flags: tuple[str, ...]  # passed to clang
    dropped: tuple[str, ...]  # not allowed: never passed


def project_flags(
    file_path: str, workspace_root: str | None, database: str | None = None
) -> ProjectFlags | None:
    """The file's compile_commands.json entry, allow-listed; None without an entry.
    `database` names the compile_commands.json to read instead of the nearest one."""
    db = database or find_compdb(file_path, workspace_root)
    if db is None:
        return None
    entry = entry_for(db, file_path)
    if entry is None:
        return None
    kept, dropped = split_flags(_entry_args(entry), entry_directory(entry, db))
    return ProjectFlags(db, kept, dropped)


def flags_for(
    file_path: str, workspace_root: str | None, database: str | None = None
) -> tuple[str, ...] | None:
    """The kept flags of the file's compile_commands.json entry, or None without an entry."""
    project = project_flags(file_path, workspace_root, database)
    return None if project is None else project.flags


def dropped_finding(
    file_path: str, workspace_root: str | None, database: str | None = None
) -> Finding | None:
    """One Information on the file's first line naming the flags of its compile_commands.json
    entry that were not passed to clang, or None when nothing was dropped."""
    project = project_flags(file_path, workspace_root, database)
    if project is None or not project.dropped:
        return None
    shown = ", ".join(f"`{d}`" for d in project.dropped[:12])
    more = len(project.dropped) - 12
    if more > 0:
        shown += f" and {more} more"
    return Finding(
        Location(os.path.abspath(file_path), 1, 0),
        Severity.INFORMATION,
        Source.CLANG,
        f"Not passed to clang from {project.compdb}: {shown}. Flags that could run code or "
        "write files (plugins, -B, --config, -Xclang, profile and output paths, response "
        "files) are never taken from a workspace; put a flag you need in the extraFlags "
        "setting (yours, not the project's).",
        code=FLAGS_DROPPED,
    )
