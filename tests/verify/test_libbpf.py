"""The ctypes binding against the real libbpf: struct layout, enumeration, the print hook."""

from __future__ import annotations

import ctypes
import errno
import os
import threading
from collections.abc import Callable
from pathlib import Path

from kptr_lsp.verify.libbpf import LIBBPF_WARN, OpenOpts, libbpf

CompileFn = Callable[[str | Path], bytes]

HEADER = """
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
char LICENSE[] SEC("license") = "GPL";
"""


def _open(data: bytes, name: str) -> tuple[int | None, int, ctypes.Array[ctypes.c_char]]:
    buf = ctypes.create_string_buffer(data, len(data))
    opts = OpenOpts(sz=ctypes.sizeof(OpenOpts), object_name=name.encode())
    obj, err = libbpf().open_mem(buf, opts)
    return obj, err, buf


def test_version_is_libbpf_1x() -> None:
    assert libbpf().version().startswith("v1.")


def test_open_mem_names_object_and_lists_programs(compile_bpf: CompileFn) -> None:
    data = compile_bpf(
        HEADER
        + """
SEC("xdp") int first(struct xdp_md *ctx) { return XDP_PASS; }
SEC("tc") int second(struct __sk_buff *skb) { return 0; }
"""
    )
    obj, err, _buf = _open(data, "named_obj")
    assert obj is not None, os.strerror(err)
    lib = libbpf()
    try:
        # object_name sits at offset 8 of the opts struct: libbpf echoing it proves the layout.
        assert lib.object_name(obj) == "named_obj"
        progs = lib.programs(obj)
        assert [(lib.program_name(p), lib.program_section(p)) for p in progs] == [
            ("first", "xdp"),
            ("second", "tc"),
        ]
        assert lib.program_type(progs[0]) == 6  # BPF_PROG_TYPE_XDP, guessed from SEC("xdp")
        # before load, insns are the ELF section's: `r0 = XDP_PASS; exit` is two instructions
        assert len(lib.insns(progs[0])) == 16
    finally:
        lib.close(obj)


def test_open_mem_rejects_garbage_with_errno() -> None:
    obj, err, _buf = _open(b"\x7fELF but not really an object", "junk")
    assert obj is None
    assert err in (errno.EINVAL, 4000 + 3, 4000 + 1)  # EINVAL or LIBBPF_ERRNO__FORMAT/LIBELF
    assert libbpf().strerror(err)


def test_print_hook_formats_long_varargs_messages(kernel: None, compile_bpf: CompileFn) -> None:
    # Ten valid 400-character struct names then one 600-character one: the kernel rejects the
    # BTF ("Invalid name") and libbpf prints the whole BTF log with one "%s", far more than the
    # first 4 KiB format buffer, so the va_list must be rewound and formatted again.
    names = ["s" + str(i) + "x" * 400 for i in range(10)] + ["t" * 600]
    decls = "".join(f"struct {n} {{ int v; }};\n" for n in names)
    uses = "".join(f"struct {n} *p{i};\n" for i, n in enumerate(names))
    data = compile_bpf(
        HEADER + decls + uses + 'SEC("xdp") int x(struct xdp_md *ctx) { return XDP_PASS; }\n'
    )
    seen: list[tuple[int, str, str]] = []
    lib = libbpf()
    previous = lib.print_sink

    def sink(level: int, text: str) -> None:
        seen.append((level, text, threading.current_thread().name))

    lib.set_print(sink)
    obj, err, _buf = _open(data, "long_btf")
    assert obj is not None, os.strerror(err)
    try:
        assert lib.load(obj) == 0  # BTF is optional for xdp: the program still loads
    finally:
        lib.close(obj)
        if previous is not None:
            lib.set_print(previous)
    warnings = [text for level, text, _ in seen if level == LIBBPF_WARN]
    log = next(t for t in warnings if "BEGIN BTF LOAD LOG" in t)
    assert len(log) > 4096
    assert log.rstrip().endswith("-- END BTF LOAD LOG --")
    assert "t" * 600 + " size=4 vlen=1 Invalid name" in log
    assert any("BTF is optional, ignoring" in t for t in warnings)
    assert {thread for _, _, thread in seen} == {threading.current_thread().name}


def test_raw_prog_load_returns_fd_or_negative_errno(kernel: None) -> None:
    lib = libbpf()
    fd = lib.prog_load_raw(1, bytes.fromhex("b700000000000000") + bytes.fromhex("9500000000000000"))
    assert fd >= 0
    os.close(fd)
    # an instruction stream without exit is refused by the verifier: negative errno
    assert lib.prog_load_raw(1, bytes.fromhex("b700000000000000")) == -errno.EINVAL
