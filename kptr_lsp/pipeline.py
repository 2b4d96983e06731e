"""One analysis of one buffer: compile → read the object → checks → verify → place findings.

Knows nothing of LSP. The server and the `check` command both call `analyse`; the server
adds scheduling (debounce, superseding stale runs) on top.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .analysis import Analysis
from .btf.errors import BTFError
from .btf.ext import BTFExt, parse_ext
from .btf.spec import Spec
from .checks import (
    BTF_REJECTED,
    FIELD_IGNORED,
    MAP_WITHOUT_BTF,
    Culprit,
    culprits,
    run_checks,
)
from .elf.decls import read_declarations
from .elf.objfile import ObjectError, ObjectFile
from .elf.rodata import read_const_globals
from .findings import Finding, Location, Severity, Source
from .kernel.facts import KernelFacts, running_kernel
from .kernel.running import release as running_release
from .model import ObjectModel
from .settings import GuestKernel, Settings
from .targets.guest import GuestVerdict, host_refused, said_instead, verify_in_guest
from .targets.kernels import label_of
from .targets.verdicts import KernelVerdict, judge, merge
from .toolchain.clang import ToolchainError
from .toolchain.compile import CompileOptions, compile_buffer
from .verify.cache import verify_cached
from .verify.externs import link_extern_findings, link_externs, link_reason
from .verify.helper import MAX_JOBS, HelperError, VerifyRequest, verify_via_helper
from .verify.loader import ObjectResult, ProgramResult, bpf_available
from .verify.map_memory import MIB
from .verify.placement import object_findings, sorted_findings
from .verify.rodata import RodataValue, plan_rodata
from .verify.setup import DataPatch
from .verify.verbose import VerboseLogs

if TYPE_CHECKING:
    from .targets.vm import TargetVM


def compile_options(settings: Settings, workspace_root: str | None) -> CompileOptions:
    return CompileOptions(
        clang=settings.clang,
        extra_flags=settings.extra_flags,
        include_dirs=settings.include_dirs,
        kernel_btf=settings.kernel_btf,
        timeout_s=settings.compile_timeout_s,
        workspace_root=workspace_root,
        use_compile_commands=settings.use_compile_commands,
        compile_commands=settings.compile_commands,
        use_pch=settings.precompiled_header,
        trim_vmlinux=settings.trim_vmlinux,
    )


def _object_error(path: str, what: str, exc: Exception) -> Finding:
    return Finding(
        Location(path, 1),
        Severity.ERROR,
        Source.CHECKS,
        f"kptr-lsp could not read the compiled object ({what}): {exc}",
        code="bad-object",
    )


_bpf_state: tuple[bool, str] | None = None
_bpf_lock = threading.Lock()


def kernel_verification_available() -> tuple[bool, str]:
    """Asked once per process: whether bpf() lets us load programs."""
    global _bpf_state
    with _bpf_lock:
        if _bpf_state is None:
            _bpf_state = bpf_available()
        return _bpf_state


def analyse(
    path: str,
    text: str,
    settings: Settings,
    *,
    workspace_root: str | None = None,
    cancelled: threading.Event | None = None,
    progress: Callable[[int, int], None] | None = None,
    guest: GuestKernel | None = None,
    guest_wanted: bool = False,
) -> Analysis:
    """Analyse one buffer. `cancelled` set by the caller stops a running clang at once and the
    rest before the next stage; `progress(done, total)` hears of each program verified.
    `guest` (booted) verifies what the host will not load (targets/guest.py); without one,
    `guest_wanted` says the caller can boot one: the analysis then says it wants it."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        result = compile_buffer(
            path, text, options=compile_options(settings, workspace_root), cancelled=cancelled
        )
    except ToolchainError as exc:
        finding = Finding(
            Location(path, 1), Severity.ERROR, Source.CLANG, str(exc), code="toolchain"
        )
        return Analysis(path, text, (finding,))
    timings["compile"] = time.perf_counter() - t0
    findings: list[Finding] = list(result.findings)
    partial = functools.partial(Analysis, path, text, compile=result, timings=timings)
    if result.obj is None or (cancelled is not None and cancelled.is_set()):
        return partial(tuple(findings))

    t1 = time.perf_counter()
    try:
        model = read_object(result.obj, settings, findings, path)
    except ObjectError as exc:
        findings.append(_object_error(path, "ELF", exc))
        return partial(tuple(findings))
    timings["object"] = time.perf_counter() - t1

    t_checks = time.perf_counter()
    kernel_from = len(findings)  # findings from here on depend on the kernel
    checked, blame = _checks(model)
    findings.extend(checked)
    timings["checks"] = time.perf_counter() - t_checks

    skip = _not_to_verify(settings, result.obj, model, path)
    if skip is not None:
        why, about_file, said = skip
        findings.extend(said)
        return partial(
            tuple(findings), model=model, not_verified_reason=why, not_verified_file=about_file
        )
    patches, rodata = plan_rodata(
        read_const_globals(result.obj), dict(settings.rodata_overrides), model.decls.variables
    )
    run = _Run(
        text,
        settings,
        cancelled,
        timings,
        partial,
        model,
        findings,
        kernel_from,
        blame,
        patches,
        rodata,
    )
    ok, why = kernel_verification_available()
    if not ok and not settings.verify_helper:
        return _all_in_guest(run, guest, guest_wanted, why)
    if run.stopped():
        return partial(tuple(findings), model=model)
    return _on_this_kernel(run, ok, why, progress, guest, guest_wanted)


