"""Level-2 verifier logs of one analysed object, taken on first use and kept.

A level-2 log prints the state at every instruction: the material of the state hover. Taking
one on every save would double the verification work, so each program's is taken only when
someone asks for it (a hover), once per analysis; concurrent askers wait for the same load.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from .loader import verify_object
from .setup import DataPatch
from .states import StateTrace, trace_states


@dataclass
class VerboseLogs:
    """Per-analysis cache: program name → replayed level-2 log. Loads the object exactly as
    the analysis did (same global-data patches, same map memory cap)."""

    data: bytes
    name: str = "obj"
    patches: tuple[DataPatch, ...] = ()
    map_memory_cap: int | None = None
    _traces: dict[str, StateTrace] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def trace(self, program: str) -> StateTrace | None:
        """The program's states, loading it at log level 2 the first time. None when the
        program could not be loaded at all."""
        with self._lock:
            if program not in self._traces:
                result = verify_object(
                    self.data,
                    log_level=2,
                    programs=[program],
                    name=self.name,
                    patches=self.patches,
                    map_memory_cap=self.map_memory_cap,
                )
                if not result.programs:
                    return None
                self._traces[program] = trace_states(result.programs[0].log)
            return self._traces[program]

    def taken(self) -> tuple[str, ...]:
        """The programs whose level-2 log has been taken (for tests and benchmarks)."""
        with self._lock:
            return tuple(self._traces)
