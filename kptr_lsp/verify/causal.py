"""Why a program was rejected, from the classic verifier log: the causal path (issue 14 §2, §3).

Kernels from 7.3 print their own explanation block (kernel_block.py). Every other kernel leaves
one error line and an instruction number; this module derives the same shape from the log
those kernels do print. Pure: a parsed log in, a CausalPath out, never an exception.

At log level 1 the log *is* the failing path: when a path ends safely the kernel rewinds its log
to where the next branch was pushed (pop_stack's log reset), so what remains is the walk from
instruction 0 to the error, with each register's new value after the instruction that wrote it
(`; R0=map_value_or_null(id=1,...)`, 6.2+) and the state a popped branch started from printed
on its jump's line.

What is derived, in the kernel's own terms (kernel/bpf/diagnostics.c):
  * the *subject*: the register the error names (`R0 invalid mem access …`), else the base
    register of the failing load/store; the leaked reference for `Unreleased reference`; the
    lock region for errors inside bpf_spin_lock;
  * its *lineage*, walked back from the failing instruction: each write of the subject
    (`update`), copies (`rD = rS` → follow rS), fills from and spills to the stack (`spilled`),
    arithmetic that keeps the value (`+=`, `&=`, shifts: follow the same register), calls that
    invalidated it (a caller-saved register, a released reference: `invalidated`), up to the
    write that produced the value (a helper or kfunc's result, a load from memory or the
    context, a constant);
  * every conditional jump on the path after the lineage starts (`branch`), with the side
    taken and, where it tested a pointer for NULL, a packet pointer against the packet end, or
    a scalar against a bound, what it proved and about which copy;
  * for a leak, where the reference was acquired (`acquired`), the branches after it;
  * fix points (FixKind): the NULL check that tested another value, the packet check that
    proved too few bytes, the length computed without a clamp, the branch on which the
    reference is never released.

The category names are the kernel's (diagnostics.c: Memory Safety, Register Type Safety, Call
Type Safety, Resource Lifetime Safety, Execution Context Safety, …); the words are ours.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..findings import Finding, FixKind, FixPoint, Location, PathEvent
from ..kernel.arg_words import argument_register
from ..kernel.kfuncs import RELEASE_OF_ACQUIRE, RELEASE_OF_POINTEE
from .kernel_block import block_explanation
from .log import FROM_LINE, VerifierLog
from .states import decode_value, parse_state

EXPLAINED_BY = "kptr-lsp"

# The kernel's category names (kernel/bpf/diagnostics.c).
MEMORY_SAFETY = "Memory Safety"
REGISTER_TYPE_SAFETY = "Register Type Safety"
CALL_TYPE_SAFETY = "Call Type Safety"
RESOURCE_LIFETIME_SAFETY = "Resource Lifetime Safety"
EXECUTION_CONTEXT_SAFETY = "Execution Context Safety"

# --- the instructions, as the kernel's disassembler prints them ------------------------------

_REG = r"[rw](\d{1,2})"
_NUM = r"-?(?:0x[0-9a-fA-F]+|\d+)"
_MOV = re.compile(rf"{_REG} = (?:\([su]\d+\))?{_REG}")
_LOAD = re.compile(rf"{_REG} = \*\(([us]\d+) \*\)\(r(\d{{1,2}}) ([+-]\d+)\)")
_STORE = re.compile(rf"\*\(([us]\d+) \*\)\(r(\d{{1,2}}) ([+-]\d+)\) = (?:{_REG}|({_NUM}))")
_ATOMIC = re.compile(r"lock \*\(([us]\d+) \*\)\(r(\d{1,2}) ([+-]\d+)\).*")
_ALU = re.compile(rf"{_REG} (\+|-|\*|/|%|&|\||\^|<<|>>|s>>|s/|s%)= (?:{_REG}|({_NUM}))")
_UNARY = re.compile(rf"{_REG} = (?:-|(?:be|le|bswap)\d+ ){_REG}")
_WRITE = re.compile(rf"{_REG} = (.*)")
_CALL = re.compile(r"call (pc[+-]\d+|[^#\s]+)(?:#-?\d+)?")
_COND = re.compile(rf"if {_REG} (\S+) (?:{_REG}|({_NUM})) goto pc([+-]\d+)")
# ALU operations after which the value is still "the same value" (diagnostics.c keeps the
# lineage through them): a pointer moved along, a scalar masked or shifted.
_KEEPS = frozenset({"+", "-", "*", "|", "&", "<<", ">>", "s>>", "^"})

# Log lines (kernel/bpf/log.c, verifier.c).
_INSN = re.compile(r"(\d{1,19}): \(([0-9a-f]{2})\) (.*)")
_NOTE = re.compile(r"; (.*) @ (\S+):(\d{1,19})")
_INLINE_POP = re.compile(r"(.*?) (\d{1,19}):((?: (?:frame\d+:|R\d|fp).*)?)")
_STATE = re.compile(r"(\d{1,19}):((?: (?:frame\d+:|R\d+\w*=|fp-?\d+\w*=|refs=).*)?)")
_ID = re.compile(r"\bid=(\d+)")
_REF_OBJ = re.compile(r"\bref_obj_id=(\d+)")
_REF_ID = re.compile(r"\bref_id=(\d+)")
_R = re.compile(r"\br=(\d+)")
_UMAX = re.compile(r"\bumax=(" + _NUM + ")")
_SMAX = re.compile(r"\bsmax=(" + _NUM + ")")
_ERR_REG = re.compile(r"\bR(\d{1,2})\b")
_UNRELEASED = re.compile(r"Unreleased reference id=(\d+) alloc_insn=(\d+)")
_PKT_ACCESS = re.compile(r"invalid access to packet, off=(-?\d+) size=(\d+), R(\d+)\(")
_MAP_ACCESS = re.compile(r"invalid access to map value, value_size=(\d+) off=(-?\d+) size=(\d+)")
_MEM_ACCESS = re.compile(r"invalid access to memory, mem_size=(\d+) off=(-?\d+) size=(\d+)")
_STACK_ACCESS = re.compile(r"invalid (?:indirect )?(?:read|write|access) (?:from|to)? ?stack")
# The verifier's limits: the walk stopped for its size, not for a value on one path (the
# "path" would be every iteration the log kept). verify/cost.py says where the budget went.
_LIMIT = re.compile(r"BPF program is too large|jumps is too complex")
BEGIN_MARK = "-- BEGIN PROG LOAD LOG --"
END_MARK = "-- END PROG LOAD LOG --"
CALLER_SAVED = ("R1", "R2", "R3", "R4", "R5")


@dataclass(frozen=True)
class Step:
    """One event of the causal path, at one instruction of the printed path."""

    position: int  # index of the instruction in the path (the log's order)
    insn: int
    label: str  # update, acquired, released, branch, spilled, invalidated, context
    text: str
    file: str = ""  # the source note in effect, as the kernel printed it ("" if none)
    line: int = 0
    taken: bool | None = None  # a branch: whether its condition held on this path


@dataclass(frozen=True)
class Fix:
    """A fix point at instruction level; placement turns it into a findings.FixPoint."""

    position: int
    insn: int
    kind: FixKind
    text: str
    register: str | None = None
    origin_insn: int | None = None
    proven: int | None = None
    needed: int | None = None
    bound: int | None = None
    allowed: int | None = None
    release: str | None = None
    acquired_insn: int | None = None
    file: str = ""
    line: int = 0


@dataclass(frozen=True)
class CausalPath:
    category: str
    problem: str
    reason: str
    suggestion: str
    subject: str  # "R0", "fp-16", "reference #4", "lock region"
    steps: tuple[Step, ...]
    fixes: tuple[Fix, ...] = ()
    # For a reference still held or a region not left (a leak, an exit inside a lock): the
    # instruction and call that took it, and the function that gives it back.
    acquired_insn: int | None = None
    acquired_by: str | None = None
    release: str | None = None


# --- the path: the log replayed in order -------------------------------------------------------


@dataclass
class _Insn:
    insn: int
    opcode: str
    asm: str
    frame: int
    file: str
    line: int
    text: str  # the source text of the line in effect
    before: dict[tuple[int, str], str]  # (frame, R0/fp-8) → value, before this instruction
    after: dict[tuple[int, str], str]
    refs_before: tuple[int, ...]
    refs_after: tuple[int, ...]


@dataclass
class _Path:
    insns: list[_Insn] = field(default_factory=list)


def _body(text: str) -> list[str]:
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if BEGIN_MARK in line]
    if not starts:
        return lines
    out: list[str] = []
    for line in lines[starts[-1] + 1 :]:
        if END_MARK in line:
            break
        out.append(line)
    return out


def _entries(state: str, frame: int) -> tuple[int, dict[str, str], tuple[int, ...] | None]:
    """A state's entries (states.parse_state), in `frame` unless it names its own."""
    own, entries, refs = parse_state(state)
    return (frame if own is None else own), entries, refs


