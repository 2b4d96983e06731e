"""The kernel's types alone, precompiled (toolchain/kernel_base.py): when a project header that
reaches vmlinux.h is edited, the files including it compile on a PCH of vmlinux.h instead of
parsing it again, and say and produce exactly what a plain compile does. Files laid out the
way projects write them (`"common.h"` → `"vmlinux.h"`, libbpf-tools' `maps.bpf.h` →
`common.h` → `vmlinux.h`, `#pragma once`); anything that could make the PCH mean something
else than the file keeps the plain compile. Real clang.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from kptr_lsp.toolchain import pch
from kptr_lsp.toolchain.clang import find_clang
from kptr_lsp.toolchain.compile import (
    CompileOptions,
    CompileResult,
    build_command,
    compile_buffer,
)
from kptr_lsp.toolchain.kernel_base import Chain, chain_to_vmlinux
from tests.toolchain.kernel_view import what_the_kernel_gets

PROJECTS = Path(__file__).resolve().parent.parent / "programs" / "projects"
# The PCH layer alone: the cut vmlinux.h on top of it has its own tests (test_trim.py).
OPTIONS = CompileOptions(use_compile_commands=False, trim_vmlinux=False)
NO_PCH = CompileOptions(use_compile_commands=False, use_pch=False, trim_vmlinux=False)
COMMON_H = """\
/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __COMMON_H
#define __COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define SLOTS 64
#endif
"""
PROGRAM = """\
// SPDX-License-Identifier: GPL-2.0
#include "common.h"

struct {
\t__uint(type, BPF_MAP_TYPE_ARRAY);
\t__uint(max_entries, SLOTS);
\t__type(key, __u32);
\t__type(value, __u64);
} slots SEC(".maps");

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
\tchar mark = 300; /* a warning clang gives without -W flags */
\t__u32 slot = (__u32)(prev->pid + mark) % SLOTS;
\t__u64 *n = bpf_map_lookup_elem(&slots, &slot);

\tif (n)
\t\t__sync_fetch_and_add(n, 1);
\treturn 0;
}

