"""A clang started ahead of the next save compiles exactly what a fresh one would. Real clang."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kptr_lsp.toolchain import pch, warm
from kptr_lsp.toolchain.compile import CompileOptions, compile_buffer

SOURCE = """\
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


@pytest.fixture
def pool() -> Iterator[warm.WarmClangs]:
    """The process-wide pool switched on, as a server session does, and emptied after."""
    warm.POOL.enabled = True
    try:
        yield warm.POOL
    finally:
        warm.POOL.enabled = False
        warm.POOL.close()


def test_the_next_compile_takes_the_started_clang_and_gets_the_same_result(
    tmp_path: Path, xdg_cache: Path, pool: warm.WarmClangs
) -> None:
    src = tmp_path / "prog.bpf.c"
    src.write_text(SOURCE)
    options = CompileOptions(use_compile_commands=False, trim_vmlinux=False)
    compile_buffer(str(src), SOURCE, options=options)
    pch.CACHE.wait()
    fresh = compile_buffer(str(src), SOURCE, options=options)  # with the PCH: a new command
    waiting = pool.take(fresh.command, str(tmp_path))
    assert waiting is not None and waiting.poll() is None  # started, waiting on stdin
    warm.stop(waiting)

    first = compile_buffer(str(src), SOURCE, options=options)  # starts the next one again
    again = compile_buffer(str(src), SOURCE, options=options)  # compiles with it
    assert first.command == again.command == fresh.command
    assert again.obj == fresh.obj
    assert again.findings == fresh.findings
    assert [f.line for f in again.findings] == [7]
    assert again.headers == fresh.headers


def test_close_leaves_no_clang_behind(
    tmp_path: Path, xdg_cache: Path, pool: warm.WarmClangs
) -> None:
    for name in ("a", "b", "c"):  # three commands (their directories differ), two kept
        folder = tmp_path / name
        folder.mkdir()
        (folder / "prog.bpf.c").write_text(SOURCE)
        # no PCH builds: waiting for them on a busy machine outlasts the idle clangs' 5 s
        compile_buffer(
            str(folder / "prog.bpf.c"),
            SOURCE,
            options=CompileOptions(use_pch=False, trim_vmlinux=False),
        )
    assert 1 <= len(_clang_children()) <= 2
    pool.close()
    assert _clang_children() == []


def test_off_by_default_nothing_waits(tmp_path: Path, xdg_cache: Path) -> None:
    assert not warm.POOL.enabled
    src = tmp_path / "prog.bpf.c"
    src.write_text(SOURCE)
    compile_buffer(str(src), SOURCE, options=CompileOptions(trim_vmlinux=False))
    assert _clang_children() == []


def _clang_children(name: str = "clang") -> list[int]:
    """`name` processes whose parent is this test process (PCH builds are waited for first)."""
    pch.CACHE.wait()
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


def test_an_unused_clang_stops_after_the_idle_time(tmp_path: Path, xdg_cache: Path) -> None:
    pool = warm.WarmClangs(idle_s=0.2)
    pool.enabled = True
    try:
        pool.start_next(("/bin/cat",), str(tmp_path))  # any process that waits on stdin
        assert len(_clang_children(name="cat")) == 1
        deadline = time.monotonic() + 10
        while _clang_children(name="cat") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _clang_children(name="cat") == []
        assert pool.take(("/bin/cat",), str(tmp_path)) is None
    finally:
        pool.close()