def _replay(text: str) -> _Path:
    path = _Path()
    values: dict[tuple[int, str], str] = {}
    refs: tuple[int, ...] = ()
    frame = 0
    where: tuple[str, int, str] = ("", 0, "")

    def apply(state: str, *, full: bool) -> None:
        nonlocal frame, refs
        f, entries, new_refs = _entries(state, frame)
        if full:
            for key in [k for k in values if k[0] == f]:
                del values[key]
        frame = f
        for name, value in entries.items():
            values[(f, name)] = value
        if new_refs is not None:
            refs = new_refs
        elif full or entries:
            refs = () if full else refs

    for line in _body(text):
        if not line.strip() or line[:1].isspace():
            continue
        if (m := _INSN.fullmatch(line)) is not None:
            insn, opcode, rest = int(m.group(1)), m.group(2), m.group(3)
            asm, sep, state = rest.partition(" ;")
            popped: str | None = None
            if not sep and (pm := _INLINE_POP.fullmatch(rest)) is not None and pm.group(1):
                asm, popped = pm.group(1), pm.group(3)
            asm = asm.strip()
            before, refs_before = dict(values), refs
            if opcode == "85" and "pc" not in asm:
                for r in CALLER_SAVED:
                    values.pop((frame, r), None)
            if sep:
                f, entries, new_refs = _entries(state, frame)
                for name, value in entries.items():
                    values[(f, name)] = value
                # Every printed delta ends with all references held (`refs=1,3`), or none.
                refs = new_refs if new_refs is not None else ()
                for gone in set(refs_before) - set(refs):
                    _scrub(values, gone)
            path.insns.append(
                _Insn(
                    insn,
                    opcode,
                    asm,
                    frame,
                    *where,
                    before=before,
                    after=dict(values),
                    refs_before=refs_before,
                    refs_after=refs,
                )
            )
            if popped is not None:
                apply(popped, full=True)
        elif (m := _NOTE.fullmatch(line)) is not None:
            where = (m.group(2), int(m.group(3)), m.group(1).strip())
        elif (m := FROM_LINE.fullmatch(line)) is not None:
            apply(m.group(3), full=True)
        elif (m := _STATE.fullmatch(line)) is not None:
            apply(m.group(2), full=True)
    # A callee's frame number comes with its printed values; carry it to silent instructions.
    _assign_frames(path)
    return path


