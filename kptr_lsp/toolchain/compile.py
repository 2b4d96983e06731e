"""Compile the editor's unsaved buffer for BPF without touching the disk.

The text goes to clang on stdin behind `#line 1 "<path>"`, so diagnostics, DWARF and the
.BTF.ext line info name the real file and lines; the object comes back on stdout.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from kptr_lsp.findings import Finding, Location, Severity, Source
from kptr_lsp.kernel.running import VMLINUX_BTF
from kptr_lsp.toolchain import compdb, debian, pch, trim, vmlinux, warm
from kptr_lsp.toolchain.clang import Clang, ToolchainError, find_clang, find_libbpf_headers
from kptr_lsp.toolchain.diagnostics import parse_clang_stderr
from kptr_lsp.toolchain.headers import (
    IncludedHeader,
    VendoredLibbpf,
    find_vendored_libbpf,
    included_headers,
    vmlinux_dirs,
    without_header_lines,
)

log = logging.getLogger(__name__)

_LIBBPF_INCLUDE_RE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*[<"]bpf/', re.MULTILINE)
_DIR_FLAGS = ("-I", "-isystem", "-idirafter", "-iquote")
_VMLINUX_NOT_FOUND = "'vmlinux.h' file not found"


@dataclass(frozen=True)
class CompileOptions:
    clang: str | None = None
    extra_flags: tuple[str, ...] = ()
    include_dirs: tuple[str, ...] = ()
    kernel_btf: str = VMLINUX_BTF
    timeout_s: float = 30.0
    workspace_root: str | None = None
    use_compile_commands: bool = True
    compile_commands: str | None = None  # this compile_commands.json, not the nearest one
    use_pch: bool = True  # precompile the leading include block (see toolchain/pch.py)
    # compile on vmlinux.h cut to the types the file's BTF holds, when exact (toolchain/trim.py)
    trim_vmlinux: bool = True


@dataclass(frozen=True)
class CompileResult:
    obj: bytes | None
    findings: tuple[Finding, ...]
    command: tuple[str, ...]
    duration_s: float
    # Headers clang opened (its -H list) and the vendored libbpf chosen without a compdb entry.
    headers: tuple[IncludedHeader, ...] = ()
    vendored_libbpf: VendoredLibbpf | None = None


def _dirs_in(flags: tuple[str, ...]) -> list[str]:
    """Include directories named by -I/-isystem/-idirafter/-iquote, joined or separate."""
    dirs: list[str] = []
    for i, f in enumerate(flags):
        if f in _DIR_FLAGS:
            if i + 1 < len(flags):
                dirs.append(os.path.abspath(flags[i + 1]))
        elif f.startswith("-I"):
            dirs.append(os.path.abspath(f[2:]))
    return dirs


def _workspace_dirs(file_dir: str, root: str | None) -> list[str]:
    """Where a project keeps its own vmlinux.h: the file's parents up to the root, root/include."""
    if not root:
        return [file_dir]
    root = os.path.abspath(root)
    dirs: list[str] = []
    d = file_dir
    while True:
        dirs.append(d)
        if d == root or os.path.dirname(d) == d:
            break
        d = os.path.dirname(d)
    if d != root:  # the file lies outside the workspace
        dirs = [file_dir]
    return [*dirs, os.path.join(root, "include")]


def _vmlinux_flags(
    text: str, file_dir: str, include_dirs: list[str], options: CompileOptions, arch: str
) -> list[str]:
    """Make `vmlinux.h` resolvable wherever it is included from: the buffer itself, or a
    project header at any depth, as `"vmlinux.h"` or `<vmlinux.h>`.

    The project's own vmlinux.h comes first (the file's directory, the include directories,
    their per-arch places, then the workspace); a generated one is the last resort. Both are
    added with `-idirafter`, searched after every directory the project names, so a
    vmlinux.h next to the header that includes it (clang looks there first for `"…"`) or in
    a directory of the project's own flags is never shadowed by ours.
    """
    # A project's own vmlinux.h wins over a generated one: it may be trimmed or pinned.
    found = vmlinux.find_existing(vmlinux_dirs([file_dir, *include_dirs], arch))
    if found is None:
        found = vmlinux.find_existing(
            vmlinux_dirs(_workspace_dirs(file_dir, options.workspace_root), arch)
        )
    if found is not None:
        return [] if found in include_dirs else ["-idirafter", found]
    if vmlinux.includes_vmlinux(text):
        return ["-idirafter", vmlinux.ensure_vmlinux_h(options.kernel_btf)]
    # Only a header might include it: fall back quietly when no kernel BTF can be dumped
    # (compile_buffer raises the reason if clang then misses vmlinux.h).
    try:
        return ["-idirafter", vmlinux.ensure_vmlinux_h(options.kernel_btf)]
    except ToolchainError as exc:
        log.debug("no generated vmlinux.h for header includes: %s", exc)
        return []


