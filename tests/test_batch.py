"""`kptr-lsp check DIR|compile_commands.json -j N`: a whole repository, as CI checks one.

The repository is tests/programs/projects/tool_tree/ (libbpf-tools style: per tool a BPF side,
its user-space half and a shared header, in subdirectories), copied into a temporary directory.
Everything runs through the real CLI: real clang, the running kernel's verifier.
"""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from kptr_lsp.report import verdict as verdict_of
from kptr_lsp.sources import collect
from tests.expectations import read_expectations

ROOT = Path(__file__).parent.parent
TOOL_TREE = ROOT / "tests" / "programs" / "projects" / "tool_tree"
BPF_FILES = [
    "tool_tree/net/tc_mark.c",  # BPF by its contents (SEC, vmlinux.h), named the iproute2 way
    "tool_tree/trace/fsslower.bpf.c",
    "tool_tree/trace/opensnoop.bpf.c",
    "tool_tree/xdpfw/xdpfw.bpf.c",
]
USER_SPACE = [
    "tool_tree/net/tc_mark_user.c",
    "tool_tree/trace/opensnoop.c",
    "tool_tree/xdpfw/xdpfw.c",
]
_SUMMARY = re.compile(
    r"^kptr-lsp: (?P<files>\d+) files?, (?P<programs>\d+) programs?: (?P<accepted>\d+) accepted, "
    r"(?P<rejected>\d+) rejected, (?P<not_verifiable>\d+) not verifiable here(?P<rest>.*)$",
    re.MULTILINE,
)
_VERDICTS = re.compile(r"^(\S+): \d+ program\(s\) verified: (.*)$", re.MULTILINE)


def check(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kptr_lsp", "check", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def summary(proc: subprocess.CompletedProcess[str]) -> dict[str, int]:
    found = _SUMMARY.search(proc.stderr)
    assert found is not None, proc.stderr
    return {k: int(v) for k, v in found.groupdict().items() if k != "rest"}


def verdict_counts(stdout: str) -> dict[str, int]:
    """Programs per verdict, from the text report's `file: N program(s) verified: …` lines."""
    counts = {"accepted": 0, "rejected": 0, "not_verifiable": 0}
    for _, verdicts in _VERDICTS.findall(stdout):
        for verdict in verdicts.split(", "):
            word = verdict.split(" ", 1)[1]
            counts["not_verifiable" if word == "not verifiable here" else word] += 1
    return counts


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tool tree in a fresh directory, plus what a checkout also holds: a hidden
    directory with a stale copy of a tool (never checked) and a README."""
    work = tmp_path_factory.mktemp("repo")
    shutil.copytree(TOOL_TREE, work / "tool_tree")
    stale = work / "tool_tree" / ".output" / "stale.bpf.c"
    stale.parent.mkdir()
    stale.write_text("#include <bpf/bpf_helpers.h>\nint broken(void) { return undeclared; }\n")
    (work / "tool_tree" / "README.md").write_text("# tools\n")
    return work


@pytest.fixture(scope="module")
def per_file(repo: Path, kernel: None) -> dict[str, subprocess.CompletedProcess[str]]:
    """`kptr-lsp check FILE`, one process per BPF file, as a by-hand loop would run it."""
    return {name: check(repo, "-j", "1", name) for name in BPF_FILES}


@pytest.fixture(scope="module")
def tree_run(repo: Path, kernel: None) -> subprocess.CompletedProcess[str]:
    return check(repo, "-j", "2", "tool_tree")


def test_sources_of_a_tree_are_the_bpf_files_only(repo: Path) -> None:
    inputs = collect(["tool_tree"], str(repo))
    assert [s.name for s in inputs.sources] == BPF_FILES
    assert inputs.skipped == USER_SPACE
    assert inputs.problems == []


def test_tree_check_reports_every_bpf_file_as_its_own_check_does(
    tree_run: subprocess.CompletedProcess[str],
    per_file: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    # Rejected programs in the tree: exit status 1, as for files.
    assert tree_run.returncode == 1, tree_run.stderr
    assert "Traceback" not in tree_run.stderr
    # Each file's report is what checking that file alone prints, in the tree's sorted order.
    assert tree_run.stdout == "".join(per_file[name].stdout for name in BPF_FILES)
    for name in BPF_FILES:
        assert f"{name}: " in tree_run.stdout
    for name in [*USER_SPACE, "stale.bpf.c", "README.md"]:
        assert name not in tree_run.stdout
    # The real rejections land on their lines, the user-space halves were never compiled.
    for name in ("tool_tree/net/tc_mark.c", "tool_tree/xdpfw/xdpfw.bpf.c"):
        (expect,) = read_expectations(TOOL_TREE / name.removeprefix("tool_tree/")).expects
        assert f"{name}:{expect.line}:" in tree_run.stdout
        assert expect.text in tree_run.stdout


def test_tree_summary_counts_what_the_per_file_checks_found(
    tree_run: subprocess.CompletedProcess[str],
    per_file: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    counts = summary(tree_run)
    singles = [summary(p) for p in per_file.values()]
    by_hand = verdict_counts("".join(p.stdout for p in per_file.values()))
    assert counts["files"] == len(BPF_FILES) == sum(s["files"] for s in singles)
    assert counts["programs"] == sum(s["programs"] for s in singles) == sum(by_hand.values())
    for key in ("accepted", "rejected", "not_verifiable"):
        assert counts[key] == by_hand[key] == sum(s[key] for s in singles), key
    # This tree has each kind: the counts are not all one number by accident.
    assert by_hand == {"accepted": 1, "rejected": 2, "not_verifiable": 2}
    assert f"{len(USER_SPACE)} skipped (not BPF)" in tree_run.stderr
    assert re.search(r"· \d+\.\d s$", tree_run.stderr.strip())
    # Not a terminal: no progress line in the log.
    assert "\r" not in tree_run.stderr and "[1/" not in tree_run.stderr


def test_one_job_and_two_jobs_report_the_same(
    repo: Path, tree_run: subprocess.CompletedProcess[str]
) -> None:
    one = check(repo, "-j", "1", "tool_tree")
    assert one.returncode == tree_run.returncode == 1, one.stderr
    assert one.stdout == tree_run.stdout
    assert summary(one) == summary(tree_run)


def test_progress_line_on_a_terminal(repo: Path) -> None:
    """On a terminal stderr shows `[done/total] file` as files finish, wiped before the
    summary; --no-verify keeps this one to clang, one tool directory to two files."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kptr_lsp", "check", "--no-verify", "tool_tree/trace"],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=follower,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        os.close(follower)
        follower = -1
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        proc.communicate(timeout=300)
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
    text = seen.decode(errors="replace")
    assert "[1/2] tool_tree/trace/" in text
    assert "[2/2] tool_tree/trace/" in text
    assert "\r\x1b[K" in text  # rewritten in place, and wiped
    assert "kptr-lsp: 2 files" in text


