"""The code lens above each program: verdict and the verifier's own statistics, and the
change in processed instructions since the previous save."""

from __future__ import annotations

import re
from pathlib import Path

from kptr_lsp.features.lenses import SaveHistory, Verdict, insn_counts, lens_title, program_lenses
from kptr_lsp.pipeline import analyse
from kptr_lsp.settings import Settings
from kptr_lsp.verify.log import Stats

PROGRAMS = Path(__file__).parents[1] / "programs"


def _stats(insns: int, time_us: int | None = 310, depth: tuple[int, ...] = (16,)) -> Stats:
    return Stats(insns, 1_000_000, 1, 3, 2, 0, time_us, depth)


def test_title_reads_like_the_issue_example() -> None:
    title = lens_title(Verdict.ACCEPTED, _stats(1204), 37)
    assert title == "✓ 1,204 insns (+37) · 2 peak states · 310 µs · stack 16 B"
    assert lens_title(Verdict.REJECTED, _stats(8, 2500, (0, 8)), -3) == (
        "✗ rejected · 8 insns (-3) · 2 peak states · 2.5 ms · stack 0+8 B"
    )
    # Level 1 logs have no time or stack depth: the lens leaves them out.
    assert lens_title(Verdict.ACCEPTED, _stats(5, None, ()), 0) == "✓ 5 insns · 2 peak states"
    assert lens_title(Verdict.NOT_VERIFIED, None, None, "not verified: EPERM") == (
        "– not verified: EPERM"
    )


def test_history_compares_with_the_previous_save() -> None:
    h = SaveHistory()
    h.saved("v1")
    assert h.baseline("v1") is None  # nothing to compare the first version with
    h.record("v1", {"p": 10})
    assert h.baseline("v2") == {"p": 10}  # unsaved edits: compared with the last save
    h.record("v2", {"p": 14})  # not saved: does not become the baseline
    assert h.baseline("v2") == {"p": 10}
    h.saved("v2")
    h.record("v2", {"p": 14})
    assert h.baseline("v2") == {"p": 10}  # the saved text: compared with the save before
    h.saved("v2")
    h.record("v2", {"p": 14})  # saved again unchanged: still compared with v1
    assert h.baseline("v2") == {"p": 10}
    h.saved("v3")
    h.record("v3", {"p": 9})
    assert h.baseline("v3") == {"p": 14}


def test_lenses_of_a_real_object_carry_the_kernels_statistics(kernel: None) -> None:
    path = PROGRAMS / "rejected/two_programs_one_bad.bpf.c"
    text = path.read_text()
    analysis = analyse(str(path), text, Settings())
    lenses = {lens.program: lens for lens in program_lenses(analysis, {"xdp_good": 2})}
    lines = text.splitlines()
    good, bad = lenses["xdp_good"], lenses["xdp_bad"]
    assert "xdp_good" in lines[good.location.line - 1]
    assert "xdp_bad" in lines[bad.location.line - 1]
    assert good.verdict is Verdict.ACCEPTED and bad.verdict is Verdict.REJECTED
    counts = insn_counts(analysis)
    assert good.delta_insns == counts["xdp_good"] - 2
    assert good.title.startswith(f"✓ {counts['xdp_good']} insns (+{counts['xdp_good'] - 2})")
    assert bad.title.startswith(f"✗ rejected · {counts['xdp_bad']} insns ·")
    # Verification time and stack depth: printed by the kernel with BPF_LOG_STATS (level 5).
    assert re.search(r"· \d+(\.\d)? (µs|ms) · stack 8 B$", good.title), good.title


def test_programs_this_kernel_cannot_load_are_marked_not_verified(kernel: None) -> None:
    path = PROGRAMS / "rejected/fentry_missing_target.bpf.c"
    analysis = analyse(str(path), path.read_text(), Settings())
    (lens,) = program_lenses(analysis)
    assert lens.verdict is Verdict.NOT_VERIFIED
    assert lens.title == "– not verified: its attach target is not in this kernel"


def test_without_verification_every_program_says_why() -> None:
    path = PROGRAMS / "clean/xdp.bpf.c"
    analysis = analyse(str(path), path.read_text(), Settings(verify=False))
    lenses = program_lenses(analysis)
    assert lenses and all(lens.verdict is Verdict.NOT_VERIFIED for lens in lenses)
    assert all("turned off in the settings" in lens.title for lens in lenses)