@dataclass
class _Run:
    """One analysis past its checks: what the verifying stages read and add to."""

    text: str
    settings: Settings
    cancelled: threading.Event | None
    timings: dict[str, float]
    done: Callable[..., Analysis]  # Analysis(path, text, compile=…, timings=…, **rest)
    model: ObjectModel
    findings: list[Finding]
    kernel_from: int  # findings from here on depend on the kernel
    blame: list[Culprit]
    patches: tuple[DataPatch, ...]  # rodataOverrides, written into every load
    rodata: tuple[RodataValue, ...]  # the values they give, for hovers and lenses

    def stopped(self) -> bool:
        return self.cancelled is not None and self.cancelled.is_set()


def _all_in_guest(run: _Run, guest: GuestKernel | None, guest_wanted: bool, why: str) -> Analysis:
    """The host verifies nothing (bpf() refused, no working helper): every program is verified
    in the booted guest kernel; without one, when the caller can boot one, say they will be."""
    model, findings = run.model, run.findings
    if guest is None:
        if guest_wanted:  # the caller boots one: the verdicts follow when it is up
            why = f"{why}; they will be verified in a guest kernel once it has booted"
        return run.done(
            tuple(findings), model=model, not_verified_reason=why, wants_guest=guest_wanted
        )
    if run.stopped():
        return run.done(tuple(findings), model=model)
    t2 = time.perf_counter()
    judged = verify_in_guest(
        guest,
        model,
        log_level=run.settings.verifier_log_level,
        text=run.text,
        patches=run.patches,
    )
    run.timings["guest"] = time.perf_counter() - t2
    if judged.error is not None:
        why = f"{why}, and the guest kernel could not verify them: {judged.error}"
        return run.done(tuple(findings), model=model, not_verified_reason=why)
    return run.done(
        tuple(sorted_findings([*findings[: run.kernel_from], *judged.findings])),
        programs=judged.programs,
        model=model,
        verified=bool(judged.programs),
        guest_label=judged.label,
        guest_programs=tuple(p.name for p in judged.programs),
        host_refused=why,
        rodata=run.rodata,
        verbose=VerboseLogs(model.data, _object_name(model.path), run.patches, guest=judged.vm),
    )


def _on_this_kernel(
    run: _Run,
    in_process: bool,
    why: str,
    progress: Callable[[int, int], None] | None,
    guest: GuestKernel | None,
    guest_wanted: bool,
) -> Analysis:
    """Verify on the running kernel (in process, or through the helper), then what it refused
    in the guest, then on every configured target kernel."""
    model, settings, data = run.model, run.settings, run.model.data
    patches, rodata = run.patches, run.rodata
    t2 = time.perf_counter()
    try:
        verdict = _verify(
            data,
            settings,
            _object_name(model.path),
            patches,
            in_process=in_process,
            model=model,
            progress=progress,
        )
    except HelperError as exc:
        return _all_in_guest(
            run, guest, guest_wanted, f"{why}, and the verify helper failed: {exc}"
        )
    run.timings["verify"] = time.perf_counter() - t2
    run.findings.extend(relate_to_culprits(object_findings(model, verdict), run.blame, run.text))
    # Programs the host will not load whatever the code (fentry refused with EPERM): the guest's.
    programs, in_guest, wants = verdict.programs, None, False
    refused = host_refused(verdict.programs)
    if refused and guest is not None and not run.stopped():
        programs, in_guest = _refused_in_guest(run, guest, refused, verdict.programs)
    elif refused:
        wants = guest_wanted
    findings = run.findings
    kernels: tuple[KernelVerdict, ...] = ()
    if settings.kernels and not run.stopped():
        t3 = time.perf_counter()
        findings, kernels = _judge_on_targets(
            findings, run.kernel_from, verdict, settings, model, run.text, patches
        )
        run.timings["targets"] = time.perf_counter() - t3
    in_guest_names = tuple(p.name for p in in_guest.programs) if in_guest else ()
    return run.done(
        tuple(sorted_findings(findings)),
        programs=programs,
        kernels=kernels,
        wants_guest=wants,
        guest_label=in_guest.label if in_guest else None,
        guest_programs=in_guest_names,
        model=model,
        verified=_unopened(verdict) is None,  # else no program reached the kernel
        not_verified_reason=_unopened(verdict),
        not_verified_file=_unopened(verdict) is not None,
        rodata=rodata,
        verbose=_verbose_logs(
            data,
            model.path,
            patches,
            settings,
            guest=in_guest.vm if in_guest else None,
            guest_programs=frozenset(in_guest_names),
        )
        if in_process
        else None,
    )


