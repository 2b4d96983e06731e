"""The analysed model of one buffer: what `pipeline.analyse` found, as plain data; the
object it read is `model.ObjectModel`.

Features (hover, lenses, outline, fixes) are functions of an `Analysis`; nothing here knows
of LSP.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .checks.type_tags import Context
from .elf.objfile import Function
from .findings import Finding, Severity
from .model import ObjectModel
from .targets.verdicts import KernelVerdict
from .toolchain.compile import CompileResult
from .verify.loader import Failure, ProgramResult
from .verify.rodata import RodataValue
from .verify.verbose import VerboseLogs


@dataclass(frozen=True)
class Analysis:
    path: str
    text: str  # the buffer text analysed
    findings: tuple[Finding, ...]
    programs: tuple[ProgramResult, ...] = ()
    compile: CompileResult | None = None
    model: ObjectModel | None = None
    verified: bool = False  # programs went through the kernel verifier
    not_verified_reason: str | None = None
    # The reason is about this file (it needs linking, libbpf cannot open it), not the machine.
    not_verified_file: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    # `const volatile` globals and the value each had during verification (hover/lens notes)
    rodata: tuple[RodataValue, ...] = ()
    # Level-2 logs taken on demand (state hover); None when the kernel is not ours to load into
    verbose: VerboseLogs | None = field(default=None, compare=False, repr=False)
    # With target kernels configured: every kernel's verdict, the running kernel's first
    kernels: tuple[KernelVerdict, ...] = ()
    # guestVerify (targets/guest.py): the guest kernel that judged `guest_programs` (all of
    # them when the host refused bpf(): `host_refused` says why), or that verification wants
    # a guest that is not up yet (`wants_guest`: the caller boots it and analyses again).
    guest_label: str | None = None
    guest_programs: tuple[str, ...] = ()
    host_refused: str | None = None
    wants_guest: bool = False

    @property
    def rejected(self) -> bool:
        return any(f.severity is Severity.ERROR for f in self.findings)

    @property
    def checks_context(self) -> Context | None:
        """The type-tag checks' view of the object (kept by the model: the checks built it,
        hovers and fixes read the same one)."""
        return self.model.checks_context if self.model is not None else None

    def programs_on_line(self, line: int) -> list[str]:
        """Programs whose code is on `line`; for a line of a shared subprogram, every program
        that reached the verifier (any of them may call it)."""
        model = self.model
        if model is None:
            return []
        loaded = [p.name for p in self.programs if p.failure in (Failure.NONE, Failure.VERIFIER)]
        direct = [fn.name for fn in model.obj.programs if line in self._lines_of(fn)]
        if direct:
            return [name for name in direct if name in loaded]
        subprogs = [fn for fn in model.obj.functions if not fn.is_program]
        if any(line in self._lines_of(fn) for fn in subprogs):
            return loaded
        return []

    def _lines_of(self, fn: Function) -> set[int]:
        """Lines of the main file that the function's own instructions come from."""
        model = self.model
        if model is None or model.ext is None:
            return set()
        base = os.path.basename(self.path)
        return {
            li.line
            for li in model.ext.line_info.get(fn.section, [])
            if fn.start <= li.insn_off < fn.start + fn.count and os.path.basename(li.file) == base
        }
