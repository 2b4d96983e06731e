"""The tree's common base PCH (`vmlinux.h`, then `<bpf/…>`) with each file's own preamble
chained onto it, as libbpf-tools files are laid out: a compile on the base alone or on the
chained PCH says and produces exactly what a plain compile does (the programs' instructions,
.BTF and .BTF.ext byte for byte), files with different project headers share the one base,
and an edited project header is never served stale. Real clang.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kptr_lsp.toolchain import pch
from kptr_lsp.toolchain.compile import CompileOptions, CompileResult, compile_buffer
from tests.toolchain.kernel_view import what_the_kernel_gets

INCLUDES = (
    "// SPDX-License-Identifier: GPL-2.0\n"
    "#include <vmlinux.h>\n#include <bpf/bpf_helpers.h>\n#include <bpf/bpf_core_read.h>\n"
    '#include <bpf/bpf_tracing.h>\n#include "maps.bpf.h"\n#include "{tool}.h"\n\n'
)
MAPS_BPF_H = """\
#ifndef __MAPS_BPF_H
#define __MAPS_BPF_H
#include <bpf/bpf_helpers.h>
static __always_inline void *lookup_or_init(void *map, const void *key, const void *init)
{
\tvoid *val = bpf_map_lookup_elem(map, key);

\tif (val)
\t\treturn val;
\tbpf_map_update_elem(map, key, init, BPF_NOEXIST);
\treturn bpf_map_lookup_elem(map, key);
}
#endif
"""
TOOL_H = (
    "#ifndef __{tool}_H\n#define __{tool}_H\n#define SLOTS {slots}\n"
    "struct hist {{ __u64 slots[SLOTS]; }};\n#endif\n"
)
BODY = """\
struct {
\t__uint(type, BPF_MAP_TYPE_HASH);
\t__uint(max_entries, 64);
\t__type(key, __u32);
\t__type(value, struct hist);
} hists SEC(".maps");

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
\tstatic struct hist zero;
\tchar mark = 300; /* a warning clang gives without -W flags */
\t__u32 pid = BPF_CORE_READ(next, pid);
\tstruct hist *h = lookup_or_init(&hists, &pid, &zero);

\tif (h)
\t\th->slots[(pid + mark) % SLOTS]++;
\treturn 0;
}