def _compdb(repo: Path, db_dir: Path) -> Path:
    """The build's compile_commands.json (bear/CMake style, absolute paths), in a build
    directory no source file's own lookup would find: xdpfw built with -DXDPFW_NO_VLAN,
    opensnoop and tc_mark as they are, and the user-space halves built with cc."""
    tree = repo / "tool_tree"
    bpf = ["clang", "-g", "-O2", "-target", "bpf", "-D__TARGET_ARCH_x86", "-I", "."]
    entries = [
        {
            "directory": str(tree / "xdpfw"),
            "arguments": [*bpf, "-DXDPFW_NO_VLAN", "-c", "xdpfw.bpf.c", "-o", "xdpfw.bpf.o"],
            "file": "xdpfw.bpf.c",
        },
        {
            "directory": str(tree / "trace"),
            "arguments": [*bpf, "-c", "opensnoop.bpf.c", "-o", "opensnoop.bpf.o"],
            "file": "opensnoop.bpf.c",
        },
        {
            "directory": str(tree / "net"),
            "command": "clang -O2 -g -target bpf -c tc_mark.c -o tc_mark.o",
            "file": "tc_mark.c",
        },
        {
            "directory": str(tree / "xdpfw"),
            "command": "cc -O2 -Wall -I. -c xdpfw.c -o xdpfw.o",
            "file": "xdpfw.c",
        },
        {
            "directory": str(tree / "trace"),
            "command": "cc -O2 -Wall -I. -c opensnoop.c -o opensnoop.o",
            "file": str(tree / "trace" / "opensnoop.c"),
        },
    ]
    db_dir.mkdir(exist_ok=True)
    db = db_dir / "compile_commands.json"
    db.write_text(json.dumps(entries, indent=2))
    return db


