"""Per-line verifier cost, counted from the real kernel's logs of real programs: a hot loop
that passes, a loop that runs into the million-instruction limit, and one whose branches run
into the jump-sequence limit."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from kptr_lsp.analysis import Analysis
from kptr_lsp.findings import Finding
from kptr_lsp.pipeline import analyse
from kptr_lsp.settings import Settings
from kptr_lsp.verify.cost import ProgramCost, budget_spent, line_costs, line_deltas
from kptr_lsp.verify.loader import verify_object
from kptr_lsp.verify.log import parse_log
from kptr_lsp.verify.verbose import VerboseLogs
from tests.conftest import PROGRAMS, CompileFn

COST = PROGRAMS / "cost"
CATALOGUE = PROGRAMS / "catalogue"


def _row(path: Path, needle: str) -> int:
    """1-based line of the first line holding `needle`."""
    return next(i for i, t in enumerate(path.read_text().splitlines(), 1) if needle in t)


def _level2(data: bytes) -> str:
    result = verify_object(data, log_level=2)
    assert len(result.programs) == 1 and result.programs[0].accepted
    return result.programs[0].log


@pytest.fixture(scope="module")
def hot_object(compile_bpf: CompileFn) -> bytes:
    return compile_bpf(COST / "hot_loop.bpf.c")


@pytest.fixture(scope="module")
def hot_cost(hot_object: bytes, kernel: None) -> ProgramCost:
    return line_costs(_level2(hot_object))


def test_counts_add_up_to_the_verifiers_total(hot_cost: ProgramCost, hot_object: bytes) -> None:
    # The verifier's own total, from an ordinary load with statistics (level 1 | 4).
    stats = parse_log(verify_object(hot_object, log_level=5).programs[0].log).stats
    assert stats is not None
    assert hot_cost.processed == stats.processed_insns
    assert hot_cost.complete and hot_cost.unplaced == 0
    assert sum(c.insns for c in hot_cost.lines) == stats.processed_insns
    # The log also says where the walk was cut short: those count too.
    assert sum(c.pruned for c in hot_cost.lines) > 0


def test_the_hottest_line_is_the_loop_body(hot_cost: ProgramCost) -> None:
    top = hot_cost.hottest
    assert top is not None
    assert os.path.basename(top.file) == "hot_loop.bpf.c"
    assert top.line == _row(COST / "hot_loop.bpf.c", "/* HOT */")
    assert hot_cost.share(top) > 0.5
    assert top.visits >= 256  # walked once per slot at least
    loop = hot_cost.loops[0]
    assert [ln for _, ln in loop.lines] == [top.line - 1, top.line]  # the for and its body


def test_verbose_logs_count_the_same_log_as_the_state_hover(
    hot_object: bytes, hot_cost: ProgramCost
) -> None:
    logs = VerboseLogs(hot_object, "hot_loop")
    assert logs.cost("sum_slots", load=False) is None  # nothing taken yet
    cost = logs.cost("sum_slots")
    assert cost is not None and cost.processed == hot_cost.processed
    assert logs.trace("sum_slots") is not None  # the state hover reads the same load
    assert logs.taken() == ("sum_slots",)


def test_change_per_line_follows_the_line_across_an_edit(
    compile_bpf: CompileFn, hot_cost: ProgramCost, kernel: None
) -> None:
    text = (COST / "hot_loop.bpf.c").read_text()
    edited = text.replace("#define MAX_SLOTS 256", "#define MAX_SLOTS 512").replace(
        "\t__u64 total = 0;\n", "\t__u64 total = 0;\n\t/* summed below */\n"
    )
    # Compiled from stdin: the kernel prints the same file name for both versions.
    before = line_costs(_level2(compile_bpf(text)))
    after = line_costs(_level2(compile_bpf(edited)))
    deltas = line_deltas(before, after, text, edited)
    hot_before, hot_after = before.hottest, after.hottest
    assert hot_before is not None and hot_after is not None
    assert hot_after.line == hot_before.line + 1  # moved down by the inserted line
    assert deltas[(hot_after.file, hot_after.line)] == hot_after.insns - hot_before.insns > 0
    # The lookup before the loop did not change its cost.
    ret = next(c for c in after.lines if "lookup_elem" in edited.splitlines()[c.line - 1])
    assert deltas[(ret.file, ret.line)] == 0


# Recorded logs (tests/fixtures/logs, captured from Linux 6.18 by capture.py there): the
# counting itself, without a kernel.
FIXTURES = Path(__file__).parent.parent / "fixtures" / "logs"


@pytest.mark.parametrize("name", ["accepted_level2", "ringbuf_leak_level2"])
def test_recorded_level2_logs_add_up(name: str) -> None:
    text = (FIXTURES / f"{name}.log").read_text()
    cost = line_costs(text)
    stats = parse_log(text).stats
    assert stats is not None and cost.processed == stats.processed_insns
    assert cost.complete and sum(c.insns for c in cost.lines) == stats.processed_insns


def test_recorded_cut_log_is_a_sample_of_the_end_of_the_walk() -> None:
    # A 64 KiB buffer of the jump-limit program: the kernel kept the end.
    text = (FIXTURES / "too_complex.log").read_text()
    cost = line_costs(text)
    assert cost.processed == 114696 and not cost.complete and 0 < cost.counted < 114696
    src = (FIXTURES / "too_complex.bpf.c").read_text().splitlines()
    branch = next(i for i, t in enumerate(src, 1) if "bpf_get_prandom_u32" in t)
    spent = dict(budget_spent(cost, "The sequence of 8193 jumps is too complex."))
    assert "did not know" in spent[("too_complex.bpf.c", branch)]
    assert any("the loop" in words for words in spent.values())


# --- walks that hit a verifier limit --------------------------------------------------------


def _analysed(name: str) -> Analysis:
    path = str(CATALOGUE / name)
    with open(path) as fh:
        return analyse(path, fh.read(), Settings())


@pytest.fixture(scope="module")
def too_large(kernel: None) -> Analysis:
    return _analysed("too_large.bpf.c")


@pytest.fixture(scope="module")
def too_complex(kernel: None) -> Analysis:
    return _analysed("too_many_branches.bpf.c")


def _related_by_line(error: Finding) -> dict[int, str]:
    """Every related message on a line, joined: the causal path may name the same lines."""
    out: dict[int, str] = {}
    for r in error.related:
        out[r.location.line] = (
            f"{out[r.location.line]}\n{r.message}" if r.location.line in out else r.message
        )
    return out


def _error(analysis: Analysis) -> Finding:
    errors = [f for f in analysis.findings if f.code == "verifier"]
    assert len(errors) == 1, analysis.findings
    return errors[0]


def test_million_insns_error_names_the_loop_that_spent_the_budget(too_large: Analysis) -> None:
    path = CATALOGUE / "too_large.bpf.c"
    loop_line, body_line = _row(path, "for (int i = 0"), _row(path, "acc += i;")
    error = _error(too_large)
    assert "BPF program is too large. Processed 1000001 insn" in error.message
    related = _related_by_line(error)
    assert "the loop (lines 15–16) the walk spent its budget in" in related[loop_line]
    assert "going round" in related[loop_line]
    assert "were on this line" in related[body_line]
    # What the kernel kept is the end of the walk, and the numbers say so.
    cost = line_costs(too_large.programs[0].log)
    assert cost.processed == 1000001 and not cost.complete
    assert 0 < cost.counted < cost.processed
    assert "of the last" in related[loop_line]
    # No "causal path" for a size limit: it would be every iteration the log kept.
    assert not error.causal_path and error.explained_by is None
    assert len(error.related) < 10
    top = cost.hottest
    assert top is not None and top.line in (loop_line, body_line)


def test_bpf_loop_takes_the_million_iterations_under_the_limit(kernel: None) -> None:
    # The catalogue's fix for the message above, on the same million iterations.
    path = str(COST / "too_large_bpf_loop.bpf.c")
    with open(path) as fh:
        analysis = analyse(path, fh.read(), Settings())
    assert not analysis.rejected, analysis.findings
    stats = parse_log(analysis.programs[0].log).stats
    assert stats is not None and stats.processed_insns < 1000


def test_jump_sequence_error_names_the_data_dependent_branch(too_complex: Analysis) -> None:
    path = CATALOGUE / "too_many_branches.bpf.c"
    loop_line, branch_line = _row(path, "for (int i = 0"), _row(path, "bpf_get_prandom_u32() & 1")
    error = _error(too_complex)
    assert "The sequence of 8193 jumps is too complex." in error.message
    related = _related_by_line(error)
    assert "the loop" in related[loop_line]
    # The branch on a random value leaves paths pending; the loop's own test on the known
    # counter does not, and is not blamed for it.
    assert "tested a value the verifier did not know" in related[branch_line]
    assert "did not know" not in related[loop_line]


def test_infinite_loop_error_names_the_loop(kernel: None) -> None:
    path = CATALOGUE / "infinite_loop.bpf.c"
    error = _error(_analysed("infinite_loop.bpf.c"))
    assert "infinite loop detected at insn" in error.message
    related = _related_by_line(error)
    assert "the loop (line 17) the walk spent its budget in" in related[_row(path, "while (!stop)")]


def test_counting_never_raises_on_mangled_logs() -> None:
    rng = random.Random(17)
    texts = [(FIXTURES / f"{n}.log").read_text() for n in ("accepted_level2", "too_complex")]
    for _ in range(300):
        text = rng.choice(texts)
        chars = list(text)
        for _ in range(rng.randint(1, 40)):
            at = rng.randrange(len(chars))
            chars[at] = rng.choice(["\n", " ", ":", ";", "@", "-", "9" * 30, "safe", "from 1 to "])
        cost = line_costs("".join(chars))
        assert cost.counted == sum(c.insns for c in cost.lines) + cost.unplaced
        budget_spent(cost, "The sequence of 8193 jumps is too complex.")