char LICENSE[] SEC("license") = "GPL";
"""


def _pch_used(result: CompileResult) -> str | None:
    cmd = list(result.command)
    return cmd[cmd.index("-include-pch") + 1] if "-include-pch" in cmd else None


def _compile(path: Path, options: CompileOptions = OPTIONS) -> CompileResult:
    return compile_buffer(str(path), path.read_text(), options=options)


def _chain(path: Path) -> Chain | None:
    text = path.read_text()
    cmd = build_command(str(path), text, OPTIONS, find_clang(None))
    return chain_to_vmlinux(text, cmd, str(path.parent))


@pytest.fixture
def project(tmp_path: Path, fresh_cache: Path) -> Path:
    (tmp_path / "common.h").write_text(COMMON_H)
    (tmp_path / "prog.bpf.c").write_text(PROGRAM)
    return tmp_path


def _edit(header: Path, old: str, new: str) -> None:
    header.write_text(header.read_text().replace(old, new))


def test_files_reaching_vmlinux_h_first_through_project_headers(
    project: Path, tmp_path: Path, xdg_cache: Path
) -> None:
    chain = _chain(project / "prog.bpf.c")
    assert chain is not None
    assert chain.through == (str(project / "common.h"),)
    assert chain.vmlinux.endswith("/vmlinux.h")
    # libbpf-tools' maps.bpf.h including common.h including vmlinux.h: two headers deep
    deep = tmp_path / "deep"
    shutil.copytree(PROJECTS / "header_chain", deep)
    chain = _chain(deep / "execsnoop.bpf.c")
    assert chain is not None and [Path(p).name for p in chain.through] == [
        "maps.bpf.h",
        "common.h",
    ]
    # `#pragma once` instead of a guard; vmlinux.h included by the file itself
    guard = "#ifndef __COMMON_H\n#define __COMMON_H\n"
    once = COMMON_H.replace(guard, "#pragma once\n").replace("#endif\n", "")
    (project / "common.h").write_text(once)
    assert _chain(project / "prog.bpf.c") is not None
    (project / "own.bpf.c").write_text('#include "vmlinux.h"\n#define FLAG 0x10\n' + PROGRAM)
    own = _chain(project / "own.bpf.c")
    assert own is not None and own.through == ()


VMLINUX_INCLUDE = '#include "vmlinux.h"'
TRACING_INCLUDE = "#include <bpf/bpf_tracing.h>"


@pytest.mark.parametrize(
    ("header", "program"),
    [
        # a macro before vmlinux.h changes what it means (no CO-RE access index)
        (
            COMMON_H.replace(
                VMLINUX_INCLUDE, f"#define BPF_NO_PRESERVE_ACCESS_INDEX\n{VMLINUX_INCLUDE}"
            ),
            PROGRAM,
        ),
        # libbpf's headers first: vmlinux.h is not the first thing read
        (
            COMMON_H.replace(f"{VMLINUX_INCLUDE}\n", "").replace(
                TRACING_INCLUDE, f"{TRACING_INCLUDE}\n{VMLINUX_INCLUDE}"
            ),
            PROGRAM,
        ),
        # the file defines something before its first include
        (COMMON_H, "#define BPF_NO_GLOBAL_DATA\n" + PROGRAM),
        # a guard vmlinux.h itself spells (its own): including it first would empty common.h
        (COMMON_H.replace("__COMMON_H", "__VMLINUX_H__"), PROGRAM),
        # the uapi headers, not vmlinux.h
        (COMMON_H.replace(VMLINUX_INCLUDE, "#include <linux/bpf.h>"), PROGRAM),
        # an include spelled through a macro
        (
            COMMON_H.replace(VMLINUX_INCLUDE, '#define KTYPES "vmlinux.h"\n#include KTYPES'),
            PROGRAM,
        ),
    ],
    ids=["macro-first", "libbpf-first", "define-in-file", "vmlinux-guard", "uapi", "macro-include"],
)
def test_anything_else_before_vmlinux_h_keeps_the_plain_compile(
    project: Path, header: str, program: str
) -> None:
    (project / "common.h").write_text(header)
    (project / "prog.bpf.c").write_text(program)
    assert _chain(project / "prog.bpf.c") is None


def test_a_guard_defined_on_the_command_line_keeps_the_plain_compile(project: Path) -> None:
    src = project / "prog.bpf.c"
    text = src.read_text()
    options = CompileOptions(
        use_compile_commands=False, extra_flags=("-D__COMMON_H",), trim_vmlinux=False
    )
    cmd = build_command(str(src), text, options, find_clang(None))
    assert chain_to_vmlinux(text, cmd, str(project)) is None
    cmd = build_command(str(src), text, OPTIONS, find_clang(None))
    assert chain_to_vmlinux(text, (*cmd[:-5], "-include", "x.h", *cmd[-5:]), str(project)) is None


def _edited_twice(src: Path, header: Path, old: str) -> tuple[CompileResult, CompileResult]:
    """Compile, edit the header (the preamble goes stale: plain, and the kernel types are
    precompiled), edit it again: (the compile after the first edit, after the second)."""
    _compile(src)
    pch.CACHE.wait()
    own = _pch_used(_compile(src))
    assert own is not None
    _edit(header, old, old + " + 1")
    first = _compile(src)
    pch.CACHE.wait()
    _edit(header, old + " + 1", old + " + 2")
    second = _compile(src)
    assert _pch_used(second) not in (None, own)
    return first, second


def test_after_a_header_edit_the_file_compiles_on_the_kernel_types_as_plainly(
    project: Path,
) -> None:
    src, header = project / "prog.bpf.c", project / "common.h"
    first, on_kernel = _edited_twice(src, header, "#define SLOTS 64")
    assert _pch_used(first) is None
    plain = _compile(src, NO_PCH)
    assert on_kernel.findings == plain.findings
    assert [(f.line, f.code) for f in plain.findings] == [(14, "-Wconstant-conversion")]
    assert on_kernel.headers == plain.headers  # vmlinux.h listed where a plain compile lists it
    assert [h.depth for h in plain.headers if h.path.endswith("/vmlinux.h")] == [2]
    assert what_the_kernel_gets(on_kernel) == what_the_kernel_gets(plain)
    assert what_the_kernel_gets(plain) != what_the_kernel_gets(first)  # SLOTS + 2, not + 1


def test_two_headers_deep_and_an_error_in_the_edited_header(
    tmp_path: Path, fresh_cache: Path
) -> None:
    tools = tmp_path / "tools"
    shutil.copytree(PROJECTS / "header_chain", tools)
    src, common = tools / "execsnoop.bpf.c", tools / "common.h"
    _first, on_kernel = _edited_twice(src, common, "#define COMM_LEN 16")
    plain = _compile(src, NO_PCH)
    assert on_kernel.findings == plain.findings == ()
    assert on_kernel.headers == plain.headers
    assert what_the_kernel_gets(on_kernel) == what_the_kernel_gets(plain)
    # an error typed into the header is reported where a plain compile reports it
    _edit(common, "#define COMM_LEN 16 + 2", "#define COMM_LEN 16 +")
    broken, broken_plain = _compile(src), _compile(src, NO_PCH)
    assert _pch_used(broken) == _pch_used(on_kernel)
    assert broken.findings == broken_plain.findings
    assert any(f.severity == 1 for f in broken.findings), broken.findings
    assert broken.obj is None


def test_a_list_showing_other_headers_than_the_chain_is_refused(project: Path) -> None:
    """clang's `-H` list is the check that it opened what the chain says: another first
    header, or another vmlinux.h where the PCH's stands, and the compile is done plainly."""
    src = project / "prog.bpf.c"
    plain = _compile(src, NO_PCH)
    listed = "".join(f"{'.' * h.depth} {h.path}\n" for h in plain.headers)
    vmlinux = next(h.path for h in plain.headers if h.path.endswith("/vmlinux.h"))
    common = str(project / "common.h")
    base = f". {vmlinux}\n"
    without = "".join(line for line in listed.splitlines(True) if "vmlinux.h" not in line)
    assert Chain((common,), vmlinux).headers_after(without, str(project), base) == listed
    assert Chain((common,), vmlinux).headers_after(listed, str(project), base) == listed
    assert Chain((str(project / "other.h"),), vmlinux).headers_after(without, "/", base) is None
    other = Chain((common,), str(project / "vmlinux.h"))
    assert other.headers_after(listed, str(project), f". {project / 'vmlinux.h'}\n") is None


