"""Externs the running kernel cannot resolve, in the real kernel: a kfunc it lacks fails only
the programs that call it, a subsystem it lacks (sched_ext) is an Information and no verdict,
and an object that needs another linked in first says which externs."""

from __future__ import annotations

import io
import subprocess
import tempfile
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from kptr_lsp.features.lenses import Verdict, program_lenses, verdict_of
from kptr_lsp.findings import Severity
from kptr_lsp.kernel.running import VMLINUX_BTF
from kptr_lsp.pipeline import analyse
from kptr_lsp.report import FileReport, verdict
from kptr_lsp.report.json_ import file_json
from kptr_lsp.report.text import TextWriter
from kptr_lsp.settings import Settings
from kptr_lsp.verify.loader import Failure, verify_object
from kptr_lsp.verify.setup import detach_struct_ops, weaken_externs
from tests.conftest import CompileFn
from tests.expectations import read_expectations

PROJECTS = Path(__file__).parent.parent / "programs" / "projects"
ONE_CALLER = PROJECTS / "missing_kfunc_one_caller.bpf.c"
SCX = PROJECTS / "scx_minimal" / "minimal.bpf.c"
LINKED = PROJECTS / "linked" / "xdp_counter.bpf.c"
LIBRARY = PROJECTS / "linked" / "counters_lib.bpf.c"
KERNEL_BTF = Path(VMLINUX_BTF)


def _bindings(data: bytes) -> dict[str, str]:
    symtab = ELFFile(io.BytesIO(data)).get_section_by_name(".symtab")
    assert isinstance(symtab, SymbolTableSection)
    return {s.name: s["st_info"]["bind"] for s in symtab.iter_symbols() if s.name}


def _warnings(messages: object) -> str:
    return "".join(m.text for m in messages if m.level == "warn")  # type: ignore[attr-defined]


def test_weaken_rebinds_only_the_named_undefined_symbols(compile_bpf: CompileFn) -> None:
    data = compile_bpf(ONE_CALLER)
    before = _bindings(data)
    assert before["bpf_nonexistent_kfunc"] == "STB_GLOBAL"
    after = _bindings(weaken_externs(data, {"bpf_nonexistent_kfunc", "hold_new_task"}))
    assert after["bpf_nonexistent_kfunc"] == "STB_WEAK"
    assert after["hold_new_task"] == "STB_GLOBAL"  # defined here: never touched
    assert after["bpf_task_release"] == "STB_GLOBAL"  # not named
    assert weaken_externs(b"not an object", {"x"}) == b"not an object"


def test_as_compiled_the_missing_kfunc_fails_the_whole_object(
    compile_bpf: CompileFn, kernel: None
) -> None:
    """Why kptr-lsp weakens it: libbpf gives every program the same failure."""
    result = verify_object(compile_bpf(ONE_CALLER), weaken=False)
    assert all(p.failure is Failure.RELOCATION and p.object_wide for p in result.programs)


def test_only_the_caller_of_a_missing_kfunc_fails(compile_bpf: CompileFn, kernel: None) -> None:
    result = verify_object(compile_bpf(ONE_CALLER))
    caller, other = result.programs
    assert (caller.name, other.name) == ("hold_new_task", "log_new_task")
    assert other.accepted and other.failure is Failure.NONE
    assert "processed" in other.log  # the kernel's own verdict, with its statistics
    assert not caller.accepted and caller.failure is Failure.RELOCATION
    assert not caller.object_wide
    assert (
        "libbpf: extern (func ksym) 'bpf_nonexistent_kfunc': not found in kernel or module BTFs"
        in _warnings(caller.libbpf_messages)
    )


