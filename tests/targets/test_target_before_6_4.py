"""What a kernel before 6.4 (Debian's 6.1 in its VM) cannot do, said as the host says it: a
verifier log longer than its buffer (6.1 keeps the start, not the end) still gives the
kernel's verdict, and a struct_ops map in SEC(".struct_ops.link") (BPF_F_LINK, 6.4+) is "not
verifiable here", never a map-create Error."""

from __future__ import annotations

import errno
from pathlib import Path

from kptr_lsp.analysis import Analysis
from kptr_lsp.features.lenses import program_lenses
from kptr_lsp.findings import Severity
from kptr_lsp.pipeline import analyse
from kptr_lsp.settings import GuestKernel, Settings
from kptr_lsp.targets.kernels import ReadyKernel
from kptr_lsp.verify.loader import Failure
from kptr_lsp.verify.struct_ops_link import release_lacks_links

PROGRAMS = Path(__file__).parent.parent / "programs"
TOO_LARGE = PROGRAMS / "catalogue" / "too_large.bpf.c"
CC = PROGRAMS / "projects" / "current_libbpf"
LINK = CC / "tcp_cc_link.bpf.c"
LEGACY = CC / "tcp_cc_legacy.bpf.c"
VERDICT = "BPF program is too large. Processed 1000001 insn"


def _analyse(path: Path, kernel: GuestKernel) -> Analysis:
    return analyse(str(path), path.read_text(), Settings(kernels=(kernel,)))


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, t in enumerate(path.read_text().splitlines(), 1) if needle in t)


def _target_programs(analysis: Analysis) -> dict[str, Failure]:
    (target,) = [k for k in analysis.kernels if not k.running]
    return {p.name: p.failure for p in target.programs}


def test_a_log_61_cannot_hold_gives_its_verdict_not_enospc(
    kernel: None, debian61: GuestKernel, debian61_ready: ReadyKernel
) -> None:
    label = debian61_ready.label
    analysis = _analyse(TOO_LARGE, debian61)
    (target,) = [k for k in analysis.kernels if not k.running]
    (program,) = target.programs
    # the guest loader's second load at BPF_LOG_STATS alone: the kernel's own errno and words
    assert program.log_cut and program.errno == errno.E2BIG, program.errno
    assert VERDICT in program.verdict_log
    (error,) = [
        f
        for f in analysis.findings
        if f.severity is Severity.ERROR and f.message.startswith(f"[{label}")
    ]
    assert error.message.startswith(f"[{label}] {VERDICT}\n")
    assert "No space left on device" not in error.message
    assert "keeps only the start" in error.message  # "the log was cut", and what was kept
    assert "It gave up after processing 1000001 instructions" in error.message


def test_a_struct_ops_link_map_is_not_verifiable_on_61(
    kernel: None, debian61: GuestKernel, debian61_ready: ReadyKernel
) -> None:
    label = debian61_ready.label
    analysis = _analyse(LINK, debian61)
    assert set(_target_programs(analysis).values()) == {Failure.KERNEL_LACKS}
    assert not [f for f in analysis.findings if f.severity is Severity.ERROR]
    (info,) = [f for f in analysis.findings if f.code == "kernel-lacks"]
    assert info.severity is Severity.INFORMATION
    assert info.line == _line_of(LINK, "struct tcp_congestion_ops half = {")
    assert info.message.startswith(f"[{label}] map 'half': failed to create: Invalid argument")
    assert "6.4" in info.message and 'SEC(".struct_ops")' in info.message
    titles = [lens.title for lens in program_lenses(analysis)]
    assert len(titles) == 4
    assert all(t.startswith("✓ ") for t in titles)  # the running kernel (6.18) accepts them
    assert all(t.endswith(f" · {label} – not verified") for t in titles), titles


def test_the_advice_holds_the_same_map_in_struct_ops_loads_on_61(
    kernel: None, debian61: GuestKernel, debian61_ready: ReadyKernel
) -> None:
    analysis = _analyse(LEGACY, debian61)
    assert set(_target_programs(analysis).values()) == {Failure.NONE}
    assert not [f for f in analysis.findings if f.severity is Severity.ERROR]


def test_which_releases_lack_struct_ops_links() -> None:
    assert release_lacks_links("6.1.0-57-amd64")
    assert release_lacks_links("5.15.0")
    assert not release_lacks_links("6.4.0")
    assert not release_lacks_links("6.18.44-fc-v1045")
    assert not release_lacks_links("7.3.4+deb13-amd64")
    assert not release_lacks_links("weird")  # unknown: keep libbpf's own verdict
