"""Load each program of a BPF object into the kernel verifier, one open object per program.

`bpf_object__load` stops at the first program that fails, so every program gets its own
`bpf_object` with only itself set to autoload. Nothing is attached or pinned, and every object is
closed before we return, so the kernel keeps nothing.

libbpf's print hook is process-global: messages are routed to the load running on the calling
thread (libbpf prints from the thread that called it), so loads on several threads stay apart.
"""

from __future__ import annotations

import ctypes
import enum
import errno as errno_mod
import functools
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, TypeVar

from kptr_lsp.kernel.running import release as running_release
from kptr_lsp.verify.externs import STRUCT_OPS_NOT_FOUND, around_missing_kfuncs
from kptr_lsp.verify.libbpf import (
    BPF_PROG_TYPE_SOCKET_FILTER,
    LIBBPF_DEBUG,
    LIBBPF_INFO,
    Libbpf,
    LibbpfError,
    OpenOpts,
    libbpf,
)
from kptr_lsp.verify.log import VerifierLog, parse_log
from kptr_lsp.verify.map_memory import MapOverCap, MapSize, map_size, over_cap
from kptr_lsp.verify.setup import DataPatch, Placeholder, prepare
from kptr_lsp.verify.slots import without_program_slots
from kptr_lsp.verify.struct_ops_link import without_link_support

MIN_LOG_SIZE = 128  # the kernel refuses smaller verifier log buffers (EINVAL)
# include/uapi/linux/bpf.h log_level bits (BPF_LOG_MASK is all four)
BPF_LOG_LEVEL1 = 1
BPF_LOG_LEVEL2 = 2
BPF_LOG_STATS = 4
BPF_LOG_FIXED = 8  # 6.4+: keep the log's start when it overflows instead of rotating
DEFAULT_LOG_SIZE = 1 << 20
MAX_LOG_SIZE = 64 << 20
LOG_GROWTH = 4

Level = Literal["warn", "info", "debug"]


class Failure(enum.Enum):
    """Why a program did not load."""

    NONE = "none"  # accepted by the verifier
    VERIFIER = "verifier"  # the verifier rejected the code; the log has the reason
    MAP_CREATE = "map_create"  # a map could not be created; libbpf's message names it
    RELOCATION = "relocation"  # CO-RE, extern or kfunc resolution failed in libbpf
    ATTACH_TARGET = "attach_target"  # the attach target does not exist in this kernel
    NOT_PERMITTED = "not_permitted"  # refused for reasons outside the code (type unsupported, ...)
    OPEN = "open"  # libbpf could not open or parse the object
    MAP_TOO_LARGE = "map_too_large"  # a map is over the memory cap: we did not create it
    # The kernel lacks the subsystem a struct_ops map plugs into (no such type in its BTF).
    KERNEL_LACKS = "kernel_lacks"
    OTHER = "other"


@dataclass(frozen=True)
class LibbpfMessage:
    """One libbpf print, formatted as libbpf wrote it ("libbpf: ..." with its newline)."""

    level: Level
    text: str


# Failures that say a program cannot be verified in this kernel, not that its code is wrong.
NOT_VERIFIABLE = frozenset({Failure.ATTACH_TARGET, Failure.NOT_PERMITTED, Failure.KERNEL_LACKS})


@dataclass(frozen=True)
class ProgramResult:
    """One program's load. `insns` are libbpf's instructions after the load attempt: relocated,
    subprograms appended, when the load reached the kernel; the ELF section's otherwise."""

    name: str
    section: str
    accepted: bool
    failure: Failure
    errno: int
    log: str
    libbpf_messages: tuple[LibbpfMessage, ...]
    insns: bytes
    duration_s: float
    # The cause lies outside this program (a map, an extern, the object): libbpf stopped before
    # loading any program, so every program of the object reports the same failure.
    object_wide: bool = False
    oversized_maps: tuple[MapOverCap, ...] = ()  # why, for Failure.MAP_TOO_LARGE
    # The verifier's log was longer than its buffer (`log_size` bytes, the last one tried): a
    # rotating kernel (6.4+) kept its end, an older one (or BPF_LOG_FIXED) its start. Then
    # `verdict_log` is the log of a second load at BPF_LOG_STATS alone: the kernel's messages
    # and statistics without the instruction trace, and its errno is the one in `errno`.
    log_cut: bool = False
    log_size: int = 0
    verdict_log: str = ""
    jited_size: int | None = None  # bytes the JIT made of it (bpf_prog_info), when loaded

    @functools.cached_property
    def parsed_log(self) -> VerifierLog:
        """The log, parsed on first use and kept: placement, lenses, fixes and reports all
        read this one parse."""
        return parse_log(self.log)


