"""The privileged verify helper under hostile input: it runs as root and hands the ELF it is
sent to libbpf, so every frame and object a client can send is fuzzed — truncated frames,
huge lengths, broken JSON and fields, and real objects with mutated bytes, hostile section
headers and BTF whose types loop. Whatever comes in, the helper answers with well-formed
frames (or ends the session after a malformed one), never raises, and leaves no program, map
or BTF object behind: the process's bpf file descriptors are counted before and after every
case, and a real `kptr-lsp verify-helper` process still verifies a sound object afterwards.

`make test` runs a small seeded set; `make fuzz` sets KPTR_FUZZ_EXAMPLES=10000.
"""

from __future__ import annotations

import base64
import io
import json
import os
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kptr_lsp.verify.helper import (
    HELPER_CPU_LIMIT_S,
    MAX_REQUEST_BYTES,
    ProtocolError,
    VerifyRequest,
    answer,
    encode_frame,
    read_frame,
    result_from_json,
    serve,
)
from tests.fuzz.test_fuzz_inputs import EDGES, mutations

TESTS = Path(__file__).parent.parent
SOURCES = ("rejected/map_value_null_deref.bpf.c", "clean/kptr_ok.bpf.c")
HELPER = [sys.executable, "-m", "kptr_lsp", "verify-helper"]
EXAMPLES = int(os.environ.get("KPTR_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=max(EXAMPLES // 4, 1) if EXAMPLES else 40,  # each case may load programs
    derandomize=not EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CompileFn = Callable[[str | Path], bytes]
BPF_FDS = ("anon_inode:bpf-prog", "anon_inode:bpf-map", "anon_inode:btf", "anon_inode:bpf_link")


def bpf_fds() -> list[str]:
    """This process's open BPF objects (programs, maps, BTF, links), by fd."""
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # the directory's own fd, closed by now
        if target.startswith(BPF_FDS):
            out.append(f"{fd}:{target}")
    return sorted(out)


def pinned() -> set[str]:
    try:
        return set(os.listdir("/sys/fs/bpf"))
    except OSError:
        return set()


@pytest.fixture(scope="module")
def objects(compile_bpf: CompileFn) -> list[bytes]:
    return [compile_bpf(TESTS / "programs" / name) for name in SOURCES]


# --- hostile objects ----------------------------------------------------------------------

_SHDR = struct.Struct("<IIQQQQIIQQ")  # Elf64_Shdr
_HUGE = (0, 1, 7, 64, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 1 << 32, 1 << 62, (1 << 64) - 1)


def _sections(data: bytes) -> tuple[int, int]:
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    (shnum,) = struct.unpack_from("<H", data, 0x3C)
    return shoff, shnum


@st.composite
def hostile_section_headers(draw: st.DrawFn, original: bytes) -> bytes:
    """Section headers that lie: sizes and offsets past the file, links to themselves or out
    of range, wrong types and entry sizes, a section-name table that is not one."""
    buf = bytearray(original)
    shoff, shnum = _sections(original)
    for _ in range(draw(st.integers(1, 4))):
        what = draw(st.sampled_from(("field", "ehdr")))
        if what == "ehdr":
            at, fmt = draw(
                st.sampled_from(((0x28, "<Q"), (0x3A, "<H"), (0x3C, "<H"), (0x3E, "<H")))
            )
            limit = 0xFFFF if fmt == "<H" else (1 << 64) - 1
            value = draw(st.sampled_from((*[v for v in _HUGE if v <= limit], shnum, shnum + 1)))
            struct.pack_into(fmt, buf, at, value)
            continue
        index = draw(st.integers(0, shnum - 1))
        fields = list(_SHDR.unpack_from(buf, shoff + index * _SHDR.size))
        slot = draw(st.sampled_from((1, 4, 5, 6, 7, 9)))  # type, offset, size, link, info, entsize
        if slot in (6, 7):
            fields[slot] = draw(st.sampled_from((index, shnum, 0xFFFFFFFF, 0)))  # loops
        elif slot == 1:
            fields[slot] = draw(st.sampled_from((0, 1, 2, 3, 4, 8, 9, 11, 0x6FFFFFF5)))
        else:
            fields[slot] = draw(st.sampled_from((*_HUGE, len(original), len(original) - 1)))
        _SHDR.pack_into(buf, shoff + index * _SHDR.size, *fields)
    return bytes(buf)


# Extra bytes after the 12-byte common header, by BTF kind (include/uapi/linux/btf.h).
_EXTRA = {1: lambda v: 4, 3: lambda v: 12, 4: lambda v: 12 * v, 5: lambda v: 12 * v,
          6: lambda v: 8 * v, 13: lambda v: 8 * v, 14: lambda v: 4, 15: lambda v: 12 * v,
          17: lambda v: 4, 19: lambda v: 12 * v}  # fmt: skip


# Kinds whose third word is a type id: ptr, typedef, volatile, const, restrict, func, var,
# type_tag.
_REFERS = (2, 8, 9, 10, 11, 12, 14, 18)


def btf_type_offsets(btf: bytes) -> list[tuple[int, int, int]]:
    """(type id, kind, byte offset in `btf`) of every type, walking the wire format."""
    hdr_len, type_off, type_len = struct.unpack_from("<III", btf, 4)
    at, end, out, tid = hdr_len + type_off, hdr_len + type_off + type_len, [], 1
    while at + 12 <= end:
        (info,) = struct.unpack_from("<I", btf, at + 4)
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        out.append((tid, kind, at))
        at += 12 + _EXTRA.get(kind, lambda v: 0)(vlen)
        tid += 1
    return out


@st.composite
def btf_loops(draw: st.DrawFn, original: bytes, btf_at: int, btf: bytes) -> bytes:
    """The object's .BTF with reference types pointing at themselves or at each other (a
    cycle), struct members of their own type, or ids past the end — same length, in place."""
    buf = bytearray(btf)
    types = btf_type_offsets(btf)
    refs = [t for t in types if t[1] in _REFERS]
    structs = [
        t for t in types if t[1] in (4, 5) and struct.unpack_from("<I", btf, t[2] + 4)[0] & 0xFFFF
    ]
    for _ in range(draw(st.integers(1, 3))):
        choice = draw(st.sampled_from(("self", "cycle", "member", "past")))
        if choice == "member" and structs:
            tid, _, at = draw(st.sampled_from(structs))
            struct.pack_into("<I", buf, at + 12 + 4, tid)  # first member of its own type
        elif refs:
            tid, _, at = draw(st.sampled_from(refs))
            if choice == "self":
                target = tid
            elif choice == "cycle":
                other_tid, _, other_at = draw(st.sampled_from(refs))
                struct.pack_into("<I", buf, other_at + 8, tid)
                target = other_tid
            else:
                target = draw(st.sampled_from((len(types) + 1, 0x7FFFFFFF, 0xFFFFFFFF)))
            struct.pack_into("<I", buf, at + 8, target)
    return original[:btf_at] + bytes(buf) + original[btf_at + len(btf) :]


def _btf_of(obj: bytes) -> tuple[int, bytes]:
    from kptr_lsp.elf import ObjectFile

    btf = ObjectFile.parse(obj).btf
    assert btf is not None
    return obj.index(btf), btf


@st.composite
def hostile_objects(draw: st.DrawFn, objects: list[bytes]) -> bytes:
    obj = draw(st.sampled_from(objects))
    kind = draw(st.sampled_from(("bytes", "sections", "btf")))
    if kind == "sections":
        return draw(hostile_section_headers(obj))
    if kind == "btf":
        at, btf = _btf_of(obj)
        return draw(btf_loops(obj, at, btf))
    mutated = draw(mutations(obj))
    return mutated[:4] + obj[4:20] + mutated[20:] if len(mutated) > 20 else mutated  # keep EM_BPF


# --- hostile frames -----------------------------------------------------------------------

_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def requests(draw: st.DrawFn, objects: list[bytes]) -> dict[str, Any]:
    """Verify requests with one field broken at a time, or an object that lies."""
    obj = draw(hostile_objects(objects)) if draw(st.booleans()) else draw(st.sampled_from(objects))
    message = VerifyRequest(obj, name="fuzz", jobs=draw(st.integers(1, 2))).to_json()
    for _ in range(draw(st.integers(0, 2))):
        key = draw(st.sampled_from((*message, "extra", "patches")))
        if key == "patches":
            message[key] = [
                {
                    "section": draw(st.sampled_from((".rodata", ".data", ".bss", ".text", ""))),
                    "offset": draw(st.sampled_from((0, 1, -1, 1 << 40, len(obj)))),
                    "data": base64.b64encode(draw(st.binary(max_size=64))).decode(),
                }
            ]
        else:
            message[key] = draw(_JSON_VALUES | st.sampled_from(EDGES))
    return message


@st.composite
def streams(draw: st.DrawFn, objects: list[bytes]) -> bytes:
    """One to three frames, the last possibly truncated, oversized or not JSON."""
    out = b"".join(encode_frame(draw(requests(objects))) for _ in range(draw(st.integers(0, 2))))
    tail = draw(st.sampled_from(("none", "request", "cut", "huge", "garbage", "array", "short")))
    if tail == "request":
        out += encode_frame(draw(requests(objects)))
    elif tail == "cut":
        frame = encode_frame(draw(requests(objects)))
        out += frame[: draw(st.integers(1, len(frame) - 1))]
    elif tail == "huge":
        out += struct.pack(">I", draw(st.sampled_from((MAX_REQUEST_BYTES + 1, 0xFFFFFFFF))))
        out += draw(st.binary(max_size=16))
    elif tail == "garbage":
        body = draw(st.binary(max_size=64))
        out += struct.pack(">I", len(body)) + body
    elif tail == "array":
        body = json.dumps(draw(st.lists(st.integers(), max_size=3))).encode()
        out += struct.pack(">I", len(body)) + body
    elif tail == "short":
        out += draw(st.binary(min_size=1, max_size=3))
    return out


def _responses(raw: bytes) -> list[dict[str, Any]]:
    stream, out = io.BytesIO(raw), []
    while (message := read_frame(stream, 1 << 30)) is not None:
        out.append(message)
    return out


def _check_response(response: dict[str, Any]) -> None:
    assert response["version"] == 1
    if response["ok"]:
        result_from_json(response["result"])  # what the server will parse
    else:
        assert response["error"].startswith("request refused: ")


# --- the tests ----------------------------------------------------------------------------


def test_fuzz_helper_protocol(objects: list[bytes], kernel: None) -> None:
    before, pins = bpf_fds(), pinned()

    @FUZZ
    @given(st.data())
    def run(data: st.DataObject) -> None:
        raw = data.draw(streams(objects))
        out = io.BytesIO()
        status = serve(io.BytesIO(raw), out)
        responses = _responses(out.getvalue())
        for response in responses:
            _check_response(response)
        try:  # what serve should have seen: a malformed frame ends the session with 2
            stream, frames = io.BytesIO(raw), 0
            while read_frame(stream, MAX_REQUEST_BYTES) is not None:
                frames += 1
            malformed = False
        except ProtocolError:
            malformed = True
        assert len(responses) == frames + malformed
        refused = any(not r["ok"] for r in responses)
        assert status == (2 if malformed else 1 if refused else 0)
        assert bpf_fds() == before, "the helper left BPF objects open"

    run()
    assert pinned() == pins


def test_fuzz_helper_hostile_objects(objects: list[bytes], kernel: None) -> None:
    """Only the ELF path: well-formed requests whose object lies in every way we know."""
    before = bpf_fds()

    @FUZZ
    @given(st.data())
    def run(data: st.DataObject) -> None:
        obj = data.draw(hostile_objects(objects))
        response = answer(VerifyRequest(obj, name="fuzz").to_json())
        _check_response(response)
        assert bpf_fds() == before, "the helper left BPF objects open"

    run()
    # And it still verifies: the rejected program's verdict is unchanged.
    response = answer(VerifyRequest(objects[0], name="fuzz").to_json())
    result = result_from_json(response["result"])
    assert [p.accepted for p in result.programs] == [False]
    assert "invalid mem access 'map_value_or_null'" in result.programs[0].log


def test_helper_process_answers_a_hostile_session(objects: list[bytes], kernel: None) -> None:
    """The real helper process: hostile objects, then a sound one, then a frame cut short."""
    obj = objects[0]
    shoff, shnum = _sections(obj)
    lying = bytearray(obj)  # every section claims to be 2^62 bytes long
    for i in range(1, shnum):
        struct.pack_into("<Q", lying, shoff + i * _SHDR.size + 0x20, 1 << 62)
    at, btf = _btf_of(obj)
    looped = bytearray(btf)  # every typedef and qualifier refers to itself
    for tid, kind, off in btf_type_offsets(btf):
        if kind in (8, 9, 10, 11):
            struct.pack_into("<I", looped, off + 8, tid)
    hostile = [bytes(lying), obj[:at] + bytes(looped) + obj[at + len(btf) :]]
    frames = [encode_frame(VerifyRequest(o, name="fuzz").to_json()) for o in hostile]
    frames.append(encode_frame(VerifyRequest(objects[0], name="fuzz").to_json()))
    frames.append(struct.pack(">I", 0xFFFFFFFF))
    proc = subprocess.run(HELPER, input=b"".join(frames), capture_output=True, timeout=120)
    responses = _responses(proc.stdout)
    assert proc.returncode == 2, proc.stderr.decode()
    assert len(responses) == 4 and "Traceback" not in proc.stderr.decode()
    for response in responses:
        _check_response(response)
    # libbpf 1.4 would spin forever on the typedef loop (skip_mods_and_typedefs): refused.
    assert not responses[0]["ok"] and "object is malformed" in responses[0]["error"]
    assert not responses[1]["ok"] and "BTF loops" in responses[1]["error"]
    sound = result_from_json(responses[2]["result"])
    assert [p.accepted for p in sound.programs] == [False]
    assert "over the" in responses[3]["error"]


def test_helper_process_runs_under_a_cpu_limit() -> None:
    """Should anything still spin inside libbpf or the kernel, the kernel ends the helper (and
    with it every fd it holds) after HELPER_CPU_LIMIT_S seconds of CPU."""
    proc = subprocess.Popen(HELPER, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        limits = ""
        for _ in range(100):  # until the helper has set its limit and waits for a request
            limits = Path(f"/proc/{proc.pid}/limits").read_text()
            if f"Max cpu time              {HELPER_CPU_LIMIT_S}" in limits:
                break
            time.sleep(0.05)
        assert f"Max cpu time              {HELPER_CPU_LIMIT_S}" in limits, limits
    finally:
        proc.communicate(b"", timeout=30)
    assert proc.returncode == 0
