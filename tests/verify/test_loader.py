"""Per-program loads into the running kernel's verifier, one failure class per real program."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from kptr_lsp.kernel.running import VMLINUX_BTF
from kptr_lsp.verify.libbpf import BPF_PROG_TYPE_LSM, BPF_PROG_TYPE_TRACING, libbpf
from kptr_lsp.verify.loader import (
    Failure,
    ObjectResult,
    ProgramResult,
    bpf_available,
    verify_object,
)

CompileFn = Callable[[str | Path], bytes]

HEADER = """
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
char LICENSE[] SEC("license") = "GPL";
"""

NULL_DEREF = (
    HEADER
    + """
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4);
    __type(key, int);
    __type(value, long);
} counts SEC(".maps");

SEC("xdp") int no_null_check(struct xdp_md *ctx)
{
    int key = 0;
    long *value = bpf_map_lookup_elem(&counts, &key);
    return *value;
}
"""
)

CLEAN = HEADER + 'SEC("xdp") int pass_all(struct xdp_md *ctx) { return XDP_PASS; }\n'


def _only(result: ObjectResult) -> ProgramResult:
    assert result.open_error is None
    assert len(result.programs) == 1
    return result.programs[0]


def _warnings(result: ProgramResult) -> str:
    return "".join(m.text for m in result.libbpf_messages if m.level == "warn")


def test_bpf_available(kernel: None) -> None:
    assert bpf_available() == (True, "")


def test_clean_program_is_accepted(kernel: None, compile_bpf: CompileFn) -> None:
    prog = _only(verify_object(compile_bpf(CLEAN), name="clean"))
    assert (prog.name, prog.section) == ("pass_all", "xdp")
    assert prog.accepted and prog.failure is Failure.NONE and prog.errno == 0
    assert re.search(r"processed 2 insns", prog.log)
    assert _warnings(prog) == ""
    assert prog.duration_s > 0


def test_verifier_rejection_carries_the_log_once(kernel: None, compile_bpf: CompileFn) -> None:
    result = verify_object(compile_bpf(NULL_DEREF), name="nullderef")
    prog = _only(result)
    assert not prog.accepted
    assert prog.failure is Failure.VERIFIER
    assert prog.errno == errno.EACCES
    assert "R0 invalid mem access 'map_value_or_null'" in prog.log
    # the kernel got BTF line info: the failing line of the source is named
    line = NULL_DEREF.splitlines().index("    return *value;") + 1
    assert f"@ <stdin>:{line}\n7: (79) r0 = *(u64 *)(r0 +0)" in prog.log
    warnings = _warnings(prog)
    assert "prog 'no_null_check': BPF program load failed: Permission denied" in warnings
    # libbpf must not print the verifier log again when we gave it the buffer
    assert "invalid mem access" not in warnings
    assert not result.btf_rejected and not prog.object_wide


def test_small_log_buffer_grows_until_the_error_fits(kernel: None, compile_bpf: CompileFn) -> None:
    prog = _only(verify_object(compile_bpf(NULL_DEREF), log_size=128))
    assert prog.failure is Failure.VERIFIER
    assert len(prog.log) > 128
    assert prog.log.startswith("func#0") or prog.log.startswith("0:")
    assert "invalid mem access 'map_value_or_null'" in prog.log


def test_level_two_log_of_a_loop_grows_and_program_still_passes(
    kernel: None, compile_bpf: CompileFn
) -> None:
    src = (
        HEADER
        + """
SEC("xdp") int sum_bytes(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    unsigned int sum = 0;
#pragma clang loop unroll(disable)
    for (int i = 0; i < 64; i++) {
        unsigned char *p = data + i;
        if ((void *)(p + 1) > end)
            break;
        sum += *p;
    }
    return sum & 1 ? XDP_PASS : XDP_DROP;
}
"""
    )
    data = compile_bpf(src)
    level1 = _only(verify_object(data, log_level=1))
    level2 = _only(verify_object(data, log_level=2, log_size=4096))
    assert level1.accepted and level2.accepted
    # level 2 prints the state at every instruction of every path: far beyond the first buffer
    assert len(level2.log) > 4 * 4096
    assert len(level2.log) > 10 * len(level1.log)
    assert level2.log.rstrip().splitlines()[-1].startswith("processed ")
    assert re.search(r"^from \d+ to \d+:", level2.log, re.M)


def test_map_that_cannot_be_created(kernel: None, compile_bpf: CompileFn) -> None:
    src = (
        HEADER
        + """
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);  /* an array's key must be 4 bytes: EINVAL */
    __uint(max_entries, 4);
    __type(key, long);
    __type(value, int);
} bad_key_map SEC(".maps");

