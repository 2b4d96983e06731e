"""The privileged verify helper and its protocol: load programs for a server that may not.

`kptr-lsp verify-helper` runs as root (typically `sudo -n kptr-lsp verify-helper`) and answers
requests on stdin/stdout. It does one thing: `verify_object` (open, load every program alone,
read the verifier log, close). It never attaches, pins or keeps anything, and it refuses any
request that is not exactly a well-formed verify request for a BPF ELF object.

Wire format, both directions: a 4-byte big-endian length, then that many bytes of UTF-8 JSON.

    request  {"version": 1, "op": "verify", "object": <base64 ELF>, "log_level": 0-7,
              "jobs": 1-8, "name": <1-15 of [A-Za-z0-9_]>, "map_memory_cap_mb": 0-4096,
              "patches": [{"section": ".rodata…", "offset": int, "data": <base64>}, …]}
    response {"version": 1, "ok": true, "result": <ObjectResult>}
           | {"version": 1, "ok": false, "error": <text>}
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
import resource
import struct
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

from ..btf import BTFError, ObjectError, Spec
from ..btf.types import Array, Const, Ptr, Restrict, Typedef, TypeTag, Volatile
from ..elf import ObjectFile
from .loader import Failure, LibbpfMessage, ObjectResult, ProgramResult, verify_object
from .map_memory import MIB, MapOverCap, MapSize
from .setup import DataPatch, Placeholder

PROTOCOL_VERSION = 1
MAX_REQUEST_BYTES = 64 * MIB  # a BPF object is rarely over a few MiB; base64 adds a third
MAX_RESPONSE_BYTES = 1024 * MIB  # verifier logs: up to 64 MiB per program
# The helper runs as root: whatever the caller asks, maps above this are never created.
HELPER_MAP_CAP_LIMIT_MB = 4096
DEFAULT_HELPER_MAP_CAP_MB = 256
MAX_JOBS = 8
DEFAULT_TIMEOUT_S = 300.0
HELPER_CPU_LIMIT_S = 600  # CPU seconds per helper process (user + kernel, verifier included)

_HEADER = struct.Struct(">I")
_NAME = re.compile(r"[A-Za-z0-9_]{1,15}")
_REQUEST_KEYS = frozenset(
    {"version", "op", "object", "log_level", "jobs", "name", "map_memory_cap_mb", "patches"}
)
_PATCH_KEYS = frozenset({"section", "offset", "data"})
MAX_PATCHES = 4096
EM_BPF = 247


class ProtocolError(ValueError):
    """A frame or message that does not follow the protocol."""


class HelperError(RuntimeError):
    """The helper could not be run or did not answer properly."""


@dataclass(frozen=True)
class VerifyRequest:
    object: bytes
    log_level: int = 1
    jobs: int = 1
    name: str = "obj"
    map_memory_cap_mb: int = DEFAULT_HELPER_MAP_CAP_MB
    patches: tuple[DataPatch, ...] = ()  # global data written before load (.rodata values)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": PROTOCOL_VERSION,
            "op": "verify",
            "object": _b64(self.object),
            "log_level": self.log_level,
            "jobs": self.jobs,
            "name": self.name,
            "map_memory_cap_mb": self.map_memory_cap_mb,
            "patches": [
                {"section": p.section, "offset": p.offset, "data": _b64(p.data)}
                for p in self.patches
            ],
        }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise ProtocolError(f"{what} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError(f"{what} is not valid base64: {exc}") from exc


# --- framing ------------------------------------------------------------------------------


def encode_frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode()
    return _HEADER.pack(len(body)) + body


def read_frame(stream: IO[bytes], limit: int) -> dict[str, Any] | None:
    """The next message, or None at a clean end of input."""
    head = stream.read(_HEADER.size)
    if not head:
        return None
    if len(head) < _HEADER.size:
        raise ProtocolError("truncated frame header")
    (length,) = _HEADER.unpack(head)
    if length > limit:
        raise ProtocolError(f"frame of {length} bytes is over the {limit} byte limit")
    body = stream.read(length)
    if len(body) < length:
        raise ProtocolError(f"truncated frame: {len(body)} of {length} bytes")
    try:
        message = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"frame is not JSON: {exc}") from exc
    if not isinstance(message, dict):
        raise ProtocolError("message is not a JSON object")
    return message


# --- requests (validated on the helper's side) --------------------------------------------


def _int_field(message: dict[str, Any], key: str, low: int, high: int) -> int:
    value = message.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ProtocolError(f"{key!r} must be an integer from {low} to {high}")
    return value


def _check_bpf_elf(data: bytes) -> None:
    if len(data) < 64 or data[:4] != b"\x7fELF":
        raise ProtocolError("object is not an ELF file")
    if data[4] != 2:
        raise ProtocolError("object is not a 64-bit ELF file")
    order = "<" if data[5] == 1 else ">"
    (machine,) = struct.unpack_from(order + "H", data, 18)
    if machine != EM_BPF:
        raise ProtocolError(f"object is for machine {machine}, not BPF ({EM_BPF})")


def _chain_next(t: object) -> int | None:
    if isinstance(t, Array):
        return t.elem_id
    if isinstance(t, Ptr | Typedef | Volatile | Const | Restrict | TypeTag):
        return t.type_id
    return None


def _check_object(data: bytes) -> None:
    """The object must be one our own readers accept, and its BTF free of reference loops.

    libbpf (1.4) follows typedef/modifier chains without a depth limit while loading
    (skip_mods_and_typedefs), so a .BTF whose typedef refers to itself keeps the root helper
    spinning forever; the kernel would refuse such BTF anyway ("Loop detected"). The server
    reads every object with the same readers before it asks, so nothing it sends is refused.
    """
    try:
        spec = ObjectFile.parse(data).btf_spec()
    except (ObjectError, BTFError) as exc:
        raise ProtocolError(f"object is malformed: {exc}") from exc
    if spec is not None:
        _check_loops(spec)


def _check_loops(spec: Spec) -> None:
    done: set[int] = set()
    for start in spec:
        path: list[int] = []
        on_path: set[int] = set()
        t_id: int | None = start.id
        while t_id is not None and t_id not in done:
            if t_id in on_path:
                raise ProtocolError(f"object's BTF loops: type {t_id} refers back to itself")
            path.append(t_id)
            on_path.add(t_id)
            try:
                t_id = _chain_next(spec.type_by_id(t_id)) if t_id else None
            except BTFError as exc:
                raise ProtocolError(f"object's BTF is malformed: {exc}") from exc
        done.update(path)


def parse_request(message: dict[str, Any]) -> VerifyRequest:
    """The request, checked field by field; anything unexpected is refused."""
    if message.get("version") != PROTOCOL_VERSION:
        raise ProtocolError(f"unsupported protocol version {message.get('version')!r}")
    if message.get("op") != "verify":
        raise ProtocolError(f"unsupported operation {message.get('op')!r}: only 'verify'")
    extra = set(message) - _REQUEST_KEYS
    if extra:
        raise ProtocolError(f"unexpected fields {sorted(extra)}")
    name = message.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ProtocolError("'name' must be 1 to 15 of A-Z, a-z, 0-9, _")
    data = _unb64(message.get("object"), "'object'")
    _check_bpf_elf(data)
    _check_object(data)
    return VerifyRequest(
        object=data,
        log_level=_int_field(message, "log_level", 0, 7),
        jobs=_int_field(message, "jobs", 1, MAX_JOBS),
        name=name,
        map_memory_cap_mb=_int_field(message, "map_memory_cap_mb", 0, HELPER_MAP_CAP_LIMIT_MB),
        patches=_parse_patches(message.get("patches", []), len(data)),
    )


def _parse_patches(raw: Any, object_size: int) -> tuple[DataPatch, ...]:
    """Patches only ever write into a global-data section's initial value, inside libbpf."""
    if not isinstance(raw, list) or len(raw) > MAX_PATCHES:
        raise ProtocolError(f"'patches' must be a list of at most {MAX_PATCHES}")
    out: list[DataPatch] = []
    for item in raw:
        if not isinstance(item, dict) or set(item) != _PATCH_KEYS:
            raise ProtocolError(f"a patch must have exactly the fields {sorted(_PATCH_KEYS)}")
        section = item["section"]
        if not isinstance(section, str) or not section.startswith((".rodata", ".data")):
            raise ProtocolError("a patch may only write into .rodata or .data sections")
        offset = _int_field(item, "offset", 0, object_size)
        out.append(DataPatch(section, offset, _unb64(item["data"], "a patch's data")))
    return tuple(out)


