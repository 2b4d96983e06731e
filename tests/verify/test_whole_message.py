"""The kernel's whole message reaches the user: every line of a multi-line error, each
program's own text when several fail on one line, and the verdict of a walk whose log no
buffer holds. Real programs (tests/programs), real clang, the running kernel's verifier."""

from __future__ import annotations

import dataclasses
import errno
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kptr_lsp.analysis import Analysis
from kptr_lsp.findings import Finding, Location, Severity, Source
from kptr_lsp.kernel.running import VMLINUX_BTF
from kptr_lsp.pipeline import analyse
from kptr_lsp.settings import Settings
from kptr_lsp.verify.loader import BPF_LOG_FIXED, BPF_LOG_LEVEL1, BPF_LOG_STATS
from kptr_lsp.verify.log import verdict_error
from kptr_lsp.verify.placement import merge_shared, program_findings
from tests.expectations import read_expectations

PROGRAMS = Path(__file__).parent.parent / "programs"
TWO_LOCKS = PROGRAMS / "rejected" / "list_wrong_lock_two_programs.bpf.c"
VOID_ARG = PROGRAMS / "rejected" / "global_func_void_arg.bpf.c"
TOO_LARGE = PROGRAMS / "catalogue" / "too_large.bpf.c"


def _analyse(path: Path, **settings: object) -> Analysis:
    return analyse(str(path), path.read_text(), Settings(**settings))  # type: ignore[arg-type]


def _errors(analysis: Analysis) -> list[Finding]:
    return [f for f in analysis.findings if f.severity is Severity.ERROR]


def _expect_line(path: Path) -> int:
    return read_expectations(path).expects[0].line


def test_each_program_keeps_its_own_lines_on_a_shared_line(kernel: None) -> None:
    analysis = _analyse(TWO_LOCKS)
    (error,) = _errors(analysis)
    assert error.line == _expect_line(TWO_LOCKS)
    assert set(error.programs) == {"rx_enqueue", "tx_enqueue"}
    logs = {p.name: p.log for p in analysis.programs}
    blocks = error.message.split("\n\n")
    assert len(blocks) == 2
    for block, name, off in zip(blocks, ("rx_enqueue", "tx_enqueue"), (0, 16), strict=True):
        kernel_text = (
            "held lock and object are not in the same allocation\n"
            f"bpf_spin_lock at off={off} must be held for bpf_list_head"
        )
        assert kernel_text in logs[name]  # what each program's own load said
        assert block.startswith(kernel_text + "\n")
        assert f"program '{name}'" in block


def _finding(message: str, program: str) -> Finding:
    loc = Location("/p.bpf.c", 7, 3)
    return Finding(loc, Severity.ERROR, Source.VERIFIER, message, "verifier", programs=(program,))


def test_identical_texts_merge_into_one_block() -> None:
    text = "R0 invalid mem access 'map_value_or_null'"
    merged = merge_shared(
        [
            _finding(
                f"{text}\nThe verifier rejected program 'a' (SEC(\"xdp\")) at instruction 7.", "a"
            ),
            _finding(
                f"{text}\nThe verifier rejected program 'b' (SEC(\"tc\")) at instruction 9.", "b"
            ),
            _finding(
                f"{text}\nextra\nThe verifier rejected program 'c' (SEC(\"tc\")) at instruction 9.",
                "c",
            ),
        ]
    )
    (only,) = merged
    assert only.programs == ("a", "b", "c")
    assert only.message == (
        f"{text}\nThe verifier rejected programs 'a', 'b' here.\n\n"
        f"{text}\nextra\nThe verifier rejected program 'c' (SEC(\"tc\")) at instruction 9."
    )


def test_the_reason_line_before_caller_passes_invalid_args_is_kept(kernel: None) -> None:
    (error,) = _errors(_analyse(VOID_ARG))
    assert error.line == _expect_line(VOID_ARG)
    assert error.message.startswith(
        "arg#0 reference type('UNKNOWN ') size cannot be determined: -22\n"
        "Caller passes invalid args into func#1 ('hash_payload')\n"
    )


VERDICT = "BPF program is too large. Processed 1000001 insn"


@pytest.mark.parametrize(
    "level",
    [BPF_LOG_LEVEL1 | BPF_LOG_STATS, BPF_LOG_LEVEL1 | BPF_LOG_STATS | BPF_LOG_FIXED],
    ids=["rotating-log", "log-keeps-its-start"],
)
def test_a_log_no_buffer_holds_still_gives_the_kernels_verdict(kernel: None, level: int) -> None:
    """A million instructions walked at level 1 is a log of ~60 MiB. This kernel keeps its
    end (6.4+); with BPF_LOG_FIXED it keeps the start, as kernels before 6.4 always do."""
    analysis = _analyse(TOO_LARGE, verifier_log_level=level)
    (program,) = analysis.programs
    assert program.log_cut and not program.accepted
    if level & BPF_LOG_FIXED:
        # the verdict-only load: the kernel's own answer, not the log's ENOSPC
        assert program.errno == errno.E2BIG
        assert VERDICT in program.verdict_log
    else:
        assert VERDICT in program.log  # the kept end has it: no second load
    (error,) = _errors(analysis)
    assert error.message.startswith(VERDICT + "\n")
    assert "No space left on device" not in error.message
    assert "It gave up after processing 1000001 instructions" in error.message
    if level & BPF_LOG_FIXED:
        assert "keeps only the start" in error.message
        # A loader that does not say the log was cut (the target kernels' guest loader):
        # ENOSPC and no statistics say it; the cut last line is never taken for the error.
        ctx = analysis.model
        assert ctx is not None
        guest = dataclasses.replace(program, log_cut=False, verdict_log="", errno=errno.ENOSPC)
        (said,) = program_findings(ctx, guest)
        assert not said.message.startswith(";") and "keeps only the start" in said.message
        assert error.line == analysis.model.decls.functions["count_a_lot"].line  # type: ignore[union-attr]
    else:
        assert "kept the end" in error.message
        assert error.line == _expect_line(TOO_LARGE)  # where the walk ended


