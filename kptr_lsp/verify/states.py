"""What the verifier knew at each C line: register and stack states from a level-2 log, in words.

Pure. A level-2 log prints, for every instruction it walks, the registers that instruction
changed (`; R0=... refs=2`), a full state where a path starts (`from 26 to 29: R0=0 ...`) and a
table of live registers before each instruction. `trace_states` replays the log in order,
keeping each frame's registers, and records the state on entry to every visit of a source line.
`describe_value` turns one printed value (`ptr_or_null_task_struct(id=2,ref_obj_id=2)`) into
words (`task_struct * — may be NULL, holds reference #2`).

Formats follow kernel/bpf/log.c (reg_type_str, print_reg_state, print_verifier_state) and the
liveness table of kernel/bpf/verifier.c (compute_live_registers, 6.15+).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .log import log_body

_INSN = re.compile(r"(\d{1,19}): \(([0-9a-f]{2})\) (.*)")
_NOTE = re.compile(r"; (.*) @ (\S+):(\d{1,19})")
_FROM = re.compile(r"from \d{1,19} to (\d{1,19})(?: \(speculative execution\))?:(.*)")
_STATE = re.compile(r"(\d{1,19}):((?: (?:frame\d+:|R\d+\w*=|fp-?\d+\w*=|refs=).*)?)\s*")
_LIVE_ROW = re.compile(r"\s+(\d{1,19}): ([.0-9]{10,11}) \(")
_DUMP_HEADER = re.compile(r"(caller|callee|returning from callee):|to caller at \d{1,19}:")
_FRAME = re.compile(r"frame(\d{1,3}):")
# `R1_w=`, `fp-8_rw=`: older kernels append liveness marks to the name.
_ENTRY = re.compile(r"(R\d{1,2}|fp-?\d{1,4})(?:_[a-zD]+)?=")
_REFS = re.compile(r"refs=([\d,]+)")

CALLER_SAVED = ("R1", "R2", "R3", "R4", "R5")


# --- one printed value in words ------------------------------------------------------------

_BASES = {
    "scalar": "integer",
    "ctx": "pointer to the program's context",
    "map_ptr": "map",
    "map_value": "pointer into a map value",
    "map_key": "pointer to a map key",
    "pkt": "pointer into packet data",
    "pkt_meta": "pointer to packet metadata",
    "pkt_end": "end of packet data",
    "flow_keys": "pointer to flow keys",
    "sock": "socket",
    "sock_common": "socket (common part)",
    "tcp_sock": "TCP socket",
    "tp_buffer": "tracepoint buffer",
    "xdp_sock": "XDP socket",
    "mem": "pointer to memory",
    "arena": "arena pointer",
    "buf": "pointer to a buffer",
    "func": "pointer to a function",
    "dynptr_ptr": "pointer to a dynptr",
}
_PREFIXES = ("rdonly_", "ringbuf_", "user_", "percpu_", "rcu_", "untrusted_", "trusted_")
_PREFIX_WORDS = {
    "rdonly_": "read-only",
    "ringbuf_": "ring buffer",
    "user_": "user",
    "percpu_": "per-CPU",
    "rcu_": "RCU-protected",
    "untrusted_": "untrusted",
    "trusted_": "trusted",
}
_VALUE = re.compile(r"(?P<prefix>(?:" + "|".join(_PREFIXES) + r")*)(?P<rest>[a-z_0-9]+)")
_ARGS = re.compile(r"(?P<head>[^(]*)(?:\((?P<args>.*)\))?")
_NUM = re.compile(r"-?(?:0x[0-9a-fA-F]+|\d+)")
_STACK_BYTES = re.compile(r"[?rm0dif]{8}")
_SLOT_CHARS = {
    "?": "not written",
    "m": "data",
    "0": "zero",
    "r": "spilled register",
    "d": "dynptr",
    "i": "iterator",
    "f": "IRQ flag",
}
_DYNPTR_KINDS = {
    "local": "on the stack",
    "ringbuf": "over a ring buffer record",
    "skb": "over skb data",
    "xdp": "over XDP data",
    "skb_meta": "over skb metadata",
    "file": "over a file",
}


def _int(text: str) -> int | None:
    return int(text, 0) if _NUM.fullmatch(text) else None


def _args(text: str) -> dict[str, str]:
    """`id=2,smin=0,smax=umax=255,var_off=(0x0; 0xff)` → {id: 2, smin: 0, smax: 255, umax: 255,
    var_off: (0x0; 0xff)}: `a=b=v` gives every key the value; parentheses nest."""
    out: dict[str, str] = {}
    depth, start, parts = 0, 0, []
    for i, c in enumerate(text):
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    for part in parts:
        keys = part.split("=")
        if len(keys) < 2:
            continue
        for key in keys[:-1]:
            out[key.strip()] = keys[-1].strip()
    return out


def _fmt(n: int) -> str:
    return f"{n:#x}" if abs(n) >= 1 << 20 else str(n)


def _range(args: Mapping[str, str]) -> str | None:
    """The tightest range the verifier printed: unsigned when it has one, else signed."""
    umin, umax = _int(args.get("umin", "")), _int(args.get("umax", ""))
    smin, smax = _int(args.get("smin", "")), _int(args.get("smax", ""))
    if umin is not None or umax is not None:
        lo = umin if umin is not None else (smin if smin is not None and smin >= 0 else 0)
        hi = umax if umax is not None else (1 << 64) - 1
        return f"{_fmt(lo)} … {_fmt(hi)}"
    if smin is not None or smax is not None:
        lo_s = _fmt(smin) if smin is not None else "-2^63"
        hi_s = _fmt(smax) if smax is not None else "2^63-1"
        return f"{lo_s} … {hi_s}"
    return None


def _scalar(args: Mapping[str, str]) -> str:
    rng = _range(args)
    return f"integer in {rng}" if rng else "integer, value unknown"


@dataclass(frozen=True)
class Value:
    """One decoded register or stack value."""

    words: str
    ref_obj_id: int | None = None
    may_be_null: bool = False


def decode_value(text: str, acquired: Mapping[int, int] | None = None) -> Value:
    """Words for one printed value. `acquired` maps reference ids to the C line that took them."""
    text = text.strip()
    if text.startswith("P") and (text[1:2].isdigit() or text[1:].startswith(("-", "scalar"))):
        text = text[1:]  # precision mark
    if (n := _int(text)) is not None:
        return Value(f"integer {_fmt(n)}")
    if _STACK_BYTES.fullmatch(text):
        return Value(_stack_bytes(text))
    # A scalar spilled with a narrower store: the other bytes' marks, then the value.
    m_spill = re.fullmatch(r"([?m0]{1,7})(P?(?:scalar\(.*\)|-?\d+|-?0x[0-9a-f]+))", text)
    if m_spill is not None:
        inner = decode_value(m_spill.group(2), acquired)
        n_spill = 8 - len(m_spill.group(1))
        return Value(f"{inner.words} (spilled, {n_spill} bytes)", inner.ref_obj_id)
    if text.startswith("fp"):
        return Value(_stack_pointer(text))
    m = _ARGS.fullmatch(text)
    if m is None:
        return Value(f"`{text}`")
    head, args = m.group("head"), _args(m.group("args") or "")
    if head == "scalar":
        return Value(_scalar(args))
    if head.startswith("dynptr_"):
        return Value(_dynptr(head, args, acquired))
    if head.startswith("iter_"):
        state = args.get("state", "")
        return Value(f"open iterator `{head[5:]}` ({state or 'state unknown'})")
    vm = _VALUE.fullmatch(head)
    if vm is None:
        return Value(f"`{text}`")
    words, base, null = _pointer_words(_prefixes(vm.group("prefix")), vm.group("rest"), args)
    return _pointer_value(words, base, null, args, acquired)


def _prefixes(text: str) -> list[str]:
    """`trusted_ptr_`'s `trusted_`, `rcu_untrusted_…`'s two: the register-type prefixes."""
    prefixes, rest_of = [], text
    while rest_of:  # in order: `untrusted_` must not also read as `trusted_`
        p = next(p for p in _PREFIXES if rest_of.startswith(p))
        prefixes.append(p)
        rest_of = rest_of[len(p) :]
    return prefixes


def _pointer_words(
    prefixes: list[str], rest: str, args: Mapping[str, str]
) -> tuple[str, str | None, bool]:
    """(words, base register type or None for a BTF pointer, whether it may be NULL)."""
    null = False
    type_name: str | None = None
    if rest.startswith("ptr_"):
        rest = rest[4:]
        if rest.startswith("or_null_"):
            null, rest = True, rest[8:]
        type_name, base = rest, None
    else:
        base = rest
        if base.endswith("_or_null"):
            null, base = True, base[: -len("_or_null")]
    adjectives = [_PREFIX_WORDS[p] for p in prefixes]
    if type_name is not None:
        return " ".join([*adjectives, f"{type_name} *"]), base, null
    what = _BASES.get(base or "", f"`{base}`")
    words = " ".join([*adjectives, what])
    if base == "map_ptr" and "map" in args:
        words = f"map `{args['map']}`"
    elif base in ("map_value", "map_key") and "map" in args:
        size = args.get("vs" if base == "map_value" else "ks")
        what = "value" if base == "map_value" else "key"
        words = f"pointer into a {what} of map `{args['map']}`" + (
            f" ({size} bytes)" if size else ""
        )
    elif base == "mem" and "sz" in args:
        words += f" ({args['sz']} bytes)"
    elif base == "pkt" and "r" in args:
        words += f", {args['r']} bytes checked against the packet end"
    return words, base, null


def _pointer_value(
    words: str,
    base: str | None,
    null: bool,
    args: Mapping[str, str],
    acquired: Mapping[int, int] | None,
) -> Value:
    """The pointer's words with its offsets, whether it may be NULL, and its reference."""
    off = _int(args.get("off", ""))
    if off:
        words += f", offset {off}"
    rng = _range(args)
    if rng and base != "scalar":
        words += f", variable offset {rng}"
    parts = [words]
    if null:
        parts.append("may be NULL (compare it with NULL before using it)")
    ref = _int(args.get("ref_obj_id", ""))
    if ref:
        parts.append(_reference(ref, acquired))
    return Value(" — ".join(parts), ref or None, null)


