"""A quick fix is offered only once the kernel has accepted what it produces.

`prove()` applies the fix's edits in memory, compiles the result and loads it into the real
verifier through the same pipeline as the buffer itself (so the per-program verifier cache,
verify/cache.py, answers for the programs the fix did not touch); the running kernel is the
judge — or, for what the host will not load, the session's guest kernel (`guestVerify`) that
judged the buffer; target kernels (`kernels`) are not asked. The fix holds when the
programs the finding was about load (or, when another error follows, the finding's own error
is gone) and clang has nothing new to say. Proofs are kept by (file, fixed text, settings):
the editor asks again for the same fixes at every cursor move.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass

from ..analysis import Analysis
from ..findings import Finding, Severity, Source
from ..pipeline import analyse
from ..settings import GuestKernel, Settings
from .fixes import Fix, apply_edits

_KEEP = 64


@dataclass(frozen=True)
class Proof:
    holds: bool  # offer the fix
    detail: str  # what the kernel said about the fixed program, in a sentence


def _first(message: str) -> str:
    return message.split("\n", 1)[0].strip()


def judge(before: Finding, after: Analysis) -> Proof:
    """Whether `after` (the fixed buffer, analysed) no longer has `before`'s rejection."""
    clang = [f for f in after.findings if f.source is Source.CLANG and f.severity is Severity.ERROR]
    if clang:
        return Proof(False, f"the fixed program does not compile: {_first(clang[0].message)}")
    if not after.verified:
        return Proof(False, f"the fixed program was not verified: {after.not_verified_reason}")
    wanted = set(before.programs)
    errors = [
        f
        for f in after.findings
        if f.source is Source.VERIFIER
        and f.severity is Severity.ERROR
        and (not wanted or not f.programs or wanted & set(f.programs))
    ]
    if not errors:
        return Proof(True, "the kernel accepts the fixed program")
    if all(_first(f.message) != _first(before.message) for f in errors):
        return Proof(True, f"the kernel no longer reports this; next: {_first(errors[0].message)}")
    return Proof(False, f"the kernel still rejects the fixed program: {_first(errors[0].message)}")


class _Proofs:
    def __init__(self) -> None:
        self._done: OrderedDict[str, Proof] = OrderedDict()
        self._lock = threading.Lock()
        self._running: dict[str, threading.Lock] = {}

    @staticmethod
    def key(
        analysis: Analysis,
        fix: Fix,
        settings: Settings,
        root: str | None,
        guest: GuestKernel | None = None,
    ) -> str:
        fixed = apply_edits(analysis.text, fix.edits)
        judge_by = guest.label() if guest is not None else None
        parts = (
            os.path.abspath(analysis.path), fixed, repr(settings), root, fix.finding.message,
            judge_by,
        )  # fmt: skip
        return hashlib.sha256(repr(parts).encode()).hexdigest()

    def known(self, key: str) -> Proof | None:
        with self._lock:
            return self._done.get(key)

    def prove(
        self,
        analysis: Analysis,
        fix: Fix,
        settings: Settings,
        root: str | None = None,
        guest: GuestKernel | None = None,
    ) -> Proof:
        key = self.key(analysis, fix, settings, root, guest)
        with self._lock:  # one proof per fix at a time: a resolve waits for the one under way
            running = self._running.setdefault(key, threading.Lock())
        with running:
            hit = self.known(key)
            if hit is not None:
                return hit
            fixed = apply_edits(analysis.text, fix.edits)
            # The running kernel is the judge: target kernels in guests would boot for each fix.
            host_only = dataclasses.replace(settings, kernels=())
            after = analyse(analysis.path, fixed, host_only, workspace_root=root, guest=guest)
            proof = judge(fix.finding, after)
            with self._lock:
                self._done[key] = proof
                self._running.pop(key, None)
                while len(self._done) > _KEEP:
                    self._done.popitem(last=False)
        return proof


PROOFS = _Proofs()


def prove(
    analysis: Analysis,
    fix: Fix,
    settings: Settings,
    root: str | None = None,
    guest: GuestKernel | None = None,
) -> Proof:
    """Apply `fix` in memory, compile, load into the kernel (or the guest kernel, for what
    the host will not load): does the rejection go away?"""
    return PROOFS.prove(analysis, fix, settings, root, guest)


def known(
    analysis: Analysis,
    fix: Fix,
    settings: Settings,
    root: str | None = None,
    guest: GuestKernel | None = None,
) -> Proof | None:
    """The proof of `fix` if it was already taken (no compile, no load)."""
    return PROOFS.known(PROOFS.key(analysis, fix, settings, root, guest))