def test_compile_commands_json_checks_its_bpf_entries_with_their_flags(
    repo: Path, per_file: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    db = _compdb(repo, repo / "out")
    xdpfw = "tool_tree/xdpfw/xdpfw.bpf.c"
    (vlan_bug,) = read_expectations(TOOL_TREE / "xdpfw" / "xdpfw.bpf.c").expects

    alone = per_file[xdpfw]  # no database found from the file: the VLAN code is built in
    assert f"{xdpfw}:{vlan_bug.line}:" in alone.stdout
    assert "xdp_filter rejected" in alone.stdout

    proc = check(repo, "-j", "2", str(db.relative_to(repo)))
    assert proc.returncode == 1, proc.stdout + proc.stderr  # tc_mark is still rejected
    # The entry's -DXDPFW_NO_VLAN left the unchecked VLAN read out: the kernel accepts it.
    assert vlan_bug.text not in proc.stdout.split("tool_tree/net/")[0]
    assert f"{xdpfw}: 1 program(s) verified: xdp_filter accepted" in proc.stdout
    assert "opensnoop.bpf.c: 1 program(s) verified: " in proc.stdout
    assert "tc_mark.c: 1 program(s) verified: tc_mark rejected" in proc.stdout
    # In the database's order, and only its BPF entries: no user-space half, no unlisted tool.
    assert proc.stdout.index("xdpfw.bpf.c") < proc.stdout.index("opensnoop.bpf.c")
    for absent in ("xdpfw.c:", "opensnoop.c:", "fsslower"):
        assert absent not in proc.stdout
    counts = summary(proc)
    assert (counts["files"], counts["accepted"], counts["rejected"]) == (3, 2, 1)
    assert "2 skipped (not BPF)" in proc.stderr


def test_bad_inputs_are_usage_errors_not_crashes(repo: Path) -> None:
    broken = repo / "broken" / "compile_commands.json"
    broken.parent.mkdir(exist_ok=True)
    broken.write_text("{not json")
    empty = repo / "empty"
    empty.mkdir(exist_ok=True)
    (empty / "main.c").write_text("int main(void) { return 0; }\n")
    proc = check(repo, "broken/compile_commands.json", "empty", "no/such/dir")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "broken/compile_commands.json: error: not a JSON compilation database" in proc.stderr
    assert "empty: error: no BPF sources" in proc.stderr
    assert "no/such/dir: error: cannot read" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_files_sharing_a_preamble_share_one_pch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three tools of one directory with the same includes and a fourth with a header of its
    own after the same `vmlinux.h` and `<bpf/…>` lines: the first builds the PCH of that common
    base, the others wait for it and compile on it. A fifth that reaches vmlinux.h through its
    own header (a preamble nobody shares) is compiled plainly, with no PCH built for it."""
    from kptr_lsp.batch import check_all
    from kptr_lsp.settings import Settings
    from kptr_lsp.toolchain.vmlinux import ensure_vmlinux_h

    # A cache of its own, to count PCHs in; the generated vmlinux.h copied in, not redone.
    generated = Path(ensure_vmlinux_h())
    shutil.copytree(generated, tmp_path / "cache" / "kptr-lsp" / "vmlinux" / generated.name)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    tools = tmp_path / "tools"
    tools.mkdir()
    text = (TOOL_TREE / "trace" / "opensnoop.bpf.c").read_text()
    shutil.copy(TOOL_TREE / "trace" / "opensnoop.h", tools)
    for n in range(3):
        (tools / f"snoop{n}.bpf.c").write_text(text.replace("targ_tgid = 0", f"targ_tgid = {n}"))
    (tools / "own.h").write_text('#include "opensnoop.h"\n')
    (tools / "zy_own.bpf.c").write_text(text.replace('"opensnoop.h"', '"own.h"'))
    (tools / "all.h").write_text(
        '#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n#include "opensnoop.h"\n'
    )
    includes = '#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n#include "opensnoop.h"\n'
    assert includes in text
    (tools / "zz_all.bpf.c").write_text(text.replace(includes, '#include "all.h"\n'))
    inputs = collect([str(tools)], str(tmp_path))
    results = list(check_all(inputs.sources, Settings(verify=False), jobs=2))
    commands = {s.name: a.compile.command for s, a in results if a.compile is not None}
    assert [s.name for s, _ in results] == [
        "tools/snoop0.bpf.c",
        "tools/snoop1.bpf.c",
        "tools/snoop2.bpf.c",
        "tools/zy_own.bpf.c",
        "tools/zz_all.bpf.c",
    ]
    assert all(a.compile is not None and a.compile.obj for _, a in results)
    assert all(not a.findings for _, a in results), [a.findings for _, a in results]
    for name in ("snoop1", "snoop2", "zy_own"):
        assert "-include-pch" in commands[f"tools/{name}.bpf.c"]
    assert "-include-pch" not in commands["tools/zz_all.bpf.c"]
    assert len(list((tmp_path / "cache" / "kptr-lsp").rglob("*.pch"))) == 1


def _many_programs(count: int, salt: int) -> str:
    """`count` XDP programs, each walking a bounded loop, and one the verifier rejects (a
    rejection makes the loader verify the object's programs one by one, in parallel)."""
    parts = ['#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n\n']
    for k in range(count):
        parts.append(
            f'SEC("xdp")\nint prog_{k}(struct xdp_md *ctx)\n{{\n\t__u64 sum = 0;\n\n'
            f"\tfor (int i = 0; i < {60 + k}; i++)\n"
            f"\t\tsum += (ctx->data_end - ctx->data) * i + {salt * 100 + k};\n"
            "\treturn sum & 1 ? XDP_PASS : XDP_DROP;\n}\n\n"
        )
    parts.append(
        'SEC("xdp")\nint rejected(struct xdp_md *ctx)\n{\n'
        "\treturn *(int *)(long)ctx->data;\n}\n\n"  # no bounds check: rejected
        'char LICENSE[] SEC("license") = "GPL";\n'
    )
    return "".join(parts)


def test_jobs_bounds_the_loads_of_the_whole_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel: None
) -> None:
    """`-j 2` over several files with many programs each: never more than two programs in the
    kernel's verifier at once (files in parallel, each verifying its programs in parallel,
    would make it files × programs), and every program is still verified."""
    from kptr_lsp.batch import check_all
    from kptr_lsp.settings import Settings
    from kptr_lsp.verify.libbpf import Libbpf

    lock = threading.Lock()
    running = peak = calls = 0
    real_load = Libbpf.load

    def counted(self: Libbpf, obj: int) -> int:
        nonlocal running, peak, calls
        with lock:
            running += 1
            calls += 1
            peak = max(peak, running)
        try:
            return real_load(self, obj)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(Libbpf, "load", counted)
    for n in range(4):
        (tmp_path / f"many{n}.bpf.c").write_text(_many_programs(10, n))
    inputs = collect([str(tmp_path)], str(tmp_path))
    results = list(check_all(inputs.sources, Settings(), jobs=2))
    assert len(results) == 4
    for _, analysis in results:
        verdicts = [verdict_of(p) for p in analysis.programs]
        assert verdicts.count("accepted") == 10, verdicts
        assert verdicts.count("rejected") == 1, verdicts
    assert calls >= 4 * 11  # each program loaded on its own at least once
    assert peak <= 2, f"{peak} programs were verified at once with -j 2"


def test_files_reaching_vmlinux_h_through_their_own_headers_share_the_kernel_types(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three tools, each including its own header, which includes the project's common.h,
    which includes vmlinux.h and libbpf: no two share a preamble, and none starts with the
    base. They share the kernel's types precompiled (toolchain/kernel_base.py): the first file
    compiles plainly and builds that one PCH, the others compile on it, and each says and
    produces what a plain compile does."""
    from kptr_lsp.batch import check_all
    from kptr_lsp.settings import Settings
    from kptr_lsp.toolchain.compile import CompileOptions, compile_buffer
    from kptr_lsp.toolchain.vmlinux import ensure_vmlinux_h
    from tests.toolchain.kernel_view import what_the_kernel_gets

    generated = Path(ensure_vmlinux_h())
    shutil.copytree(generated, tmp_path / "cache" / "kptr-lsp" / "vmlinux" / generated.name)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    tools = tmp_path / "tools"
    tools.mkdir()
    shutil.copy(TOOL_TREE / "trace" / "opensnoop.h", tools)
    (tools / "common.h").write_text(
        "/* the project's shared header */\n#ifndef __COMMON_H\n#define __COMMON_H\n"
        '#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n#endif\n'
    )
    text = (TOOL_TREE / "trace" / "opensnoop.bpf.c").read_text()
    includes = '#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n#include "opensnoop.h"\n'
    assert includes in text
    for n in range(3):
        (tools / f"snoop{n}.h").write_text(
            f'#pragma once\n#include "common.h"\n#include "opensnoop.h"\n#define SNOOP {n}\n'
        )
        body = text.replace(includes, f'#include "snoop{n}.h"\n')
        (tools / f"snoop{n}.bpf.c").write_text(body.replace("targ_tgid = 0", "targ_tgid = SNOOP"))
    inputs = collect([str(tools)], str(tmp_path))
    results = list(check_all(inputs.sources, Settings(verify=False), jobs=2))
    assert [s.name for s, _ in results] == [f"tools/snoop{n}.bpf.c" for n in range(3)]
    commands = [a.compile.command for _, a in results if a.compile is not None]
    used = [c[c.index("-include-pch") + 1] if "-include-pch" in c else None for c in commands]
    assert used[0] is None and used[1] is not None and used[1] == used[2], used
    assert len(list((tmp_path / "cache" / "kptr-lsp").rglob("*.pch"))) == 1
    for source, analysis in results:
        assert analysis.compile is not None and not analysis.findings, analysis.findings
        plain = compile_buffer(
            source.path,
            source.text,
            options=CompileOptions(use_compile_commands=False, use_pch=False),
        )
        assert analysis.compile.findings == plain.findings
        assert what_the_kernel_gets(analysis.compile) == what_the_kernel_gets(plain)