SEC("xdp") int uses_map(struct xdp_md *ctx)
{
    long key = 0;
    return bpf_map_lookup_elem(&bad_key_map, &key) ? XDP_PASS : XDP_DROP;
}
"""
    )
    prog = _only(verify_object(compile_bpf(src)))
    assert prog.failure is Failure.MAP_CREATE
    assert prog.errno == errno.EINVAL
    assert "map 'bad_key_map': failed to create: Invalid argument(-22)" in _warnings(prog)
    assert prog.log == "" and prog.object_wide


def test_missing_kfunc_fails_every_program_of_the_object(
    kernel: None, compile_bpf: CompileFn
) -> None:
    src = (
        HEADER
        + """
extern void bpf_nonexistent_kfunc(void) __ksym;
SEC("xdp") int calls_it(struct xdp_md *ctx) { bpf_nonexistent_kfunc(); return XDP_PASS; }
SEC("xdp") int innocent(struct xdp_md *ctx) { return XDP_PASS; }
"""
    )
    result = verify_object(compile_bpf(src), weaken=False)  # as compiled: see test_externs.py
    assert [p.name for p in result.programs] == ["calls_it", "innocent"]
    for prog in result.programs:
        # libbpf 1.1 resolves externs for the whole object before loading any program
        assert prog.failure is Failure.RELOCATION and prog.object_wide
        assert prog.errno == errno.EINVAL
        assert (
            "extern (func ksym) 'bpf_nonexistent_kfunc': not found in kernel or module BTFs"
            in _warnings(prog)
        )


def test_fentry_to_missing_kernel_function(kernel: None, compile_bpf: CompileFn) -> None:
    src = HEADER + 'SEC("fentry/kptr_no_such_func") int BPF_PROG(on_entry) { return 0; }\n'
    prog = _only(verify_object(compile_bpf(src)))
    assert prog.failure is Failure.ATTACH_TARGET
    assert prog.errno == errno.ESRCH
    assert "failed to find kernel BTF type ID of 'kptr_no_such_func'" in _warnings(prog)


@pytest.mark.parametrize(
    ("prog_type", "source"),
    [
        (BPF_PROG_TYPE_TRACING, 'SEC("fentry/do_unlinkat") int BPF_PROG(on_unlink) { return 0; }'),
        (
            BPF_PROG_TYPE_LSM,
            'SEC("lsm/file_open") int BPF_PROG(on_open, struct file *f) {return 0;}',
        ),
    ],
    ids=["fentry", "lsm"],
)
def test_program_type_this_kernel_refuses_is_not_the_codes_fault(
    kernel: None, compile_bpf: CompileFn, prog_type: int, source: str
) -> None:
    prog = _only(verify_object(compile_bpf(HEADER + source)))
    supported = libbpf().probe_prog_type(prog_type)
    if supported:
        assert prog.accepted, prog.log
    else:
        # On a kernel without trampolines / BPF LSM the load fails before the verifier logs.
        assert prog.failure is Failure.NOT_PERMITTED, (prog.errno, prog.log)
        assert prog.log == ""
        assert prog.errno in (errno.EPERM, errno.EINVAL, errno.EOPNOTSUPP, 524)


def _btf_member_offset(struct_name: str, member: str) -> int:
    """Byte offset of a member in the running kernel's BTF, read with bpftool."""
    bpftool = shutil.which("bpftool") or "/usr/sbin/bpftool"
    out = subprocess.run(
        [bpftool, "btf", "dump", "file", VMLINUX_BTF],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    block = re.search(rf"^\[\d+\] STRUCT '{struct_name}' .*?(?=^\[)", out, re.M | re.S)
    assert block
    bits = re.search(rf"^\s+'{member}' type_id=\d+ bits_offset=(\d+)", block.group(0), re.M)
    assert bits
    return int(bits.group(1)) // 8


def test_core_read_is_relocated_against_the_running_kernel(
    kernel: None, compile_bpf: CompileFn
) -> None:
    src = (
        HEADER
        + """
SEC("kprobe/do_unlinkat") int BPF_KPROBE(read_pid)
{
    struct task_struct *task = (void *)bpf_get_current_task();
    int pid = BPF_CORE_READ(task, pid);
    bpf_printk("pid %d", pid);
    return 0;
}
"""
    )
    prog = _only(verify_object(compile_bpf(src)))
    assert prog.accepted, prog.log
    debug = "".join(m.text for m in prog.libbpf_messages if m.level == "debug")
    assert re.search(
        r"struct task_struct: found target candidate \[\d+\] struct task_struct in \[vmlinux\]",
        debug,
    )
    offset = _btf_member_offset("task_struct", "pid")
    immediates = [
        struct.unpack_from("<i", prog.insns, i + 4)[0] for i in range(0, len(prog.insns), 8)
    ]
    assert offset in immediates  # the field offset libbpf patched in is the kernel's


def test_broken_core_relocation_is_a_relocation_failure(
    kernel: None, compile_bpf: CompileFn
) -> None:
    src = (
        HEADER
        + """
struct task_struct___mine { int kptr_no_such_field; } __attribute__((preserve_access_index));
SEC("kprobe/do_unlinkat") int BPF_KPROBE(bad_field)
{
    struct task_struct___mine *task = (void *)bpf_get_current_task();
    return BPF_CORE_READ(task, kptr_no_such_field);
}
"""
    )
    prog = _only(verify_object(compile_bpf(src)))
    assert prog.failure is Failure.RELOCATION and not prog.object_wide
    # libbpf 1.1 poisons the instruction, the verifier trips on it, libbpf rewrites the log line
    assert "<invalid CO-RE relocation>" in prog.log
    assert "struct task_struct___mine.kptr_no_such_field" in prog.log


def test_insns_are_main_program_then_appended_subprograms(
    kernel: None, compile_bpf: CompileFn, tmp_path: Path
) -> None:
    src = (
        HEADER
        + """
static __attribute__((noinline)) int helper(int x) { return x * 3 + 1; }
SEC("xdp") int with_call(struct xdp_md *ctx) { return helper(ctx->ingress_ifindex) & 1; }
"""
    )
    data = compile_bpf(src)
    path = tmp_path / "obj.o"
    path.write_bytes(data)
    with path.open("rb") as fh:
        elf = ELFFile(fh)
        main = bytes(elf.get_section_by_name("xdp").data())  # type: ignore[union-attr]
        text = bytes(elf.get_section_by_name(".text").data())  # type: ignore[union-attr]
    prog = _only(verify_object(data))
    assert prog.accepted, prog.log
    assert len(prog.insns) == len(main) + len(text)
    assert prog.insns[len(main) :] == text  # helper has no relocations: bytes unchanged
    calls = [
        i // 8
        for i in range(0, len(main), 8)
        if prog.insns[i] == 0x85 and prog.insns[i + 1] >> 4 == 1  # BPF_CALL, BPF_PSEUDO_CALL
    ]
    assert len(calls) == 1
    imm = struct.unpack_from("<i", prog.insns, calls[0] * 8 + 4)[0]
    assert calls[0] + imm + 1 == len(main) // 8  # the call lands on the appended helper


def test_rejected_btf_is_reported_with_the_kernel_reason(
    kernel: None, compile_bpf: CompileFn
) -> None:
    long_name = "kptr_" + "n" * 600  # the kernel caps BTF names at KSYM_NAME_LEN (512)
    src = (
        HEADER
        + f"struct {long_name} {{ int v; }};\n"
        + f"struct {long_name} *keep;\n"
        + 'SEC("xdp") int fine(struct xdp_md *ctx) { return XDP_PASS; }\n'
    )
    result = verify_object(compile_bpf(src))
    prog = _only(result)
    assert result.btf_rejected
    assert result.btf_log.splitlines()[-1].endswith("Invalid name")
    assert prog.accepted  # BTF is optional for xdp: libbpf went on without it
    assert "Error loading .BTF into kernel: -22. BTF is optional, ignoring." in _warnings(prog)


def test_unparsable_object_is_an_open_error(kernel: None) -> None:
    result = verify_object(b"\x7fELF\x02\x01\x01" + b"\0" * 57, name="junk")
    assert result.open_error
    assert result.programs == ()


def test_programs_filter_limits_the_run(kernel: None, compile_bpf: CompileFn) -> None:
    data = compile_bpf(NULL_DEREF + 'SEC("xdp") int ok(struct xdp_md *c) { return XDP_PASS; }\n')
    result = verify_object(data, programs=["ok"])
    assert [(p.name, p.accepted) for p in result.programs] == [("ok", True)]


def _mixed_object(compile_bpf: CompileFn) -> bytes:
    bodies = "".join(
        f'SEC("xdp") int good{i}(struct xdp_md *c) {{ return XDP_PASS; }}\n'
        f'SEC("xdp") int bad{i}(struct xdp_md *c) {{ int k = 0; '
        f"return *(long *)bpf_map_lookup_elem(&counts, &k); }}\n"
        for i in range(3)
    )
    return compile_bpf(NULL_DEREF + bodies)


def test_parallel_jobs_match_sequential_and_keep_messages_apart(
    kernel: None, compile_bpf: CompileFn
) -> None:
    data = _mixed_object(compile_bpf)
    sequential = verify_object(data, jobs=1)
    parallel = verify_object(data, jobs=4)
    key = [(p.name, p.accepted, p.failure, p.errno) for p in sequential.programs]
    assert [(p.name, p.accepted, p.failure, p.errno) for p in parallel.programs] == key
    assert sum(not p.accepted for p in parallel.programs) == 4
    for prog in parallel.programs:
        named = set(re.findall(r"prog '([^']+)'", _warnings(prog)))
        assert named <= {prog.name}, (prog.name, named)


def test_two_threads_loading_different_objects(kernel: None, compile_bpf: CompileFn) -> None:
    objects = {"alpha": compile_bpf(NULL_DEREF), "beta": _mixed_object(compile_bpf)}
    results: dict[str, ObjectResult] = {}

    def run(name: str) -> None:
        for _ in range(3):
            results[name] = verify_object(objects[name], name=name, jobs=2)

    threads = [threading.Thread(target=run, args=(n,)) for n in objects]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name, result in results.items():
        for prog in result.programs:
            if not prog.accepted:
                assert f"failed to load object '{name}'" in _warnings(prog)
            other = "beta" if name == "alpha" else "alpha"
            assert f"'{other}'" not in _warnings(prog)


def _bpftool_names(kind: str) -> set[str]:
    bpftool = shutil.which("bpftool") or "/usr/sbin/bpftool"
    out = subprocess.run(
        [bpftool, "-j", kind, "list"], capture_output=True, text=True, check=True
    ).stdout
    return {str(item.get("name", "")) for item in json.loads(out or "[]")}


def test_nothing_stays_in_the_kernel_or_the_process(kernel: None, compile_bpf: CompileFn) -> None:
    src = (
        HEADER
        + """
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1);
    __type(key, int);
    __type(value, long);
} leakchk_map SEC(".maps");

SEC("xdp") int leakchk_ok(struct xdp_md *ctx)
{
    int key = 0;
    long *v = bpf_map_lookup_elem(&leakchk_map, &key);
    return v ? XDP_PASS : XDP_DROP;
}

SEC("xdp") int leakchk_bad(struct xdp_md *ctx)
{
    int key = 0;
    return *(long *)bpf_map_lookup_elem(&leakchk_map, &key);
}
"""
    )
    data = compile_bpf(src)
    verify_object(data)  # warm up libbpf's one-time state
    fds_before = len(os.listdir("/proc/self/fd"))
    for _ in range(3):
        result = verify_object(data, jobs=2)
        assert [p.accepted for p in result.programs] == [True, False]
    assert len(os.listdir("/proc/self/fd")) == fds_before
    # Kernel names are truncated to 15 characters. A map outlives its last program by an RCU
    # grace period (the program's map references drop from an RCU callback), so poll briefly.
    deadline = time.monotonic() + 5
    while True:
        left = {
            n for kind in ("prog", "map") for n in _bpftool_names(kind) if n.startswith("leakchk")
        }
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not left