def _generated_vmlinux(project: Path) -> Path:
    plain = _compile(project / "prog.bpf.c", NO_PCH)
    return Path(next(h.path for h in plain.headers if h.path.endswith("/vmlinux.h")))


def test_when_clang_opens_another_vmlinux_h_the_compile_is_done_without(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`-I A -I B -isystem A`: clang drops the `-I A` (A is a system directory too), so
    `<vmlinux.h>` is B's, not the A one the command's order suggests and the kernel-types PCH
    was built from. clang's list shows it, and the compile is done plainly (B's vmlinux.h
    has a type A's lacks: on A's types the program would not compile)."""
    generated = _generated_vmlinux(project)
    a, b = project / "A", project / "B"
    a.mkdir()
    b.mkdir()
    shutil.copy(generated, a / "vmlinux.h")
    text = generated.read_text()
    guard_end = text.rindex("#endif")
    (b / "vmlinux.h").write_text(text[:guard_end] + "typedef int only_in_b;\n" + text[guard_end:])
    header = project / "common.h"
    header.write_text(COMMON_H.replace('#include "vmlinux.h"', "#include <vmlinux.h>"))
    src = project / "prog.bpf.c"
    src.write_text(PROGRAM.replace("char mark = 300;", "only_in_b mark = 3;"))
    options = CompileOptions(
        use_compile_commands=False,
        include_dirs=(str(a), str(b)),
        extra_flags=("-isystem", str(a)),
        trim_vmlinux=False,
    )
    cmd = build_command(str(src), src.read_text(), options, find_clang(None))
    chain = chain_to_vmlinux(src.read_text(), cmd, str(project))
    assert chain is not None and chain.vmlinux == str(a / "vmlinux.h")  # the guess: wrong

    def compile_() -> CompileResult:
        return compile_buffer(str(src), src.read_text(), options=options)

    compile_()
    pch.CACHE.wait()
    assert _pch_used(compile_()) is not None
    _edit(header, "#define SLOTS 64", "#define SLOTS 32")
    compile_()  # stale: plain, and the kernel types are precompiled (from A)
    pch.CACHE.wait()
    _edit(header, "#define SLOTS 32", "#define SLOTS 16")
    with caplog.at_level("INFO", logger="kptr_lsp.toolchain.compile"):
        result = compile_()
    assert "kernel-types PCH does not fit" in caplog.text
    plain = compile_buffer(
        str(src), src.read_text(), options=dataclasses.replace(options, use_pch=False)
    )
    assert _pch_used(result) is None
    assert result.obj is not None and result.findings == plain.findings == ()
    assert result.headers == plain.headers
    assert any(h.path == str(b / "vmlinux.h") for h in result.headers)
    assert what_the_kernel_gets(result) == what_the_kernel_gets(plain)
    # not offered for that file again: the next edit compiles plainly at once
    caplog.clear()
    _edit(header, "#define SLOTS 16", "#define SLOTS 8")
    with caplog.at_level("INFO", logger="kptr_lsp.toolchain.compile"):
        again = compile_()
    assert "kernel-types PCH does not fit" not in caplog.text
    assert _pch_used(again) is None and again.obj is not None


def test_a_header_reached_through_a_symlinked_directory(project: Path) -> None:
    """`#include "../kern/vmlinux.h"` in a header of a symlinked directory: `..` is the link
    target's parent, as clang opens it, and the kernel-types PCH is built from that file."""
    generated = _generated_vmlinux(project)
    real, linked = project / "real", project / "proj"
    (real / "hdrs").mkdir(parents=True)
    (real / "kern").mkdir()
    (linked / "kern").mkdir(parents=True)
    (linked / "hdrs").symlink_to(real / "hdrs")
    shutil.copy(generated, real / "kern" / "vmlinux.h")
    (linked / "kern" / "vmlinux.h").write_text("#error the lexical path, not clang's\n")
    header = real / "hdrs" / "common.h"
    header.write_text(COMMON_H.replace('"vmlinux.h"', '"../kern/vmlinux.h"'))
    src = linked / "prog.bpf.c"
    src.write_text(PROGRAM.replace('"common.h"', '"hdrs/common.h"'))
    chain = _chain(src)
    assert chain is not None and chain.vmlinux == str(real / "kern" / "vmlinux.h")
    _first, on_kernel = _edited_twice(src, header, "#define SLOTS 64")
    plain = _compile(src, NO_PCH)
    assert on_kernel.findings == plain.findings and on_kernel.obj is not None
    assert what_the_kernel_gets(on_kernel) == what_the_kernel_gets(plain)