def test_the_error_names_only_the_caller_on_its_call(kernel: None) -> None:
    analysis = analyse(str(ONE_CALLER), ONE_CALLER.read_text(), Settings())
    (error,) = [f for f in analysis.findings if f.severity is Severity.ERROR]
    (expected,) = read_expectations(ONE_CALLER).expects
    assert error.line == expected.line
    assert error.programs == ("hold_new_task",)
    assert error.message.startswith(
        "extern (func ksym) 'bpf_nonexistent_kfunc': not found in kernel or module BTFs\n"
    )
    assert "log_new_task" not in error.message
    verdicts = {p.name: verdict(p) for p in analysis.programs}
    assert verdicts == {"hold_new_task": "rejected", "log_new_task": "accepted"}
    titles = {lens.program: lens.title for lens in program_lenses(analysis)}
    assert titles["log_new_task"].startswith("✓ ")
    assert titles["hold_new_task"].startswith("✗ rejected")


@pytest.fixture(scope="module")
def no_sched_ext() -> None:
    if not KERNEL_BTF.exists():
        pytest.skip("no kernel BTF")
    if b"\0sched_ext_ops\0" in KERNEL_BTF.read_bytes():
        pytest.skip("this kernel has sched_ext: the scheduler would be verified")


def test_a_kernel_without_sched_ext_gets_no_verdict_and_no_error(
    kernel: None, no_sched_ext: None
) -> None:
    analysis = analyse(str(SCX), SCX.read_text(), Settings())
    assert [f for f in analysis.findings if f.severity is Severity.ERROR] == []
    (info,) = [f for f in analysis.findings if f.code == "kernel-lacks"]
    (expected,) = read_expectations(SCX).expects
    assert info.severity is Severity.INFORMATION and info.line == expected.line
    first, why, kfuncs, _ = info.message.splitlines()
    # libbpf's words, verbatim, then ours: what this kernel lacks.
    assert first == "struct_ops init_kern: struct sched_ext_ops is not found in kernel BTF"
    assert "no `struct sched_ext_ops` in its BTF" in why and "`minimal_ops`" in why
    for name in ("scx_bpf_consume", "scx_bpf_create_dsq", "scx_bpf_dispatch"):
        assert f"`{name}`" in kfuncs
    assert set(info.programs) == {p.name for p in analysis.programs}
    assert len(analysis.programs) == 4
    for p in analysis.programs:
        assert p.failure is Failure.KERNEL_LACKS
        assert verdict(p) == "not verifiable here"
        assert verdict_of(p) is Verdict.NOT_VERIFIED
    titles = [lens.title for lens in program_lenses(analysis)]
    assert titles == ["– not verifiable here: this kernel has no struct sched_ext_ops"] * 4
    programs = file_json(FileReport(str(SCX), analysis))["programs"]
    assert isinstance(programs, list)
    assert {(p["accepted"], p["verdict"]) for p in programs} == {(False, "not verifiable here")}


def test_an_object_needing_a_linked_library_names_its_externs(kernel: None) -> None:
    analysis = analyse(str(LINKED), LINKED.read_text(), Settings())
    assert not analysis.rejected
    expects = read_expectations(LINKED).expects
    infos = [f for f in analysis.findings if f.code == "needs-linking"]
    assert sorted(f.line for f in infos) == sorted(e.line for e in expects)
    assert all(f.severity is Severity.INFORMATION for f in infos)
    assert not analysis.verified and analysis.programs == ()
    reason = analysis.not_verified_reason or ""
    for name in ("shared_counts", "lib_debug_level", "lib_count", "lib_classify"):
        assert f"`{name}`" in reason
    report = file_json(FileReport(str(LINKED), analysis))
    assert report["verified"] is False and report["not_verified_reason"] == reason
    out = io.StringIO()
    TextWriter(out, str(PROJECTS)).file(FileReport("xdp_counter.bpf.c", analysis))
    assert "None" not in out.getvalue()
    assert f"not verified by the kernel: {reason}" in out.getvalue()
    lens = program_lenses(analysis)
    assert [x.title for x in lens] == [f"– not verified: {reason}"]