CORE_UNGUARDED = PROGRAMS / "rejected" / "core_legacy_field_unguarded.bpf.c"
CORE_GUARDED = PROGRAMS / "clean" / "core_legacy_field_guarded.bpf.c"


def _task_struct_members() -> set[str]:
    """Member names of the running kernel's struct task_struct, read with bpftool."""
    bpftool = shutil.which("bpftool") or "/usr/sbin/bpftool"
    out = subprocess.run(
        [bpftool, "btf", "dump", "file", VMLINUX_BTF],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    block = re.search(r"^\[\d+\] STRUCT 'task_struct' .*?(?=^\[)", out, re.M | re.S)
    assert block is not None
    return set(re.findall(r"^\s+'(\w+)' type_id=", block.group(0), re.M))


def test_unresolvable_core_field_is_libbpfs_text_on_the_reading_line(kernel: None) -> None:
    members = _task_struct_members()
    assert "state" not in members and "__state" in members  # what the message says
    (error,) = _errors(_analyse(CORE_UNGUARDED))
    assert error.line == _expect_line(CORE_UNGUARDED)  # the BPF_CORE_READ, not the SEC line
    first, poisoned, load = error.message.splitlines()[:3]
    assert re.fullmatch(
        r"failed to resolve CO-RE relocation <byte_off> \[\d+\] "
        r"struct task_struct___legacy\.state \(0:0 @ offset 0\)",
        first,
    )
    assert re.fullmatch(r"\d+: <invalid CO-RE relocation>", poisoned)
    assert load == "prog 'sched_switch': BPF program load failed: Invalid argument"
    assert "bpf_core_field_exists()" in error.message
    assert "The field is missing from this kernel" in error.message


def test_the_guarded_twin_is_accepted(kernel: None) -> None:
    analysis = _analyse(CORE_GUARDED)
    assert [p.accepted for p in analysis.programs] == [True]
    assert _errors(analysis) == []


# Logs at BPF_LOG_STATS alone (log_level 4), captured on Linux 6.18 through
# verify/loader.py's _attempt from global_func_void_arg-style and too_large_many_paths.bpf.c.
STATS_ONLY_CALL = (
    "arg#0 reference type('UNKNOWN ') size cannot be determined: -22\n"
    "arg#0 reference type('UNKNOWN ') size cannot be determined: -22\n"
    "Caller passes invalid args into func#1 ('count_bytes')\n"
    "verification time 33 usec\n"
    "stack depth 0+0\n"
    "processed 4 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 "
    "mark_read 0\n"
)
STATS_ONLY_LIMIT = (
    "arg#0 reference type('UNKNOWN ') size cannot be determined: -22\n"
    "BPF program is too large. Processed 1000001 insn\n"
    "verification time 5772685 usec\n"
    "stack depth 8\n"
    "processed 1000001 insns (limit 1000000) max_states_per_insn 10 total_states 34060 "
    "peak_states 632 mark_read 0\n"
)


def test_verdict_of_a_stats_only_log() -> None:
    # the first arg# line is about the program's own `void *ctx`; the second is the reason
    assert verdict_error(STATS_ONLY_CALL) == (
        "arg#0 reference type('UNKNOWN ') size cannot be determined: -22\n"
        "Caller passes invalid args into func#1 ('count_bytes')"
    )
    assert verdict_error(STATS_ONLY_LIMIT) == VERDICT
    assert verdict_error("") is None


def test_the_privileged_helper_carries_what_a_cut_log_kept() -> None:
    """Through `verify-helper` (unprivileged editors) the cut-log facts reach placement too."""
    from kptr_lsp.verify.helper import result_from_json, result_to_json
    from kptr_lsp.verify.loader import Failure, ObjectResult, ProgramResult

    program = ProgramResult(
        "count_a_lot", "xdp", False, Failure.VERIFIER, errno.E2BIG, "0: (b7) r0 = 0\n", (),
        b"", 1.0, log_cut=True, log_size=1 << 20, verdict_log=STATS_ONLY_LIMIT,
    )  # fmt: skip
    back = result_from_json(result_to_json(ObjectResult((program,), False, "", None)))
    assert back.programs[0] == program


def test_a_merged_load_error_names_every_program_in_its_own_sentence() -> None:
    text = "map 'jmp': failed to create: Invalid argument(-22)"
    found = [
        Finding(
            Location("/p.bpf.c", 3),
            Severity.ERROR,
            Source.VERIFIER,
            f"{text}\nThe kernel refused to create this map, so program '{name}' "
            f'(SEC("xdp")) could not be verified.',
            "map-create",
            programs=(name,),
        )
        for name in ("a", "b")
    ]
    (only,) = merge_shared(found)
    assert only.message == (
        f"{text}\nThe kernel refused to create this map, so programs 'a', 'b' could not be "
        "verified."
    )