@dataclass(frozen=True)
class ObjectResult:
    """Every program's load; BTF and open outcomes are the object's, shared by all programs."""

    programs: tuple[ProgramResult, ...]
    btf_rejected: bool
    btf_log: str
    open_error: str | None
    # Runtime-sized maps given a placeholder so the object could load at all.
    placeholders: tuple[Placeholder, ...] = ()


# --- libbpf's print hook, routed per thread ---------------------------------------------------

_LEVELS: dict[int, Level] = {LIBBPF_INFO: "info", LIBBPF_DEBUG: "debug"}
_route = threading.local()
_T = TypeVar("_T")
_hook_lock = threading.Lock()


def _sink(level: int, text: str) -> None:
    messages: list[LibbpfMessage] | None = getattr(_route, "messages", None)
    if messages is not None:
        messages.append(LibbpfMessage(_LEVELS.get(level, "warn"), text))


def _wants(level: int) -> bool:
    return level != LIBBPF_DEBUG or getattr(_route, "debug", True)


def _binding() -> Libbpf:
    lib = libbpf()
    with _hook_lock:
        # Checked every time: anyone may have replaced libbpf's global hook since.
        if lib.print_sink is not _sink:
            lib.set_print(_sink, _wants)
    return lib


class _Capture:
    """Collects libbpf's messages printed on this thread while the block runs."""

    def __init__(self) -> None:
        self.messages: list[LibbpfMessage] = []

    def __enter__(self) -> _Capture:
        _route.messages = self.messages
        return self

    def __exit__(self, *exc: object) -> None:
        _route.messages = None


# --- classification ---------------------------------------------------------------------------
# Evidence from libbpf 1.4.6 (the current libbpf, verify/libbpf.py) and 1.1.2 on Linux 6.18:
# tests/verify/test_loader.py has a real program per class, tests/verify/test_current_libbpf.py
# checks that the current libbpf still prints every text below. 1.4's new refusals of the code
# before the kernel sees it ("cannot find exception callback", "exception callback %s must be a
# global non-hidden function") are OTHER: libbpf's own words, on the program.

_ENOTSUPP = 524  # kernel-internal errno that leaks to user space for unsupported features
_REACHED_KERNEL = re.compile(r"prog '([^']*)': BPF program load failed")
_MAP_FAILED = re.compile(r"map '[^']*': failed to")
_BTF_LOG = re.compile(r"-- BEGIN BTF LOAD LOG ---\n(.*?)\n?-- END BTF LOAD LOG --", re.S)
_ATTACH_HINTS = ("failed to find kernel BTF type ID of", "failed to find BPF program (FD")
_RELOCATION_HINTS = (
    "extern (",
    "failed to resolve CO-RE relocation",
    "relo #",
    "failed to relocate",
    "failed to find BTF for extern",
    "failed to find valid kernel BTF",
)
# libbpf poisons instructions it could not relocate; the verifier then fails on them.
_POISON_MARKS = (
    "<invalid CO-RE relocation>",
    "<invalid BPF map reference>",
    "<invalid kfunc call>",
)
_REFUSED_ERRNOS = (errno_mod.EPERM, errno_mod.EINVAL, errno_mod.EOPNOTSUPP, _ENOTSUPP)


def classify(
    prog_name: str, err: int, log: str, messages: Iterable[LibbpfMessage]
) -> tuple[Failure, bool]:
    """(failure class, object_wide) from the errno, the verifier log and libbpf's warnings."""
    if err == 0:
        return Failure.NONE, False
    text = "".join(m.text for m in messages if m.level == "warn")
    reached = any(m.group(1) == prog_name for m in _REACHED_KERNEL.finditer(text))
    if not reached and _MAP_FAILED.search(text):
        return Failure.MAP_CREATE, True
    if not reached and STRUCT_OPS_NOT_FOUND.search(text):
        return Failure.KERNEL_LACKS, True
    if not reached and any(h in text for h in _ATTACH_HINTS):
        return Failure.ATTACH_TARGET, False
    if any(mark in log for mark in _POISON_MARKS):
        return Failure.RELOCATION, False
    if not reached and any(h in text for h in _RELOCATION_HINTS):
        return Failure.RELOCATION, f"prog '{prog_name}'" not in text
    if not reached and err == errno_mod.ESRCH:
        return Failure.ATTACH_TARGET, False
    if reached:
        if log.strip():
            return Failure.VERIFIER, False
        if err in _REFUSED_ERRNOS:
            return Failure.NOT_PERMITTED, False
        return Failure.OTHER, False
    return Failure.OTHER, f"prog '{prog_name}'" not in text