def test_linked_with_its_library_the_object_verifies(compile_bpf: CompileFn, kernel: None) -> None:
    """What the Information claims: the externs are all the object lacks."""
    with tempfile.TemporaryDirectory() as tmp:
        objs = [Path(tmp) / "xdp_counter.bpf.o", Path(tmp) / "counters_lib.bpf.o"]
        objs[0].write_bytes(compile_bpf(LINKED))
        objs[1].write_bytes(compile_bpf(LIBRARY))
        out = Path(tmp) / "linked.bpf.o"
        subprocess.run(
            ["bpftool", "gen", "object", str(out), *map(str, objs)], check=True, capture_output=True
        )
        result = verify_object(out.read_bytes())
    assert [(p.name, p.accepted) for p in result.programs] == [("count_packets", True)]


SUBPROGRAM_CALLER = """
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
extern struct task_struct *bpf_nonexistent_kfunc(struct task_struct *p) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;
static __noinline int grab(struct task_struct *t)
{
	struct task_struct *p = bpf_nonexistent_kfunc(t);
	if (p)
		bpf_task_release(p);
	return 0;
}
static __noinline int next_pid(int pid) { return pid + 1; }
SEC("tp_btf/task_newtask")
int BPF_PROG(through_helper, struct task_struct *task, u64 flags) { return grab(task); }
SEC("tp_btf/task_newtask")
int BPF_PROG(other_helper, struct task_struct *task, u64 flags) { return next_pid(task->pid) > 0; }
char LICENSE[] SEC("license") = "GPL";
"""


def test_a_call_in_a_subprogram_fails_the_programs_that_reach_it(
    compile_bpf: CompileFn, kernel: None
) -> None:
    """libbpf appends only the subprograms a program calls: `other_helper` never loads grab()."""
    result = verify_object(compile_bpf(SUBPROGRAM_CALLER))
    verdicts = {p.name: (p.accepted, p.failure) for p in result.programs}
    assert verdicts == {
        "through_helper": (False, Failure.RELOCATION),
        "other_helper": (True, Failure.NONE),
    }


STRUCT_OPS = PROJECTS / "struct_ops_missing_kfunc.bpf.c"


def test_struct_ops_programs_beside_a_caller_get_their_own_verdict(
    compile_bpf: CompileFn, kernel: None
) -> None:
    """libbpf loads every program of a struct_ops map with the map: the caller is taken out of
    the map for the others' load, or its failure would be theirs."""
    data = compile_bpf(STRUCT_OPS)
    result = verify_object(data)
    verdicts = {p.name: (p.accepted, p.failure) for p in result.programs}
    assert verdicts == {
        "cc_cong_avoid": (False, Failure.RELOCATION),
        "cc_ssthresh": (True, Failure.NONE),
        "cc_undo_cwnd": (True, Failure.NONE),
    }
    # Why it is needed: with the caller still in the map, the others fail on its load.
    weak = weaken_externs(data, {"bpf_nonexistent_kfunc"})
    coupled = verify_object(weak, programs=["cc_ssthresh"], weaken=False)
    assert "prog 'cc_cong_avoid': BPF program load failed" in _warnings(
        coupled.programs[0].libbpf_messages
    )
    alone = verify_object(detach_struct_ops(weak, {"cc_cong_avoid"}), programs=["cc_ssthresh"])
    assert alone.programs[0].accepted


def test_without_btf_no_extern_is_claimed_for_the_linker(compile_bpf: CompileFn) -> None:
    """libbpf resolves no extern without BTF (kfuncs included): that is its error to give."""
    from kptr_lsp.elf.objfile import ObjectFile
    from kptr_lsp.verify.externs import link_externs

    data = compile_bpf(LINKED)
    assert {e.name for e in link_externs(ObjectFile.parse(data))} == {
        "shared_counts",
        "lib_debug_level",
        "lib_count",
        "lib_classify",
    }
    stripped = subprocess.run(
        ["llvm-objcopy", "--remove-section=.BTF", "--remove-section=.BTF.ext", "-", "-"],
        input=data,
        capture_output=True,
        check=True,
    ).stdout
    assert link_externs(ObjectFile.parse(stripped)) == []
