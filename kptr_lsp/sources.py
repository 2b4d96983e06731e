"""Which files are BPF C: the server's rule for an opened buffer, and the BPF sources of a
directory tree or a compile_commands.json for `kptr-lsp check DIR|compile_commands.json`.

Nothing here compiles or runs anything from the project: files are only listed and read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .toolchain import compdb


def is_bpf_source(path: str, text: str) -> bool:
    """Only BPF C is compiled for the BPF target: a project's user-space loader (plain C)
    opened in the same editor must not drown in false errors."""
    if path.endswith(".bpf.c"):
        return True
    if not path.endswith(".c"):
        return False
    return any(s in text for s in ("SEC(", "<bpf/bpf_helpers.h>", '"bpf_helpers.h"', "vmlinux.h"))


@dataclass(frozen=True)
class Source:
    """One file to check: its absolute path, its text, and the name reports print."""

    path: str
    name: str
    text: str
    # What the analysis takes as the workspace (vmlinux.h, vendored libbpf and
    # compile_commands.json are looked for up to it): the directory checked, the database's
    # directory, or the current directory for a file named on its own.
    root: str
    # The compile_commands.json whose entry gives this file's flags (None: the nearest one)
    compdb: str | None = None


@dataclass
class Inputs:
    sources: list[Source] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # C files found that are not BPF
    problems: list[str] = field(default_factory=list)  # `name: error: …`, one per bad input


def _name(path: str, cwd: str) -> str:
    """`path` relative to `cwd` when below it (as a user would type it), else absolute."""
    rel = os.path.relpath(path, cwd)
    return path if rel.startswith("..") else rel


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as fh:
        return fh.read()


def _tree_files(root: str) -> Iterator[str]:
    """Every `*.c` below `root`, sorted, hidden directories (.git, .output …) and symlinked
    directories left out (a link back up the tree would loop)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in sorted(filenames):
            if f.endswith(".c"):
                yield os.path.join(dirpath, f)


def collect(args: list[str], cwd: str | None = None) -> Inputs:
    """The files `kptr-lsp check` was asked about: a file as given (whatever it holds), every
    BPF source of a directory tree, every BPF entry of a compile_commands.json. Each file once,
    in the order given (a tree in sorted order, a database in its own order)."""
    cwd = cwd or os.getcwd()
    out = Inputs()
    seen: set[str] = set()

    def add(path: str, text: str, root: str, db: str | None) -> None:
        if path not in seen:
            seen.add(path)
            out.sources.append(Source(path, _name(path, cwd), text, root, db))

    for arg in args:
        path = os.path.abspath(os.path.join(cwd, arg))
        before = len(out.sources)
        if os.path.isdir(path):
            for found in _tree_files(path):
                try:
                    text = _read(found)
                except OSError as exc:
                    out.problems.append(f"{_name(found, cwd)}: error: cannot read: {exc.strerror}")
                    continue
                if is_bpf_source(found, text):
                    add(found, text, path, None)
                else:
                    out.skipped.append(_name(found, cwd))
        elif path.endswith(".json"):  # compile_commands.json, or a database by another name
            if not _collect_compdb(arg, path, cwd, out, add):
                continue
        else:
            try:
                text = _read(path)
            except OSError as exc:
                out.problems.append(f"{arg}: error: cannot read: {exc.strerror}")
                continue
            if path not in seen:
                seen.add(path)
                out.sources.append(Source(path, arg, text, cwd))
            continue
        if len(out.sources) == before:  # a whole tree or database with nothing to check
            out.problems.append(f"{arg}: error: no BPF sources (user-space C is not checked)")
    return out


def _collect_compdb(
    arg: str,
    db: str,
    cwd: str,
    out: Inputs,
    add: Callable[[str, str, str, str | None], None],
) -> bool:
    """The entries of the database `db` whose file is BPF C, with that database's flags;
    False when `db` is not a database (the problem is recorded)."""
    try:
        with open(db, encoding="utf-8") as fh:
            entries = json.load(fh)
    except OSError as exc:
        out.problems.append(f"{arg}: error: cannot read: {exc.strerror}")
        return False
    except ValueError as exc:
        out.problems.append(f"{arg}: error: not a JSON compilation database: {exc}")
        return False
    if not isinstance(entries, list):
        out.problems.append(f"{arg}: error: not a JSON compilation database: expected a list")
        return False
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            continue
        path = os.path.normpath(os.path.join(compdb.entry_directory(entry, db), entry["file"]))
        try:
            text = _read(path)
        except OSError as exc:
            out.problems.append(f"{_name(path, cwd)}: error: cannot read: {exc.strerror}")
            continue
        if is_bpf_source(path, text):
            add(path, text, os.path.commonpath([os.path.dirname(db), path]), db)
        else:
            out.skipped.append(_name(path, cwd))
    return True