# --- loading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    name: str
    section: str


@dataclass(frozen=True)
class _Attempt:
    err: int
    log: bytes
    insns: bytes
    opened: bool
    oversized: tuple[MapOverCap, ...] = ()
    jited: int | None = None


def _load_one(
    lib: Libbpf,
    data: ctypes.Array[ctypes.c_char],
    obj_name: str,
    target: _Target,
    log_level: int,
    log_size: int,
    map_memory_cap: int | None = None,
    patches: tuple[DataPatch, ...] = (),
) -> ProgramResult:
    start = time.monotonic()
    verdict: tuple[_Attempt, list[LibbpfMessage]] | None = None

    def load(level: int, size: int) -> tuple[_Attempt, list[LibbpfMessage]]:
        with _Capture() as cap:
            got = _attempt(lib, data, obj_name, target.name, level, size, map_memory_cap, patches)
        return got, cap.messages

    while True:
        got, messages = load(log_level, log_size)
        cut = got.opened and (got.err == errno_mod.ENOSPC or len(got.log) >= log_size - 1)
        if not cut or _gave_up(got.log):
            # Not cut, or a rotating kernel (6.4+) kept the end, where the verdict is: a limit
            # the whole walk hit, whose log no buffer holds.
            break
        if not _has_end(got.log) and verdict is None:
            # The kernel kept the log's head (before 6.4, or BPF_LOG_FIXED): ask for its verdict.
            verdict = load(_verdict_level(log_level), DEFAULT_LOG_SIZE)
            if _gave_up(verdict[0].log):
                break
        if log_size >= MAX_LOG_SIZE:
            break
        # The kernel fails the load with ENOSPC when the log did not fit, even for a good
        # program, and libbpf does not retry with a caller's buffer: grow and verify again.
        log_size = min(log_size * LOG_GROWTH, MAX_LOG_SIZE)
    if cut and verdict is None and not _gave_up(got.log):
        # ENOSPC stands in for the kernel's own answer (even for a program it accepted): a
        # load logging only the verdict and statistics (no instruction trace: small, fast)
        # gives that answer and its words. A kept end naming a limit already is the answer.
        verdict = load(_verdict_level(log_level), DEFAULT_LOG_SIZE)
    err = got.err
    if cut and verdict is not None and verdict[0].opened:
        err, messages = verdict[0].err, verdict[1]
    log = got.log.decode(errors="replace")
    if got.oversized:
        failure, wide = Failure.MAP_TOO_LARGE, True
    elif got.opened:
        failure, wide = classify(target.name, err, log, messages)
    else:
        failure, wide = Failure.OPEN, True
    return ProgramResult(
        name=target.name,
        section=target.section,
        accepted=err == 0,
        failure=failure,
        errno=err,
        log=log,
        libbpf_messages=tuple(messages),
        insns=got.insns,
        duration_s=time.monotonic() - start,
        object_wide=wide,
        oversized_maps=got.oversized,
        log_cut=cut,
        log_size=log_size,
        verdict_log=verdict[0].log.decode(errors="replace") if cut and verdict else "",
        jited_size=got.jited,
    )


def _open_opts(obj_name: str) -> OpenOpts:
    return OpenOpts(sz=ctypes.sizeof(OpenOpts), object_name=obj_name.encode())


