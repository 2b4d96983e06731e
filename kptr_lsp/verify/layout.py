"""Map instruction numbers of a loaded program back to the ELF functions they came from.

libbpf loads a program as its own instructions followed by every subprogram it calls, appended
in the order libbpf meets the calls. The verifier numbers instructions in that loaded layout.
When the kernel got the program's line info it prints source notes and this is not needed; when
it did not (the kernel rejected the object's BTF), the instruction number is all there is, and
the object's own .BTF.ext line info is indexed by (ELF section, instruction in section).

The final instructions (libbpf's `bpf_program__insns`) are matched against each function's ELF
instructions by opcode byte: relocations rewrite immediates and registers of map, call and
CO-RE instructions but keep opcodes, so an opcode run identifies the function.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..btf.ext import BTFExt, line_for
from ..elf.objfile import Function

INSN_SIZE = 8
# libbpf may poison an instruction whose CO-RE relocation failed (it becomes a call), so a
# placement tolerates a few differing opcodes.
_MIN_MATCH = 0.9


@dataclass(frozen=True)
class Placement:
    function: Function
    start: int  # first instruction of the function in the loaded program


def _opcodes(insns: bytes) -> bytes:
    return insns[::INSN_SIZE]


def _similarity(a: bytes, b: bytes) -> float:
    if not a:
        return 0.0
    same = sum(1 for x, y in zip(a, b, strict=False) if x == y)
    return same / len(a)


def loaded_layout(
    program: Function, functions: Sequence[Function], final_insns: bytes
) -> list[Placement]:
    """Where each function sits in the loaded program. The program itself is first."""
    final = _opcodes(final_insns)
    placements = [Placement(program, 0)]
    pos = program.count
    placed = {(program.section, program.start)}
    while pos < len(final):
        best: tuple[float, int, Function] | None = None
        for fn in functions:
            if (fn.section, fn.start) in placed or fn.count == 0 or pos + fn.count > len(final):
                continue
            score = _similarity(_opcodes(fn.insns), final[pos : pos + fn.count])
            if score >= _MIN_MATCH and (best is None or (score, fn.count) > best[:2]):
                best = (score, fn.count, fn)
        if best is None:
            break
        fn = best[2]
        placements.append(Placement(fn, pos))
        placed.add((fn.section, fn.start))
        pos += fn.count
    return placements


def locate(placements: Sequence[Placement], insn: int) -> tuple[Function, int] | None:
    """The ELF function and the instruction index within its section for a loaded insn."""
    for p in placements:
        if p.start <= insn < p.start + p.function.count:
            return p.function, p.function.start + (insn - p.start)
    return None


def insn_lines(
    program: Function, functions: Sequence[Function], ext: BTFExt | None, final_insns: bytes
) -> Callable[[int], tuple[str, int] | None]:
    """(file, line) of each loaded instruction by the object's line info, through the loaded
    layout: for the logs of kernels before 6.3, whose source notes name no file and line."""
    placements = loaded_layout(program, functions, final_insns)

    def line_of(insn: int) -> tuple[str, int] | None:
        hit = locate(placements, insn)
        if hit is None or ext is None:
            return None
        owner, insn_off = hit
        li = line_for(ext.line_info.get(owner.section, []), insn_off)
        return (li.file, li.line) if li is not None else None

    return line_of