def build_command(path: str, text: str, options: CompileOptions, clang: Clang) -> tuple[str, ...]:
    """The clang argv for compiling `text` (as `path`) from stdin to an object on stdout."""
    path = os.path.abspath(path)
    file_dir = os.path.dirname(path)
    project: tuple[str, ...] = ()
    if options.use_compile_commands:
        project = compdb.flags_for(path, options.workspace_root, options.compile_commands) or ()
    user_dirs = [os.path.abspath(d) for d in options.include_dirs]
    vendored = vendored_libbpf(
        path, text, options, has_compdb_entry=_has_compdb_entry(path, options)
    )
    if vendored is not None:
        user_dirs.append(vendored.include_dir)  # before the system's: the project's libbpf
    include_dirs = [*user_dirs, *_dirs_in(project), *_dirs_in(options.extra_flags)]

    cmd: list[str] = [clang.path]
    if not any(f in ("-target", "--target") or f.startswith("--target=") for f in project):
        cmd += ["-target", "bpf"]
    if not any(f.startswith("-g") for f in project):
        # DWARF 4, not clang's default 5: the programs, .BTF and .BTF.ext are the same
        # (tests/toolchain/test_debug_info.py), and a compile on the PCH no longer reads
        # vmlinux.h back to checksum it for v5's file table (~5% of a save: bench/dwarf_options.py).
        cmd += ["-g", "-gdwarf-4"]
    if not any(f.startswith("-O") for f in project):
        cmd.append("-O2")
    cmd += [
        "-c",
        "-fno-color-diagnostics",
        "-fno-caret-diagnostics",
        "-fdiagnostics-print-source-range-info",
        "-H",  # the headers really opened, on stderr: shown in hovers and the log
    ]
    if not any(f.startswith("-D__TARGET_ARCH_") for f in project):
        cmd.append(f"-D__TARGET_ARCH_{clang.target_arch}")
    # Quote includes resolve against the file's directory, as they would for the file on disk.
    cmd += ["-iquote", file_dir]
    for d in user_dirs:
        cmd += ["-I", d]
    cmd += project
    cmd += _vmlinux_flags(text, file_dir, include_dirs, options, clang.target_arch)
    # The current libbpf's headers (debian.py), after every directory the project names but
    # before the system's (-isystem precedes clang's built-in /usr/include): 1.1's lack
    # BPF_UPROBE, BPF_KSYSCALL, bpf_ksym_exists and more.
    current = debian.libbpf_include()
    for d in current:
        cmd += ["-isystem", d]
    if _LIBBPF_INCLUDE_RE.search(text):
        searched = [file_dir, *include_dirs, *current, *clang.system_includes]
        libbpf_dir = find_libbpf_headers(clang, searched)
        if libbpf_dir not in searched:
            cmd += ["-idirafter", libbpf_dir]
    for d in clang.system_includes:
        cmd += ["-idirafter", d]
    cmd += options.extra_flags
    cmd += ["-x", "c", "-", "-o", "-"]
    return tuple(cmd)


def vendored_libbpf(
    path: str, text: str, options: CompileOptions, *, has_compdb_entry: bool
) -> VendoredLibbpf | None:
    """The project's own libbpf headers, when the file uses libbpf and no compile_commands.json
    entry says how the project builds it."""
    if has_compdb_entry or not _LIBBPF_INCLUDE_RE.search(text):
        return None
    return find_vendored_libbpf(os.path.dirname(os.path.abspath(path)), options.workspace_root)


_logged_headers: dict[str, tuple[str, ...]] = {}


def _log_headers(path: str, headers: tuple[IncludedHeader, ...]) -> None:
    """Say in the log which libbpf and vmlinux.h a file compiled with, when that changes."""
    wanted = tuple(
        h.path
        for h in headers
        if os.path.basename(h.path) == "vmlinux.h" or (h.depth == 1 and "bpf_" in h.path)
    )
    if _logged_headers.get(path) != wanted:
        _logged_headers[path] = wanted
        log.info("%s: compiled with %s", path, ", ".join(wanted) or "no libbpf/vmlinux headers")