def _attempt(
    lib: Libbpf,
    data: ctypes.Array[ctypes.c_char],
    obj_name: str,
    prog_name: str,
    log_level: int,
    log_size: int,
    map_memory_cap: int | None = None,
    patches: tuple[DataPatch, ...] = (),
) -> _Attempt:
    """One open, load and close of the object with only `prog_name` set to load."""
    obj, err = lib.open_mem(data, _open_opts(obj_name))
    if obj is None:
        return _Attempt(err, b"", b"", opened=False)
    try:
        log_buf = ctypes.create_string_buffer(log_size)
        target = None
        for prog in lib.programs(obj):
            mine = lib.program_name(prog) == prog_name
            lib.set_autoload(prog, mine)
            if mine:
                target = prog
        if target is None:
            return _Attempt(errno_mod.ENOENT, b"", b"", opened=True)
        prepare(lib, obj, patches)  # what the project's userspace does before load
        # Checked last before load, on the maps exactly as libbpf would create them.
        oversized = over_cap(_map_sizes(lib, obj), map_memory_cap)
        if oversized:
            return _Attempt(errno_mod.E2BIG, b"", lib.insns(target), True, oversized)
        err = lib.set_log(target, log_buf, log_level) or lib.load(obj)
        # Read back before close: libbpf frees the instructions with the object.
        jited = None if err else lib.jited_size(target)
        return _Attempt(err, log_buf.value, lib.insns(target), opened=True, jited=jited)
    finally:
        lib.close(obj)


_PROG_NAMED = re.compile(r"prog '([^']*)'")


def _load_together(
    lib: Libbpf,
    data: ctypes.Array[ctypes.c_char],
    obj_name: str,
    targets: list[_Target],
    log_level: int,
    log_size: int,
    map_memory_cap: int | None = None,
    patches: tuple[DataPatch, ...] = (),
) -> list[ProgramResult] | None:
    """Load `targets` from one open object, each with its own log buffer: libbpf parses the
    kernel's BTF (~8 ms) and resolves CO-RE candidates once for all of them instead of once
    per program. Each program still goes to the kernel in its own BPF_PROG_LOAD, so its log
    and statistics are those of a load alone. None unless every program was accepted with no
    libbpf warning and every log fit: the caller then loads them one object per program, which
    says which failed and why (`bpf_object__load` stops at the first failure)."""
    start = time.monotonic()
    with _Capture() as cap:
        obj, _ = lib.open_mem(data, _open_opts(obj_name))
        if obj is None:
            return None
        try:
            wanted = {t.name for t in targets}
            progs: dict[str, int] = {}
            for prog in lib.programs(obj):
                name = lib.program_name(prog)
                lib.set_autoload(prog, name in wanted)
                if name in wanted:
                    progs[name] = prog
            if len(progs) != len(targets):
                return None
            prepare(lib, obj, patches)
            if over_cap(_map_sizes(lib, obj), map_memory_cap):
                return None
            bufs = {name: ctypes.create_string_buffer(log_size) for name in progs}
            if any(lib.set_log(progs[name], buf, log_level) for name, buf in bufs.items()):
                return None
            if lib.load(obj) != 0:
                return None
            logs = {name: buf.value for name, buf in bufs.items()}
            insns = {name: lib.insns(prog) for name, prog in progs.items()}
            jited = {name: lib.jited_size(prog) for name, prog in progs.items()}
        finally:
            lib.close(obj)
    if any(m.level == "warn" for m in cap.messages):
        return None
    if any(len(log) >= log_size - 1 for log in logs.values()):
        return None
    took = (time.monotonic() - start) / len(targets)
    results = []
    for t in targets:
        # Messages about another program of the object are not this program's.
        mine = tuple(
            m for m in cap.messages if all(found == t.name for found in _PROG_NAMED.findall(m.text))
        )
        results.append(
            ProgramResult(
                name=t.name,
                section=t.section,
                accepted=True,
                failure=Failure.NONE,
                errno=0,
                log=logs[t.name].decode(errors="replace"),
                libbpf_messages=mine,
                insns=insns[t.name],
                duration_s=took,
                jited_size=jited[t.name],
            )
        )
    return results