def helper_map_cap(requested_mb: int) -> int:
    """Bytes: the caller's cap, but never none and never above the helper's own limit."""
    mb = requested_mb if 0 < requested_mb <= HELPER_MAP_CAP_LIMIT_MB else HELPER_MAP_CAP_LIMIT_MB
    return mb * MIB


# --- results ------------------------------------------------------------------------------


def result_to_json(result: ObjectResult) -> dict[str, Any]:
    return {
        "programs": [_program_to_json(p) for p in result.programs],
        "btf_rejected": result.btf_rejected,
        "btf_log": result.btf_log,
        "open_error": result.open_error,
        "placeholders": [[p.map_name, p.attribute, p.value] for p in result.placeholders],
    }


def _program_to_json(p: ProgramResult) -> dict[str, Any]:
    return {
        "name": p.name,
        "section": p.section,
        "accepted": p.accepted,
        "failure": p.failure.value,
        "errno": p.errno,
        "log": p.log,
        "libbpf_messages": [[m.level, m.text] for m in p.libbpf_messages],
        "insns": _b64(p.insns),
        "duration_s": p.duration_s,
        "object_wide": p.object_wide,
        "oversized_maps": [
            {
                "name": m.size.name,
                "map_type": m.size.map_type,
                "max_entries": m.size.max_entries,
                "key_size": m.size.key_size,
                "value_size": m.size.value_size,
                "cpus": m.size.cpus,
                "bytes": m.size.bytes,
                "cap": m.cap,
            }
            for m in p.oversized_maps
        ],
        "log_cut": p.log_cut,
        "log_size": p.log_size,
        "verdict_log": p.verdict_log,
    }


