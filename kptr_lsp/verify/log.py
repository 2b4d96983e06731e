"""Parse the kernel verifier's log into data: the error, the failing instruction, the source
notes, the instruction and state lines, and the closing statistics.

The formats come from kernel/bpf/verifier.c and kernel/bpf/log.c (verbose_linfo,
print_insn_state, print_verifier_state, print_verification_stats, check_reference_leak)
and from libbpf's decoration when the log is printed through libbpf. The parser is total:
any string gives a VerifierLog, unknown lines are kept in `raw` and otherwise ignored
unless they sit between the last instruction and the statistics, where they are the error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from .kernel_block import KernelBlock, split_block


@dataclass(frozen=True)
class SourceNote:
    """`; <text> @ <file>:<line>`, attached to the next instruction printed. Kernels before
    6.7 print only `; <text>`: then file is "" and line is 0."""

    insn: int
    text: str
    file: str
    line: int


@dataclass(frozen=True)
class InsnLine:
    insn: int
    opcode: str  # two hex digits; "" for libbpf's `N: <invalid ...>` replacement lines
    asm: str
    state: str | None  # the register state after ';' on the same line, if printed
    frame: int  # call frame the instruction ran in (0 = the program itself)


@dataclass(frozen=True)
class StateLine:
    insn: int
    state: str
    from_insn: int | None  # A of `from A to B:`, or the jump whose taken branch this is


@dataclass(frozen=True)
class Stats:
    processed_insns: int
    insn_limit: int
    max_states_per_insn: int
    total_states: int
    peak_states: int
    mark_read: int
    verification_time_us: int | None
    stack_depth: tuple[int, ...]


@dataclass(frozen=True)
class Unreleased:
    ref_id: int
    alloc_insn: int


@dataclass(frozen=True)
class VerifierLog:
    raw: str
    error: str | None
    failing_insn: int | None
    notes: tuple[SourceNote, ...]
    insns: tuple[InsnLine, ...]
    states: tuple[StateLine, ...]
    stats: Stats | None
    unreleased: Unreleased | None
    mentioned_insns: tuple[int, ...]
    # Every `Unreleased reference` line: a program can leak several references at one exit.
    all_unreleased: tuple[Unreleased, ...] = ()
    # Position in `insns` that each note precedes, parallel to `notes` (for source_of).
    note_positions: tuple[int, ...] = field(default=(), repr=False)
    # 7.3+: the kernel's own `Verification failed:` block, cut out of `error` (kernel_block.py).
    kernel_block: KernelBlock | None = None


BEGIN_MARK = "-- BEGIN PROG LOAD LOG --"
END_MARK = "-- END PROG LOAD LOG --"

# Numbers are bounded so that int() never meets a string past Python's digit limit.
_INSN = re.compile(r"(\d{1,19}): \(([0-9a-f]{2})\) (.*)")
# libbpf's fixup_log rewrites failed CO-RE relocations, map and kfunc references this way.
_INVALID_INSN = re.compile(r"(\d{1,19}): (<invalid [^>]*>)\s*")
_NOTE = re.compile(r"; (.*) @ (\S+):(\d{1,19})")
_OLD_NOTE = re.compile(r"; (.*)")
# check_cfg names instructions off the walked path with verbose_linfo(env, t, "%d: ", t).
_INSN_NOTE = re.compile(r"(\d{1,19}): (.*) @ (\S+):(\d{1,19})")
FROM_LINE = re.compile(r"from (\d{1,19}) to (\d{1,19})(?: \(speculative execution\))?:(.*)")
_STATE = re.compile(r"(\d{1,19}):(.*)")
_STATE_TEXT = re.compile(r"\s*(?:frame\d+:|R\d+\w*=|fp-?\d+\w*=|refs=)")
_SAFE = re.compile(r"(?:from \d+ to \d+(?: \(speculative execution\))?|\d+): safe")
# A popped branch printed on its jump's line at level 1: `if r0 != 0x0 goto pc+1 20: R0=...`.
_INLINE_STATE = re.compile(r"(.*?) (\d{1,19}):((?: .*)?)")
_FRAME = re.compile(r"frame(\d{1,19}):")
PROCESSED_LINE = re.compile(r"processed (\d{1,19}) insns")
_STATS_FIELD = re.compile(
    r"(limit|max_states_per_insn|total_states|peak_states|mark_read)\)? (\d{1,19})"
)
_VTIME = re.compile(r"verification time (\d{1,19}) usec")
_STACK = re.compile(r"stack depth (\d{1,19}(?:\+\d{1,19})*)")
_UNRELEASED = re.compile(r"Unreleased reference id=(\d{1,19}) alloc_insn=(\d{1,19})")
_MENTION = re.compile(
    r"alloc_insn=(\d{1,19})"
    r"|\bfrom (?:insn )?(\d{1,19}) to (?:insn )?(\d{1,19})"
    r"|\binsn (?:idx )?(\d{1,19})"
    r"|\bto caller at (\d{1,19})"
)

# Lines that are never part of the error: function and frame markers, precision tracking,
# liveness dumps, pruning notes, warnings printed before the program is walked.
_NOT_ERROR = re.compile(
    r"func#\d+ @\d+"
    r"|Func#\d+ .*is global and assumed valid\."
    r"|Validating .*\(\) func#\d+\.\.\."
    r"|(caller|callee|returning from callee):"
    r"|to caller at \d+:"
    r"|mark_precise: .*"
    r"|(frame\d+: )?(last_idx|regs=|parent (didn't|already) ha).*"
    r"|propagating .*"
    r"|Live regs before insn:"
    r"|\(\d+\) (frame \d+ insn|live stack update).*"
    r"|verification time \d+ usec"
    r"|stack depth [\d+]*"
    r"|stack depth max \d+"  # 7.3's BPF_LOG_STATS: the deepest stack, then one line per subprog
    r"|subprog \d+ \(.*\) \w+ insns_self \d+ insns_total \d+ stack \d+"
    r"|processed \d+ insns.*"
)
# btf_prepare_func_args' note on a pointer argument it cannot size. Before the walk (a program's
# own `void *ctx`) it is a warning; after a call it is the reason the call's arguments failed
# (then `Caller passes invalid args into func#N` follows), so it is part of the error.
_ARG_SIZE_NOTE = re.compile(r"arg#\d+ reference type\('.*'\) size cannot be determined: -?\d+")
_LIVENESS_ROW = re.compile(r"\s+\d+: [.0-9]+ \(")
# Headers after which the kernel dumps whole frames as indented register lines.
_FRAME_DUMP_HEADER = re.compile(r"(caller|callee|returning from callee):|to caller at \d+:")


@dataclass
class _Builder:
    notes: list[SourceNote] = field(default_factory=list)
    note_positions: list[int] = field(default_factory=list)
    insns: list[InsnLine] = field(default_factory=list)
    states: list[StateLine] = field(default_factory=list)
    pending_notes: list[tuple[str, str, int]] = field(default_factory=list)
    frame: int = 0
    last_insn_line: int = -1  # index into the body lines of the last instruction line

    def track_frame(self, state: str) -> None:
        m = _FRAME.match(state.lstrip())
        self.frame = int(m.group(1)) if m else 0

    def add_insn(self, insn: int, opcode: str, asm: str, state: str | None) -> None:
        if state is not None:
            self.track_frame(state)
        for text, file, line in self.pending_notes:
            self.notes.append(SourceNote(insn, text, file, line))
            self.note_positions.append(len(self.insns))
        self.pending_notes.clear()
        self.insns.append(InsnLine(insn, opcode, asm, state, self.frame))


def log_body(text: str) -> list[str]:
    """The kernel's own lines: inside libbpf's BEGIN/END markers when they are present."""
    lines = text.splitlines()
    begins = [i for i, line in enumerate(lines) if BEGIN_MARK in line]
    if not begins:
        return lines
    start = begins[-1]
    after = lines[start].split(BEGIN_MARK, 1)[1]
    body = [after] if after.strip() else []
    for line in lines[start + 1 :]:
        if END_MARK in line:
            # libbpf prints "%s-- END ..." so a log without a final newline glues onto it.
            before = line.split(END_MARK, 1)[0]
            if before.strip():
                body.append(before)
            break
        body.append(line)
    return body


def _split_state(rest: str) -> tuple[str, str | None]:
    """Split `r1 = r2        ; R1=...` into asm and state (the state may contain ';')."""
    asm, sep, state = rest.partition(" ;")
    if not sep:
        return rest.rstrip(), None
    return asm.rstrip(), state.strip()


def _parse_insn(b: _Builder, m: re.Match[str]) -> None:
    insn, opcode = int(m.group(1)), m.group(2)
    asm, state = _split_state(m.group(3))
    inline: re.Match[str] | None = None
    if state is None:
        inline = _INLINE_STATE.fullmatch(asm)
    if inline is not None and inline.group(1):
        b.add_insn(insn, opcode, inline.group(1).rstrip(), None)
        target_state = inline.group(3).strip()
        b.track_frame(target_state)
        b.states.append(StateLine(int(inline.group(2)), target_state, insn))
    else:
        b.add_insn(insn, opcode, asm, state)


def _parse_stats(lines: Iterable[str]) -> Stats | None:
    processed: dict[str, int] | None = None
    vtime: int | None = None
    depth: tuple[int, ...] = ()
    for line in lines:
        if (m := PROCESSED_LINE.match(line)) is not None:
            processed = {"processed": int(m.group(1))}
            processed.update((k, int(v)) for k, v in _STATS_FIELD.findall(line[m.end() :]))
        elif (m := _VTIME.fullmatch(line)) is not None:
            vtime = int(m.group(1))
        elif (m := _STACK.fullmatch(line)) is not None:
            depth = tuple(int(d) for d in m.group(1).split("+"))
    if processed is None:
        return None
    return Stats(
        processed_insns=processed["processed"],
        insn_limit=processed.get("limit", 0),
        max_states_per_insn=processed.get("max_states_per_insn", 0),
        total_states=processed.get("total_states", 0),
        peak_states=processed.get("peak_states", 0),
        mark_read=processed.get("mark_read", 0),
        verification_time_us=vtime,
        stack_depth=depth,
    )


def _error_lines(body: list[str], start: int, stats_at: int) -> list[str]:
    out: list[str] = []
    in_frame_dump = False  # the indented register lines under caller:/callee: headers
    for line in body[start:stats_at]:
        stripped = line.strip()
        if not stripped:
            continue
        if line[:1].isspace() and (in_frame_dump or _LIVENESS_ROW.match(line)):
            continue
        in_frame_dump = _FRAME_DUMP_HEADER.fullmatch(stripped) is not None
        if (
            in_frame_dump
            or _NOT_ERROR.fullmatch(stripped)
            or (start == 0 and _ARG_SIZE_NOTE.fullmatch(stripped))
            or _SAFE.fullmatch(stripped)
            or FROM_LINE.fullmatch(stripped)
            or _INSN.fullmatch(stripped)
            or _INVALID_INSN.fullmatch(stripped)
            or _NOTE.fullmatch(stripped)
            or _is_state(stripped)
            or _INSN_NOTE.fullmatch(stripped)
        ):
            continue
        out.append(line.rstrip())
    return out


def _is_state_text(rest: str) -> bool:
    """What follows `N:` in a state line: ` R1=... fp-8=... refs=2`, ` frame1: ...`, or
    nothing. `N: <source> @ file:line` and other `N: words` are not states."""
    return not rest.strip() or _STATE_TEXT.match(rest) is not None


def _is_state(line: str) -> bool:
    m = _STATE.fullmatch(line)
    return m is not None and _is_state_text(m.group(2))


def parse_log(text: str) -> VerifierLog:
    """Parse a verifier log (with or without libbpf's BEGIN/END markers). Never raises."""
    body = log_body(text)
    b = _Builder()
    stats_at = _read_path(body, b)

    # The error: what the kernel said after the last instruction it printed.
    start = b.last_insn_line + 1
    err_lines = _error_lines(body, start, stats_at)
    err_lines, kernel_block = split_block(err_lines)  # the classic lines stay the error
    error = "\n".join(err_lines) if err_lines else None
    failing = b.insns[-1].insn if error is not None and b.insns else None
    leaks = _leaks(err_lines)
    return VerifierLog(
        raw=text,
        error=error,
        failing_insn=failing,
        notes=tuple(b.notes),
        insns=tuple(b.insns),
        states=tuple(b.states),
        # verification time and stack depth precede the `processed` line (BPF_LOG_STATS).
        stats=_parse_stats(body[start:]) if stats_at < len(body) else None,
        unreleased=leaks[0] if leaks else None,
        mentioned_insns=_mentioned(err_lines, failing),
        all_unreleased=leaks,
        note_positions=tuple(b.note_positions),
        kernel_block=kernel_block,
    )


def _read_path(body: list[str], b: _Builder) -> int:
    """Read the printed path (instructions, states, source notes) into `b`; the index of the
    `processed N insns` line, or len(body) when the log has none."""
    in_frame_dump = False
    for i, line in enumerate(body):
        stripped = line.strip()
        if line[:1].isspace():
            # Indented: register dumps under caller:/callee:, or the liveness table.
            if in_frame_dump and stripped:
                b.track_frame(stripped)
            continue
        in_frame_dump = _FRAME_DUMP_HEADER.fullmatch(stripped) is not None
        if (m := _INSN.fullmatch(line)) is not None:
            _parse_insn(b, m)
            b.last_insn_line = i
        elif (m := _INVALID_INSN.fullmatch(line)) is not None:
            b.add_insn(int(m.group(1)), "", m.group(2), None)
            b.last_insn_line = i
        elif (m := _NOTE.fullmatch(line)) is not None:
            b.pending_notes.append((m.group(1), m.group(2), int(m.group(3))))
        elif line.startswith("; ") and (m := _OLD_NOTE.fullmatch(line)) is not None:
            b.pending_notes.append((m.group(1), "", 0))
        elif (m := _STATE.fullmatch(line)) is not None and _is_state_text(m.group(2)):
            state = m.group(2).strip()
            b.track_frame(state)
            b.states.append(StateLine(int(m.group(1)), state, None))
        elif (m := _INSN_NOTE.fullmatch(line)) is not None:
            note = SourceNote(int(m.group(1)), m.group(2), m.group(3), int(m.group(4)))
            b.notes.append(note)
            b.note_positions.append(len(b.insns))
        elif _SAFE.fullmatch(stripped):
            continue
        elif (m := FROM_LINE.fullmatch(line)) is not None:
            state = m.group(3).strip()
            b.track_frame(state)
            b.states.append(StateLine(int(m.group(2)), state, int(m.group(1))))
        elif PROCESSED_LINE.match(line):
            return i
    return len(body)


def _leaks(err_lines: list[str]) -> tuple[Unreleased, ...]:
    """Every `Unreleased reference id=N alloc_insn=M` of the error, in order."""
    return tuple(
        Unreleased(int(m.group(1)), int(m.group(2)))
        for line in err_lines
        if (m := _UNRELEASED.search(line)) is not None
    )


def _mentioned(err_lines: list[str], failing: int | None) -> tuple[int, ...]:
    """Instructions the error names besides the failing one, first mention first."""
    mentioned: list[int] = []
    for line in err_lines:
        for groups in _MENTION.findall(line):
            for g in groups:
                if g and int(g) != failing and int(g) not in mentioned:
                    mentioned.append(int(g))
    return tuple(mentioned)


def source_of(log: VerifierLog, insn: int) -> SourceNote | None:
    """The source note in effect for `insn` on the printed path: the last note printed
    before that instruction's line (its last occurrence, the one nearest the error)."""
    positions = [k for k, line in enumerate(log.insns) if line.insn == insn]
    if not positions:
        # Not on the printed path: a note naming it directly (check_cfg errors) still counts.
        return next((n for n in reversed(log.notes) if n.insn == insn), None)
    position = positions[-1]
    best: SourceNote | None = None
    for note, at in zip(log.notes, log.note_positions, strict=False):
        if at > position:
            break
        best = note
    return best


def note_may_be_stale(log: VerifierLog, insn: int) -> bool:
    """Whether the source note in effect for `insn` (source_of) may name another line: the
    path reached `insn` by a jump after that note was printed. The kernel prints a note only
    when the line changes from the last one it printed, and at level 1 it rewinds the text of
    a path that ended safely but not that memory: the target's own note, printed on the
    rewound path, is gone, and the note in effect is the jump's. The object's line info for
    the instruction is exact then."""
    positions = [k for k, line in enumerate(log.insns) if line.insn == insn]
    if not positions:
        return False
    position = positions[-1]
    since = max((at for at in log.note_positions if at <= position), default=0)
    for k in range(max(since, 1), position + 1):
        prev, here = log.insns[k - 1], log.insns[k]
        if here.insn != prev.insn + (2 if prev.opcode == "18" else 1):
            return True
    return False


def verdict_error(text: str) -> str | None:
    """The kernel's messages in a log taken at BPF_LOG_STATS alone (no instruction trace):
    every line before the statistics, verbatim; None when there are none."""
    lines: list[str] = []
    body = log_body(text)
    for i, line in enumerate(body):
        stripped = line.strip()
        if PROCESSED_LINE.match(stripped):
            break
        if not stripped or _NOT_ERROR.fullmatch(stripped):  # time, stack depth
            continue
        if _ARG_SIZE_NOTE.fullmatch(stripped) and not _CALLER_INVALID.match(
            body[i + 1] if i + 1 < len(body) else ""
        ):
            continue  # a warning about a program's own argument, not a reason
        lines.append(line.rstrip())
    return "\n".join(lines) or None


_CALLER_INVALID = re.compile(r"Caller passes invalid args into func#\d+")
