"""compile_commands.json: the flags the project's own build uses for a file, minus what only
makes sense for a build on disk (output, input, dependency files)."""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Iterator, Sequence
from typing import Any

# Flags whose value is a path, either joined (-Ifoo) or separate (-I foo).
_PATH_FLAGS = ("-I", "-isystem", "-idirafter", "-iquote", "-include", "-imacros")
# Other flags we keep whose value may be a separate argument.
_VALUE_FLAGS = ("-D", "-U", "-target")
# Flags we drop that swallow the next argument.
_DROP_WITH_VALUE = frozenset({"-o", "-MF", "-MT", "-MQ", "-x", "-Xclang", "-main-file-name"})
# Diagnostics format is ours to choose: the parser depends on it.
_DROP_PREFIXES = (
    "-fcolor-diagnostics",
    "-fno-color-diagnostics",
    "-fdiagnostics-",
    "-fansi-escape-codes",
    "-M",  # dependency output: -MD, -MMD, -MP …
    "-Wp,-M",  # the kernel's spelling of the same
    "-Wl,",  # linker flags: unused with -c
)


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


def filter_flags(args: Sequence[str], directory: str) -> tuple[str, ...]:
    """Keep -I/-D/-U/-include/-isystem/-idirafter/-iquote/-std/-W/-O/-g/-m/-f/-target;
    resolve relative paths against the entry's directory. args[0] is the compiler."""
    out: list[str] = []

    def absolute(p: str) -> str:
        return os.path.normpath(os.path.join(directory, p))

    i = 1
    while i < len(args):
        a = args[i]
        nxt = args[i + 1] if i + 1 < len(args) else None
        i += 1
        if a in _DROP_WITH_VALUE:
            i += 1
            continue
        if a in ("-c", "-fsyntax-only") or a.startswith(_DROP_PREFIXES):
            continue
        if not a.startswith("-"):
            continue  # the input file (or another input): we feed stdin
        path_flag = next((f for f in _PATH_FLAGS if a == f or a.startswith(f)), None)
        if path_flag is not None:
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
        if a.startswith(
            ("-D", "-U", "-std=", "-W", "-O", "-g", "-m", "-f", "--target=", "-target=")
        ):
            out.append(a)
    return tuple(out)


def flags_for(file_path: str, workspace_root: str | None) -> tuple[str, ...] | None:
    """The kept flags of the file's compile_commands.json entry, or None without an entry."""
    db = find_compdb(file_path, workspace_root)
    if db is None:
        return None
    entry = entry_for(db, file_path)
    if entry is None:
        return None
    return filter_flags(_entry_args(entry), entry_directory(entry, db))