def _ref_of(value: str | None, refs: Iterable[int]) -> int | None:
    """The reference a value holds: its ref_obj_id, or (newer kernels print only `id=` when
    both are the same) its id when that id is a reference held."""
    ref = _int_arg(_REF_OBJ, value) or _int_arg(_REF_ID, value)
    if ref is not None:
        return ref
    i = _int_arg(_ID, value)
    return i if i is not None and i in set(refs) else None


def _scrub(values: dict[tuple[int, str], str], ref: int) -> None:
    """A released reference: every copy of it becomes an unknown scalar, printed or not."""
    for key, value in list(values.items()):
        if _ref_of(value, (ref,)) == ref:
            values[key] = "scalar()"


def _assign_frames(path: _Path) -> None:
    """The frame each instruction ran in: +1 after `call pc+N`, -1 after a callee's `exit`."""
    frame = 0
    for ins in path.insns:
        ins.frame = frame
        if ins.opcode == "85" and _CALL.fullmatch(ins.asm) and ins.asm.startswith("call pc"):
            frame += 1
        elif ins.opcode == "95" and frame > 0:
            frame -= 1


# --- words ------------------------------------------------------------------------------------


def _words(value: str | None) -> str:
    if value is None:
        return "nothing the verifier knows"
    words = decode_value(value).words
    return words.replace(" (compare it with NULL before using it)", "")


def _ptr_kind(value: str | None) -> str:
    """`map_value_or_null(id=1,…)` → map_value_or_null; `scalar(…)` → scalar; `fp-8` → fp."""
    if value is None:
        return ""
    if value.startswith("fp"):
        return "fp"
    v = value[1:] if value.startswith("P") else value
    head = v.split("(", 1)[0]
    if re.fullmatch(_NUM, head):
        return "scalar"
    return head


def _nullable(value: str | None) -> bool:
    kind = _ptr_kind(value)
    return kind.endswith("_or_null") or "_or_null_" in kind or kind.startswith("ptr_or_null")


def _int_arg(pattern: re.Pattern[str], value: str | None) -> int | None:
    if value is None:
        return None
    m = pattern.search(value)
    return int(m.group(1), 0) if m else None


def _callee(asm: str) -> str | None:
    m = _CALL.fullmatch(asm)
    return m.group(1) if m and not m.group(1).startswith("pc") else None


def _reg(n: str) -> str:
    return f"R{int(n)}"


# --- the lineage --------------------------------------------------------------------------------


@dataclass
class _Lineage:
    steps: list[Step]
    start: int  # position of the write that produced the value (or the earliest step)
    origin: _Insn | None  # that write
    origin_position: int | None
    copies: set[tuple[int, str]]  # every (frame, register/slot) that held the value


def _step(path: _Path, pos: int, label: str, text: str) -> Step:
    ins = path.insns[pos]
    return Step(pos, ins.insn, label, text, ins.file, ins.line)


def _produced(ins: _Insn, name: str) -> str:
    """Words for the write at `ins` that produced the value now in `name`."""
    value = ins.after.get((ins.frame, name))
    what = _words(value)
    callee = _callee(ins.asm)
    if callee is not None:
        return f"{name} = {what}: the result of {callee}()"
    if (m := _LOAD.fullmatch(ins.asm)) is not None:
        base = ins.before.get((ins.frame, _reg(m.group(3))))
        off = int(m.group(4))
        src = _words(base) if base else f"R{m.group(3)}"
        return f"{name} = {what}: loaded from {src}" + (f" at offset {off}" if off else "")
    if _WRITE.fullmatch(ins.asm) and re.fullmatch(rf"[rw]\d+ = {_NUM}", ins.asm):
        return f"{name} = {what}: a constant"
    return f"{name} = {what}"


