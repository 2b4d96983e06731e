"""features/cost_hints on its own: the per-line verifier cost of a real program, from the
level-2 log the kernel prints for it, as inlay hints, a hover paragraph with the change since
the last save, and the lens's hottest line."""

from __future__ import annotations

import re
from pathlib import Path

from kptr_lsp.features.cost_hints import cost_hover, hottest_summary, inlay_hints
from kptr_lsp.pipeline import analyse
from kptr_lsp.settings import Settings

HOT_LOOP = Path(__file__).parents[1] / "programs" / "cost" / "hot_loop.bpf.c"
HINT = re.compile(r"×([\d,]+) · ([\d,]+) insns")


def _hot_line(text: str) -> int:
    return next(n for n, src in enumerate(text.splitlines(), 1) if "/* HOT */" in src)


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def test_the_loop_body_gets_the_hint_and_the_hover_says_the_same(kernel: None) -> None:
    text = HOT_LOOP.read_text()
    analysis = analyse(str(HOT_LOOP), text, Settings())
    assert analysis.verified and not analysis.rejected
    hot = _hot_line(text)
    hints = {h.line: h for h in inlay_hints(analysis, 1000)}
    assert hot in hints and set(hints) <= {hot - 1, hot, hot + 1}, hints
    m = HINT.fullmatch(hints[hot].label)
    assert m is not None, hints[hot].label
    walked, insns = _number(m.group(1)), _number(m.group(2))
    assert walked >= 256  # the verifier walks the body once per slot at least
    (program,) = analysis.programs
    stats = program.parsed_log.stats
    assert stats is not None and insns <= stats.processed_insns
    assert "`sum_slots`" in hints[hot].tooltip
    # Every line the verifier spent anything on has a hint with no threshold; none with a
    # threshold above the whole program's count.
    assert hot in {h.line for h in inlay_hints(analysis, 1)}
    assert inlay_hints(analysis, stats.processed_insns + 1) == []

    hover = cost_hover(analysis, hot, 0)
    assert hover is not None
    assert hover.startswith(f"**Verifier cost** of line {hot} in `sum_slots`: {insns:,} ")
    assert "Since the last save" not in hover  # nothing to compare with
    summary = hottest_summary(analysis, "sum_slots")
    assert summary is not None
    hottest = re.fullmatch(r"hottest: line (\d+), \d+ % of processed insns", summary)
    assert hottest is not None and int(hottest.group(1)) in hints


def test_the_hover_counts_the_change_since_the_last_save(kernel: None) -> None:
    text = HOT_LOOP.read_text()
    saved = analyse(str(HOT_LOOP), text, Settings())
    edited = text.replace("#define MAX_SLOTS 256", "#define MAX_SLOTS 300")
    assert edited != text
    now = analyse(str(HOT_LOOP), edited, Settings())
    assert saved.verbose is not None and now.verbose is not None
    saved.verbose.source = text
    now.verbose.source, now.verbose.baseline = edited, saved.verbose
    hot = _hot_line(text)
    before, after = (cost_hover(a, hot, 0) for a in (saved, now))
    assert before is not None and after is not None
    count = re.compile(r"in `sum_slots`: ([\d,]+) instructions")
    old, new = (_number(m.group(1)) for h in (before, after) if (m := count.search(h)))
    assert new > old
    assert f"Since the last save: +{new - old:,} instructions." in after


def test_nothing_without_verification() -> None:
    text = HOT_LOOP.read_text()
    analysis = analyse(str(HOT_LOOP), text, Settings(verify=False))
    assert inlay_hints(analysis, 1) == []
    assert cost_hover(analysis, _hot_line(text), 0) is None
    assert hottest_summary(analysis, "sum_slots") is None