def _line_directive(path: str) -> str:
    escaped = path.replace("\\", "\\\\").replace('"', '\\"')
    return f'#line 1 "{escaped}"\n'


def _run(
    cmd: tuple[str, ...],
    stdin: bytes,
    cwd: str,
    timeout_s: float,
    cancelled: threading.Event | None = None,
) -> tuple[int | None, bytes, bytes]:
    """Run clang; on timeout, or once `cancelled` is set (a newer buffer supersedes this one),
    kill its whole process group (the driver may fork cc1): a stale compile must not hold a
    core the current one needs."""
    proc = warm.POOL.take(cmd, cwd) or warm.spawn(cmd, cwd)
    deadline = time.monotonic() + timeout_s
    pending: bytes | None = stdin
    while True:
        left = deadline - time.monotonic()
        wait = left if cancelled is None else min(left, _CANCEL_POLL_S)
        try:
            # Returns as soon as clang exits; the wait only bounds how late a cancel is seen.
            out, err = proc.communicate(pending, timeout=max(0.0, wait))
            warm.POOL.start_next(cmd, cwd)  # the next save of this file compiles the same way
            return proc.returncode, out, err
        except subprocess.TimeoutExpired:
            pending = None  # the input is being written already; a retry must not resend it
            if left <= wait or (cancelled is not None and cancelled.is_set()):
                warm.stop(proc)
                return None, b"", b""


_CANCEL_POLL_S = 0.02


def _version(clang: Clang) -> str:
    return ".".join(map(str, clang.version))


def compile_buffer(
    path: str, text: str, *, options: CompileOptions, cancelled: threading.Event | None = None
) -> CompileResult:
    """Compile the editor's text for `path`. Raises ToolchainError when clang, libbpf headers
    or kernel BTF are missing; everything clang itself says comes back as findings. Setting
    `cancelled` stops clang: the result then has no object and no findings."""
    path = os.path.abspath(path)
    clang = find_clang(options.clang)
    cmd = build_command(path, text, options, clang)
    file_dir = os.path.dirname(path)
    cwd = file_dir if os.path.isdir(file_dir) else os.getcwd()

    start = time.perf_counter()

    def run(command: tuple[str, ...]) -> _Ran:
        return _compile(command, text, path, options, clang, cwd, cancelled)

    ran = _on_cut(cmd, path, text, cwd, run, cancelled) if options.trim_vmlinux else None
    if ran is None and not (cancelled is not None and cancelled.is_set()):
        ran = run(cmd)
        if options.trim_vmlinux and ran[0] is not None:
            trim.CUTS.learn(path, ran[0], ran[1], ran[2].decode(errors="surrogateescape"), cwd)
    returncode, out, err, cmd = ran or (None, b"", b"", cmd)
    duration = time.perf_counter() - start
    if cancelled is not None and cancelled.is_set():
        return CompileResult(None, (), cmd, duration)  # superseded: nobody reads this result

    if returncode is None:
        timed_out = Finding(
            Location(path, 1, 0),
            Severity.ERROR,
            Source.CLANG,
            f"clang timed out after {options.timeout_s:g} s and was stopped; "
            "raise the compile timeout setting if the program is this large",
            code="timeout",
        )
        return CompileResult(None, (timed_out,), cmd, duration)

    raw_stderr = err.decode("utf-8", errors="replace")
    headers = included_headers(raw_stderr, cwd)
    _log_headers(path, headers)
    stderr = without_header_lines(raw_stderr)
    findings = parse_clang_stderr(stderr, main_path=path, cwd=cwd, prefix_lines=1)
    obj = out if returncode == 0 and out.startswith(b"\x7fELF") else None
    if obj is None and _VMLINUX_NOT_FOUND in stderr:
        # A header wants vmlinux.h and none could be generated: say why (raises).
        vmlinux.ensure_vmlinux_h(options.kernel_btf)
    if obj is None and not any(f.severity == Severity.ERROR for f in findings):
        # clang failed without a diagnostic we could parse (a crash, a signal): say so.
        tail = stderr.strip().splitlines()[-5:]
        findings = (
            *findings,
            Finding(
                Location(path, 1, 0),
                Severity.ERROR,
                Source.CLANG,
                f"clang exited with status {returncode}" + (": " + " ".join(tail) if tail else ""),
            ),
        )
    vendored = vendored_libbpf(
        path, text, options, has_compdb_entry=_has_compdb_entry(path, options)
    )
    # flags of an untrusted workspace
    dropped = compdb.dropped_finding(path, options.workspace_root, options.compile_commands)
    if dropped is not None and options.use_compile_commands:
        findings = (*findings, dropped)
    return CompileResult(obj, findings, cmd, duration, headers, vendored)


