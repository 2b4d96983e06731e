"""The verifier log parser, on logs captured from the running kernel (tests/fixtures/logs,
recaptured by its capture.py) and on logs captured live during the test."""

from __future__ import annotations

import importlib.util
import random
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from kptr_lsp.verify.log import BEGIN_MARK, END_MARK, VerifierLog, parse_log, source_of

LOGS = Path(__file__).resolve().parent.parent / "fixtures" / "logs"


def _load_capture() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kptr_lsp_log_capture", LOGS / "capture.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


capture = _load_capture()
FIXTURES: dict[str, Any] = capture.FIXTURES  # name -> capture.Capture


def source_name(name: str) -> str:
    return f"{FIXTURES[name].source}.bpf.c"


def fixture(name: str) -> VerifierLog:
    return parse_log((LOGS / f"{name}.log").read_text())


def marker_line(source: str, tag: str) -> int:
    """1-based number of the line of `source` that carries `MARK: tag`."""
    lines = (LOGS / source).read_text().splitlines()
    hits = [i + 1 for i, line in enumerate(lines) if f"MARK: {tag}" in line]
    assert len(hits) == 1, f"{source}: expected one MARK: {tag}"
    return hits[0]


def line_of(log: VerifierLog, insn: int | None) -> int | None:
    assert insn is not None
    note = source_of(log, insn)
    return None if note is None else note.line


def insn_asm(log: VerifierLog, insn: int) -> str:
    return next(i.asm for i in reversed(log.insns) if i.insn == insn)


# --- every fixture --------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_parses_completely(name: str) -> None:
    log = fixture(name)
    assert log.stats is not None
    assert log.stats.insn_limit == 1_000_000
    assert log.stats.processed_insns > 0
    if log.error is not None:
        assert "processed " not in log.error
        assert BEGIN_MARK not in log.error and END_MARK not in log.error
        assert log.failing_insn == log.insns[-1].insn


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_notes_quote_the_c_line_they_name(name: str) -> None:
    """Each `; text @ file:line` note names the fixture's .bpf.c and quotes that very line."""
    log = fixture(name)
    source = source_name(name)
    lines = (LOGS / source).read_text().splitlines()
    for note in log.notes:
        assert note.file == source
        assert lines[note.line - 1].strip() == note.text
    printed = {i.insn for i in log.insns}
    assert all(note.insn in printed for note in log.notes)


# --- the errors a user meets ----------------------------------------------------------------


def test_map_lookup_without_null_check() -> None:
    log = fixture("map_null")
    assert log.error == "R0 invalid mem access 'map_value_or_null'"
    assert log.failing_insn is not None
    assert insn_asm(log, log.failing_insn) == "r1 = *(u64 *)(r0 +0)"
    assert line_of(log, log.failing_insn) == marker_line("map_null.bpf.c", "fail")
    assert log.unreleased is None and log.mentioned_insns == ()
    lookup = next(i for i in log.insns if "bpf_map_lookup_elem" in i.asm)
    assert lookup.opcode == "85"
    assert lookup.state is not None and "map_value_or_null" in lookup.state


def test_libbpf_decoration_is_not_part_of_the_error() -> None:
    plain, decorated = fixture("map_null"), fixture("map_null_libbpf")
    assert BEGIN_MARK in decorated.raw
    assert decorated.error == plain.error
    assert decorated.failing_insn == plain.failing_insn
    assert decorated.notes == plain.notes
    assert decorated.stats is not None and plain.stats is not None
    assert decorated.stats.processed_insns == plain.stats.processed_insns


@pytest.mark.parametrize(
    ("name", "acquire"),
    [
        ("ringbuf_leak", "bpf_ringbuf_reserve"),
        ("ringbuf_leak_level2", "bpf_ringbuf_reserve"),
        ("kptr_leak", "bpf_kptr_xchg"),
    ],
)
def test_reference_leak_names_acquire_and_exit(name: str, acquire: str) -> None:
    log = fixture(name)
    source = source_name(name)
    assert log.error is not None
    assert log.error.splitlines()[0].startswith("Unreleased reference id=")
    assert log.error.splitlines()[-1] == (
        "BPF_EXIT instruction in main prog would lead to reference leak"
    )
    assert log.unreleased is not None and log.all_unreleased == (log.unreleased,)
    assert acquire in insn_asm(log, log.unreleased.alloc_insn)
    assert log.unreleased.alloc_insn in log.mentioned_insns
    assert line_of(log, log.unreleased.alloc_insn) == marker_line(source, "acquire")
    assert log.failing_insn is not None and insn_asm(log, log.failing_insn) == "exit"
    assert line_of(log, log.failing_insn) == marker_line(source, "exit")


def test_level2_adds_precision_lines_but_not_to_the_error() -> None:
    level1, level2 = fixture("ringbuf_leak"), fixture("ringbuf_leak_level2")
    assert "mark_precise:" in level2.raw and "mark_precise:" not in level1.raw
    assert level2.error == level1.error
    assert level2.failing_insn == level1.failing_insn
    assert len(level2.states) > len(level1.states)


