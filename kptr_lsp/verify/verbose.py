"""Level-2 verifier logs of one analysed object, taken on first use and kept.

A level-2 log prints the state at every instruction: the material of the state hover. Taking
one on every save would double the verification work, so each program's is taken only when
someone asks for it (a hover), once per analysis; concurrent askers wait for the same load.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .cost import ProgramCost, line_costs
from .loader import verify_object
from .setup import DataPatch, with_patches
from .states import StateTrace, trace_states

if TYPE_CHECKING:
    from ..targets.vm import TargetVM


@dataclass
class VerboseLogs:
    """Per-analysis cache: program name → replayed level-2 log. Loads the object exactly as
    the analysis did (same global-data patches, same map memory cap)."""

    data: bytes
    name: str = "obj"
    patches: tuple[DataPatch, ...] = ()
    map_memory_cap: int | None = None
    _traces: dict[str, StateTrace] = field(default_factory=dict)
    # Per-line cost (verify/cost.py), counted from the same log as soon as it is taken.
    _costs: dict[str, ProgramCost] = field(default_factory=dict)
    _logs: dict[str, str | None] = field(default_factory=dict)  # kept until traced
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # The level-2 logs of the analysis this one is compared with (the previous save): Δ per line
    baseline: VerboseLogs | None = field(default=None, repr=False)
    source: str = field(default="", repr=False)  # the text compiled (matches lines across edits)
    # A guest kernel's VM (guestVerify) that judged the programs `guest_programs` (every
    # program when empty): their level-2 logs come from it (it loads every program each time).
    guest: TargetVM | None = field(default=None, repr=False)
    guest_programs: frozenset[str] = frozenset()

    def _in_guest(self, program: str) -> bool:
        return self.guest is not None and (
            not self.guest_programs or program in self.guest_programs
        )

    def _log(self, program: str) -> str | None:
        """The program's level-2 log, loading it the first time (call with the lock held)."""
        if program not in self._logs and self.guest is not None and self._in_guest(program):
            from ..targets.vm import VMError  # targets/ imports the verifier

            try:
                sent = with_patches(self.data, self.patches)  # its loader takes no patches
                found = self.guest.verify(sent, log_level=2).programs
            except VMError:
                found = ()
            for p in found:
                if self._in_guest(p.name) and p.name not in self._logs:
                    self._logs[p.name] = p.log
                    self._costs[p.name] = line_costs(p.log)
            self._logs.setdefault(program, None)
        if program not in self._logs:
            result = verify_object(
                self.data,
                log_level=2,
                programs=[program],
                name=self.name,
                patches=self.patches,
                map_memory_cap=self.map_memory_cap,
            )
            log = result.programs[0].log if result.programs else None
            self._logs[program] = log
            if log is not None:
                self._costs[program] = line_costs(log)
        return self._logs[program]

    def trace(
        self, program: str, line_of: Callable[[int], tuple[str, int] | None] | None = None
    ) -> StateTrace | None:
        """The program's states, loading it at log level 2 the first time. None when the
        program could not be loaded at all. `line_of`: an instruction's source line, for a
        kernel whose log does not say it (verify/states.py)."""
        with self._lock:
            if program not in self._traces:
                log = self._log(program)
                if log is None:
                    return None
                self._traces[program] = trace_states(log, line_of)
                self._logs[program] = ""  # traced and counted: the text is not needed again
            return self._traces[program]

    def cost(
        self, program: str, *, load: bool = True, sample: str | None = None
    ) -> ProgramCost | None:
        """Instructions processed per line, from the same level-2 log as the states; with
        `load=False` only when that log was already taken. `sample` is counted instead of a
        level-2 log: the analysis's own log of a walk that hit a verifier limit (a level-2
        walk to that limit costs as much again, and its log is cut just the same)."""
        with self._lock:
            if sample is not None and program not in self._costs:
                self._costs[program] = line_costs(sample)
            elif load:
                self._log(program)
            return self._costs.get(program)

    def keep_counts_only(self) -> None:
        """Drop the logs' text, keeping what was counted from it: for the analysis of an
        earlier save, which only a Δ per line still reads (a level-2 log can be megabytes)."""
        with self._lock:
            for program in [p for p, log in self._logs.items() if log]:
                del self._logs[program]
            self.baseline = None

    def taken(self) -> tuple[str, ...]:
        """The programs whose level-2 log has been taken (for tests and benchmarks)."""
        with self._lock:
            return tuple(p for p, log in self._logs.items() if log is not None)