def _lineage(path: _Path, end: int, frame: int, target: str) -> _Lineage:
    """Walk back from position `end` (exclusive) following `target`'s value to its producer."""
    steps: list[Step] = []
    copies = {(frame, target)}
    start, origin, origin_pos = end, None, None
    pos = end - 1
    while pos >= 0:
        ins = path.insns[pos]
        name = target
        if ins.frame != frame:
            # Crossing a call boundary backwards: a callee's argument came from the caller's
            # register of the same number, a caller's R0 after a call from the callee's exit.
            if ins.frame < frame and ins.opcode == "85" and name in CALLER_SAVED:
                steps.append(_step(path, pos, "update", f"{name} passed to the called function"))
                frame = ins.frame
                copies.add((frame, name))
                start = pos
            elif ins.frame > frame and ins.opcode == "95" and name == "R0":
                frame = ins.frame
                copies.add((frame, name))
            pos -= 1
            continue
        before = ins.before.get((frame, name))
        after = ins.after.get((frame, name))
        if name.startswith("R"):
            n = int(name[1:])
            m_mov = _MOV.fullmatch(ins.asm)
            if m_mov and int(m_mov.group(1)) == n:
                src = _reg(m_mov.group(2))
                steps.append(_step(path, pos, "update", f"{name} = {src}: {_words(after)}"))
                target = src
                copies.add((frame, target))
                start = pos
                pos -= 1
                continue
            m_load = _LOAD.fullmatch(ins.asm)
            if m_load and int(m_load.group(1)) == n and m_load.group(3) == "10":
                slot = f"fp{int(m_load.group(4))}"
                steps.append(
                    _step(
                        path,
                        pos,
                        "update",
                        f"{name} filled from stack slot {slot}: {_words(after)}",
                    )
                )
                target = slot
                copies.add((frame, target))
                start = pos
                pos -= 1
                continue
            m_alu = _ALU.fullmatch(ins.asm)
            m_un = _UNARY.fullmatch(ins.asm)
            if (m_alu and int(m_alu.group(1)) == n) or (m_un and int(m_un.group(1)) == n):
                op = m_alu.group(2) if m_alu else "-"
                if op in _KEEPS:
                    steps.append(
                        _step(
                            path,
                            pos,
                            "update",
                            f"{name} {ins.asm.split(' ', 1)[1]}: {_words(after)}",
                        )
                    )
                    start = pos
                    pos -= 1
                    continue
            m_write = _WRITE.fullmatch(ins.asm)
            defines = (
                (m_write is not None and int(m_write.group(1)) == n)
                or (m_alu is not None and int(m_alu.group(1)) == n)
                or (ins.opcode == "85" and name == "R0" and not ins.asm.startswith("call pc"))
            )
            if defines:
                # The kernel labels a write `update` even when it took a reference (the
                # value's words say so): `acquired` belongs to a reference's own history.
                label = "update"
                steps.append(_step(path, pos, label, _produced(ins, name)))
                start, origin, origin_pos = pos, ins, pos
                break
            if ins.opcode == "85" and name in CALLER_SAVED and before is not None:
                steps.append(
                    _step(
                        path,
                        pos,
                        "invalidated",
                        f"{name}: the call clobbered it (was {_words(before)})",
                    )
                )
                start = pos
            elif (
                ins.opcode == "85"
                and before is not None
                and (ref := _ref_of(before, ins.refs_before)) is not None
                and ref in ins.refs_before
                and ref not in ins.refs_after
            ):
                steps.append(
                    _step(
                        path,
                        pos,
                        "invalidated",
                        f"{name}: {_callee(ins.asm)}() released reference #{ref} it held "
                        f"({_words(before)}); from here on it is not a pointer",
                    )
                )
                start = pos
        else:  # a stack slot fp-N
            m_st = _STORE.fullmatch(ins.asm)
            if m_st and m_st.group(2) == "10" and f"fp{int(m_st.group(3))}" == name:
                if m_st.group(4) is not None:
                    src = _reg(m_st.group(4))
                    steps.append(
                        _step(
                            path,
                            pos,
                            "spilled",
                            f"{src} spilled to stack slot {name}: {_words(after)}",
                        )
                    )
                    target = src
                    copies.add((frame, target))
                    start = pos
                    pos -= 1
                    continue
                steps.append(_step(path, pos, "update", f"stack slot {name} = {m_st.group(5)}"))
                start, origin, origin_pos = pos, ins, pos
                break
        pos -= 1
    steps.reverse()
    return _Lineage(steps, start, origin, origin_pos, copies)


# --- checks and branches ----------------------------------------------------------------------


def _branch(path: _Path, pos: int) -> tuple[bool, int] | None:
    """(jumped, target insn) for a conditional jump at `pos` whose next step is printed."""
    ins = path.insns[pos]
    m = _COND.fullmatch(ins.asm)
    if m is None or pos + 1 >= len(path.insns):
        return None
    target = ins.insn + 1 + int(m.group(5))
    nxt = path.insns[pos + 1].insn
    return nxt == target and nxt != ins.insn + 1, target


def _null_test(ins: _Insn) -> tuple[str, bool] | None:
    """(register, jumps when NULL) for `if rX == 0x0 goto` / `if rX != 0x0 goto`."""
    m = _COND.fullmatch(ins.asm)
    if m is None or m.group(4) is None or int(m.group(4), 0) != 0:
        return None
    if m.group(2) not in ("==", "!="):
        return None
    return _reg(m.group(1)), m.group(2) == "=="


def _branch_text(
    path: _Path, pos: int, jumped: bool, target: int, subject_ids: set[int] | None
) -> str:
    ins = path.insns[pos]
    m = _COND.fullmatch(ins.asm)
    assert m is not None
    side = f"jumped to {target}" if jumped else "fell through"
    cond = ins.asm.split(" goto", 1)[0][3:]
    holds = jumped
    null = _null_test(ins)
    left = _reg(m.group(1))
    lvalue = ins.before.get((ins.frame, left))
    rvalue = ins.before.get((ins.frame, _reg(m.group(3)))) if m.group(3) else None
    text = f"`{cond}` was {'true' if holds else 'false'} on this path ({side})"
    if null is not None and lvalue is not None and _ptr_kind(lvalue) != "scalar":
        is_null = null[1] == jumped
        value_id = _int_arg(_ID, lvalue)
        about = (
            ""
            if subject_ids is None
            else " (the value this error is about)"
            if value_id in subject_ids
            else " (another value, not the one this error is about)"
        )
        if not _nullable(lvalue):
            text += f": a NULL check of {left} ({_words(lvalue)}), which could not be NULL here"
        else:
            text += (
                f": a NULL check of {left}{about}: on this path it is "
                f"{'NULL' if is_null else 'not NULL'}"
            )
    elif {_ptr_kind(lvalue), _ptr_kind(rvalue)} >= {"pkt", "pkt_end"}:
        after = path.insns[pos + 1].before if pos + 1 < len(path.insns) else ins.after
        proven = max(
            (
                r
                for (f, n), v in after.items()
                if f == ins.frame and _ptr_kind(v) == "pkt" and (r := _int_arg(_R, v)) is not None
            ),
            default=0,
        )
        text += f": a packet bounds check; it proves {proven} byte(s) from the packet start"
    elif _ptr_kind(lvalue) == "scalar" and pos + 1 < len(path.insns):
        now = path.insns[pos + 1].before.get((ins.frame, left))
        umax = _int_arg(_UMAX, now)
        if umax is not None and umax != _int_arg(_UMAX, lvalue):
            text += f": {left} is at most {umax} from here on"
    return text


# --- the subject --------------------------------------------------------------------------------


