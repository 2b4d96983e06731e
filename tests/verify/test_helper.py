"""`kptr-lsp verify-helper`: the privileged side only loads well-formed BPF objects; run as
a real process, as the server runs it."""

from __future__ import annotations

import base64
import json
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from privileged import HELPER

from kptr_lsp.verify.helper import (
    HelperError,
    VerifyRequest,
    encode_frame,
    helper_map_cap,
    verify_via_helper,
)
from kptr_lsp.verify.loader import Failure, verify_object

CompileFn = Callable[[str | Path], bytes]
PROGRAMS = Path(__file__).parent.parent / "programs"


def _ask(payload: bytes) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run(HELPER, input=payload, capture_output=True, timeout=60, check=False)
    (length,) = struct.unpack(">I", proc.stdout[:4])
    return proc.returncode, json.loads(proc.stdout[4 : 4 + length])


@pytest.fixture(scope="module")
def bpf_object(compile_bpf: CompileFn) -> bytes:
    return compile_bpf(PROGRAMS / "rejected/map_value_null_deref.bpf.c")


def _request(obj: bytes, **changes: Any) -> dict[str, Any]:
    message = VerifyRequest(obj, name="nullderef").to_json()
    message.update(changes)
    return message


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"op": "attach"}, "unsupported operation 'attach'"),
        ({"op": "pin"}, "unsupported operation 'pin'"),
        ({"version": 2}, "unsupported protocol version 2"),
        ({"attach_to": "eth0"}, "unexpected fields ['attach_to']"),
        ({"name": "../../etc"}, "'name' must be"),
        ({"log_level": 99}, "'log_level' must be an integer from 0 to 7"),
        ({"jobs": 0}, "'jobs' must be"),
        ({"map_memory_cap_mb": -1}, "'map_memory_cap_mb' must be"),
        ({"object": "not base64!"}, "'object' is not valid base64"),
        ({"object": base64.b64encode(b"#!/bin/sh\nrm -rf /\n" * 8).decode()}, "not an ELF"),
        ({"patches": [{"section": ".text", "offset": 0, "data": ""}]}, "only write into .rodata"),
    ],
)
def test_anything_but_a_verify_request_is_refused(
    bpf_object: bytes, changes: dict[str, Any], said: str
) -> None:
    status, answer = _ask(encode_frame(_request(bpf_object, **changes)))
    assert status == 1
    assert answer["ok"] is False and said in answer["error"]


def test_an_elf_for_another_machine_is_refused() -> None:
    status, answer = _ask(encode_frame(_request(Path(sys.executable).resolve().read_bytes())))
    assert status == 1 and "not BPF (247)" in answer["error"]


@pytest.mark.parametrize(
    ("payload", "said"),
    [
        (b"\x00\x00", "truncated frame header"),
        (b"\xff\xff\xff\xff{}", "over the 67108864 byte limit"),
        (b"\x00\x00\x00\x10{}", "truncated frame"),
        (struct.pack(">I", 3) + b"\xc3(]", "not JSON"),
        (struct.pack(">I", 2) + b"[]", "not a JSON object"),
    ],
)
def test_a_malformed_frame_ends_the_session(payload: bytes, said: str) -> None:
    status, answer = _ask(payload)
    assert status == 2 and said in answer["error"]


def test_the_helper_never_goes_without_a_map_cap() -> None:
    assert helper_map_cap(0) == helper_map_cap(10**9) == 4096 << 20
    assert helper_map_cap(16) == 16 << 20


def test_helper_verdict_is_the_in_process_verdict(kernel: None, bpf_object: bytes) -> None:
    here = verify_object(bpf_object, name="nullderef")
    there = verify_via_helper(HELPER, VerifyRequest(bpf_object, name="nullderef"))
    assert [(p.name, p.failure, p.errno) for p in there.programs] == [
        (p.name, p.failure, p.errno) for p in here.programs
    ]
    assert there.programs[0].failure is Failure.VERIFIER
    assert "invalid mem access 'map_value_or_null'" in there.programs[0].log
    # Same relocated program (map fds inside differ between processes).
    assert len(there.programs[0].insns) == len(here.programs[0].insns) > 0


def test_helper_keeps_the_placeholders_of_runtime_sized_maps(
    kernel: None, compile_bpf: CompileFn
) -> None:
    src = """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
char LICENSE[] SEC("license") = "GPL";
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __type(key, __u32);
    __type(value, __u64);
} sized_later SEC(".maps");  /* max_entries left for userspace */

SEC("xdp") int uses_it(struct xdp_md *ctx)
{
    __u32 k = 0;
    return bpf_map_lookup_elem(&sized_later, &k) ? XDP_PASS : XDP_DROP;
}
"""
    data = compile_bpf(src)
    here = verify_object(data, name="sized")
    there = verify_via_helper(HELPER, VerifyRequest(data, name="sized"))
    assert here.placeholders and there.placeholders == here.placeholders
    assert there.programs[0].accepted == here.programs[0].accepted


def test_helper_applies_the_map_cap(kernel: None, compile_bpf: CompileFn) -> None:
    data = compile_bpf(PROGRAMS / "rejected/map_too_large.bpf.c")
    there = verify_via_helper(HELPER, VerifyRequest(data, name="maptoolarge", map_memory_cap_mb=0))
    (prog,) = there.programs
    assert prog.failure is Failure.MAP_TOO_LARGE
    assert prog.oversized_maps[0].size.name == "flows"


def test_a_helper_that_cannot_run_says_why(bpf_object: bytes) -> None:
    with pytest.raises(HelperError, match="cannot run '/nonexistent/kptr-lsp'"):
        verify_via_helper(["/nonexistent/kptr-lsp"], VerifyRequest(bpf_object))
    # What `sudo -n` does without a sudoers rule: a message on stderr, nothing on stdout.
    with pytest.raises(HelperError, match="no answer: sudo: a password is required"):
        verify_via_helper(
            ["sh", "-c", "echo 'sudo: a password is required' >&2; exit 1"],
            VerifyRequest(bpf_object),
        )
    with pytest.raises(HelperError, match="malformed answer"):
        verify_via_helper(["echo", "hello"], VerifyRequest(bpf_object))
