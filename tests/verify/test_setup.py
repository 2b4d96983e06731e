"""Maps sized by userspace at run time and rodata written before load, in the real kernel."""

from __future__ import annotations

import ctypes
import errno
from pathlib import Path

from kptr_lsp.verify.libbpf import OpenOpts, libbpf
from kptr_lsp.verify.loader import Failure, verify_object
from kptr_lsp.verify.setup import DataPatch, Placeholder, placeholders_for
from tests.conftest import CompileFn

PROJECTS = Path(__file__).parent.parent / "programs" / "projects"


def test_kernel_refuses_runtime_sized_maps_as_compiled(
    compile_bpf: CompileFn, kernel: None
) -> None:
    """Why placeholders exist: loading the object as compiled fails to create its maps."""
    lib = libbpf()
    data = compile_bpf(PROJECTS / "runtime_sized.bpf.c")
    buf = ctypes.create_string_buffer(data, len(data))
    obj, err = lib.open_mem(buf, OpenOpts(sz=ctypes.sizeof(OpenOpts), object_name=b"sized"))
    assert obj is not None, err
    try:
        assert lib.load(obj) == errno.EINVAL
    finally:
        lib.close(obj)


def test_placeholders_let_every_program_verify(compile_bpf: CompileFn, kernel: None) -> None:
    result = verify_object(compile_bpf(PROJECTS / "runtime_sized.bpf.c"), name="sized")
    assert [(p.name, p.failure) for p in result.programs] == [("sched_switch", Failure.NONE)]
    assert set(result.placeholders) == {
        Placeholder("stackmap", "max_entries", 1),
        Placeholder("stackmap", "value_size", 127 * 8),
        Placeholder("counts", "max_entries", 1),
        Placeholder("events", "max_entries", 4096),
    }


def test_maps_whose_zero_size_is_valid_are_left_alone() -> None:
    assert placeholders_for(29, 0, 4, 8) == []  # task storage must have max_entries 0
    assert placeholders_for(4, 0, 4, 4) == []  # perf event array: libbpf sizes it per CPU
    assert placeholders_for(1, 10240, 4, 8) == []  # sized in the source


def test_rodata_patch_changes_the_verdict(compile_bpf: CompileFn, kernel: None) -> None:
    data = compile_bpf(PROJECTS / "rodata_index.bpf.c")
    default = verify_object(data, name="ro")
    assert default.programs[0].accepted
    patched = verify_object(
        data, name="ro", patches=(DataPatch(".rodata", 0, bytes([7, 0, 0, 0])),)
    )
    prog = patched.programs[0]
    assert prog.failure is Failure.VERIFIER
    assert "invalid access to map value, value_size=32 off=56 size=8" in prog.log
