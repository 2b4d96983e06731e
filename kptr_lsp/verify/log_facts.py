"""Concrete facts from one verifier log, for the explanation catalogue's `detail` sentences.

The catalogue says what a message means; these facts say what it is about in *this* program:
the failing instruction and its C line, the helper or kfunc it calls, the register the
message names, that register's type when the verifier stopped, and the instruction that
produced the register's value (following register copies and stack spills back to a call,
a load or a constant). Pure: reads only the parsed log (kptr_lsp/verify/log.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..kernel.arg_words import SHIFT
from .causal import CausalPath
from .log import InsnLine, VerifierLog, source_of

# `call bpf_kptr_xchg#194`, `call bpf_task_release#65832` (kfuncs print the same way).
_CALL = re.compile(r"call (?P<name>[A-Za-z_]\w*)(?:#\d+)?\s*$")
_SUBPROG_CALL = re.compile(r"call pc[+-]\d+")
# The destination of an instruction that writes a register: `r2 = ...`, `w2 = ...`, `r2 += 8`.
_WRITE = re.compile(r"^[rw](?P<dst>\d+) (?P<op>[-+*/%&|^]?=|<<=|s?>>=) (?P<src>.*)$")
_MOVE = re.compile(r"^[rw](?P<src>\d+)$")
_FILL = re.compile(r"^\*\(u(?:8|16|32|64) \*\)\(r10 (?P<off>[-+]\d+)\)$")
_SPILL = re.compile(r"^\*\(u(?:8|16|32|64) \*\)\(r10 (?P<off>[-+]\d+)\) = r(?P<src>\d+)$")
_LOAD = re.compile(r"^\*\(u(?:8|16|32|64) \*\)\(r(?P<base>\d+) (?P<off>[-+]\d+)\)$")


def register_of(groups: Mapping[str, str]) -> int | None:
    """The register an error is about, from the catalogue pattern's groups: `reg` is a
    register number, `harg`/`karg` an argument as the message counts it (kernel/arg_words)."""
    for key, shift in (("reg", 0), *SHIFT.items()):
        value = groups.get(key)
        if value is not None and value.isdigit():
            return int(value) + shift
    return None


def register_value(state: str, reg: int) -> str | None:
    """`ptr_or_null_task_struct(id=2,ref_obj_id=2)` for R2 in a state line, or None."""
    m = re.search(rf"(?:^|\s)R{reg}(?:_\w+)?=", state)
    if m is None:
        return None
    out: list[str] = []
    depth = 0
    for ch in state[m.end() :]:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch.isspace() and depth == 0:
            break
        out.append(ch)
    return "".join(out) or None


def _value_type(value: str) -> str:
    """The type of a register value without its details: `map_value(map=m,ks=4)` →
    `map_value`; a constant stays itself (`0`)."""
    return value.split("(", 1)[0]


@dataclass(frozen=True)
class Origin:
    insn: InsnLine | None  # None: the value the program received at entry
    what: str  # "calls bpf_task_from_pid()", "loads it from memory at r6+0", ...


def _origin(insns: tuple[InsnLine, ...], end: int, reg: int) -> Origin | None:
    """The instruction that produced `reg`'s value, walking the printed path back from
    position `end` (exclusive) through copies and stack spills."""
    slot: str | None = None  # tracing a stack slot (its r10 offset) instead of a register
    via: list[str] = []  # the stack slots the value went through, newest first
    origin = _origin_walk(insns, end, reg, slot, via)
    if origin is not None and via and origin.insn is not None:
        slots = " and ".join(f"fp{off}" for off in reversed(via))
        return Origin(origin.insn, f"{origin.what} (kept on the stack at {slots} on the way)")
    return origin


def _origin_walk(
    insns: tuple[InsnLine, ...], end: int, reg: int, slot: str | None, via: list[str]
) -> Origin | None:
    for k in range(end - 1, -1, -1):
        line = insns[k]
        asm = line.asm
        if slot is not None:
            spill = _SPILL.match(asm)
            if spill and spill.group("off") == slot:
                reg, slot = int(spill.group("src")), None
            continue
        if _CALL.search(asm) or _SUBPROG_CALL.search(asm):
            if reg == 0:
                m = _CALL.search(asm)
                name = f"{m.group('name')}()" if m else "a function"
                return Origin(line, f"calls {name}")
            if 1 <= reg <= 5:
                return None  # clobbered by the call: the value came from nowhere we can see
            continue
        m = _WRITE.match(asm)
        if m is None or int(m.group("dst")) != reg:
            continue
        src, op = m.group("src").strip(), m.group("op")
        if op != "=":
            return Origin(line, f"computes it with `{asm}`")
        move = _MOVE.match(src)
        if move is not None:
            reg = int(move.group("src"))
            continue
        fill = _FILL.match(src)
        if fill is not None:
            slot = fill.group("off")
            via.append(slot)
            continue
        load = _LOAD.match(src)
        if load is not None:
            return Origin(line, f"loads it from memory at r{load.group('base')}{load.group('off')}")
        return Origin(line, f"sets it with `{asm}`")
    if slot is None and reg == 1 and end > 0:
        return Origin(None, "the program's entry, where R1 is its context argument")
    return None


# `Validating on_throw() func#1...`: the subprogram the verifier checks on its own (a global
# function, an exception callback) when the error follows.
_VALIDATING = re.compile(r"^Validating (\w+)\(\) func#(\d+)\.\.\.$", re.MULTILINE)
_TRAILING_COMMENT = re.compile(r"\s*(?:/\*.*?\*/|//.*)\s*$")
LineOf = Callable[[int], "tuple[int, str] | None"]  # insn -> (C line, its source text)


def described(insn: int, line_of: LineOf, log: VerifierLog) -> str:
    """`instruction 12 at line 52 (`old = bpf_kptr_xchg(&v->mask, cur);`)`."""
    return _described(insn, line_of, log)


def _described(insn: int, line_of: LineOf, log: VerifierLog) -> str:
    where = f"instruction {insn}"
    found = line_of(insn)
    if found is None:
        note = source_of(log, insn)
        found = (note.line, note.text) if note is not None else None
    if found is not None:
        line, text = found
        if line > 0:
            where += f" at line {line}"
        text = _TRAILING_COMMENT.sub("", text).strip()
        if text:
            if len(text) > 70:
                text = text[:67] + "..."
            where += f" (`{text}`)"
    return where


def _line(line_of: LineOf, insn: int) -> str | None:
    found = line_of(insn)
    return str(found[0]) if found is not None and found[0] > 0 else None


def _stack_facts(log: VerifierLog, groups: Mapping[str, str], end: int) -> dict[str, str]:
    """`slot` and `slot_value` for a stack offset the message names (group soff, plus si,
    the byte within the access); `room` for a negative frame offset (group off): the bytes
    between it and the top of the frame."""
    facts: dict[str, str] = {}
    off = groups.get("off", "")
    if re.fullmatch(r"-\d+", off):
        facts["room"] = str(-int(off))
    soff = groups.get("soff")
    if soff is None or not re.fullmatch(r"-?\d+", soff):
        return facts
    byte = int(soff) + int(groups.get("si", "0") or 0)
    slot = f"fp{(byte // 8) * 8}"
    facts["slot"] = slot
    for k in range(min(end, len(log.insns)) - 1, -1, -1):
        state = log.insns[k].state
        if state is None:
            continue
        m = re.search(rf"(?:^|\s){re.escape(slot)}(?:_\w+)?=(\S+)", state)
        if m is not None:
            facts["slot_value"] = m.group(1)
            break
    return facts


def _last_call(insns: tuple[InsnLine, ...], end: int, calls: re.Pattern[str]) -> InsnLine | None:
    for k in range(min(end, len(insns)) - 1, -1, -1):
        m = _CALL.search(insns[k].asm)
        if m is not None and calls.fullmatch(m.group("name")):
            return insns[k]
    return None


def log_facts(
    log: VerifierLog,
    groups: Mapping[str, str],
    line_of: LineOf,
    calls: re.Pattern[str] | None = None,
) -> dict[str, str]:
    """Facts for the catalogue's detail templates. Keys (each present only when known):
    insn, line, at (instruction and line, with the source text), call (the helper or kfunc
    the failing instruction calls), reg, reg_type, reg_value, origin (the instruction that
    produced the register's value, said as a clause), origin_line; minsn_at (the
    instruction the message names in group minsn); acquired_at (the last call on the path
    to a function matching `calls`, e.g. the bpf_spin_lock() still held); slot, slot_value
    and room for stack offsets; stack_depths (each function's stack, from the statistics);
    validating (the subprogram the verifier was checking on its own)."""
    facts: dict[str, str] = {}
    if log.stats is not None and log.stats.stack_depth:
        facts["stack_depths"] = "+".join(str(d) for d in log.stats.stack_depth)
    validating = _VALIDATING.findall(log.raw)
    if validating:
        name, func = validating[-1]
        facts["validating"] = f"{name}() (func#{func})"
    minsn = groups.get("minsn")
    if minsn is not None and minsn.isdigit():
        facts["minsn_at"] = _described(int(minsn), line_of, log)
    insn = log.failing_insn
    if insn is None:
        return facts
    facts["insn"] = str(insn)
    line = _line(line_of, insn)
    if line is not None:
        facts["line"] = line
    facts["at"] = _described(insn, line_of, log)
    positions = [k for k, i in enumerate(log.insns) if i.insn == insn]
    end = positions[-1] if positions else len(log.insns)
    failing = log.insns[end] if positions else None
    facts.update(_stack_facts(log, groups, end))
    if calls is not None:
        acquired = _last_call(log.insns, end, calls)
        if acquired is not None:
            facts["acquired_at"] = _described(acquired.insn, line_of, log)
    if failing is not None:
        call = _CALL.search(failing.asm)
        if call is not None:
            facts["call"] = f"{call.group('name')}()"
    reg = register_of(groups)
    if reg is None:
        return facts
    facts["reg"] = str(reg)
    value: str | None = None
    for k in range(end - 1, -1, -1):  # the failing instruction's own state is not printed
        state = log.insns[k].state
        if state is not None:
            value = register_value(state, reg)
            if value is not None:
                break
    if value is None:  # not changed on the printed path: the state at entry (`0: R1=ctx()`)
        for st in reversed(log.states):
            value = register_value(st.state, reg)
            if value is not None:
                break
    if value is not None:
        facts["reg_value"] = value
        facts["reg_type"] = _value_type(value)
    origin = _origin(log.insns, end, reg)
    if origin is not None and origin.insn is None:
        facts["origin"] = origin.what
    elif origin is not None and origin.insn is not None:
        facts["origin"] = f"{_described(origin.insn.insn, line_of, log)}, which {origin.what}"
        origin_line = _line(line_of, origin.insn.insn)
        if origin_line is not None:
            facts["origin_line"] = origin_line
    return facts


def _calls(names: str) -> str:
    """`bpf_ringbuf_submit or bpf_ringbuf_discard` → `bpf_ringbuf_submit() or …discard()`."""
    return " or ".join(f"{name}()" for name in names.split(" or "))


def path_facts(path: CausalPath | None, log: VerifierLog, line_of: LineOf) -> dict[str, str]:
    """Facts from the causal path kptr-lsp derived from this log (verify/causal.py), for a
    reference still held or a region not left at the failing instruction: acquired_at and
    acquired_by (the instruction and the call that took it), branch_at (the last branch the
    path took after that, and which side), release_with (the function that gives it back)."""
    facts: dict[str, str] = {}
    if path is None or path.acquired_insn is None:
        return facts
    facts["acquired_at"] = _described(path.acquired_insn, line_of, log)
    if path.acquired_by:
        facts["acquired_by"] = f"{path.acquired_by}()"
    if path.release:
        facts["release_with"] = _calls(path.release)
    branches = [s for s in path.steps if s.label == "branch" and s.insn != path.acquired_insn]
    if branches and branches[-1].taken is not None:
        last = branches[-1]
        side = "true" if last.taken else "false"
        facts["branch_at"] = (
            f"{_described(last.insn, line_of, log)}, where the condition was {side}"
        )
    return facts


FACT_KEYS = frozenset(
    {
        "stack_depths",
        "validating",
        "opcode_at",  # from the object, not the log: verify/placement.py
        "acquired_by",
        "branch_at",
        "release_with",
        "insn",
        "line",
        "at",
        "call",
        "reg",
        "reg_type",
        "reg_value",
        "origin",
        "origin_line",
        "minsn_at",
        "acquired_at",
        "slot",
        "slot_value",
        "room",
    }
)