def _groups(targets: list[_Target], jobs: int) -> list[list[_Target]]:
    """Programs loaded together, one group per job: enough programs per group that sharing the
    kernel BTF pays for the lost parallelism (both cores still busy for big objects)."""
    count = max(1, min(jobs, len(targets) // _PER_GROUP))
    return [targets[i::count] for i in range(count)]


# A load of a few small programs costs less than one parse of the kernel's BTF.
_PER_GROUP = 4


# The verifier's own complexity limits. Its log of such a walk is the whole path (a million
# instructions at level 1: more than MAX_LOG_SIZE), and each attempt costs seconds of kernel
# time; the kernel's rotating log (6.4+) already kept the tail: the error and the statistics.
# On its own line: a source note quoting the message (a comment) is not the verdict.
_GAVE_UP = re.compile(
    rb"\n(?:BPF program is too large\. Processed \d+ insn|The sequence of \d+ jumps is too complex)"
)


def _gave_up(log: bytes) -> bool:
    tail = log[-4096:] if len(log) > 4096 else b"\n" + log  # a cut tail starts mid-line
    return _GAVE_UP.search(tail) is not None


_STATS_LINE = re.compile(rb"\nprocessed \d+ insns")


def _has_end(log: bytes) -> bool:
    """The log ends with the verifier's statistics: its end was kept."""
    tail = log[-4096:] if len(log) > 4096 else b"\n" + log
    return _STATS_LINE.search(tail) is not None


def _verdict_level(log_level: int) -> int:
    """A log level for the verdict only: BPF_LOG_STATS without LEVEL1/2, so the kernel prints
    its messages (every verbose() call) and statistics but no instruction or state lines."""
    return (log_level & ~(BPF_LOG_LEVEL1 | BPF_LOG_LEVEL2 | BPF_LOG_FIXED)) | BPF_LOG_STATS


def _map_sizes(lib: Libbpf, obj: int) -> list[MapSize]:
    cpus = lib.possible_cpus()
    return [
        map_size(
            lib.map_name(m),
            lib.map_type(m),
            lib.map_max_entries(m),
            lib.map_key_size(m),
            lib.map_value_size(m),
            cpus,
        )
        for m in lib.maps(obj)
    ]


def _list_programs(
    lib: Libbpf, data: ctypes.Array[ctypes.c_char], obj_name: str
) -> tuple[list[_Target], str | None, tuple[Placeholder, ...]]:
    with _Capture() as cap:
        obj, err = lib.open_mem(data, _open_opts(obj_name))
    if obj is None:
        detail = "".join(m.text for m in cap.messages if m.level == "warn").strip()
        reason = f"{lib.strerror(err)} (errno {err})"
        return [], f"{reason}: {detail}" if detail else reason, ()
    try:
        targets = [_Target(lib.program_name(p), lib.program_section(p)) for p in lib.programs(obj)]
        return targets, None, tuple(prepare(lib, obj))
    finally:
        lib.close(obj)


def verify_object(
    data: bytes,
    *,
    log_level: int = 1,
    programs: Iterable[str] | None = None,
    jobs: int = 1,
    name: str = "obj",
    log_size: int = DEFAULT_LOG_SIZE,
    map_memory_cap: int | None = None,
    patches: tuple[DataPatch, ...] = (),
    on_program: Callable[[ProgramResult], None] | None = None,
    debug_messages: bool = True,
    together: bool = True,
    weaken: bool = True,
) -> ObjectResult:
    """Verify each program of the object `data` in the running kernel; keep nothing loaded.

    `programs` limits the run to those function names; `jobs > 1` verifies programs in parallel
    threads (libbpf releases the GIL). `log_size` is the first verifier log buffer; it grows on
    ENOSPC up to MAX_LOG_SIZE. A map over `map_memory_cap` bytes is never created: every
    program then fails with Failure.MAP_TOO_LARGE, naming it. Maps sized at run time get
    placeholders (`ObjectResult.placeholders`); `patches` are written into global data first.
    `on_program` hears of each program as it finishes; `debug_messages=False` drops libbpf's
    debug-level messages unformatted. `together` first loads the programs from one open object
    per job (see `_load_together`); False loads each alone from the start. `weaken` loads the
    object again with the kfuncs this kernel lacks bound weak, so only their callers fail
    (verify/externs.py); False: the object as compiled, once.
    """
    lib = _binding()
    log_size = max(log_size, MIN_LOG_SIZE)
    # Prog-array slots naming other programs cannot be filled when programs load one by one.
    data = without_program_slots(data)
    buf = ctypes.create_string_buffer(data, len(data))
    targets, open_error, placeholders = _list_programs(lib, buf, name)
    if open_error is not None:
        return ObjectResult((), btf_rejected=False, btf_log="", open_error=open_error)
    if programs is not None:
        wanted = set(programs)
        targets = [t for t in targets if t.name in wanted]

    loads = _Loads(lib, buf, name, log_level, log_size, map_memory_cap, patches)
    results = loads.all(targets, jobs, together, on_program, debug_messages)
    btf_rejected, btf_log = btf_outcome(results)
    whole = ObjectResult(results, btf_rejected, btf_log, open_error=None, placeholders=placeholders)
    whole = without_link_support(data, whole, running_release())  # a kernel before 6.4
    if not weaken:
        return whole

    def again(weakened: bytes, only: str | None) -> ObjectResult:
        return verify_object(
            weakened,
            log_level=log_level,
            programs=[t.name for t in targets] if only is None else [only],
            jobs=jobs,
            name=name,
            log_size=log_size,
            map_memory_cap=map_memory_cap,
            patches=patches,
            debug_messages=debug_messages,
            together=together,
            weaken=False,
        )

    return around_missing_kfuncs(data, whole, again)


@dataclass(frozen=True)
class _Loads:
    """How verify_object loads the programs of one opened object: together, per job, then
    each rejected or lone program alone (libbpf releases the GIL: threads run in parallel)."""

    lib: Libbpf
    buf: ctypes.Array[ctypes.c_char]
    name: str
    log_level: int
    log_size: int
    map_memory_cap: int | None
    patches: tuple[DataPatch, ...]

    def all(
        self,
        targets: list[_Target],
        jobs: int,
        together: bool,
        on_program: Callable[[ProgramResult], None] | None,
        debug_messages: bool,
    ) -> tuple[ProgramResult, ...]:
        """Every target's result, in the targets' order."""

        def heard(results: Iterable[ProgramResult]) -> None:
            for result in results:
                if on_program is not None:
                    on_program(result)  # progress, as each program finishes

        def run(target: _Target) -> ProgramResult:
            result = self._quiet(debug_messages, lambda: self._one(target))
            heard([result])
            return result

        def run_group(group: list[_Target]) -> list[ProgramResult] | None:
            found = self._quiet(debug_messages, lambda: self._together(group))
            heard(found or ())
            return found

        done: dict[str, ProgramResult] = {}
        groups = [g for g in _groups(targets, jobs) if len(g) > 1] if together else []
        if len(groups) > 1:
            with ThreadPoolExecutor(
                max_workers=len(groups), thread_name_prefix="kptr-verify"
            ) as pool:
                loaded = list(pool.map(run_group, groups))
        else:
            loaded = [run_group(g) for g in groups]
        for found in loaded:
            done.update((r.name, r) for r in found or ())
        alone = [t for t in targets if t.name not in done]  # rejected somewhere, or a single one
        if jobs > 1 and len(alone) > 1:
            with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="kptr-verify") as pool:
                done.update((r.name, r) for r in pool.map(run, alone))
        else:
            done.update((r.name, r) for r in map(run, alone))
        return tuple(done[t.name] for t in targets)

    @staticmethod
    def _quiet(debug_messages: bool, load: Callable[[], _T]) -> _T:
        # off: loads on several threads do not queue on the GIL formatting debug messages
        _route.debug = debug_messages
        try:
            return load()
        finally:
            _route.debug = True

    def _one(self, target: _Target) -> ProgramResult:
        return _load_one(
            self.lib,
            self.buf,
            self.name,
            target,
            self.log_level,
            self.log_size,
            self.map_memory_cap,
            self.patches,
        )

    def _together(self, group: list[_Target]) -> list[ProgramResult] | None:
        return _load_together(
            self.lib,
            self.buf,
            self.name,
            group,
            self.log_level,
            self.log_size,
            self.map_memory_cap,
            self.patches,
        )


def btf_outcome(results: Iterable[ProgramResult]) -> tuple[bool, str]:
    for result in results:
        text = "".join(m.text for m in result.libbpf_messages)
        if "Error loading .BTF into kernel" in text:
            found = _BTF_LOG.search(text)
            return True, found.group(1).strip("\n") if found else ""
    return False, ""


# One instruction: r0 = 0; exit. Loaded as a socket filter, the least privileged type.
_PROBE_INSNS = bytes.fromhex("b700000000000000") + bytes.fromhex("9500000000000000")


def bpf_available() -> tuple[bool, str]:
    """Can this process load BPF programs at all? (False, reason) when not."""
    try:
        lib = _binding()
    except LibbpfError as exc:
        return False, str(exc)
    fd = lib.prog_load_raw(BPF_PROG_TYPE_SOCKET_FILTER, _PROBE_INSNS)
    if fd < 0:
        return False, f"bpf(BPF_PROG_LOAD) failed: {os.strerror(-fd)}"
    os.close(fd)
    return True, ""
