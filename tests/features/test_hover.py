"""The hover providers as free functions of the analysed model (no LSP): what each says on a
real compiled object, and that the tag meaning comes from the checks' target kernel."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from kptr_lsp.analysis import Analysis
from kptr_lsp.features.hover import hover_text
from kptr_lsp.features.hover.fields import kptr_field_hover
from kptr_lsp.features.hover.includes import include_hover
from kptr_lsp.features.hover.rodata import rodata_hover
from kptr_lsp.features.hover.state import state_hover
from kptr_lsp.features.hover.types import type_hover
from kptr_lsp.findings import Severity
from kptr_lsp.kernel.facts import KernelFacts
from kptr_lsp.kernel.running import VMLINUX_BTF
from kptr_lsp.pipeline import analyse
from kptr_lsp.settings import Settings

PROGRAMS = Path(__file__).parents[1] / "programs"
KPTR_OK = PROGRAMS / "clean" / "kptr_ok.bpf.c"
RODATA = PROGRAMS / "projects" / "runtime_sized.bpf.c"

needs_btf = pytest.mark.skipif(not Path(VMLINUX_BTF).exists(), reason="no kernel BTF")


def _line(path: Path, needle: str) -> int:
    return next(i for i, t in enumerate(path.read_text().splitlines(), 1) if needle in t)


@pytest.fixture(scope="module")
def kptr_ok() -> Analysis:
    return analyse(str(KPTR_OK), KPTR_OK.read_text(), Settings(verify=False))


def _as_of(analysis: Analysis, release: str) -> Analysis:
    """The same object, its checks judged by another release's rules (this machine's BTF)."""
    assert analysis.model is not None
    facts = KernelFacts.from_settings(VMLINUX_BTF, release)
    return dataclasses.replace(analysis, model=dataclasses.replace(analysis.model, target=facts))


@needs_btf
@pytest.mark.parametrize(
    ("release", "said"),
    [
        ("6.18.0", "**referenced kptr**"),
        ("6.1.0", "**unreferenced kptr**"),
        ("5.15.0", "**plain pointer: Linux 5.15 does not know the tag `kptr`**"),
    ],
)
def test_struct_hover_reads_the_kptr_tag_as_the_target_does(
    kptr_ok: Analysis, release: str, said: str
) -> None:
    text = type_hover(_as_of(kptr_ok, release), _line(KPTR_OK, "struct slot {"), len("struct s"))
    assert text is not None
    assert f"| 0 | 8 | `task` | `struct task_struct *` — {said} |" in text


@needs_btf
def test_field_hover_and_struct_hover_agree(kptr_ok: Analysis) -> None:
    old = _as_of(kptr_ok, "6.1.0")
    field = kptr_field_hover(old, _line(KPTR_OK, "__kptr *task"), 30)
    assert field is not None and "unreferenced kptr to struct task_struct" in field
    assert "Offset 0 in the value of map `newest_child`" in field


def test_include_hover_names_the_file_clang_opened(kptr_ok: Analysis) -> None:
    text = include_hover(kptr_ok, _line(KPTR_OK, "#include <bpf/bpf_helpers.h>"), 12)
    assert text is not None
    name, _, path = text.partition("`\n")[0].partition(" → ")
    assert name == "`bpf/bpf_helpers.h`"
    assert Path(path.strip("`")).is_file()
    assert include_hover(kptr_ok, _line(KPTR_OK, "struct slot {"), 3) is None


def test_rodata_hover_gives_the_value_verified(kernel: None) -> None:
    settings = Settings(rodata_overrides=(("targ_tgid", 42),))
    analysis = analyse(str(RODATA.resolve()), RODATA.read_text(), settings)
    line = _line(RODATA, "const volatile pid_t targ_tgid")
    text = rodata_hover(analysis, line, 25)
    assert text == "Verified with `targ_tgid` = 42, from the `rodataOverrides` setting."
    default = rodata_hover(analysis, _line(RODATA, "const volatile bool kernel_stacks_only"), 25)
    assert default is not None and default.startswith("Verified with `kernel_stacks_only` = 0")


def test_hover_text_joins_what_the_providers_say(kptr_ok: Analysis) -> None:
    line = _line(KPTR_OK, "__kptr *task")
    text = hover_text(kptr_ok, line, len("\tstruct task_str"))
    assert text is not None
    field = kptr_field_hover(kptr_ok, line, 0)
    struct = type_hover(kptr_ok, line, len("\tstruct task_str"))
    assert field is not None and struct is not None
    assert text == f"{field}\n\n---\n\n{struct}"


def test_state_hover_shows_what_the_verifier_knew_on_each_program_line(kernel: None) -> None:
    """From the level-2 log of the program on the line: the pointer the bad program uses
    unchecked may be NULL, as the verifier's error says; after the good program's check it
    is not; a line the verifier never reached has no state."""
    path = PROGRAMS / "rejected" / "two_programs_one_bad.bpf.c"
    analysis = analyse(str(path), path.read_text(), Settings())
    (error,) = [f for f in analysis.findings if f.severity is Severity.ERROR]
    failing = state_hover(analysis, error.line, 0)
    assert failing is not None
    assert failing.startswith(
        f"**Verifier state** on entry to line {error.line} in program `xdp_bad` (walked once)"
    )
    assert "`r0`: pointer into a value of map `per_ifindex` (8 bytes) — may be NULL" in failing
    good = next(
        n
        for n, src in enumerate(path.read_text().splitlines(), 1)
        if src.strip() == "__sync_fetch_and_add(n, 1);"
    )
    after_check = state_hover(analysis, good, 0)
    assert after_check is not None and "in program `xdp_good`" in after_check
    assert "`r0`: pointer into a value of map `per_ifindex`" in after_check
    assert "may be NULL" not in after_check
    assert state_hover(analysis, error.line + 1, 0) is None  # after the error: never walked
