"""The verifier's states in words: decoded from level-2 logs this kernel prints at test time."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kptr_lsp.pipeline import analyse
from kptr_lsp.settings import Settings
from kptr_lsp.verify.loader import verify_object
from kptr_lsp.verify.states import StateTrace, decode_value, describe_line, trace_states

PROGRAMS = Path(__file__).parent.parent / "programs"


def level2(path: Path, program: str) -> tuple[str, StateTrace]:
    analysis = analyse(str(path), path.read_text(), Settings(verify=False))
    assert analysis.model is not None
    result = verify_object(analysis.model.data, log_level=2, programs=[program])
    log = result.programs[0].log
    return log, trace_states(log)


def line_of(path: Path, needle: str) -> int:
    return next(i for i, t in enumerate(path.read_text().splitlines(), 1) if needle in t)


def printed(log: str, pattern: str) -> str:
    """A value exactly as this kernel printed it."""
    m = re.search(rf"=({pattern})(?=\s|$)", log, re.M)
    assert m is not None, f"{pattern!r} not in the log"
    return m.group(1)


def test_values_printed_by_this_kernel_in_words(kernel: None) -> None:
    log, _ = level2(PROGRAMS / "clean/kptr_ok.bpf.c", "stash_child")
    maybe_null = printed(log, r"ptr_or_null_task_struct\(id=\d+,ref_obj_id=\d+\)")
    v = decode_value(maybe_null, {3: 30, 5: 34})
    assert v.words.startswith("task_struct * — may be NULL")
    assert v.may_be_null and v.ref_obj_id is not None
    assert f"holds reference #{v.ref_obj_id}" in v.words
    assert (
        decode_value(printed(log, r"trusted_ptr_task_struct\(\)")).words == "trusted task_struct *"
    )
    lookup = decode_value(printed(log, r"map_value_or_null\([^ ]*\)"))
    assert "value of map `newest_child` (8 bytes)" in lookup.words and lookup.may_be_null
    tgid = decode_value(
        printed(log, r"scalar\(smin=0,smax=umax=0xffffffff,var_off=\(0x0; 0xffffffff\)\)")
    )
    assert tgid.words == "integer in 0 … 0xffffffff"
    assert decode_value(printed(log, r"mmmm\?\?\?\?")).words == (
        "bytes from the lowest address: 4 not written, 4 data"
    )
    assert decode_value(printed(log, r"fp-12")).words == "pointer to the stack at fp-12"


def test_dynptr_slot_and_its_reference(kernel: None) -> None:
    path = PROGRAMS / "clean/dynptr_ok.bpf.c"
    log, trace = level2(path, "emit_fork")
    words = decode_value(printed(log, r"dynptr_ringbuf\([^ ]*\)")).words
    assert words.startswith("dynptr over a ring buffer record — holds reference #")
    # After the discard, the dynptr and the reference are gone.
    states, _, _ = describe_line(trace, str(path), line_of(path, "return 0;")) or ([], 0, 0)
    assert states and not any("dynptr" in b or "reference" in b for s in states for b in s)


def test_state_on_entry_to_a_line_names_where_the_reference_was_taken(kernel: None) -> None:
    path = PROGRAMS / "clean/kptr_ok.bpf.c"
    _, trace = level2(path, "stash_child")
    acquire = line_of(path, "acquired = bpf_task_acquire(task);")
    described = describe_line(trace, str(path), line_of(path, "if (!acquired)"))
    assert described is not None
    (state,), more, visits = described
    assert (more, visits) == (0, 1)
    assert any(
        b.startswith("`r0`: task_struct * — may be NULL") and f"(acquired line {acquire})" in b
        for b in state
    )
    # r1-r5 are dead after the call: the liveness table keeps them out.
    assert not any(b.startswith(("`r1`", "`r2`")) for b in state)


def test_several_paths_reach_the_exit_line(kernel: None) -> None:
    path = PROGRAMS / "clean/kptr_ok.bpf.c"
    _, trace = level2(path, "stash_child")
    described = describe_line(trace, str(path), line_of(path, "int BPF_PROG(stash_child"), limit=1)
    assert described is not None
    states, more, visits = described
    assert len(states) == 1 and more >= 1 and visits > 2


def test_rejected_program_state_at_the_failing_line(kernel: None) -> None:
    path = PROGRAMS / "rejected/map_value_null_deref.bpf.c"
    _, trace = level2(path, "count_syscalls")
    described = describe_line(trace, str(path), line_of(path, "*count += 1"))
    assert described is not None
    assert any("may be NULL" in b and b.startswith("`r0`") for b in described[0][0])


def test_decoder_is_total() -> None:
    for text in ("", "?", "scalar(", "ptr_", "fp(off=", "weird_thing(a=b)", "P", "iter_num("):
        assert isinstance(decode_value(text).words, str)
    assert trace_states("garbage\n0: (b7) r0 = 0\nfrom x to y:\n").visits == {}


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("0", "integer 0"),
        ("P-1", "integer -1"),
        ("scalar(id=1)", "integer, value unknown"),
        ("ctx()", "pointer to the program's context"),
        ("map_ptr(map=counts,ks=4,vs=8)", "map `counts`"),
        ("0000????", "bytes from the lowest address: 4 not written, 4 zero"),
        ("????scalar()", "integer, value unknown (spilled, 4 bytes)"),
    ],
)
def test_short_forms(text: str, words: str) -> None:
    assert decode_value(text).words == words