def _refused_in_guest(
    run: _Run,
    guest: GuestKernel,
    refused: Sequence[str],
    programs: tuple[ProgramResult, ...],
) -> tuple[tuple[ProgramResult, ...], GuestVerdict | None]:
    """The programs the host refused whatever their code, verified in the guest: the guest's
    findings replace the host's for them (run.findings updated), and its results theirs."""
    t_guest = time.perf_counter()
    judged = verify_in_guest(
        guest,
        run.model,
        log_level=run.settings.verifier_log_level,
        only=refused,
        text=run.text,
        patches=run.patches,
    )
    in_guest = None
    if judged.error is None:
        host_found = run.findings[run.kernel_from :]
        run.findings[run.kernel_from :] = said_instead(host_found, judged, running_release())
        by_name = {p.name: p for p in judged.programs}
        programs = tuple(by_name.get(p.name, p) for p in programs)
        in_guest = judged
    run.timings["guest"] = time.perf_counter() - t_guest
    return programs, in_guest


def _checks(model: ObjectModel) -> tuple[list[Finding], list[Culprit]]:
    """The type-tag checks' findings, and the fields later load errors follow from."""
    ctx = model.checks_context
    if ctx is None:
        return [], []
    return run_checks(ctx), culprits(ctx)


def _not_to_verify(
    settings: Settings, data: bytes, model: ObjectModel, path: str
) -> tuple[str, bool, list[Finding]] | None:
    """Why the object is not to be loaded at all, whatever the machine: (reason, whether the
    reason is about this file, findings that say so); None when it is to be loaded."""
    if not settings.verify:
        return "verification is turned off in the settings", False, []
    needed = link_externs(model.obj)
    if needed:  # libbpf cannot open it alone: say what it needs, not libbpf's open error
        return link_reason(needed), True, link_extern_findings(path, model.decls, needed)
    return None


def _verbose_logs(
    data: bytes,
    path: str,
    patches: tuple[DataPatch, ...],
    settings: Settings,
    guest: TargetVM | None = None,
    guest_programs: frozenset[str] = frozenset(),
) -> VerboseLogs:
    """Level-2 logs of the same object, loaded again on demand (state hover, cost hints), in
    the guest kernel for the programs it verified."""
    cap = max(0, settings.map_memory_cap_mb) * MIB or None
    return VerboseLogs(
        data, _object_name(path), patches, cap, guest=guest, guest_programs=guest_programs
    )


def _judge_on_targets(
    findings: list[Finding],
    kernel_from: int,
    verdict: ObjectResult,
    settings: Settings,
    model: ObjectModel,
    text: str,
    patches: tuple[DataPatch, ...] = (),
) -> tuple[list[Finding], tuple[KernelVerdict, ...]]:
    """Verify on every target kernel too (rodataOverrides applied, as here);
    findings[kernel_from:] are the running kernel's."""
    release = running_release()
    running = KernelVerdict(
        label_of(release), release, verdict.programs, error=_unopened(verdict), running=True
    )
    groups = [(running.label, findings[kernel_from:])]
    kernels = [running]
    unverified: list[Finding] = []
    for kernel in settings.kernels:
        judged = judge(kernel, model, log_level=settings.verifier_log_level, patches=patches)
        kernels.append(judged.verdict)
        if judged.verdict.error is not None:
            unverified.extend(judged.findings)  # says why; silence from it means nothing
            continue
        groups.append(
            (
                judged.verdict.label,
                relate_to_culprits(list(judged.findings), list(judged.blame), text),
            )
        )
    return findings[:kernel_from] + merge(groups) + unverified, tuple(kernels)