def _reference(ref: int, acquired: Mapping[int, int] | None) -> str:
    line = (acquired or {}).get(ref)
    where = f" (acquired line {line})" if line else ""
    return f"holds reference #{ref}{where}"


def _dynptr(head: str, args: Mapping[str, str], acquired: Mapping[int, int] | None) -> str:
    kind = head[len("dynptr_") :]
    words = f"dynptr {_DYNPTR_KINDS.get(kind, kind)}"
    ref = _int(args.get("ref_id", ""))
    if ref:
        words += " — " + _reference(ref, acquired)
    return words


def _stack_pointer(text: str) -> str:
    m = re.fullmatch(r"fp(-?\d+)", text)
    if m is not None:
        off = int(m.group(1))
        return "frame pointer (r10)" if off == 0 else f"pointer to the stack at fp{off}"
    m2 = _ARGS.fullmatch(text)
    args = _args(m2.group("args") or "") if m2 else {}
    where = args.get("off", "?")
    rng = _range(args)
    return f"pointer to the stack at fp{where}" + (f", variable offset {rng}" if rng else "")


def _stack_bytes(text: str) -> str:
    """`0000????`: one char per byte, the first for the highest address (fp-1 of the slot)."""
    runs: list[tuple[str, int]] = []
    for c in text:
        if runs and runs[-1][0] == c:
            runs[-1] = (c, runs[-1][1] + 1)
        else:
            runs.append((c, 1))
    if len(runs) == 1:
        return f"8 bytes, {_SLOT_CHARS.get(runs[0][0], runs[0][0])}"
    # Listed from the lowest address up, as C code lays them out.
    parts = [f"{n} {_SLOT_CHARS.get(c, c)}" for c, n in reversed(runs)]
    return "bytes from the lowest address: " + ", ".join(parts)


