"""The preamble PCH: the file's leading directives, whatever headers they reach, precompiled;
a compile with it says and produces what a compile without it does, and one whose headers
changed is never used. Real clang.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kptr_lsp.elf.objfile import ObjectFile
from kptr_lsp.toolchain import pch
from kptr_lsp.toolchain.clang import find_clang
from kptr_lsp.toolchain.compile import CompileOptions, build_command, compile_buffer

SOURCE = """\
/* a program */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("xdp")
int pass(struct xdp_md *ctx)
{
	char verdict = 300; /* a warning clang gives without -W flags */

	return ctx->ingress_ifindex ? XDP_PASS : verdict;
}

char LICENSE[] SEC("license") = "GPL";
"""
PROJECTS = Path(__file__).resolve().parent.parent / "programs" / "projects"
# The PCH layer alone: the cut vmlinux.h on top of it has its own tests (test_trim.py).
OPTIONS = CompileOptions(use_compile_commands=False, trim_vmlinux=False)
NO_PCH = CompileOptions(use_compile_commands=False, use_pch=False, trim_vmlinux=False)


def test_the_preamble_is_the_leading_block_of_directives() -> None:
    pre = pch.preamble_of(SOURCE)
    assert pre is not None
    assert pre.text == '/* a program */\n#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n\n'
    # macros and conditionals belong to it; an #if left open at the first code line does not
    pre = pch.preamble_of("#define BPF_NO_PRESERVE_ACCESS_INDEX\n" + SOURCE)
    assert pre is not None and pre.text.startswith("#define BPF_NO_PRESERVE_ACCESS_INDEX\n")
    text = '#include "vmlinux.h"\n#ifdef DEBUG\n#include "trace.h"\nint x;\n#endif\n'
    pre = pch.preamble_of(text)
    assert pre is not None and pre.text == '#include "vmlinux.h"\n'
    assert pch.preamble_of("int x;\n#include <bpf/bpf_helpers.h>\n") is None
    assert pch.preamble_of("#define X 1\nint x;\n") is None  # nothing to precompile
    # the rest of the buffer keeps its lines and columns
    assert pre.blanked(text) == '\n#ifdef DEBUG\n#include "trace.h"\nint x;\n#endif\n'


def test_compile_with_the_pch_matches_the_compile_without(
    tmp_path: Path, fresh_cache: Path
) -> None:
    src = tmp_path / "prog.bpf.c"
    src.write_text(SOURCE)
    options = CompileOptions(use_compile_commands=False, trim_vmlinux=False)
    plain = compile_buffer(str(src), SOURCE, options=options)  # starts the PCH build
    pch.CACHE.wait()
    with_pch = compile_buffer(str(src), SOURCE, options=options)

    assert "-include-pch" in with_pch.command and "-include-pch" not in plain.command
    assert any((fresh_cache / "kptr-lsp" / "pch").glob("*.pch"))
    # the same warning on the same spot, the same headers named, the same instructions
    assert with_pch.findings == plain.findings
    assert [f.line for f in plain.findings] == [8]
    assert "changes value from 300" in plain.findings[0].message
    assert with_pch.headers == plain.headers
    assert plain.obj is not None and with_pch.obj is not None
    code = [(f.name, f.insns) for f in ObjectFile.parse(plain.obj).programs]
    assert [(f.name, f.insns) for f in ObjectFile.parse(with_pch.obj).programs] == code


def _insns(obj: bytes | None) -> list[tuple[str, bytes]]:
    assert obj is not None
    return [(f.name, f.insns) for f in ObjectFile.parse(obj).programs]


@pytest.fixture
def chain(tmp_path: Path) -> Path:
    """The header_chain project (prog -> "maps.bpf.h" -> "common.h" -> "vmlinux.h"), writable."""
    dest = tmp_path / "tools"
    shutil.copytree(PROJECTS / "header_chain", dest)
    return dest


def test_vmlinux_h_through_project_headers_is_precompiled(chain: Path, fresh_cache: Path) -> None:
    src = chain / "execsnoop.bpf.c"
    text = src.read_text()
    plain = compile_buffer(str(src), text, options=OPTIONS)
    pch.CACHE.wait()
    with_pch = compile_buffer(str(src), text, options=OPTIONS)
    assert "-include-pch" in with_pch.command and "-include-pch" not in plain.command
    assert with_pch.findings == plain.findings == ()
    assert with_pch.headers == plain.headers
    assert any(h.depth == 3 and h.path.endswith("/vmlinux.h") for h in with_pch.headers)
    assert _insns(with_pch.obj) == _insns(plain.obj)


def test_two_files_with_one_preamble_share_its_pch(chain: Path, fresh_cache: Path) -> None:
    first, second = chain / "execsnoop.bpf.c", chain / "exec_count_unchecked.bpf.c"
    compile_buffer(str(first), first.read_text(), options=OPTIONS)
    pch.CACHE.wait()
    result = compile_buffer(str(second), second.read_text(), options=OPTIONS)
    assert "-include-pch" in result.command
    assert len(list((fresh_cache / "kptr-lsp" / "pch").glob("*.pch"))) == 1


def test_an_edited_project_header_is_never_served_stale(chain: Path, fresh_cache: Path) -> None:
    src = chain / "execsnoop.bpf.c"
    text = src.read_text()
    common = chain / "common.h"
    compile_buffer(str(src), text, options=OPTIONS)
    pch.CACHE.wait()
    before = compile_buffer(str(src), text, options=OPTIONS)
    assert "-include-pch" in before.command

    # The header changes: the next compile is a plain one that sees the new text...
    common.write_text(common.read_text().replace("COMM_LEN 16", "COMM_LEN 16 +"))
    broken = compile_buffer(str(src), text, options=OPTIONS)
    assert "-include-pch" not in broken.command
    assert any(f.severity == 1 for f in broken.findings)  # the header's new error
    # ...and the preamble is rebuilt in the background once the header is right again.
    common.write_text(common.read_text().replace("COMM_LEN 16 +", "COMM_LEN 32"))
    # (this compile may wait for the rebuild under way, or compile without: never stale)
    compile_buffer(str(src), text, options=OPTIONS)
    pch.CACHE.wait()
    fixed = compile_buffer(str(src), text, options=OPTIONS)
    assert "-include-pch" in fixed.command and fixed.findings == ()
    plain = compile_buffer(str(src), text, options=NO_PCH)
    assert _insns(fixed.obj) == _insns(plain.obj) != _insns(before.obj)  # the new COMM_LEN


def test_held_builds_wait_for_the_plain_compiles_then_one_serves_both_files(
    chain: Path, fresh_cache: Path
) -> None:
    """What the server does when a header is saved: its includers compile first (plainly,
    on both cores), then the one preamble they share is built."""
    first, second = chain / "execsnoop.bpf.c", chain / "exec_count_unchecked.bpf.c"
    texts = {src: src.read_text() for src in (first, second)}
    pchs = fresh_cache / "kptr-lsp" / "pch"
    release = pch.CACHE.defer_builds()
    try:
        held = [compile_buffer(str(src), text, options=OPTIONS) for src, text in texts.items()]
        assert all("-include-pch" not in r.command for r in held)
        # no precompile ran beside them; the one both asked for waits
        assert not list(pchs.glob("*.pch")) and not list(pchs.glob(".*"))
        assert len(pch.CACHE.deferred()) == 1
    finally:
        release()
    release()  # a second release does nothing
    assert pch.CACHE.deferred() == []
    pch.CACHE.wait()

    again = [compile_buffer(str(src), text, options=OPTIONS) for src, text in texts.items()]
    assert all("-include-pch" in r.command for r in again)
    assert len({r.command[r.command.index("-include-pch") + 1] for r in again}) == 1  # shared
    assert [_insns(r.obj) for r in again] == [_insns(r.obj) for r in held]
    assert [r.findings for r in again] == [r.findings for r in held]


def test_a_rebuild_that_read_the_saved_header_is_stopped_and_held_back(
    chain: Path, fresh_cache: Path
) -> None:
    src = chain / "execsnoop.bpf.c"
    text = src.read_text()
    compile_buffer(str(src), text, options=OPTIONS)
    pch.CACHE.wait()
    common = chain / "common.h"
    clang = find_clang(None)
    cmd = build_command(str(src), text, OPTIONS, clang)
    version = ".".join(map(str, clang.version))
    common.write_text(common.read_text().replace("COMM_LEN 16", "COMM_LEN 24"))
    assert pch.CACHE.lookup(cmd, text, version, str(chain)) is None  # stale: a rebuild starts
    assert pch.CACHE.building(cmd, text, version)
    # saved again while that rebuild runs: it may have read either text, so it is stopped
    common.write_text(common.read_text().replace("COMM_LEN 24", "COMM_LEN 32"))
    release = pch.CACHE.defer_builds(str(common))
    try:
        assert len(pch.CACHE.deferred()) == 1
        pch.CACHE.wait()
        assert not list((fresh_cache / "kptr-lsp" / "pch").glob("*.pch"))
    finally:
        release()
    pch.CACHE.wait()
    rebuilt = compile_buffer(str(src), text, options=OPTIONS)
    assert "-include-pch" in rebuilt.command  # not given up on: rebuilt after the release
    plain = compile_buffer(str(src), text, options=NO_PCH)
    assert _insns(rebuilt.obj) == _insns(plain.obj) and rebuilt.findings == plain.findings == ()