def _subject(error: str, last: _Insn) -> str | None:
    m = _PKT_ACCESS.search(error)
    if m is not None:
        return f"R{m.group(3)}"
    if (arg := argument_register(error)) is not None:  # `helper arg2`, `arg#0`, …
        return f"R{arg}"
    m = _ERR_REG.search(error.split("\n")[0]) or _ERR_REG.search(error)
    if m is not None:
        return f"R{int(m.group(1))}"
    if (m_alu := _ALU.fullmatch(last.asm)) is not None:
        return _reg(m_alu.group(1))  # pointer arithmetic the verifier refused
    if last.opcode == "85" and "release" in error:
        return "R1"  # a release function's argument
    for pattern in (_LOAD, _STORE, _ATOMIC):
        mm = pattern.fullmatch(last.asm)
        if mm is not None:
            base = mm.group(3) if pattern is _LOAD else mm.group(2)
            if base != "10":
                return f"R{base}"
    return None


def _classify(error: str, subject_value: str | None) -> tuple[str, str, str]:
    """(category, problem, suggestion) for the classic error line, in the kernel's categories."""
    e = error
    if "Unreleased reference" in e:
        return (
            RESOURCE_LIFETIME_SAFETY,
            "Unreleased resource",
            "Release the reference (or hand it over: bpf_kptr_xchg into a map, submit or "
            "discard a ring buffer record) on every path before the program exits.",
        )
    if "invalid mem access" in e or "invalid dereference" in e:
        if _nullable(subject_value) or "_or_null" in e:
            return (
                REGISTER_TYPE_SAFETY,
                "Invalid dereference",
                "Compare the pointer with NULL and dereference it only where it is not NULL "
                "(the check must test this pointer, or a copy of it).",
            )
        return (
            REGISTER_TYPE_SAFETY,
            "Invalid dereference",
            "Dereference only a pointer the verifier still knows: re-read it after a call or a "
            "release that invalidated it.",
        )
    if "invalid access to packet" in e:
        return (
            MEMORY_SAFETY,
            "Access outside bounds",
            "Compare data + (offset + size of the access) with data_end before the access.",
        )
    if (
        _MAP_ACCESS.search(e)
        or _MEM_ACCESS.search(e)
        or "outside of the allowed memory range" in e
        or "min value is negative" in e
        or "unbounded memory access" in e
        or "unbounded min value" in e
        or "invalid zero-sized read" in e
        or _STACK_ACCESS.search(e)
    ):
        return (
            MEMORY_SAFETY,
            "Access outside bounds",
            "Bound the offset or length before the access: compare it with the object's size "
            "(or mask it) where it is computed, on every path.",
        )
    if "while holding a lock" in e or "bpf_spin_unlock" in e or "spin_lock" in e:
        return (
            EXECUTION_CONTEXT_SAFETY,
            "Operation is not allowed in this context",
            "Leave the lock region (bpf_spin_unlock) before this operation.",
        )
    if "kptr" in e:
        return (
            REGISTER_TYPE_SAFETY,
            "Invalid kptr access",
            "Store into a kptr field only with bpf_kptr_xchg() (referenced kptrs) and only "
            "a pointer of the field's type; read it with a 64-bit load.",
        )
    if (
        re.search(r"\bR\d+ (type=|must be|expected|is not a)", e)
        or argument_register(e) is not None
        or "release kernel function" in e
    ):
        if "NULL pointer passed" in e or _nullable(subject_value):
            return (
                CALL_TYPE_SAFETY,
                "Invalid call argument",
                "Compare the argument with NULL before the call and make the call only where "
                "it is not NULL (the path shows where the value came from).",
            )
        return (
            CALL_TYPE_SAFETY,
            "Invalid call argument",
            "Pass a value of the kind the function expects; the path shows where this one "
            "came from.",
        )
    if "!read_ok" in e:
        return (
            REGISTER_TYPE_SAFETY,
            "Unreadable register",
            "Initialize the register on every path before this instruction.",
        )
    return ("", "", "")


def _reason(error: str, subject: str, value: str | None, origin: Step | None) -> str:
    first = error.split("\n")[0]
    what = _words(value) if value is not None else None
    parts = [f"The verifier rejected `{first}`."]
    if what is not None:
        parts.append(f"At the failing instruction {subject} is {what}.")
    if origin is not None and origin.line:
        parts.append(f"That value was produced at line {origin.line}.")
    return " ".join(parts)


# --- the whole derivation -----------------------------------------------------------------------


def derive(log: VerifierLog) -> CausalPath | None:
    """The causal path of `log`'s rejection, or None when the log shows no path to explain
    (no error, no instructions, a log cut before the failing instruction)."""
    if log.error is None or not log.insns or _LIMIT.search(log.error):
        return None
    try:
        path = _replay(log.raw)
    except (ValueError, IndexError):  # pragma: no cover - the replay is total by design
        return None
    if not path.insns:
        return None
    return _derive(path, log.error)