char LICENSE[] SEC("license") = "GPL";
"""
# The PCH layer alone: the cut vmlinux.h on top of it has its own tests (test_trim.py).
OPTIONS = CompileOptions(use_compile_commands=False, trim_vmlinux=False)
NO_PCH = CompileOptions(use_compile_commands=False, use_pch=False, trim_vmlinux=False)


def _source(tool: str) -> str:
    return INCLUDES.replace("{tool}", tool) + BODY


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "maps.bpf.h").write_text(MAPS_BPF_H)
    for tool, slots in (("runqlat", 27), ("cpudist", 16)):
        (tmp_path / f"{tool}.h").write_text(TOOL_H.format(tool=tool, slots=slots))
        (tmp_path / f"{tool}.bpf.c").write_text(_source(tool))
    return tmp_path


def _compile(path: Path, options: CompileOptions = OPTIONS) -> CompileResult:
    return compile_buffer(str(path), path.read_text(), options=options)


def _pch_used(result: CompileResult) -> str | None:
    cmd = list(result.command)
    return cmd[cmd.index("-include-pch") + 1] if "-include-pch" in cmd else None


def test_the_base_is_vmlinux_h_then_libbpf_headers() -> None:
    base = pch.base_of(_source("runqlat"))
    assert base is not None
    assert base.directives == (
        "#include <vmlinux.h>\n#include <bpf/bpf_helpers.h>\n#include <bpf/bpf_core_read.h>\n"
        "#include <bpf/bpf_tracing.h>\n"
    )
    assert base.text.endswith("#include <bpf/bpf_tracing.h>\n")
    # a quoted vmlinux.h counts; a project header ends the base
    base = pch.base_of('#include "vmlinux.h"\n#include "x.h"\n#include <bpf/bpf_helpers.h>\n')
    assert base is not None and base.directives == '#include "vmlinux.h"\n'
    # anything before vmlinux.h could change what it means: no base
    assert pch.base_of("#define BPF_NO_PRESERVE_ACCESS_INDEX\n" + _source("runqlat")) is None
    assert pch.base_of('#include "common.h"\n#include <bpf/bpf_helpers.h>\n') is None


def test_compiles_on_the_base_and_on_the_chained_pch_match_a_plain_compile(
    tree: Path, fresh_cache: Path
) -> None:
    src = tree / "runqlat.bpf.c"
    first = _compile(src)  # nothing built yet: plain, and the base is started
    pch.CACHE.wait()
    on_base = _compile(src)  # the base serves; the file's own preamble is chained onto it
    pch.CACHE.wait()
    chained = _compile(src)
    plain = _compile(src, NO_PCH)

    root = fresh_cache / "kptr-lsp" / "pch"
    base_pch, chained_pch = _pch_used(on_base), _pch_used(chained)
    assert _pch_used(first) is None and base_pch and chained_pch and base_pch != chained_pch
    # the chained one holds only the project headers, and names the base it is built on
    assert Path(chained_pch).stat().st_size < Path(base_pch).stat().st_size / 20
    assert (root / f"{Path(chained_pch).stem}.base").read_text().split()[0] == Path(base_pch).stem
    for result in (first, on_base, chained):
        assert result.findings == plain.findings
        assert result.headers == plain.headers
        assert what_the_kernel_gets(result) == what_the_kernel_gets(plain)
    assert [f.line for f in plain.findings] == [20]
    assert "changes value from 300" in plain.findings[0].message
    assert any(h.path.endswith("/runqlat.h") for h in chained.headers)


def test_files_with_different_project_headers_share_one_base(tree: Path, fresh_cache: Path) -> None:
    one, two = tree / "runqlat.bpf.c", tree / "cpudist.bpf.c"
    _compile(one)
    pch.CACHE.wait()
    first_on_base = _compile(one)
    second_on_base = _compile(two)  # never seen before: compiles on the base at once
    assert _pch_used(second_on_base) == _pch_used(first_on_base) is not None
    pch.CACHE.wait()
    chained = [_pch_used(_compile(p)) for p in (one, two)]
    assert None not in chained and chained[0] != chained[1]
    built = sorted((fresh_cache / "kptr-lsp" / "pch").glob("*.pch"), key=lambda p: p.stat().st_size)
    assert len(built) == 3  # two chained ones, one base
    assert [p.with_suffix(".base").is_file() for p in built] == [True, True, False]
    for path in (one, two):
        assert what_the_kernel_gets(_compile(path)) == what_the_kernel_gets(_compile(path, NO_PCH))


def test_an_edited_project_header_is_never_served_from_the_chained_pch(
    tree: Path, fresh_cache: Path
) -> None:
    src, header = tree / "runqlat.bpf.c", tree / "runqlat.h"
    _compile(src)
    pch.CACHE.wait()
    _compile(src)
    pch.CACHE.wait()
    before = _compile(src)
    chained = _pch_used(before)
    assert chained is not None and Path(chained).with_suffix(".base").is_file()

    # The header breaks: the next compile sees it at once (on the base, not the chained PCH)
    header.write_text(header.read_text().replace("#define SLOTS 27", "#define SLOTS 27 +"))
    broken = _compile(src)
    assert _pch_used(broken) != chained
    assert any(f.severity == 1 for f in broken.findings), broken.findings
    # ...fixed with another value, the programs follow it, first on the base, then chained
    header.write_text(header.read_text().replace("#define SLOTS 27 +", "#define SLOTS 9"))
    fixed = _compile(src)
    pch.CACHE.wait()
    rechained = _compile(src)
    plain = _compile(src, NO_PCH)
    assert fixed.findings == rechained.findings == plain.findings
    assert what_the_kernel_gets(fixed) == what_the_kernel_gets(plain)
    assert what_the_kernel_gets(rechained) == what_the_kernel_gets(plain)
    assert what_the_kernel_gets(plain) != what_the_kernel_gets(before)  # the new SLOTS
    assert _pch_used(rechained) is not None and Path(str(_pch_used(rechained))).exists()


def test_a_macro_the_preamble_defines_itself_keeps_its_value(tree: Path, fresh_cache: Path) -> None:
    """`#define CLONE_THREAD 0x00010000` right in the file's leading block, after the project
    headers (as real programs define flags the vmlinux.h lacks): clang reads a number's
    spelling back from the source, and a chained PCH built from stdin on a base built from
    stdin made it read the base's text there (`invalid suffix '`). Such a file gets a PCH of
    its own, and every compile says what a plain one says."""
    src = tree / "threads.bpf.c"
    body = BODY.replace("(pid + mark) % SLOTS", "(pid + mark + CLONE_THREAD) % SLOTS")
    src.write_text(
        INCLUDES.replace("{tool}", "runqlat") + "#define CLONE_THREAD 0x00010000\n\n" + body
    )
    plain = _compile(src, NO_PCH)
    assert [f.line for f in plain.findings] == [22]  # the char warning only
    results = []
    for _ in range(3):  # plain, then on whatever PCH was built, then again
        results.append(_compile(src))
        pch.CACHE.wait()
    assert _pch_used(results[-1]) is not None
    for result in results:
        assert result.findings == plain.findings, result.findings
        assert what_the_kernel_gets(result) == what_the_kernel_gets(plain)