# --- replaying a log ----------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """The state on entry to one visit of a source line."""

    insn: int
    frame: int
    entries: tuple[tuple[str, str], ...]  # (R0 / fp-8, printed value), live ones only
    refs: tuple[int, ...]


@dataclass
class StateTrace:
    """Every visit of every source line in one program's level-2 log."""

    visits: dict[tuple[str, int], list[Snapshot]] = field(default_factory=dict)
    acquired: dict[int, tuple[str, int]] = field(default_factory=dict)  # ref id → (file, line)
    live: dict[int, frozenset[int]] = field(default_factory=dict)  # insn → live registers

    def at(self, file: str, line: int) -> list[Snapshot]:
        """Visits of `file:line`; files compare by base name (the kernel prints BTF's name)."""
        base = os.path.basename(file)
        out: list[Snapshot] = []
        for (f, ln), snaps in self.visits.items():
            if ln == line and os.path.basename(f) == base:
                out.extend(snaps)
        return out

    def lines_acquired(self, file: str) -> dict[int, int]:
        base = os.path.basename(file)
        return {ref: ln for ref, (f, ln) in self.acquired.items() if os.path.basename(f) == base}


def parse_state(state: str) -> tuple[int | None, dict[str, str], tuple[int, ...] | None]:
    """`frame1: R1=ctx() fp-8=mmmmmmmm refs=2,4` → (1, {R1: ctx(), fp-8: ...}, (2, 4)); the
    frame and the refs are None when the state does not print them."""
    frame: int | None = None
    fm = _FRAME.match(state.strip())
    if fm is not None:
        frame = int(fm.group(1))
    refs: tuple[int, ...] | None = None
    rm = _REFS.search(state)
    if rm is not None:
        refs = tuple(int(r) for r in rm.group(1).split(",") if r)
        state = state[: rm.start()]
    matches = list(_ENTRY.finditer(state))
    entries: dict[str, str] = {}
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(state)
        name = m.group(1)
        if name.startswith("fp") and not name.startswith("fp-"):
            name = "fp-" + name[2:]
        entries[name] = state[m.end() : end].strip()
    return frame, entries, refs


