"""Maps over the memory cap are never created; the user learns which map and why."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from kptr_lsp.verify.libbpf import libbpf
from kptr_lsp.verify.loader import Failure, ObjectResult, verify_object
from kptr_lsp.verify.map_memory import human, map_size

CompileFn = Callable[[str | Path], bytes]
KIB = 1024

PROGRAM = """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
char LICENSE[] SEC("license") = "GPL";
struct {{
    __uint(type, {map_type});
    __uint(max_entries, {entries});
    {key_value}
}} {name} SEC(".maps");

SEC("xdp") int {name}_prog(struct xdp_md *ctx)
{{
    {body}
    return XDP_PASS;
}}
"""
KV = "__type(key, __u32); __type(value, char[1024]);"
LOOKUP = "__u32 k = 0; char *v = bpf_map_lookup_elem(&{name}, &k); if (!v) return XDP_DROP;"


def _program(name: str, map_type: str, entries: int, key_value: str = KV) -> str:
    body = (
        LOOKUP.format(name=name)
        if key_value
        else f"__u32 x = 0; bpf_ringbuf_output(&{name}, &x, sizeof(x), 0);"
    )
    return PROGRAM.format(
        map_type=map_type, entries=entries, key_value=key_value, name=name, body=body
    )


def _map_names() -> set[str]:
    bpftool = shutil.which("bpftool") or "/usr/sbin/bpftool"
    out = subprocess.run(
        [bpftool, "-j", "map", "list"], capture_output=True, text=True, check=True
    ).stdout
    return {str(m.get("name", "")) for m in json.loads(out or "[]")}


def _only_failure(result: ObjectResult) -> Failure:
    (prog,) = result.programs
    return prog.failure


def test_hash_map_over_the_cap_is_refused_and_under_it_loads(
    kernel: None, compile_bpf: CompileFn
) -> None:
    data = compile_bpf(_program("capchk_hash", "BPF_MAP_TYPE_HASH", 1024))
    need = 1024 * (4 + 1024)
    refused = verify_object(data, map_memory_cap=need - 1)
    (prog,) = refused.programs
    assert prog.failure is Failure.MAP_TOO_LARGE and not prog.accepted
    (over,) = prog.oversized_maps
    assert over.size.name == "capchk_hash" and over.size.bytes == need
    assert "max_entries 1024 × (key 4 + value 1024) bytes" in over.message()
    # libbpf never got as far as creating a map: no BPF_MAP_CREATE, nothing to clean up.
    assert not any("created successfully" in m.text for m in prog.libbpf_messages)
    assert "capchk_hash" not in _map_names()

    assert verify_object(data, map_memory_cap=need).programs[0].accepted
    assert verify_object(data).programs[0].accepted  # no cap at all


def test_per_cpu_values_count_once_per_possible_cpu(kernel: None, compile_bpf: CompileFn) -> None:
    cpus = libbpf().possible_cpus()
    if cpus < 2:
        pytest.skip("one possible CPU: per-CPU maps take no more than plain ones")
    data = compile_bpf(_program("capchk_pcpu", "BPF_MAP_TYPE_PERCPU_ARRAY", 256))
    plain = 256 * (4 + 1024)
    per_cpu = 256 * (4 + 1024 * cpus)
    result = verify_object(data, map_memory_cap=per_cpu - 1)
    (prog,) = result.programs
    assert prog.failure is Failure.MAP_TOO_LARGE
    assert prog.oversized_maps[0].size.bytes == per_cpu > plain
    assert f"value 1024 × {cpus} possible CPUs" in prog.oversized_maps[0].message()
    assert verify_object(data, map_memory_cap=per_cpu).programs[0].accepted


def test_ring_buffer_size_is_max_entries_bytes(kernel: None, compile_bpf: CompileFn) -> None:
    data = compile_bpf(_program("capchk_ring", "BPF_MAP_TYPE_RINGBUF", 1 << 20, key_value=""))
    result = verify_object(data, map_memory_cap=(1 << 20) - 1)
    (prog,) = result.programs
    assert prog.failure is Failure.MAP_TOO_LARGE
    assert "a ring buffer of max_entries 1048576 bytes" in prog.oversized_maps[0].message()
    assert "1.0 MiB" in prog.oversized_maps[0].message()
    assert verify_object(data, map_memory_cap=1 << 20).programs[0].accepted


def test_every_program_of_the_object_reports_the_map(kernel: None, compile_bpf: CompileFn) -> None:
    src = _program("capchk_two", "BPF_MAP_TYPE_HASH", 4096) + (
        'SEC("xdp") int capchk_other(struct xdp_md *ctx) { return XDP_PASS; }\n'
    )
    start = time.monotonic()
    result = verify_object(compile_bpf(src), map_memory_cap=64 * KIB)
    assert time.monotonic() - start < 30
    assert [p.failure for p in result.programs] == [Failure.MAP_TOO_LARGE] * 2
    assert all(p.object_wide for p in result.programs)


def test_sizes_in_words() -> None:
    assert human(512) == "512 bytes"
    assert human(1536) == "1.5 KiB"
    assert human(64 << 30) == "64.0 GiB"
    size = map_size("m", 1, 10, 4, 8, cpus=8)
    assert size.bytes == 10 * 12 and size.cpus == 1  # a plain hash map: one value per entry