def _derive(path: _Path, error: str) -> CausalPath | None:
    end = len(path.insns) - 1
    last = path.insns[end]
    leak = _UNRELEASED.search(error)
    if leak is not None:
        return _leak(path, end, int(leak.group(1)), int(leak.group(2)), error)
    subject = _subject(error, last)
    for context in _CONTEXTS:
        if any(word in error for word in context.errors):
            inside = _context(path, end, error, context)
            # A message about the region's own argument (a flag never saved) outside any
            # region: the argument's lineage says more.
            if inside.steps or subject is None:
                return inside
    if subject is None:
        return None
    value = last.before.get((last.frame, subject))
    lineage = _lineage(path, end, last.frame, subject)
    subject_ids = {
        i
        for (f, n) in lineage.copies
        for v in (last.before.get((f, n)),)
        if (i := _int_arg(_ID, v)) is not None
    }
    origin_value = (
        lineage.origin.after.get((lineage.origin.frame, _origin_name(lineage.origin)))
        if lineage.origin
        else None
    )
    if (i := _int_arg(_ID, origin_value)) is not None:
        subject_ids.add(i)
    steps = list(lineage.steps)
    branches = _branches(path, lineage.start, end, subject_ids)
    steps = _ordered([*steps, *branches])
    # A scalar that bounds the access: where it came from and what checked it.
    index = _index_register(path, lineage, error)
    fixes: list[Fix] = []
    if index is not None:
        ipos, ireg = index
        sub = _lineage(path, ipos + 1, path.insns[ipos].frame, ireg)
        sub_branches = _branches(path, sub.start, end, set())
        steps = _ordered([*steps, *sub.steps, *sub_branches])
        fixes += _clamp_fix(path, sub, ipos, ireg, error)
    category, problem, suggestion = _classify(error, value)
    if index is None and category == MEMORY_SAFETY and _ptr_kind(value) == "scalar":
        # The scalar the error names is itself the length or offset (a helper's size).
        fixes += _clamp_fix(path, lineage, end, subject, error)
    if _nullable(value):
        fixes += _null_fixes(path, lineage, end, subject, value, subject_ids)
    if _PKT_ACCESS.search(error):
        fixes += _packet_fix(path, end, error)
    origin_step = next((s for s in steps if s.position == lineage.origin_position), None)
    return CausalPath(
        category=category,
        problem=problem,
        reason=_reason(error, subject, value, origin_step),
        suggestion=suggestion,
        subject=subject,
        steps=tuple(steps),
        fixes=tuple(fixes),
    )


def _origin_name(ins: _Insn) -> str:
    m = _WRITE.fullmatch(ins.asm)
    if m is not None:
        return f"R{int(m.group(1))}"
    return "R0"


def _ordered(steps: Iterable[Step]) -> list[Step]:
    seen: dict[tuple[int, str, str], Step] = {}
    for s in steps:
        seen.setdefault((s.position, s.label, s.text), s)
    return sorted(seen.values(), key=lambda s: s.position)


def _branches(path: _Path, start: int, end: int, subject_ids: set[int] | None) -> list[Step]:
    out: list[Step] = []
    for pos in range(start, end):
        taken = _branch(path, pos)
        if taken is None:
            continue
        jumped, target = taken
        text = _branch_text(path, pos, jumped, target, subject_ids)
        out.append(dataclasses.replace(_step(path, pos, "branch", text), taken=jumped))
    return out


def _index_register(path: _Path, lineage: _Lineage, error: str) -> tuple[int, str] | None:
    """For a bounds error: the scalar added to the pointer (`rP += rS`) on its lineage (or by
    the failing instruction itself, when the verifier refused that arithmetic)."""
    end = len(path.insns) - 1
    for position in [end, *(s.position for s in reversed(lineage.steps))]:
        ins = path.insns[position]
        m = _ALU.fullmatch(ins.asm)
        if m and m.group(2) in ("+", "-") and m.group(3) is not None:
            src = _reg(m.group(3))
            if _ptr_kind(ins.before.get((ins.frame, src))) == "scalar":
                return position, src
    return None


def _tested_register(ins: _Insn) -> str:
    test = _null_test(ins)
    return test[0] if test is not None else ""


def _tested(ins: _Insn) -> str | None:
    """The value a NULL test at `ins` tested."""
    return ins.before.get((ins.frame, _tested_register(ins)))


def _null_fixes(
    path: _Path, lineage: _Lineage, end: int, subject: str, value: str | None, ids: set[int]
) -> list[Fix]:
    start = lineage.origin_position if lineage.origin_position is not None else lineage.start
    failing = path.insns[end]
    origin = lineage.origin
    where = f"line {origin.line}" if origin is not None and origin.line else "its producer"
    checks = [
        pos
        for pos in range(start, end)
        if (t := _null_test(path.insns[pos])) is not None
        and _ptr_kind(path.insns[pos].before.get((path.insns[pos].frame, t[0]))) != "scalar"
    ]
    wrong = [pos for pos in checks if _int_arg(_ID, _tested(path.insns[pos])) not in ids]
    if wrong:
        pos = wrong[-1]
        ins = path.insns[pos]
        reg = _tested_register(ins)
        tested = _words(ins.before.get((ins.frame, reg)))
        return [
            Fix(
                pos,
                ins.insn,
                FixKind.NULL_CHECK_WRONG_COPY,
                f"this NULL check tests {reg} ({tested}), not the pointer dereferenced at "
                f"line {failing.line} ({subject}, produced at {where}), which may still be NULL",
                register=reg,
                origin_insn=origin.insn if origin else None,
                file=ins.file,
                line=ins.line,
            )
        ]
    if not checks and origin is not None:
        what = "this may return NULL" if _callee(origin.asm) else "the value read here may be NULL"
        return [
            Fix(
                lineage.origin_position or 0,
                origin.insn,
                FixKind.NULL_CHECK_MISSING,
                f"{what} ({_words(value)}); compare it with NULL before the "
                f"use at line {failing.line}",
                register=_origin_name(origin),
                origin_insn=origin.insn,
                file=origin.file,
                line=origin.line,
            )
        ]
    return []


