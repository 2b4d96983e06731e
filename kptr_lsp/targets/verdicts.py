"""Each target kernel's verdict on an object, and the findings of all kernels merged.

A finding every kernel reports is shown once, naming all of them; one that only some kernels
report names those and says which kernels do not, so a developer sees at a glance whether a
rejection is about the code or about the kernels they ship to.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from kptr_lsp.btf.spec import Spec
from kptr_lsp.checks import Culprit, culprits, run_checks
from kptr_lsp.findings import Finding, Location, Severity, Source
from kptr_lsp.settings import TargetKernel
from kptr_lsp.targets.kernels import TargetError, ready
from kptr_lsp.targets.vm import VMError
from kptr_lsp.verify.loader import ProgramResult
from kptr_lsp.verify.placement import ObjectContext, object_findings

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
    kernel: TargetKernel,
    ctx: ObjectContext,
    spec: Spec | None,
    *,
    log_level: int,
) -> TargetJudgement:
    """Verify the object in `kernel`'s VM and run the type-tag checks by its BTF."""
    try:
        target = ready(kernel)
        result = target.vm.verify(ctx.data, log_level=log_level)
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
    if spec is not None:
        args = (ctx.obj, spec, ctx.decls, target.checks, ctx.path)
        found.extend(run_checks(*args))
        blame = culprits(*args)
    found.extend(object_findings(ctx, result))
    verdict = KernelVerdict(target.label, target.release, result.programs)
    return TargetJudgement(verdict, tuple(found), tuple(blame))


def _key(f: Finding) -> tuple[object, ...]:
    return (f.location, f.severity, f.source, f.code, f.message)


def merge(groups: Sequence[tuple[str, Sequence[Finding]]]) -> list[Finding]:
    """Findings of several kernels, (label, findings) each, as one list naming the kernels."""
    labels = [label for label, _ in groups]
    seen: dict[tuple[object, ...], tuple[Finding, list[str]]] = {}
    for label, findings in groups:
        for f in findings:
            entry = seen.setdefault(_key(f), (f, []))
            if label not in entry[1]:
                entry[1].append(label)
    out: list[Finding] = []
    for f, by in seen.values():
        if f.code == TARGET_NOT_VERIFIED:
            out.append(f)  # already names its kernel
            continue
        message = f"[{', '.join(by)}] {f.message}"
        others = [label for label in labels if label not in by]
        if others:
            message += f"\nNot reported by {', '.join(others)}."
        out.append(dataclasses.replace(f, message=message))
    return out