def _unopened(verdict: ObjectResult) -> str | None:
    """Why no program was verified: libbpf could not open the object, or it has none."""
    if verdict.open_error is not None:
        return "libbpf could not open the compiled object (see the error on line 1)"
    if not verdict.programs:
        return 'the object has no BPF programs (no function in a SEC("...") section)'
    return None


def _verify(
    data: bytes,
    settings: Settings,
    name: str,
    patches: tuple[DataPatch, ...],
    *,
    in_process: bool,
    model: ObjectModel | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ObjectResult:
    """In this process when bpf() is allowed, else through the configured privileged helper.
    In process, programs whose instructions did not change come from the per-program cache."""
    cap_mb = max(0, settings.map_memory_cap_mb)
    jobs = max(1, settings.jobs)
    if in_process:
        return verify_cached(
            data,
            model.obj if model is not None else None,
            model.ext if model is not None else None,
            on_program=progress,
            log_level=settings.verifier_log_level,
            jobs=jobs,
            name=name,
            patches=patches,
            map_memory_cap=cap_mb * MIB or None,
            debug_messages=False,  # nothing here reads them; parallel loads run faster without
        )
    request = VerifyRequest(
        data, settings.verifier_log_level, min(jobs, MAX_JOBS), name, cap_mb, patches
    )
    return verify_via_helper(settings.verify_helper, request)


def read_object(data: bytes, settings: Settings, findings: list[Finding], path: str) -> ObjectModel:
    """Parse the object; a broken .BTF/.BTF.ext becomes a finding, a broken ELF raises."""
    obj = ObjectFile.parse(data)
    ext: BTFExt | None = None
    spec: Spec | None = None
    try:
        spec = obj.btf_spec()
        if spec is not None and obj.btf_ext is not None:
            ext = parse_ext(obj.btf_ext, spec)
    except BTFError as exc:
        findings.append(_object_error(path, ".BTF/.BTF.ext", exc))
    target = kernel_target(settings) if spec is not None else None
    return ObjectModel(path, data, obj, spec, ext, read_declarations(data), target)


_targets: dict[tuple[str, str | None], KernelFacts] = {}


def kernel_target(settings: Settings) -> KernelFacts:
    """The kernel the checks judge by: the running one, or a BTF file + release from settings."""
    key = (settings.kernel_btf, settings.kernel_release)
    target = _targets.get(key)
    if target is None:
        if settings.kernel_release:
            target = KernelFacts.from_settings(settings.kernel_btf, settings.kernel_release)
        else:
            target = running_kernel(settings.kernel_btf)
        _targets[key] = target
    return target


def relate_to_culprits(findings: list[Finding], blame: list[Culprit], text: str) -> list[Finding]:
    """Point load-time diagnostics at the badly declared field they follow from."""
    if not blame:
        return findings
    lines = text.splitlines()
    out: list[Finding] = []
    for f in findings:
        causes: list[Culprit] = []
        if f.code == "btf-rejected":
            causes = [c for c in blame if c.effect == BTF_REJECTED]
        elif f.code == "map-without-btf":
            causes = [c for c in blame if c.effect == MAP_WITHOUT_BTF]
        elif f.code == "verifier":
            line = lines[f.line - 1] if 0 < f.line <= len(lines) else ""
            causes = [c for c in blame if _explains(c, f.message, line)]
        if not causes:
            out.append(f)
            continue
        related = f.related + tuple(c.related() for c in causes if c.related() not in f.related)
        why = "; ".join(c.reason for c in causes)
        out.append(
            dataclasses.replace(
                f, related=related, message=f"{f.message}\nThis follows from: {why}."
            )
        )
    return out


def _explains(c: Culprit, message: str, line: str) -> bool:
    """A verifier error follows from a culprit field when it is about kptrs or BTF, or when
    the failing line touches the field."""
    about_kptr = "kptr" in message or "BTF" in message
    if c.effect == BTF_REJECTED:
        return about_kptr
    touches = bool(c.field) and re.search(rf"\b{re.escape(c.field)}\b", line) is not None
    if c.effect == FIELD_IGNORED:
        return touches or (about_kptr and c.map_name is not None and c.map_name in message)
    return touches


def _object_name(path: str) -> str:
    # The kernel keeps at most 15 characters of an object/program name.
    base = path.rsplit("/", 1)[-1].split(".", 1)[0]
    return "".join(c if c.isalnum() or c == "_" else "_" for c in base)[:15] or "obj"
