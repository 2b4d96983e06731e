"""Each target kernel's verdict on an object, and the findings of all kernels merged.

A finding every kernel reports is shown once, naming all of them; one that only some kernels
report names those and says which kernels do not, so a developer sees at a glance whether a
rejection is about the code or about the kernels they ship to.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from kptr_lsp.checks import Culprit, culprits, run_checks
from kptr_lsp.findings import Finding, FixPoint, Location, PathEvent, Related, Severity, Source
from kptr_lsp.model import ObjectModel
from kptr_lsp.settings import GuestKernel
from kptr_lsp.targets.kernels import TargetError, ready
from kptr_lsp.targets.vm import VMError
from kptr_lsp.verify.cache import cached_object
from kptr_lsp.verify.externs import around_missing_kfuncs
from kptr_lsp.verify.kernel_block import (
    block_explanation,
    headline_of,
    shared_explanation,
    shared_message,
)
from kptr_lsp.verify.loader import ObjectResult, ProgramResult
from kptr_lsp.verify.placement import object_findings
from kptr_lsp.verify.setup import DataPatch, with_patches

TARGET_NOT_VERIFIED = "target-kernel"  # a target could not be booted or asked


@dataclass(frozen=True)
class KernelVerdict:
    """How one kernel judged the object: its programs' loads, or why it could not."""

    label: str
    release: str
    programs: tuple[ProgramResult, ...] = ()
    error: str | None = None
    running: bool = False  # the kernel this process runs on


@dataclass(frozen=True)
class TargetJudgement:
    verdict: KernelVerdict
    findings: tuple[Finding, ...]  # load-time and type-tag findings from this kernel
    blame: tuple[Culprit, ...] = ()  # badly declared fields, by this kernel's rules


def judge(
    kernel: GuestKernel,
    ctx: ObjectModel,
    *,
    log_level: int,
    patches: tuple[DataPatch, ...] = (),
) -> TargetJudgement:
    """Verify the object in `kernel`'s VM and run the type-tag checks by its BTF. `patches`
    (rodataOverrides) are written into the object sent; a program whose load the guest judged
    before, unchanged, is not sent again (verify/cache.py)."""
    try:
        target = ready(kernel)
        vm = target.vm
        data = with_patches(ctx.data, patches)

        def load() -> ObjectResult:
            # A kfunc this kernel lacks fails only the programs that call it, as in the
            # running kernel (verify/externs.py); the guest loads every program each round.
            return around_missing_kfuncs(
                data,
                vm.verify(data, log_level=log_level),
                lambda weakened, _one: vm.verify(weakened, log_level=log_level),
            )

        identity = ("guest", str(vm.image), target.release, log_level, patches)
        result = cached_object(ctx.obj, ctx.ext, load, settings=identity)
    except (TargetError, VMError) as exc:
        why = str(exc)
        finding = Finding(
            Location(ctx.path, 1),
            Severity.INFORMATION,
            Source.VERIFIER,
            f"Not verified on target kernel {kernel.label()}: {why}",
            code=TARGET_NOT_VERIFIED,
        )
        return TargetJudgement(KernelVerdict(kernel.label(), "", error=why), (finding,))
    found: list[Finding] = []
    blame: list[Culprit] = []
    checks = ctx.checks_context_for(target.checks)
    if checks is not None:
        found.extend(run_checks(checks))
        blame = culprits(checks)
    found.extend(object_findings(ctx, result))
    verdict = KernelVerdict(target.label, target.release, result.programs)
    return TargetJudgement(verdict, tuple(found), tuple(blame))


def _key(f: Finding) -> tuple[object, ...]:
    # A kernel's own explanation block (7.3+) is extra text, not a different verdict: kernels
    # that reject the same program on the same line with the same classic words agree.
    return (f.location, f.severity, f.source, f.code, shared_message(f))


def merge(groups: Sequence[tuple[str, Sequence[Finding]]]) -> list[Finding]:
    """Findings of several kernels, (label, findings) each, as one list naming the kernels."""
    labels = [label for label, _ in groups]
    seen: dict[tuple[object, ...], list[tuple[str, Finding]]] = {}
    for label, findings in groups:
        for f in findings:
            entry = seen.setdefault(_key(f), [])
            if all(label != by for by, _ in entry):
                entry.append((label, f))
    out: list[Finding] = []
    for entry in seen.values():
        first = entry[0][1]
        if first.code == TARGET_NOT_VERIFIED:
            out.append(first)  # already names its kernel
            continue
        by = [label for label, _ in entry]
        merged = _with_blocks(entry) if any(f.category for _, f in entry) else first
        message = f"[{', '.join(by)}] {merged.message}"
        others = [label for label in labels if label not in by]
        if others:
            message += f"\nNot reported by {', '.join(others)}."
        out.append(dataclasses.replace(merged, message=message))
    return out


def _block_of(f: Finding) -> tuple[object, ...]:
    return (
        f.category,
        f.problem,
        f.reason,
        f.suggestion,
        [(e.label, e.text) for e in f.causal_path],
    )


def _path_related(steps: Sequence[PathEvent | FixPoint]) -> list[Related]:
    return [step.related() for step in steps]


def _with_blocks(entry: Sequence[tuple[str, Finding]]) -> Finding:
    """One finding of kernels that agree, some of which explained it in their own block:
    the shared words once, each kernel's block text attributed to it (unless all said the
    same), its causal path as related information."""
    with_block = [(label, f) for label, f in entry if f.category]
    label0, first = with_block[0]
    unanimous = len(with_block) == len(entry) and all(
        _block_of(f) == _block_of(first) for _, f in with_block
    )
    speakers = [(label0, first)] if unanimous else with_block

    def tag(label: str, text: str) -> str:
        return text if unanimous else f"[{label}] {text}"

    lines = first.message.split("\n")
    headline = headline_of(first)
    at = next((i for i, line in enumerate(lines) if i > 0 and line == headline), len(lines))
    # One headline line per distinct headline, naming every kernel it stands for (a kernel's
    # own block and kptr-lsp's reading of another kernel's log use the same category names).
    by_headline: dict[str, list[str]] = {}
    for label, f in speakers:
        by_headline.setdefault(headline_of(f) or "", []).append(label)
    said = [
        text if unanimous else f"[{', '.join(labels)}] {text}"
        for text, labels in by_headline.items()
    ]
    message = "\n".join([*lines[:at], *said, *lines[at + 1 :]])

    ours = next((e for _, f in entry if (e := shared_explanation(f)) is not None), None)
    own = [
        "\n".join(
            tag(label, part)
            for part in block_explanation(f.reason, f.suggestion, f.explained_by).split("\n")
        )
        for label, f in speakers
    ]
    explanation = "\n\n".join(t for t in (*dict.fromkeys(own), ours) if t) or None

    path_related = {
        r for _, f in entry for r in (*_path_related(f.causal_path), *_path_related(f.fix_points))
    }
    related = [r for _, f in entry for r in f.related if r not in path_related]
    for label, f in speakers:
        for r in (*_path_related(f.causal_path), *_path_related(f.fix_points)):
            related.append(r if unanimous else Related(r.location, tag(label, r.message)))
    return dataclasses.replace(
        first,
        message=message,
        explanation=explanation,
        related=tuple(dict.fromkeys(related)),
    )
