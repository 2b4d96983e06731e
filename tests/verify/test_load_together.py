"""Programs loaded from one open object give the verdicts and statistics of loads one by one."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from kptr_lsp.verify.loader import Failure, ObjectResult, ProgramResult, verify_object

CompileFn = Callable[[str | Path], bytes]
PROGRAMS = Path(__file__).resolve().parent.parent / "programs"

HEADER = """
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
char LICENSE[] SEC("license") = "GPL";

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 64);
    __type(key, __u32);
    __type(value, __u64);
} totals SEC(".maps");
"""

# XDP, tracing with CO-RE reads of the running kernel's task_struct, and a loop the verifier
# walks: every kind of work that differs in cost per program.
CLEAN_PROGRAMS = "".join(
    f"""
SEC("xdp") int walk_{k}(struct xdp_md *ctx)
{{
    __u32 key = ctx->rx_queue_index & 63;
    __u64 sum = 0, *total;
    for (int i = 0; i < {10 + k}; i++)
        sum += (ctx->data_end - ctx->data) * i;
    total = bpf_map_lookup_elem(&totals, &key);
    if (total)
        __sync_fetch_and_add(total, sum);
    return XDP_PASS;
}}

SEC("tp_btf/sched_switch")
int BPF_PROG(switch_{k}, bool preempt, struct task_struct *prev, struct task_struct *next)
{{
    __u32 key = BPF_CORE_READ(next, pid) & 63;
    __u64 *total = bpf_map_lookup_elem(&totals, &key);
    if (total)
        __sync_fetch_and_add(total, prev->pid + {k});
    return 0;
}}
"""
    for k in range(5)
)

ONE_BAD = """
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
} seen SEC(".maps");

SEC("xdp") int no_null_check(struct xdp_md *ctx)
{
    __u32 key = 0;
    return *(__u64 *)bpf_map_lookup_elem(&seen, &key);
}
"""

_TIME = re.compile(r"verification time \d+ usec")
_KERNEL_ADDRESS = re.compile(r"0xffff[0-9a-f]{12}")


def _stats(log: str) -> str:
    """The log without what changes from load to load: the time, a map's kernel address."""
    return _KERNEL_ADDRESS.sub("ADDR", _TIME.sub("verification time", log))


def _without_map_fds(insns: bytes) -> list[bytes]:
    """Instructions with the map file descriptors libbpf patched in blanked: the numbers depend
    on which descriptors the process had open, not on the program."""
    out = []
    for off in range(0, len(insns), 8):
        insn = insns[off : off + 8]
        if insn[0] == 0x18 and insn[1] >> 4 in (1, 2, 5, 6):  # ld_imm64 of a map (fd/idx)
            insn = insn[:4] + bytes(4)
        out.append(insn)
    return out


def _same_verdicts(together: ObjectResult, alone: ObjectResult) -> None:
    assert together.open_error is None and alone.open_error is None
    assert [p.name for p in together.programs] == [p.name for p in alone.programs]
    for mine, ref in zip(together.programs, alone.programs, strict=True):
        assert (mine.accepted, mine.failure, mine.errno) == (ref.accepted, ref.failure, ref.errno)
        assert _without_map_fds(mine.insns) == _without_map_fds(ref.insns), mine.name
        assert _stats(mine.log) == _stats(ref.log), mine.name
        assert "processed" in mine.log  # level 4: the statistics the code lens shows


def test_clean_object_loaded_together_matches_one_by_one(
    kernel: None, compile_bpf: CompileFn
) -> None:
    data = compile_bpf(HEADER + CLEAN_PROGRAMS)
    for jobs in (1, 2):
        together = verify_object(data, log_level=5, jobs=jobs)
        alone = verify_object(data, log_level=5, jobs=jobs, together=False)
        assert len(together.programs) == 10
        assert all(p.accepted for p in together.programs)
        _same_verdicts(together, alone)


def test_messages_about_other_programs_stay_with_them(kernel: None, compile_bpf: CompileFn) -> None:
    data = compile_bpf(HEADER + CLEAN_PROGRAMS)
    result = verify_object(data, log_level=5, jobs=1)
    for prog in result.programs:
        named = {n for m in prog.libbpf_messages for n in re.findall(r"prog '([^']+)'", m.text)}
        assert named <= {prog.name}, (prog.name, named)


def test_a_rejected_program_falls_back_to_loads_one_by_one(
    kernel: None, compile_bpf: CompileFn
) -> None:
    data = compile_bpf(HEADER + CLEAN_PROGRAMS + ONE_BAD)
    together = verify_object(data, log_level=5, jobs=2)
    alone = verify_object(data, log_level=5, jobs=2, together=False)
    _same_verdicts(together, alone)
    bad = _by_name(together, "no_null_check")
    assert bad.failure is Failure.VERIFIER
    assert "invalid mem access 'map_value_or_null'" in bad.log
    assert sum(p.accepted for p in together.programs) == 10


def test_real_project_object_matches_one_by_one(kernel: None, compile_bpf: CompileFn) -> None:
    # 65 kprobes/kretprobes sharing maps, one of them rejected.
    data = compile_bpf(PROGRAMS / "projects" / "many_programs.bpf.c")
    together = verify_object(data, log_level=5, jobs=2, debug_messages=False)
    alone = verify_object(data, log_level=5, jobs=2, debug_messages=False, together=False)
    _same_verdicts(together, alone)
    assert sum(not p.accepted for p in together.programs) == 1


def test_progress_hears_every_program_once(kernel: None, compile_bpf: CompileFn) -> None:
    data = compile_bpf(HEADER + CLEAN_PROGRAMS + ONE_BAD)
    heard: list[str] = []
    result = verify_object(data, jobs=2, on_program=lambda r: heard.append(r.name))
    assert sorted(heard) == sorted(p.name for p in result.programs)


def test_no_file_descriptor_is_left_open(kernel: None, compile_bpf: CompileFn) -> None:
    data = compile_bpf(HEADER + CLEAN_PROGRAMS + ONE_BAD)
    verify_object(data, jobs=2)  # libbpf's one-time state
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(3):
        verify_object(data, jobs=2)
    assert len(os.listdir("/proc/self/fd")) == before


def _by_name(result: ObjectResult, name: str) -> ProgramResult:
    return next(p for p in result.programs if p.name == name)
