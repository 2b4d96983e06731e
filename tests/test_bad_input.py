"""Input no one should feed a language server, fed to the whole pipeline: every case ends as
diagnostics, in bounded time, and the next analysis works as before."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

from kptr_lsp.findings import Finding, Severity, Source
from kptr_lsp.pipeline import analyse
from kptr_lsp.settings import Settings
from kptr_lsp.verify.loader import DEFAULT_LOG_SIZE, verify_object
from kptr_lsp.verify.placement import object_findings

PROGRAM = """\
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

SEC("xdp")
int count_packets(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *value = bpf_map_lookup_elem(&counts, &key);

	*value += 1;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
"""
BAD_LINE = PROGRAM.splitlines().index("\t*value += 1;") + 1  # 1-based
NO_VERIFY = Settings(verify=False)


def _errors(findings: tuple[Finding, ...], source: Source) -> list[Finding]:
    return [f for f in findings if f.severity is Severity.ERROR and f.source is source]


def test_python_in_a_bpf_file_is_clang_errors(tmp_path: Path) -> None:
    text = "import os\n\ndef main():\n    print(os.getcwd())\n"
    analysis = analyse(str(tmp_path / "script.bpf.c"), text, NO_VERIFY)
    errors = _errors(analysis.findings, Source.CLANG)
    assert errors and errors[0].line == 1
    assert analysis.model is None and not analysis.verified


def test_binary_garbage_is_clang_errors(tmp_path: Path) -> None:
    # What an editor holds after opening a binary: arbitrary code points, NULs included.
    garbage = random.Random(6).randbytes(64 * 1024).decode("latin-1")
    analysis = analyse(str(tmp_path / "blob.bpf.c"), garbage, NO_VERIFY)
    assert _errors(analysis.findings, Source.CLANG)
    # and the next file is analysed as usual
    after = analyse(str(tmp_path / "ok.bpf.c"), PROGRAM, NO_VERIFY)
    assert not _errors(after.findings, Source.CLANG) and after.model is not None


def test_ten_megabyte_source_lands_on_the_right_line(kernel: None, tmp_path: Path) -> None:
    padding = "/* generated table, one comment line per entry: " + "x" * 50 + " */\n"
    lines = 10 * 1024 * 1024 // len(padding) + 1
    text = padding * lines + PROGRAM
    assert len(text) > 10 * 1024 * 1024
    analysis = analyse(str(tmp_path / "huge.bpf.c"), text, Settings())
    (error,) = _errors(analysis.findings, Source.VERIFIER)
    assert error.line == lines + BAD_LINE
    assert "invalid mem access 'map_value_or_null'" in error.message


def test_macro_nesting_past_clangs_limit_is_its_error(tmp_path: Path) -> None:
    macros = "#define P0(x) (x)\n" + "".join(
        f"#define P{i}(x) P{i - 1}(P{i - 1}(x))\n" for i in range(1, 11)
    )
    text = macros + "int f(void) { return P10(1); }\n"
    analysis = analyse(str(tmp_path / "nested.bpf.c"), text, NO_VERIFY)
    errors = _errors(analysis.findings, Source.CLANG)
    assert errors and "bracket nesting level exceeded" in errors[0].message
    assert errors[0].line == 12


def test_a_clang_that_hangs_is_stopped_and_said(tmp_path: Path) -> None:
    # clang blocks opening a FIFO nobody writes to, as on a hung network mount.
    fifo = tmp_path / "hang.h"
    os.mkfifo(fifo)
    text = f'#include "{fifo}"\n' + PROGRAM
    start = time.monotonic()
    analysis = analyse(str(tmp_path / "hang.bpf.c"), text, Settings(compile_timeout_s=1))
    assert time.monotonic() - start < 30
    (finding,) = analysis.findings
    assert finding.code == "timeout" and finding.severity is Severity.ERROR
    assert "clang timed out after 1 s" in finding.message


TOO_LARGE = """\
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int walk_forever(struct xdp_md *ctx)
{
	__u64 acc = bpf_get_prandom_u32();

#pragma clang loop unroll(disable)
	for (int i = 0; i < 1000000; i++) {
		acc ^= acc >> 3;
		acc += i;
	}
	return acc & 1;
}

char LICENSE[] SEC("license") = "GPL";
"""


def test_the_verifiers_instruction_limit_is_one_error_with_the_statistics(
    kernel: None, tmp_path: Path
) -> None:
    analysis = analyse(str(tmp_path / "walk.bpf.c"), TOO_LARGE, Settings())
    (error,) = _errors(analysis.findings, Source.VERIFIER)
    assert error.message.startswith("BPF program is too large. Processed 1000001 insn")
    assert "gave up after processing 1000001 instructions (limit 1000000" in error.message
    # the loop's increment, the last instruction the verifier walked
    assert error.line == TOO_LARGE.splitlines().index("\tfor (int i = 0; i < 1000000; i++) {") + 1
    # A million-instruction walk is verified once: its log stays the first buffer's tail
    # (the kernel keeps the end) instead of being re-verified with ever bigger buffers.
    (prog,) = analysis.programs
    assert len(prog.log) < DEFAULT_LOG_SIZE


def test_a_log_larger_than_the_first_buffer_still_reaches_the_user(
    kernel: None, tmp_path: Path
) -> None:
    path = str(tmp_path / "counter.bpf.c")
    analysis = analyse(path, PROGRAM, Settings(verifier_log_level=2))
    assert analysis.model is not None and analysis.compile is not None
    data = analysis.compile.obj
    assert data is not None
    # The same object with a first buffer far too small for the level-2 log: it grows, and
    # the user sees the same Error on the same line.
    result = verify_object(data, log_level=2, log_size=128)
    assert len(result.programs[0].log) > 128
    (error,) = [f for f in object_findings(analysis.model, result) if f.severity is Severity.ERROR]
    assert error.line == BAD_LINE
    assert error.message.startswith("R0 invalid mem access 'map_value_or_null'")