def test_kptr_xchg_popped_branch_state_is_split_from_the_jump() -> None:
    """At level 1 the taken branch's state is printed on the jump's own line."""
    log = fixture("kptr_leak")
    branch = next(s for s in log.states if s.from_insn is not None)
    assert insn_asm(log, branch.from_insn).startswith("if ")  # type: ignore[arg-type]
    assert branch.state.startswith("R0=ptr_task_struct(ref_obj_id=")
    assert branch.insn in {i.insn for i in log.insns}


def test_error_inside_static_subprogram_carries_its_frame() -> None:
    log = fixture("subprog_error")
    assert log.error == "R1 invalid mem access 'map_value_or_null'"
    failing = log.insns[-1]
    assert failing.frame == 1
    assert line_of(log, failing.insn) == marker_line("subprog_error.bpf.c", "fail")
    call = next(i for i in log.insns if i.asm.startswith("call pc"))
    assert call.frame == 0
    assert line_of(log, call.insn) == marker_line("subprog_error.bpf.c", "call")
    assert any(s.state.startswith("frame1:") for s in log.states)


def test_stats_level_adds_time_and_stack_depth_per_subprogram() -> None:
    plain, stats = fixture("subprog_error"), fixture("subprog_error_stats")
    assert stats.error == plain.error
    assert stats.stats is not None and plain.stats is not None
    assert stats.stats.verification_time_us is not None
    assert plain.stats.verification_time_us is None
    assert len(stats.stats.stack_depth) == 2  # the program and bump()
    assert stats.stats.stack_depth[0] >= 4  # main keeps its u32 key on the stack


def test_invalid_kfunc_argument() -> None:
    log = fixture("kfunc_args")
    assert log.error == "R1 must be referenced or trusted"
    assert log.failing_insn is not None
    assert insn_asm(log, log.failing_insn).startswith("call bpf_task_release#")
    assert line_of(log, log.failing_insn) == marker_line("kfunc_args.bpf.c", "fail")


def test_global_function_argument_error_spans_two_lines() -> None:
    log = fixture("global_args")
    assert log.error is not None
    first, second = log.error.splitlines()
    assert first.startswith("invalid read from stack R1 ")
    assert second == "Caller passes invalid args into func#1 ('sum_ctx')"
    assert line_of(log, log.failing_insn) == marker_line("global_args.bpf.c", "fail")


def test_complexity_error_from_a_log_that_lost_its_head() -> None:
    """Captured with a 64 KiB buffer: the kernel kept the tail, starting mid-line."""
    log = fixture("too_complex")
    assert not log.raw.startswith(("0:", ";", "func#"))
    assert log.error == "The sequence of 8193 jumps is too complex."
    assert line_of(log, log.failing_insn) == marker_line("too_complex.bpf.c", "fail")
    assert log.stats is not None and log.stats.processed_insns > 8193


def test_program_without_btf_has_no_notes() -> None:
    log = fixture("no_btf")
    assert log.notes == ()
    assert log.error == "invalid bpf_context access off=16 size=8"
    assert log.failing_insn is not None
    assert insn_asm(log, log.failing_insn).startswith("*(u64 *)(r6 +16) = ")
    assert source_of(log, log.failing_insn) is None


def test_accepted_program_has_no_error() -> None:
    for name in ("accepted", "accepted_level2"):
        log = fixture(name)
        assert log.error is None and log.failing_insn is None and log.unreleased is None
        assert log.stats is not None


def test_accepted_level2_gives_states_on_both_branches() -> None:
    log = fixture("accepted_level2")
    assert "Live regs before insn:" in log.raw and "live stack update" in log.raw
    popped = [s for s in log.states if s.from_insn is not None]
    assert popped and all(insn_asm(log, s.from_insn).startswith("if ") for s in popped)  # type: ignore[arg-type]
    update = next(i for i in log.insns if "bpf_map_update_elem" in i.asm)
    assert line_of(log, update.insn) == marker_line("accepted.bpf.c", "update")
    lookup = next(i for i in log.insns if "bpf_map_lookup_elem" in i.asm)
    assert line_of(log, lookup.insn) == marker_line("accepted.bpf.c", "lookup")
    # the liveness table's rows are not instructions on the verified path
    assert len(log.insns) == len({(i.insn, i.state) for i in log.insns})


# --- damaged logs ---------------------------------------------------------------------------


def test_missing_stats_means_truncated_but_error_survives() -> None:
    text = (LOGS / "map_null.log").read_text()
    cut = "".join(line for line in text.splitlines(True) if not line.startswith("processed "))
    log = parse_log(cut)
    assert log.stats is None
    assert log.error == fixture("map_null").error


