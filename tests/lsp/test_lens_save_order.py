"""The lens's change since the previous save, in the order an editor's messages can come: a save
right after a publish reaches the server before that analysis's lenses are built (they wait for a
walk of the object's DWARF). Real analyses: compiled by clang, verified by the kernel.

Before the save history was written at publish time, such an analysis never joined it (its text
no longer looked saved), and the next save's lens had nothing to compare with: `✓ 29 insns · …`
without its `(+N)` — tests/lsp/test_views.py's lens test failed so under load."""

from __future__ import annotations

import re
from pathlib import Path

from kptr_lsp.features.lenses import insn_counts
from kptr_lsp.lsp.views import ProgramViews
from kptr_lsp.pipeline import analyse
from kptr_lsp.settings import Settings
from tests.lsp.test_views import COUNTER


def test_a_save_before_the_lenses_are_built_keeps_the_change(tmp_path: Path, kernel: None) -> None:
    path = tmp_path / "counter.bpf.c"  # never written: the server analyses the buffer
    uri = path.as_uri()
    four, eight = "#define N 4\n" + COUNTER, "#define N 8\n" + COUNTER
    views = ProgramViews()

    views.saved(uri, four)  # opened
    first = analyse(str(path), four, Settings())
    baseline = views.published(uri, first)
    assert baseline is None  # nothing to compare the first version with
    views.saved(uri, eight)  # saved again as soon as the diagnostics arrived…
    views.analysed(uri, first, baseline)  # …before the first version's lenses were built
    second = analyse(str(path), eight, Settings())
    views.analysed(uri, second, views.published(uri, second))

    before, after = insn_counts(first)["sum_random"], insn_counts(second)["sum_random"]
    assert after > before
    (lens,) = views.code_lenses(uri)
    assert lens.command is not None
    assert re.match(rf"✓ {after} insns \(\+{after - before}\) · ", lens.command.title), (
        lens.command.title
    )
