"""Many files at once, for `kptr-lsp check DIR|compile_commands.json -j N`: the files analysed
in parallel, their reports in the order given, and a summary.

Files run on threads of this process. Each analysis spends its time in clang (a subprocess)
and in the kernel's verifier (a bpf() syscall made through ctypes, which releases the GIL);
libbpf's messages are routed per thread (verify/loader.py), so loads on several threads stay
apart. One process also means one of everything shared: the kernel BTF parsed once, one
generated vmlinux.h, and one precompiled header per configuration, built while the first file
of that configuration compiles and waited for before the others start (they then compile
against it instead of parsing vmlinux.h each).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO

from .analysis import Analysis
from .kernel.facts import KernelFacts
from .pipeline import analyse, compile_options, kernel_target, kernel_verification_available
from .report import verdict
from .settings import Settings
from .sources import Source
from .toolchain import pch
from .toolchain.clang import ToolchainError, find_clang
from .toolchain.compile import build_command
from .toolchain.kernel_base import Chain, chain_to_vmlinux
from .toolchain.vmlinux import ensure_vmlinux_h


def default_jobs() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


Progress = Callable[[int, int, Source], None]


def _settings_for(source: Source, settings: Settings, *, shares_pch: bool, jobs: int) -> Settings:
    changes: dict[str, object] = {}
    if jobs != settings.jobs:
        changes["jobs"] = jobs
    if source.compdb is not None:
        changes["compile_commands"] = source.compdb
    if not shares_pch:
        # A precompiled header nobody else in this run would use costs one more parse of
        # the headers (and the wait for it at exit): compile it plainly.
        changes["precompiled_header"] = False
    return dataclasses.replace(settings, **changes) if changes else settings  # type: ignore[arg-type]


def _prepare(settings: Settings) -> None:
    """What every file would otherwise race to make first: the generated vmlinux.h, the
    kernel's BTF for the checks, the answer to "may this process load programs"."""
    with contextlib.suppress(ToolchainError):  # each file that needs it says why
        ensure_vmlinux_h(settings.kernel_btf)
    target: KernelFacts = kernel_target(settings)
    with contextlib.suppress(Exception):  # a broken BTF file is each file's finding, not ours
        _ = target.spec
    if settings.verify:
        kernel_verification_available()


Configuration = tuple[str, str | None, str | None]


def _configuration(source: Source, settings: Settings) -> Configuration:
    """Files that compile with the same flags and preamble, and so share one precompiled
    header (toolchain/pch.py keys it by the command and the preamble's directives): the
    tree's common base (`vmlinux.h`, `<bpf/…>`) when the file starts with one, whatever
    project headers follow it; else the kernel's types alone when the file reaches vmlinux.h
    first through its project headers (`"tool.h"` → `"common.h"` → `"vmlinux.h"`,
    toolchain/kernel_base.py), whatever those headers are; else its own preamble."""
    where = (os.path.dirname(source.path), source.compdb)
    preamble = pch.base_of(source.text)
    if preamble is not None:
        return (*where, preamble.directives)
    chain = _kernel_chain(source, settings)
    if chain is not None:
        return (*where, f"kernel types: {chain.vmlinux}")
    preamble = pch.preamble_of(source.text)
    return (*where, None if preamble is None else preamble.directives)


def _kernel_chain(source: Source, settings: Settings) -> Chain | None:
    if source.compdb is not None:
        settings = dataclasses.replace(settings, compile_commands=source.compdb)
    try:
        options = compile_options(settings, source.root)
        cmd = build_command(source.path, source.text, options, find_clang(settings.clang))
    except ToolchainError:
        return None  # the file's own compile says why
    cwd = os.path.dirname(os.path.abspath(source.path))
    return chain_to_vmlinux(source.text, cmd, cwd)