# (returncode, stdout, stderr, the command that ran)
_Ran = tuple[int | None, bytes, bytes, tuple[str, ...]]


def _on_cut(
    cmd: tuple[str, ...],
    path: str,
    text: str,
    cwd: str,
    run: Callable[[tuple[str, ...]], _Ran],
    cancelled: threading.Event | None,
) -> _Ran | None:
    """The compile on the file's cut vmlinux.h, when it gives what the whole header gives
    (toolchain/trim.py); None when the file has no cut yet, needs the whole header, or
    `cancelled` was set."""
    cut = trim.CUTS.cut_for(path, text)
    for _ in range(trim.ROUNDS):
        if cut is None:
            return None
        ran = run(cut.command(cmd))
        if cancelled is not None and cancelled.is_set():
            return None
        if ran[0] is None:
            return ran  # timed out: on the whole header it would take longer still
        said = ran[2].decode("utf-8", errors="surrogateescape")
        verdict = trim.CUTS.judge(path, cut, ran[0], ran[1], said, cwd)
        if verdict == "exact":
            return ran
        cut = trim.CUTS.cut_for(path, text) if verdict == "again" else None
    return None


def _compile(
    cmd: tuple[str, ...],
    text: str,
    path: str,
    options: CompileOptions,
    clang: Clang,
    cwd: str,
    cancelled: threading.Event | None,
) -> _Ran:
    """Run `cmd` on the buffer, on the preamble's PCH when one fits: (returncode, stdout,
    stderr with the PCH's `-H` lines put back, the command that ran)."""
    stdin = (_line_directive(path) + text).encode("utf-8", errors="surrogateescape")
    ready = None
    if options.use_pch and pch.CACHE.building(cmd, text, _version(clang)):
        # An earlier compile (this file's last save, or another file with the same preamble)
        # is building the PCH: on two cores, waiting for it beats a third heavy clang.
        ready = pch.CACHE.wait_ready(
            cmd, text, _version(clang), cwd, options.timeout_s, cancelled, kernel_base=True
        )
    elif options.use_pch:
        ready = pch.CACHE.lookup(cmd, text, _version(clang), cwd, kernel_base=True)
    if ready is not None:
        with_pch = (*cmd[:-5], "-include-pch", ready.path, *cmd[-5:])
        # The preamble's lines come from the PCH: clang reads them emptied, lines kept.
        rest = _line_directive(path) + ready.preamble.blanked(text)
        rest_in = rest.encode("utf-8", errors="surrogateescape")
        returncode, out, err = _run(with_pch, rest_in, cwd, options.timeout_s, cancelled)
        said = err.decode("utf-8", errors="surrogateescape")
        listed = ready.stderr_of(said, cwd)
        if returncode not in (0, None) and pch.PCH_REFUSED.search(said):
            pch.CACHE.refused(ready.key)  # an input changed since it was built: compile without
            returncode, out, err = _run(cmd, stdin, cwd, options.timeout_s, cancelled)
        elif listed is None:
            # clang opened other headers than the kernel-types PCH stands for: without it
            log.info("%s: the kernel-types PCH does not fit this compile; compiling without", path)
            pch.CACHE.misfit(ready)
            returncode, out, err = _run(cmd, stdin, cwd, options.timeout_s, cancelled)
        else:
            cmd, err = with_pch, listed.encode("utf-8", errors="surrogateescape")
    else:
        returncode, out, err = _run(cmd, stdin, cwd, options.timeout_s, cancelled)
    return returncode, out, err, cmd


def _has_compdb_entry(path: str, options: CompileOptions) -> bool:
    # An entry decides the include path even when it adds no flags of its own.
    return options.use_compile_commands and (
        compdb.flags_for(path, options.workspace_root, options.compile_commands) is not None
    )