def _typed(obj: Any, key: str, kind: type | tuple[type, ...]) -> Any:
    value = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProtocolError(f"result field {key!r} is missing or of the wrong type")
    return value


def result_from_json(raw: Any) -> ObjectResult:
    """The helper's answer, checked: a broken helper must not break the server."""
    try:
        programs = tuple(_program_from_json(p) for p in _typed(raw, "programs", list))
        return ObjectResult(
            programs,
            btf_rejected=_typed(raw, "btf_rejected", bool),
            btf_log=_typed(raw, "btf_log", str),
            open_error=_typed(raw, "open_error", (str, type(None))),
            placeholders=tuple(_placeholder(p) for p in _typed(raw, "placeholders", list)),
        )
    except (ValueError, TypeError, KeyError, binascii.Error) as exc:
        raise ProtocolError(f"malformed result: {exc}") from exc


def _placeholder(raw: Any) -> Placeholder:
    if not (isinstance(raw, list) and len(raw) == 3):
        raise ProtocolError("placeholder is not [map, attribute, value]")
    name, attribute, value = raw
    if not (isinstance(name, str) and isinstance(attribute, str) and type(value) is int):
        raise ProtocolError("placeholder is not [map, attribute, value]")
    return Placeholder(name, attribute, value)


def _program_from_json(raw: Any) -> ProgramResult:
    messages = []
    for item in _typed(raw, "libbpf_messages", list):
        pair = isinstance(item, list) and len(item) == 2
        if not pair or not all(isinstance(x, str) for x in item):
            raise ProtocolError("libbpf message is not [level, text]")
        if item[0] not in ("warn", "info", "debug"):
            raise ProtocolError(f"unknown libbpf message level {item[0]!r}")
        messages.append(LibbpfMessage(item[0], item[1]))
    oversized = tuple(
        MapOverCap(
            MapSize(
                _typed(m, "name", str),
                _typed(m, "map_type", int),
                _typed(m, "max_entries", int),
                _typed(m, "key_size", int),
                _typed(m, "value_size", int),
                _typed(m, "cpus", int),
                _typed(m, "bytes", int),
            ),
            _typed(m, "cap", int),
        )
        for m in _typed(raw, "oversized_maps", list)
    )
    return ProgramResult(
        name=_typed(raw, "name", str),
        section=_typed(raw, "section", str),
        accepted=_typed(raw, "accepted", bool),
        failure=Failure(_typed(raw, "failure", str)),
        errno=_typed(raw, "errno", int),
        log=_typed(raw, "log", str),
        libbpf_messages=tuple(messages),
        insns=_unb64(_typed(raw, "insns", str), "'insns'"),
        duration_s=float(_typed(raw, "duration_s", (int, float))),
        object_wide=_typed(raw, "object_wide", bool),
        oversized_maps=oversized,
        # Optional: what a cut verifier log kept, and the verdict-only load's log (loader.py).
        log_cut=_optional(raw, "log_cut", bool, False),
        log_size=_optional(raw, "log_size", int, 0),
        verdict_log=_optional(raw, "verdict_log", str, ""),
    )