def _entries(state: str) -> tuple[int | None, dict[str, str], tuple[int, ...]]:
    frame, entries, refs = parse_state(state)
    return frame, entries, refs or ()


class _Replay:
    def __init__(self) -> None:
        self.trace = StateTrace()
        self.frames: dict[int, dict[str, str]] = {0: {}}
        self.frame = 0
        self.refs: tuple[int, ...] = ()
        self.where: tuple[str, int] | None = None  # the source line in effect
        self.visiting: tuple[str, int] | None = None  # the line the last instruction was on

    def apply(self, state: str, *, full: bool) -> None:
        frame, entries, refs = _entries(state)
        # The kernel prefixes `frameN:` to any frame but the outermost.
        self.frame = frame or 0
        regs = self.frames.setdefault(self.frame, {})
        if full:
            regs.clear()
        regs.update(entries)
        released = set(self.refs) - set(refs)
        if released:
            # Releasing a reference invalidates every copy of it, printed or not.
            for frame_regs in self.frames.values():
                for name in [n for n, v in frame_regs.items() if _ref_of(v) in released]:
                    del frame_regs[name]
        for ref in refs:
            if ref not in self.refs and ref not in self.trace.acquired and self.where:
                self.trace.acquired[ref] = self.where
        self.refs = refs

    def insn(self, insn: int, opcode: str, asm: str, state: str | None) -> None:
        if self.where is not None and self.where != self.visiting:
            self.snapshot(insn)
        self.visiting = self.where
        if opcode == "85" and "pc+" not in asm:
            # Helpers and kfuncs clobber r1-r5; the printed delta only shows r0.
            regs = self.frames.setdefault(self.frame, {})
            for r in CALLER_SAVED:
                regs.pop(r, None)
        if state is not None:
            self.apply(state, full=False)

    def snapshot(self, insn: int) -> None:
        assert self.where is not None
        live = self.trace.live.get(insn)
        regs = self.frames.get(self.frame, {})
        entries = tuple(
            (name, value)
            for name, value in sorted(regs.items(), key=_entry_order)
            if name != "R10" and (live is None or not name.startswith("R") or int(name[1:]) in live)
        )
        self.trace.visits.setdefault(self.where, []).append(
            Snapshot(insn, self.frame, entries, self.refs)
        )