def _packet_fix(path: _Path, end: int, error: str) -> list[Fix]:
    m = _PKT_ACCESS.search(error)
    assert m is not None
    off, size = int(m.group(1)), int(m.group(2))
    last = path.insns[end]
    value = last.before.get((last.frame, f"R{m.group(3)}"))
    proven = _int_arg(_R, value) or 0
    needed = off + size
    checks = [
        pos
        for pos in range(end)
        if (c := _COND.fullmatch(path.insns[pos].asm)) is not None
        and c.group(3) is not None
        and {
            _ptr_kind(path.insns[pos].before.get((path.insns[pos].frame, _reg(c.group(1))))),
            _ptr_kind(path.insns[pos].before.get((path.insns[pos].frame, _reg(c.group(3))))),
        }
        >= {"pkt", "pkt_end"}
    ]
    if not checks:
        return []
    pos = checks[-1]
    ins = path.insns[pos]
    return [
        Fix(
            pos,
            ins.insn,
            FixKind.BOUNDS_CHECK_TOO_SHORT,
            f"this check proves {proven} byte(s) of packet data, the access at line "
            f"{last.line} needs {needed} (offset {off}, {size} byte(s)): compare data + "
            f"{needed} with data_end",
            register=f"R{m.group(3)}",
            proven=proven,
            needed=needed,
            file=ins.file,
            line=ins.line,
        )
    ]


def _allowed(error: str) -> int | None:
    """The largest offset the access allows, from the classic message, when it says."""
    m = _MAP_ACCESS.search(error) or _MEM_ACCESS.search(error)
    if m is not None:
        return int(m.group(1)) - int(m.group(3))
    return None


def _clamp_fix(path: _Path, sub: _Lineage, ipos: int, reg: str, error: str) -> list[Fix]:
    ins = path.insns[ipos]
    value = ins.before.get((ins.frame, reg))
    bound = _int_arg(_UMAX, value)
    allowed = _allowed(error)
    if bound is not None and allowed is not None and bound <= allowed:
        return []
    # The last comparison that bounded it (too loosely), else where it was produced.
    checks = [s for s in sub.steps if s.label == "branch" and "is at most" in s.text]
    anchor_pos = checks[-1].position if checks else (sub.origin_position or sub.start)
    anchor = path.insns[anchor_pos]
    words = f"at most {bound}" if bound is not None and bound < (1 << 63) else "unbounded"
    limit = f" (the access allows at most {allowed})" if allowed is not None else ""
    return [
        Fix(
            anchor_pos,
            anchor.insn,
            FixKind.CLAMP_MISSING,
            f"the offset/length used at line {ins.line} is {words} here{limit}: clamp it "
            f"(`if (x > N) …` or a mask) where it is computed",
            register=reg,
            origin_insn=sub.origin.insn if sub.origin else None,
            bound=bound,
            allowed=allowed,
            file=anchor.file,
            line=anchor.line,
        )
    ]


def _leak(path: _Path, end: int, ref: int, alloc: int, error: str) -> CausalPath:
    acquired = [p for p in range(end) if path.insns[p].insn == alloc]
    start = acquired[-1] if acquired else 0
    steps: list[Step] = []
    release: str | None = None
    if acquired:
        ins = path.insns[start]
        callee = _callee(ins.asm) or "the call"
        r0 = ins.after.get((ins.frame, "R0"))
        holder = next(
            (
                (n, v)
                for (f, n), v in ins.after.items()
                if f == ins.frame and _ref_of(v, (ref,)) == ref
            ),
            None,
        )
        what = f"{holder[0]} = {_words(holder[1])}" if holder else "a reference"
        steps.append(
            _step(path, start, "acquired", f"reference #{ref} taken by {callee}(): {what}")
        )
        release = RELEASE_OF_ACQUIRE.get(callee)
        if release is None and r0 is not None:
            m = re.search(r"ptr_(?:or_null_)?(\w+?)(?:\(|$)", r0)
            if m is not None:
                release = RELEASE_OF_POINTEE.get(m.group(1))
    for pos in range(start + 1, end):
        ins = path.insns[pos]
        if ins.opcode == "85" and ref in ins.refs_before and ref not in ins.refs_after:
            steps.append(
                _step(path, pos, "released", f"reference #{ref} released by {_callee(ins.asm)}()")
            )
    branch_steps = _branches(path, start, end, None)
    steps = _ordered([*steps, *branch_steps])
    fixes: list[Fix] = []
    if branch_steps:
        b = branch_steps[-1]
        ins = path.insns[b.position]
        how = f" with {release}()" if release else ""
        fixes.append(
            Fix(
                b.position,
                ins.insn,
                FixKind.RELEASE_MISSING,
                f"on this branch reference #{ref} (acquired at line "
                f"{path.insns[start].line if acquired else '?'}) is never released: release "
                f"it{how} before the program returns on this side",
                release=release,
                acquired_insn=alloc,
                file=ins.file,
                line=ins.line,
            )
        )
    category, problem, suggestion = _classify(error, None)
    exit_line = path.insns[end].line
    reason = (
        f"Reference #{ref}, taken at instruction {alloc}"
        + (f" (line {path.insns[start].line})" if acquired and path.insns[start].line else "")
        + ", is still held when the program exits"
        + (f" at line {exit_line}" if exit_line else "")
        + " on this path."
    )
    return CausalPath(
        category,
        problem,
        reason,
        suggestion,
        f"reference #{ref}",
        tuple(steps),
        tuple(fixes),
        acquired_insn=alloc,
        acquired_by=_callee(path.insns[start].asm) if acquired else None,
        release=release,
    )


@dataclass(frozen=True)
class _Context:
    name: str  # as diagnostics.c names the region
    enter: tuple[str, ...]
    leave: tuple[str, ...]
    errors: tuple[str, ...]  # classic words that mean "still inside it"