def check_all(
    sources: Sequence[Source],
    settings: Settings,
    *,
    jobs: int,
    progress: Progress | None = None,
) -> Iterator[tuple[Source, Analysis]]:
    """Analyse every source, `jobs` at a time; yield each (source, analysis) in the order of
    `sources` as soon as it and every one before it are done. `progress(done, total, source)`
    is called (from worker threads) as each file finishes.

    `jobs` bounds the whole run: files in parallel times the programs each verifies in
    parallel (one file alone verifies `jobs` programs at once; `jobs` files one each)."""
    if not sources:
        return
    total_jobs = max(1, jobs)
    jobs = min(total_jobs, len(sources))
    per_file = max(1, total_jobs // jobs)
    if len(sources) > 1:
        _prepare(settings)
    done = 0
    done_lock = threading.Lock()

    # (one file alone keeps the editor's PCH whatever its configuration)
    alone: Configuration = ("", None, None)
    configurations = [_configuration(s, settings) for s in sources] if len(sources) > 1 else [alone]
    sizes = collections.Counter(configurations)
    firsts: dict[Configuration, int] = {}
    for i, configuration in enumerate(configurations):
        if sizes[configuration] > 1:
            firsts.setdefault(configuration, i)

    def one(i: int) -> Analysis:
        nonlocal done
        source = sources[i]
        analysis = analyse(
            source.path,
            source.text,
            # One file alone keeps the usual PCH: built once, it serves the next check of it.
            _settings_for(
                source,
                settings,
                shares_pch=len(sources) == 1 or sizes[configurations[i]] > 1,
                jobs=per_file,
            ),
            workspace_root=source.root,
        )
        if progress is not None:
            with done_lock:
                done += 1
                progress(done, len(sources), source)
        return analysis

    futures: dict[int, Future[Analysis]] = {}
    # Each file compiles once: on the base it shares, not on a preamble of its own built first.
    chain, pch.CACHE.chain = pch.CACHE.chain, len(sources) == 1 and pch.CACHE.chain
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="kptr-check") as pool:
        try:
            # First the file that starts each shared PCH, and the files that share none.
            for i in firsts.values():
                futures[i] = pool.submit(one, i)
            for i, configuration in enumerate(configurations):
                if sizes[configuration] == 1:
                    futures[i] = pool.submit(one, i)
            if settings.precompiled_header and firsts:
                for i in firsts.values():
                    futures[i].exception()  # wait, without raising here
                pch.CACHE.wait()  # the PCHs the first files started: the rest compile on them
            for i in range(len(sources)):
                if i not in futures:
                    futures[i] = pool.submit(one, i)
            for i, source in enumerate(sources):
                yield source, futures[i].result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            pch.CACHE.chain = chain


@dataclass(frozen=True)
class Summary:
    """What a run of `check` found, counted over programs (the running kernel's verdicts)."""

    files: int
    programs: int
    accepted: int
    rejected: int
    not_verifiable: int
    not_loaded: int  # a map over the memory cap: never created, nothing verified
    uncompiled: int  # files with no object (clang errors)
    unverified: int  # files compiled but not put through the verifier
    skipped: int  # C files in a tree or database that are not BPF
    seconds: float

    def line(self) -> str:
        def n(count: int, what: str) -> str:
            return f"{count} {what}{'' if count == 1 else 's'}"

        verdicts = [f"{self.accepted} accepted", f"{self.rejected} rejected"]
        verdicts.append(f"{self.not_verifiable} not verifiable here")
        if self.not_loaded:
            verdicts.append(f"{self.not_loaded} not loaded")
        parts = [f"{n(self.files, 'file')}, {n(self.programs, 'program')}: {', '.join(verdicts)}"]
        if self.uncompiled:
            parts.append(f"{self.uncompiled} did not compile")
        if self.unverified:
            parts.append(f"{self.unverified} not verified by the kernel")
        if self.skipped:
            parts.append(f"{self.skipped} skipped (not BPF)")
        parts.append(f"{self.seconds:.1f} s")
        return " · ".join(parts)


def summarise(analyses: Iterable[Analysis], *, skipped: int, seconds: float) -> Summary:
    files = programs = accepted = rejected = not_verifiable = not_loaded = 0
    uncompiled = unverified = 0
    for a in analyses:
        files += 1
        if a.compile is None or a.compile.obj is None:
            uncompiled += 1
        elif not a.verified:
            unverified += 1
        for p in a.programs:
            programs += 1
            word = verdict(p)
            if word == "accepted":
                accepted += 1
            elif word == "rejected":
                rejected += 1
            elif word.startswith("not verifiable"):
                not_verifiable += 1
            else:
                not_loaded += 1
    return Summary(
        files,
        programs,
        accepted,
        rejected,
        not_verifiable,
        not_loaded,
        uncompiled,
        unverified,
        skipped,
        seconds,
    )


class ProgressLine:
    """`[12/58] path` on one terminal line, rewritten as files finish; nothing unless the
    stream is a terminal (CI logs get the summary only)."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty()
        self._lock = threading.Lock()
        self._shown = False

    def __call__(self, done: int, total: int, source: Source) -> None:
        if not self.enabled:
            return
        with self._lock:
            self.stream.write(f"\r\x1b[K[{done}/{total}] {source.name}")
            self.stream.flush()
            self._shown = True

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Print other output inside this block: the line is wiped first and not redrawn
        until the block ends (the next file that finishes draws it again)."""
        with self._lock:
            if self._shown:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
                self._shown = False
            yield
