"""The cut vmlinux.h (toolchain/trim.py): a compile on it is taken only when it gives what the
whole header gives. Every program under tests/programs is compiled both ways and compared
(instructions, maps, BTF and .BTF.ext with type ids resolved, clang's diagnostics); then edits
made to defeat each of the module's rules: a file that starts using a struct the cut lacks by
value, through a member, in its BTF (a global, an array of pointers, a subprogram parameter, a
kfunc, a map value, a CO-RE relocation), defines a kernel struct itself, or does not compile.
Real clang, vmlinux.h generated from this kernel's BTF.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import subprocess
from pathlib import Path

import pytest

from kptr_lsp.pipeline import compile_options
from kptr_lsp.settings import Settings
from kptr_lsp.toolchain import pch, trim
from kptr_lsp.toolchain.clang import find_clang
from kptr_lsp.toolchain.compile import CompileOptions, CompileResult, compile_buffer
from kptr_lsp.toolchain.vmlinux import ensure_vmlinux_h
from tests.toolchain.kernel_view import what_the_kernel_gets

PROGRAMS = Path(__file__).resolve().parent.parent / "programs"
CORPUS = sorted(
    p for p in PROGRAMS.rglob("*.bpf.c") if "vmlinux.h" in p.read_text() or p.parent != PROGRAMS
)
WHOLE = CompileOptions(use_compile_commands=False, use_pch=False, trim_vmlinux=False)
TRIM = CompileOptions(use_compile_commands=False, use_pch=False)


@pytest.fixture
def cuts(tmp_path: Path, xdg_cache: Path, monkeypatch: pytest.MonkeyPatch) -> trim.CutHeaders:
    fresh = trim.CutHeaders(root=tmp_path / "cuts")
    monkeypatch.setattr(trim, "CUTS", fresh)
    return fresh


def _on_cut(result: CompileResult) -> bool:
    return "-ivfsoverlay" in result.command


def _same(a: CompileResult, b: CompileResult) -> None:
    assert a.findings == b.findings
    assert (a.obj is None) == (b.obj is None)
    if a.obj is not None:
        assert what_the_kernel_gets(a) == what_the_kernel_gets(b)


def test_the_corpus_is_the_programs_that_reach_vmlinux_h() -> None:
    assert len(CORPUS) > 100


@pytest.mark.parametrize("src", CORPUS, ids=lambda p: str(p.relative_to(PROGRAMS)))
def test_every_program_compiles_on_the_cut_header_as_on_the_whole(
    src: Path, cuts: trim.CutHeaders
) -> None:
    text = src.read_text()
    whole = compile_buffer(str(src), text, options=TRIM)  # the first: on the whole header
    assert not _on_cut(whole)
    again = compile_buffer(str(src), text, options=TRIM)
    _same(whole, again)
    header = next((h.path for h in whole.headers if h.path.endswith("/vmlinux.h")), None)
    cuttable = header is not None and trim.read_header(header) is not None
    # Every program that compiled on a bpftool vmlinux.h compiles on a cut of it after that.
    assert _on_cut(again) == (whole.obj is not None and cuttable)


BASE = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";
/* EDIT */
SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
    /* BODY */
    return prev->pid == next->pid;
}
"""

EDITS = {
    # a struct the cut lacks, needed whole by the code: clang names it
    "local by value": ("", "struct bpf_dynptr ptr; __builtin_memset(&ptr, 0, sizeof(ptr));"),
    "through a member": ("", "if (BPF_CORE_READ(prev, mm, total_vm) > 1) return 2;"),
    # compiles on a forward declaration, but the whole header's BTF holds it whole
    "global pointer": ("struct mm_struct *saved_mm;", "saved_mm = prev->mm;"),
    "array of pointers": ("struct file *files[4];", "files[0] = 0;"),
    "subprogram parameter": (
        "__noinline int peek(struct linux_binprm *bprm) { return bprm != 0; }",
        "if (peek((void *)next)) return 3;",
    ),
    "kfunc": (
        "extern struct cgroup *bpf_cgroup_from_id(u64 cgid) __ksym;\n"
        "extern void bpf_cgroup_release(struct cgroup *cgrp) __ksym;",
        "struct cgroup *c = bpf_cgroup_from_id(1); if (c) bpf_cgroup_release(c);",
    ),
    "map value": (
        "struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4);\n"
        '  __type(key, u32); __type(value, struct sembuf); } sems SEC(".maps");',
        "u32 k = 0; bpf_map_lookup_elem(&sems, &k);",
    ),
    "CO-RE type relocation": ("", "if (bpf_core_type_exists(struct io_uring_sqe)) return 4;"),
    # must stay the whole header's error, not compile on a cut that lacks the kernel's one
    "redefines a kernel struct": ("struct sembuf { int x; };", ""),
    "does not compile": ("", "int x = ;"),
}