def test_log_cut_inside_the_trace_has_no_error() -> None:
    text = (LOGS / "ringbuf_leak.log").read_text()
    log = parse_log(text[: text.index("9: (7b)")])
    assert log.stats is None and log.error is None and log.failing_insn is None
    assert log.insns[-1].insn == 8


def test_end_marker_glued_to_an_unterminated_log() -> None:
    kernel = (LOGS / "map_null.log").read_text().rstrip("\n")
    wrapped = f"libbpf: prog 'map_null': {BEGIN_MARK}\n{kernel}{END_MARK}\nlibbpf: failed\n"
    log = parse_log(wrapped)
    assert log.error == fixture("map_null").error and log.stats is not None


def _mutations(rng: random.Random, text: str) -> str:
    lines = text.splitlines(True)
    kind = rng.randrange(7)
    if kind == 0:
        return text[: rng.randrange(len(text) + 1)]
    if kind == 1:
        return text[rng.randrange(len(text) + 1) :]
    if kind == 2 and lines:
        del lines[rng.randrange(len(lines))]
    elif kind == 3 and lines:
        lines.insert(rng.randrange(len(lines)), rng.choice(lines))
    elif kind == 4:
        rng.shuffle(lines)
    elif kind == 5:
        chars = list(text)
        for _ in range(rng.randrange(1, 20)):
            if chars:
                chars[rng.randrange(len(chars))] = rng.choice("0123456789:;()@= \n\t-#\x00é")
        return "".join(chars)
    else:
        return BEGIN_MARK + text[: rng.randrange(len(text) + 1)] + rng.choice(["", END_MARK])
    return "".join(lines)


def test_random_damage_never_raises() -> None:
    texts = [(LOGS / f"{name}.log").read_text() for name in sorted(FIXTURES)]
    texts = [t if len(t) < 20_000 else t[-20_000:] for t in texts]
    rng = random.Random(20240611)
    for _ in range(400):
        text = _mutations(rng, rng.choice(texts))
        log = parse_log(text)
        printed = {i.insn for i in log.insns}
        assert log.failing_insn is None or log.failing_insn in printed
        assert log.error is None or log.error.strip()
        assert log.raw == text
        for insn in printed:
            note = source_of(log, insn)
            assert note is None or note.insn in printed


@pytest.mark.parametrize(
    "text",
    ["", "\n", "processed", "12:", "; @ x:1", "from 1 to", "\x00", "9" * 5000 + ": (85) call"],
)
def test_degenerate_input(text: str) -> None:
    log = parse_log(text)
    assert log.raw == text and log.insns == ()
    assert source_of(log, 0) is None


def test_error_before_any_instruction_names_its_instructions() -> None:
    """Errors from the CFG check come before the walk: no instruction lines at all."""
    # check_cfg's format: verbose_linfo(env, t, "%d: ", t) for both ends, then the message.
    text = (
        "9: for (int i = 0; i < n; i++) @ loop.bpf.c:10\n"
        "3: acc += i; @ loop.bpf.c:11\n"
        "back-edge from insn 9 to 3\n"
        "processed 0 insns (limit 1000000) max_states_per_insn 0 total_states 0 "
        "peak_states 0 mark_read 0\n"
    )
    log = parse_log(text)
    assert log.error == "back-edge from insn 9 to 3"
    assert log.failing_insn is None and log.mentioned_insns == (9, 3)
    assert [(n.insn, n.line) for n in log.notes] == [(9, 10), (3, 11)]
    note = source_of(log, 3)
    assert note is not None and note.text == "acc += i;"


# --- live, from this kernel -----------------------------------------------------------------

Capture = Callable[[str], VerifierLog]


@pytest.fixture()
def live(kernel: None, vmlinux_dir: Path) -> Capture:
    def run(name: str) -> VerifierLog:
        spec = FIXTURES[name]
        obj = capture.compile_object(
            LOGS / source_name(name), vmlinux_dir, strip_btf=spec.strip_btf
        )
        result = capture.load_log(
            obj,
            log_level=spec.log_level,
            via_libbpf_print=spec.via_libbpf_print,
        )
        assert (result.error == 0) == name.startswith("accepted"), result.log
        return parse_log(result.log)

    return run


@pytest.mark.parametrize("name", ["map_null", "map_null_libbpf", "kptr_leak", "subprog_error"])
def test_live_log_matches_fixture(live: Capture, name: str) -> None:
    """What the kernel says now is what the fixture recorded (same error, same lines)."""
    now, then = live(name), fixture(name)
    assert now.error == then.error
    assert now.failing_insn == then.failing_insn
    assert [(n.insn, n.line) for n in now.notes] == [(n.insn, n.line) for n in then.notes]
    assert now.unreleased == then.unreleased


def test_live_accepted_program(live: Capture) -> None:
    log = live("accepted_level2")
    assert log.error is None and log.stats is not None
    assert any(s.from_insn is not None for s in log.states)