_REF_ARG = re.compile(r"\b(?:ref_obj_id|ref_id)=(\d+)")


def _ref_of(value: str) -> int | None:
    m = _REF_ARG.search(value)
    return int(m.group(1)) if m else None


def _entry_order(item: tuple[str, str]) -> tuple[int, int]:
    name = item[0]
    if name.startswith("R"):
        return (0, int(name[1:]))
    return (1, -int(name[2:]))


def trace_states(
    log_text: str, line_of: Callable[[int], tuple[str, int] | None] | None = None
) -> StateTrace:
    """Replay a level-2 (or level-1: fewer states) verifier log. Never raises. `line_of`
    gives an instruction's source (file, line) when the log's notes do not (before 6.3 they
    print the source text without ` @ file:line`)."""
    r = _Replay()
    dump_header = False
    notes_say_where = False
    for line in log_body(log_text):
        if not line.strip():
            r.visiting = None  # a blank line separates paths: the next visit is a new one
            continue
        if line[:1].isspace():
            if (m := _LIVE_ROW.match(line)) is not None:
                r.trace.live[int(m.group(1))] = frozenset(int(c) for c in m.group(2) if c.isdigit())
            elif dump_header:
                r.apply(line.strip(), full=True)
            continue
        dump_header = _DUMP_HEADER.fullmatch(line.strip()) is not None
        if (m := _INSN.fullmatch(line)) is not None:
            insn = int(m.group(1))
            if line_of is not None and not notes_say_where:
                r.where = line_of(insn) or r.where
            asm, sep, state = m.group(3).partition(" ;")
            r.insn(insn, m.group(2), asm, state.strip() if sep else None)
        elif (m := _NOTE.fullmatch(line)) is not None:
            notes_say_where = True
            r.where = (m.group(2), int(m.group(3)))
        elif (m := _FROM.fullmatch(line)) is not None:
            r.visiting = None
            r.apply(m.group(2), full=True)
        elif (m := _STATE.fullmatch(line)) is not None:
            r.apply(m.group(2), full=False)
    return r.trace


# --- a line's states in words -------------------------------------------------------------


def describe_snapshot(snap: Snapshot, acquired: Mapping[int, int]) -> list[str]:
    """One bullet per live register and written stack slot, then the references held."""
    out: list[str] = []
    for name, value in snap.entries:
        label = name.lower() if name.startswith("R") else name
        out.append(f"`{label}`: {decode_value(value, acquired).words}")
    if snap.refs:
        held = ", ".join(
            f"#{r}" + (f" (line {acquired[r]})" if r in acquired else "") for r in snap.refs
        )
        out.append(f"references held: {held}")
    return out


def describe_line(
    trace: StateTrace, file: str, line: int, *, limit: int = 3
) -> tuple[list[list[str]], int, int] | None:
    """The distinct states on entry to `file:line`: up to `limit` of them as bullet lists, how
    many more there are, and how many times the verifier walked the line. None if never."""
    snaps = trace.at(file, line)
    if not snaps:
        return None
    acquired = trace.lines_acquired(file)
    distinct: list[list[str]] = []
    for snap in snaps:
        words = describe_snapshot(snap, acquired)
        if words not in distinct:
            distinct.append(words)
    return distinct[:limit], max(0, len(distinct) - limit), len(snaps)
