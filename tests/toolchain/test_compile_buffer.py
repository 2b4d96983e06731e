"""Compiling the editor buffer: objects, diagnostics on the right line, no files left behind."""

from __future__ import annotations

import io
import os
import re
import struct
import threading
import time
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from kptr_lsp.findings import Severity, Source
from kptr_lsp.toolchain import CompileOptions, ToolchainError, compile_buffer

TESTS = Path(__file__).resolve().parent.parent
PROGRAMS = TESTS / "programs"
OPTS = CompileOptions(use_compile_commands=False)

XDP = """\
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
\tvoid *end = (void *)(long)ctx->data_end;
\tvoid *data = (void *)(long)ctx->data;

\tif (data + 14 > end)
\t\treturn XDP_DROP;
\treturn XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def line_infos(obj: bytes) -> set[tuple[str, int]]:
    """(file name, line) of every .BTF.ext line_info record, read straight from the wire."""
    elf = ELFFile(io.BytesIO(obj))
    btf_sec, ext_sec = elf.get_section_by_name(".BTF"), elf.get_section_by_name(".BTF.ext")
    assert btf_sec is not None and ext_sec is not None
    btf, ext = btf_sec.data(), ext_sec.data()
    hdr_len, _, _, str_off, str_len = struct.unpack_from("<5I", btf, 4)
    strings = btf[hdr_len + str_off : hdr_len + str_off + str_len]

    def string(off: int) -> str:
        return strings[off : strings.index(b"\0", off)].decode()

    ext_hdr_len, _, _, li_off, li_len = struct.unpack_from("<5I", ext, 4)
    pos = ext_hdr_len + li_off
    end = pos + li_len
    rec_size = struct.unpack_from("<I", ext, pos)[0]
    pos += 4
    out: set[tuple[str, int]] = set()
    while pos < end:
        _, count = struct.unpack_from("<2I", ext, pos)
        pos += 8
        for _ in range(count):
            _, file_off, _, line_col = struct.unpack_from("<4I", ext, pos)
            out.add((string(file_off), line_col >> 10))
            pos += rec_size
    return out


def test_clean_program_compiles_to_a_bpf_elf(tmp_path: Path) -> None:
    src = write(tmp_path / "xdp.bpf.c", XDP)
    result = compile_buffer(str(src), XDP, options=OPTS)
    assert result.findings == ()
    assert result.obj is not None
    elf = ELFFile(io.BytesIO(result.obj))
    assert elf["e_machine"] == "EM_BPF"
    assert elf.get_section_by_name("xdp") is not None
    assert result.command[-5:] == ("-x", "c", "-", "-o", "-")
    assert result.duration_s > 0


def test_compile_leaves_no_files_behind(tmp_path: Path) -> None:
    src = write(tmp_path / "xdp.bpf.c", XDP)
    compile_buffer(str(src), XDP, options=OPTS)
    compile_buffer(str(src), XDP + "int broken = ;\n", options=OPTS)
    assert sorted(os.listdir(tmp_path)) == ["xdp.bpf.c"]


def test_syntax_error_has_line_column_and_message(tmp_path: Path) -> None:
    text = XDP.replace("\treturn XDP_PASS;", "\treturn XDP_PASS")
    src = write(tmp_path / "xdp.bpf.c", text)
    result = compile_buffer(str(src), text, options=OPTS)
    assert result.obj is None
    [err] = [f for f in result.findings if f.severity == Severity.ERROR]
    assert err.source == Source.CLANG
    assert err.file == str(src)
    # clang reports the missing ';' right after the expression, at the end of line 12.
    assert (err.line, err.location.col) == (12, len("\treturn XDP_PASS") + 1)
    assert "expected ';'" in err.message


def test_error_in_the_unsaved_buffer_not_the_disk_file(tmp_path: Path) -> None:
    src = write(tmp_path / "xdp.bpf.c", XDP)  # disk: clean
    edited = XDP.replace("return XDP_DROP;", "return XDP_DRP;")
    result = compile_buffer(str(src), edited, options=OPTS)
    [err] = [f for f in result.findings if f.severity == Severity.ERROR]
    assert err.line == 11
    assert "XDP_DRP" in err.message

    broken_disk = write(tmp_path / "other.bpf.c", edited)  # disk: broken, buffer fixed
    fixed = compile_buffer(str(broken_disk), XDP, options=OPTS)
    assert fixed.findings == ()
    assert fixed.obj is not None


def test_warning_carries_its_flag_and_range(tmp_path: Path) -> None:
    text = XDP.replace("{\n\tvoid *end", "{\n\tint unused_var;\n\tvoid *end")
    src = write(tmp_path / "xdp.bpf.c", text)
    result = compile_buffer(str(src), text, options=CompileOptions(extra_flags=("-Wall",)))
    assert result.obj is not None
    [warn] = result.findings
    assert warn.severity == Severity.WARNING
    assert warn.code == "-Wunused-variable"
    assert warn.message == "unused variable 'unused_var'"
    loc = warn.location
    # Line 7, after a tab: the name spans columns 6..15; end is one past the last character.
    assert (loc.line, loc.col, loc.end_line, loc.end_col) == (7, 6, 7, 16)


def test_note_becomes_related_information(tmp_path: Path) -> None:
    text = "int f(void) { return 0; }\n\nint f(void) { return 1; }\n"
    src = write(tmp_path / "dup.bpf.c", text)
    [err] = compile_buffer(str(src), text, options=OPTS).findings
    assert err.line == 3
    assert "redefinition of 'f'" in err.message
    [note] = err.related
    assert (note.location.file, note.location.line) == (str(src), 1)
    assert "previous definition" in note.message


def test_error_in_a_header_lands_on_the_include_line(tmp_path: Path) -> None:
    header = write(tmp_path / "inc" / "helpers.h", "static int ok;\nstatic int bad = undeclared;\n")
    text = '#include <linux/bpf.h>\n\n#include "inc/helpers.h"\n\nint x;\n'
    src = write(tmp_path / "prog.bpf.c", text)
    [err] = compile_buffer(str(src), text, options=OPTS).findings
    assert err.severity == Severity.ERROR
    assert (err.file, err.line) == (str(src), 3)
    assert "undeclared" in err.message
    first = err.related[0]
    assert (first.location.file, first.location.line) == (str(header), 2)
    assert "undeclared" in first.message


def test_nested_header_error_names_the_include_steps(tmp_path: Path) -> None:
    inner = write(tmp_path / "inner.h", "\n\nint inner = ;\n")
    write(tmp_path / "outer.h", '/* outer */\n#include "inner.h"\n')
    text = 'int before;\n#include "outer.h"\n'
    src = write(tmp_path / "prog.bpf.c", text)
    [err] = compile_buffer(str(src), text, options=OPTS).findings
    assert (err.file, err.line) == (str(src), 2)
    where = [(r.location.file, r.location.line) for r in err.related]
    assert where == [(str(inner), 3), (str(tmp_path / "outer.h"), 2)]


def test_missing_header_is_a_fatal_error_on_its_line(tmp_path: Path) -> None:
    text = 'int a;\n#include "no_such_header.h"\n'
    src = write(tmp_path / "prog.bpf.c", text)
    result = compile_buffer(str(src), text, options=OPTS)
    [err] = result.findings
    assert (err.line, err.severity) == (2, Severity.ERROR)
    assert "'no_such_header.h' file not found" in err.message


def test_uapi_and_libbpf_headers_need_no_configuration(tmp_path: Path) -> None:
    src = PROGRAMS / "clean" / "xdp.bpf.c"
    if "vmlinux.h" in src.read_text():
        src = write(tmp_path / "xdp.bpf.c", XDP)
    result = compile_buffer(str(src), XDP, options=OPTS)
    assert result.findings == ()
    assert result.obj is not None
    assert "-D__TARGET_ARCH_x86" in result.command or os.uname().machine != "x86_64"


def test_rejected_clang_program_reports_its_expected_line() -> None:
    src = PROGRAMS / "rejected" / "clang_error.bpf.c"
    text = src.read_text()
    expected = [
        (n, m[1])
        for n, line in enumerate(text.splitlines(), start=1)
        if (m := re.search(r'EXPECT: error "([^"]*)"', line))
    ]
    assert expected
    findings = compile_buffer(str(src), text, options=OPTS).findings
    got = [(f.line, f.message) for f in findings if f.severity == Severity.ERROR]
    for line, message in expected:
        assert any(g_line == line and message in g_msg for g_line, g_msg in got), got


def test_btf_line_info_names_the_original_file_and_lines(tmp_path: Path) -> None:
    src = write(tmp_path / "xdp.bpf.c", XDP)
    # Three lines inserted above, unsaved: line info must follow the buffer.
    shifted = "/* a\n * b\n */\n" + XDP
    result = compile_buffer(str(src), shifted, options=OPTS)
    assert result.obj is not None
    infos = line_infos(result.obj)
    assert {name for name, _ in infos} == {str(src)}
    lines = {line for _, line in infos}
    assert 7 + 3 in lines  # the ctx->data_end load
    assert 10 + 3 in lines  # the bounds check
    assert max(lines) <= len(shifted.splitlines())


def test_timeout_kills_clang_and_says_so(tmp_path: Path) -> None:
    body = "".join(f"int f{i}(int x) {{ return x * {i} + {i}; }}\n" for i in range(20000))
    src = write(tmp_path / "big.bpf.c", body)
    result = compile_buffer(str(src), body, options=CompileOptions(timeout_s=0.001))
    assert result.obj is None
    [f] = result.findings
    assert f.code == "timeout"
    assert "timed out" in f.message
    assert sorted(os.listdir(tmp_path)) == ["big.bpf.c"]


def test_missing_clang_raises_with_install_advice(tmp_path: Path) -> None:
    src = write(tmp_path / "xdp.bpf.c", XDP)
    with pytest.raises(ToolchainError, match="apt-get install clang"):
        compile_buffer(str(src), XDP, options=CompileOptions(clang=str(tmp_path / "clang-99")))


def test_cancel_stops_a_running_clang(tmp_path: Path) -> None:
    # clang blocks opening a FIFO nobody writes to: without the cancel it would run until the
    # 60 s timeout. A newer buffer superseding this one must free the core at once.
    fifo = tmp_path / "hang.h"
    os.mkfifo(fifo)
    body = XDP + f'#include "{fifo}"\n'  # below the preamble: no PCH build reads it
    src = write(tmp_path / "hang.bpf.c", body)
    cancelled = threading.Event()
    threading.Timer(0.3, cancelled.set).start()
    start = time.monotonic()
    result = compile_buffer(
        str(src), body, options=CompileOptions(timeout_s=60), cancelled=cancelled
    )
    assert time.monotonic() - start < 10
    assert result.obj is None and result.findings == ()
    assert not _children_named("clang")


def _children_named(name: str) -> list[int]:
    """Processes whose parent is this test process and whose command is `name`*."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm, rest = stat.split("(", 1)[1].rsplit(")", 1)
        if int(rest.split()[1]) == os.getpid() and comm.startswith(name):
            found.append(int(entry))
    return found