_CONTEXTS = (
    _Context(
        "lock region",
        ("bpf_spin_lock", "bpf_res_spin_lock", "bpf_res_spin_lock_irqsave"),
        ("bpf_spin_unlock", "bpf_res_spin_unlock", "bpf_res_spin_unlock_irqrestore"),
        ("while holding a lock", "bpf_spin_unlock is missing", "inside bpf_spin_lock"),
    ),
    _Context(
        "RCU read lock region",
        ("bpf_rcu_read_lock",),
        ("bpf_rcu_read_unlock",),
        ("bpf_rcu_read_lock-ed region", "rcu_read_lock is missing", "rcu_read_unlock is missing"),
    ),
    _Context(
        "non-preemptible region",
        ("bpf_preempt_disable",),
        ("bpf_preempt_enable",),
        ("bpf_preempt_disable-ed region", "preempt_disable", "preempt_enable"),
    ),
    _Context(
        "IRQ-disabled region",
        ("bpf_local_irq_save",),
        ("bpf_local_irq_restore",),
        ("irq state", "bpf_local_irq_save-ed region", "irq flag"),
    ),
)


def _context(path: _Path, end: int, error: str, context: _Context) -> CausalPath:
    """The region the failing instruction is still inside: where each level was entered since
    the path was last outside it, the branches taken inside it, and, when the failing
    instruction is the exit (a return inside the region), that exit."""
    opened: list[int] = []  # positions of the entries still open, outermost first
    for pos in range(end):
        callee = _callee(path.insns[pos].asm)
        if callee in context.enter:
            opened.append(pos)
        elif callee in context.leave and opened:
            opened.pop()
    steps = [
        _step(
            path,
            pos,
            "context",
            f"entered the {context.name} ({_callee(path.insns[pos].asm)}); depth is now {depth}",
        )
        for depth, pos in enumerate(opened, 1)
    ]
    last = path.insns[end]
    exits = last.opcode == "95"
    entered = path.insns[opened[-1]] if opened else None
    entry = _callee(entered.asm) if entered is not None else None
    leave = context.leave[context.enter.index(entry)] if entry in context.enter else None
    if opened and entered is not None:
        steps += _branches(path, opened[0], end, None)
        if exits:
            where = f" at line {entered.line}" if entered.line else ""
            steps.append(
                _step(
                    path,
                    end,
                    "context",
                    f"the program returns here (instruction {last.insn}) still inside the "
                    f"{context.name} entered{where}: leave it ({leave}) before this return",
                )
            )
    category = EXECUTION_CONTEXT_SAFETY
    problem = "Operation is not allowed in this context"
    suggestion = f"Leave the {context.name} on every path before this instruction."
    reason = f"This path is still inside the {context.name} at the failing instruction."
    if exits and opened:
        suggestion = (
            f"Leave the {context.name} ({leave}) on every path before the program "
            "returns: an early return inside it needs its own."
        )
        reason = (
            f"This path returns at instruction {last.insn} without leaving the {context.name}"
            + (
                f" entered at line {path.insns[opened[-1]].line}"
                if path.insns[opened[-1]].line
                else ""
            )
            + "."
        )
    return CausalPath(
        category,
        problem,
        reason,
        suggestion,
        context.name,
        tuple(_ordered(steps)),
        acquired_insn=entered.insn if entered is not None else None,
        acquired_by=entry,
        release=leave,
    )


# --- onto a finding -------------------------------------------------------------------------------


def explanation_text(path: CausalPath) -> str:
    """Reason and suggestion as the explanation shows them (the kernel's block's shape)."""
    return block_explanation(path.reason, path.suggestion, EXPLAINED_BY)


def with_causal_path(
    finding: Finding,
    path: CausalPath | None,
    error: str,
    locate: Callable[[int, str, int], Location | None],
) -> Finding:
    """`finding` with the causal path derived from its kernel's classic log: the category
    line after the classic error lines, reason and suggestion ahead of the explanation, each
    step and each fix point as related information on its line, in order. `locate(insn,
    file, line)` resolves a step's source line (from its note) or instruction."""
    if path is None or finding.explained_by is not None:
        return finding
    events: list[PathEvent] = []
    for step in path.steps:
        where = locate(step.insn, step.file, step.line)
        if where is not None:
            events.append(PathEvent(where, step.label, step.text))
    fixes: list[FixPoint] = []
    for fix in path.fixes:
        where = locate(fix.insn, fix.file, fix.line)
        if where is None:
            continue
        origin = locate(fix.origin_insn, "", 0) if fix.origin_insn is not None else None
        acquired = locate(fix.acquired_insn, "", 0) if fix.acquired_insn is not None else None
        fixes.append(
            FixPoint(
                where,
                fix.kind,
                fix.text,
                register=fix.register,
                origin=origin,
                proven=fix.proven,
                needed=fix.needed,
                bound=fix.bound,
                allowed=fix.allowed,
                release=fix.release,
                acquired_at=acquired,
            )
        )
    message = finding.message
    headline = f"{path.category}: {path.problem}" if path.category else None
    if headline and (message == error or message.startswith(error + "\n")):
        message = f"{error}\n{headline}{message[len(error) :]}"
    own = explanation_text(path)
    # The catalogue's words first (as on every kernel), kptr-lsp's reading of this log after.
    explanation = "\n\n".join(t for t in (finding.explanation, own) if t) or None
    related = [*finding.related, *(e.related() for e in events), *(f.related() for f in fixes)]
    return dataclasses.replace(
        finding,
        message=message,
        explanation=explanation,
        related=tuple(dict.fromkeys(related)),
        category=path.category or None,
        problem=path.problem or None,
        reason=path.reason or None,
        causal_path=tuple(events),
        suggestion=path.suggestion or None,
        explained_by=EXPLAINED_BY,
        fix_points=tuple(fixes),
    )