ON_A_WIDER_CUT = {"local by value"}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_an_edit_the_cut_lacks_a_type_for_gives_the_whole_headers_object(
    edit: str, tmp_path: Path, cuts: trim.CutHeaders
) -> None:
    src = tmp_path / "prog.bpf.c"
    first = compile_buffer(str(src), BASE, options=TRIM)
    assert first.obj is not None and not _on_cut(first)
    assert _on_cut(compile_buffer(str(src), BASE, options=TRIM))
    top, body = EDITS[edit]
    text = BASE.replace("/* EDIT */", top).replace("/* BODY */", body)
    whole = compile_buffer(str(src), text, options=WHOLE)
    cut = compile_buffer(str(src), text, options=TRIM)
    _same(whole, cut)
    if edit in ON_A_WIDER_CUT:  # clang named the struct: kept, and compiled on the cut again
        assert _on_cut(cut)
    # Once it compiled on the whole header, the kept set holds what its BTF does.
    later = compile_buffer(str(src), text, options=TRIM)
    _same(whole, later)
    assert _on_cut(later) == (whole.obj is not None)


def test_the_least_cut_header_compiles_on_its_own(xdg_cache: Path, tmp_path: Path) -> None:
    header = trim.read_header(str(Path(ensure_vmlinux_h()) / "vmlinux.h"))
    assert header is not None and len(header.spans) > 1000
    keep = header.closure(set(header.always))
    assert len(keep) < len(header.spans) // 10
    cut = tmp_path / "vmlinux.h"
    cut.write_text(header.cut(keep))
    assert cut.read_text().count("\n") == len(header.lines)  # every line where it was
    clang = find_clang(None).path
    said = subprocess.run(
        [clang, "-target", "bpf", "-fsyntax-only", "-ferror-limit=0", "-x", "c", str(cut)],
        capture_output=True,
        text=True,
    )
    assert said.returncode == 0, said.stderr[:2000]


def test_a_header_not_in_bpftools_layout_is_not_cut(tmp_path: Path, cuts: trim.CutHeaders) -> None:
    (tmp_path / "vmlinux.h").write_text(
        "#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\nstruct task_struct { int pid; };\n#endif\n"
    )
    src = tmp_path / "prog.bpf.c"
    text = '#include "vmlinux.h"\nint f(struct task_struct *t) { return t->pid; }\n'
    assert trim.read_header(str(tmp_path / "vmlinux.h")) is None
    for _ in range(2):
        result = compile_buffer(str(src), text, options=TRIM)
        assert result.obj is not None and not _on_cut(result)


def test_an_edited_header_is_read_again(
    tmp_path: Path, cuts: trim.CutHeaders, xdg_cache: Path
) -> None:
    shutil.copy(Path(ensure_vmlinux_h()) / "vmlinux.h", tmp_path / "vmlinux.h")
    src = tmp_path / "prog.bpf.c"
    compile_buffer(str(src), BASE, options=TRIM)
    assert _on_cut(compile_buffer(str(src), BASE, options=TRIM))
    header = tmp_path / "vmlinux.h"
    text = header.read_text()
    at = text.index("struct task_struct {\n") + len("struct task_struct {\n")
    header.write_text(text[:at] + "\tint kptr_lsp_added;\n" + text[at:])
    edited = BASE.replace("/* BODY */", "if (prev->kptr_lsp_added) return 5;")
    after = compile_buffer(str(src), edited, options=TRIM)
    assert after.obj is not None and not _on_cut(after)
    _same(compile_buffer(str(src), edited, options=WHOLE), after)
    assert _on_cut(compile_buffer(str(src), edited, options=TRIM))


def test_a_file_keeps_its_cut_when_another_file_needs_more(
    tmp_path: Path, cuts: trim.CutHeaders
) -> None:
    """Each file compiles on its own kept set until it needs more: a second file's wider
    set must not make the first one's cut (and the PCH on it) new."""
    first, second = tmp_path / "a.bpf.c", tmp_path / "b.bpf.c"
    wider = BASE.replace("/* BODY */", "if (BPF_CORE_READ(prev, mm, total_vm) > 1) return 2;")
    compile_buffer(str(first), BASE, options=TRIM)
    before = compile_buffer(str(first), BASE, options=TRIM)
    assert _on_cut(before)
    compile_buffer(str(second), wider, options=TRIM)
    theirs = compile_buffer(str(second), wider, options=TRIM)
    assert _on_cut(theirs) and theirs.command != before.command
    after = compile_buffer(str(first), BASE, options=TRIM)
    assert after.command == before.command
    # the first file, once it needs more, takes the wider set: one cut for both
    mine = compile_buffer(str(first), wider, options=TRIM)
    _same(compile_buffer(str(first), wider, options=WHOLE), mine)
    assert compile_buffer(str(first), wider, options=TRIM).command == theirs.command