def _optional(obj: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    return default if key not in obj else _typed(obj, key, kind)


# --- the helper's side --------------------------------------------------------------------


def answer(message: dict[str, Any]) -> dict[str, Any]:
    """One request → one response. Only a valid verify request reaches the kernel."""
    try:
        request = parse_request(message)
    except ProtocolError as exc:
        return {"version": PROTOCOL_VERSION, "ok": False, "error": f"request refused: {exc}"}
    result = verify_object(
        request.object,
        log_level=request.log_level,
        jobs=request.jobs,
        name=request.name,
        map_memory_cap=helper_map_cap(request.map_memory_cap_mb),
        patches=request.patches,
    )
    return {"version": PROTOCOL_VERSION, "ok": True, "result": result_to_json(result)}


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> int:
    """Answer requests until end of input. Exit status 2 after a malformed frame (the stream
    cannot be trusted past it), 1 if any request was refused, 0 otherwise."""
    status = 0
    while True:
        try:
            message = read_frame(stdin, MAX_REQUEST_BYTES)
        except ProtocolError as exc:
            stdout.write(
                encode_frame(
                    {"version": PROTOCOL_VERSION, "ok": False, "error": f"request refused: {exc}"}
                )
            )
            stdout.flush()
            return 2
        if message is None:
            return status
        response = answer(message)
        if not response["ok"]:
            status = 1
        stdout.write(encode_frame(response))
        stdout.flush()


def run_helper(stdin: IO[bytes], stdout: IO[bytes]) -> int:
    """`kptr-lsp verify-helper`: serve() under a CPU-time limit. Should libbpf or the kernel
    ever spin on an object nothing above refuses, the kernel ends the process (SIGXCPU), and
    with it every map and program it held: a client's timeout alone cannot, since a helper
    run through sudo outlives the client's kill."""
    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    limit = HELPER_CPU_LIMIT_S
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    if soft == resource.RLIM_INFINITY or soft > limit:
        resource.setrlimit(resource.RLIMIT_CPU, (limit, hard))
    return serve(stdin, stdout)


# --- the server's side --------------------------------------------------------------------


def verify_via_helper(
    command: Sequence[str], request: VerifyRequest, timeout_s: float = DEFAULT_TIMEOUT_S
) -> ObjectResult:
    """Run `command` (e.g. sudo -n kptr-lsp verify-helper) for one request."""
    try:
        proc = subprocess.run(
            list(command),
            input=encode_frame(request.to_json()),
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except FileNotFoundError as exc:
        raise HelperError(f"cannot run {command[0]!r}: {exc.strerror}") from exc
    except subprocess.TimeoutExpired as exc:
        raise HelperError(f"no answer within {timeout_s:g} s") from exc
    except OSError as exc:
        raise HelperError(f"cannot run {command[0]!r}: {exc}") from exc
    stderr = proc.stderr.decode(errors="replace").strip()
    try:
        message = read_frame(io.BytesIO(proc.stdout), MAX_RESPONSE_BYTES)
    except ProtocolError as exc:
        raise HelperError(f"malformed answer ({exc}); stderr: {stderr or 'empty'}") from exc
    if message is None:
        last = stderr.splitlines()[-1] if stderr else f"exit status {proc.returncode}"
        raise HelperError(f"no answer: {last}")
    if message.get("ok") is not True:
        raise HelperError(str(message.get("error") or "the helper refused the request"))
    try:
        return result_from_json(message.get("result"))
    except ProtocolError as exc:
        raise HelperError(str(exc)) from exc