def test_a_cut_on_disk_is_not_written_again(
    tmp_path: Path, xdg_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second server (or the next session) finds the same cut where the first wrote it and
    leaves it be: a new mtime would make clang refuse every PCH built on it."""
    src = tmp_path / "prog.bpf.c"
    written: list[list[int]] = []
    for _ in range(2):  # two servers, one after the other, on one cache
        monkeypatch.setattr(trim, "CUTS", trim.CutHeaders(root=tmp_path / "cuts"))
        compile_buffer(str(src), BASE, options=TRIM)
        assert _on_cut(compile_buffer(str(src), BASE, options=TRIM))
        cuts = sorted((tmp_path / "cuts").iterdir())
        assert len(cuts) == 2  # the header and its overlay
        written.append([p.stat().st_mtime_ns for p in cuts])
    assert written[0] == written[1]


def test_on_the_preamble_pch_of_the_cut_the_object_is_the_whole_headers(
    tmp_path: Path, cuts: trim.CutHeaders
) -> None:
    """The server's way: the cut's preamble precompiled (in the background), then loaded."""
    tools = tmp_path / "tools"
    shutil.copytree(PROGRAMS / "projects" / "header_chain", tools)
    src = tools / "execsnoop.bpf.c"
    text = src.read_text()
    with_pch = CompileOptions(use_compile_commands=False)
    for _ in range(2):  # the whole header's compile, then the cut's: each starts its PCH
        compile_buffer(str(src), text, options=with_pch)
        pch.CACHE.wait()
    result = compile_buffer(str(src), text, options=with_pch)
    assert _on_cut(result) and "-include-pch" in result.command
    _same(compile_buffer(str(src), text, options=WHOLE), result)


def test_the_trim_vmlinux_setting_false_keeps_every_compile_on_the_whole_header(
    tmp_path: Path, cuts: trim.CutHeaders
) -> None:
    settings, problems = Settings.from_mapping({"trimVmlinux": False, "useCompileCommands": False})
    assert not problems
    options = dataclasses.replace(compile_options(settings, str(tmp_path)), use_pch=False)
    src = tmp_path / "prog.bpf.c"
    results = [compile_buffer(str(src), BASE, options=options) for _ in range(2)]
    assert all(r.obj is not None and not _on_cut(r) for r in results)
    on = dataclasses.replace(options, trim_vmlinux=True)
    compile_buffer(str(src), BASE, options=on)
    assert _on_cut(compile_buffer(str(src), BASE, options=on))  # the same file does cut


def test_a_cut_compile_that_times_out_is_not_repeated_on_the_whole_header(
    tmp_path: Path, cuts: trim.CutHeaders
) -> None:
    src = tmp_path / "prog.bpf.c"
    compile_buffer(str(src), BASE, options=TRIM)
    hurried = dataclasses.replace(TRIM, timeout_s=0.001)
    result = compile_buffer(str(src), BASE, options=hurried)
    [finding] = result.findings
    assert finding.code == "timeout" and result.obj is None
    assert _on_cut(result)  # the one compile that timed out, not a second on the whole header


def test_a_tools_next_version_compiles_on_the_cut_as_on_the_whole_header(
    tmp_path: Path, cuts: trim.CutHeaders, caplog: pytest.LogCaptureFixture
) -> None:
    """A tool laid out as libbpf-tools lay them out (projects/tool_versions), edited into its
    next version in the editor: it starts reading `mm->arg_start` (a struct through a member)
    and `bprm->filename` under bpf_core_field_exists (a CO-RE relocation on a struct the first
    version's BTF never named)."""
    tool = tmp_path / "tool"
    shutil.copytree(PROGRAMS / "projects" / "tool_versions", tool)
    src = tool / "execsnoop.bpf.c"
    first, edited = src.read_text(), (tool / "execsnoop_args.bpf.c").read_text()
    compile_buffer(str(src), first, options=TRIM)
    assert _on_cut(compile_buffer(str(src), first, options=TRIM))
    caplog.set_level(logging.DEBUG, logger="kptr_lsp.toolchain.trim")
    cut = compile_buffer(str(src), edited, options=TRIM)
    # the cut lacked linux_binprm: the edit's BTF named it, so it compiled on the whole header
    assert any("linux_binprm" in r.getMessage() for r in caplog.records)
    _same(compile_buffer(str(src), edited, options=WHOLE), cut)
    again = compile_buffer(str(src), edited, options=TRIM)
    assert _on_cut(again)
    _same(cut, again)
