"""Each check's claim, shown on the running kernel: every tags/ program is loaded and the
kernel's behaviour is the one the check's message describes (field ignored, BTF rejected,
map created without BTF), while the close program behaves as a real kptr."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from kptr_lsp.verify.loader import Failure, ObjectResult, ProgramResult, verify_object
from tests.checks.tagcheck import TAGS, CompileFn

LoadFn = Callable[[str], tuple[ObjectResult, ProgramResult]]


@pytest.fixture(scope="module")
def load(compile_bpf: CompileFn, kernel: None) -> LoadFn:
    def run(name: str) -> tuple[ObjectResult, ProgramResult]:
        result = verify_object(compile_bpf(TAGS / name))
        assert result.open_error is None
        (prog,) = result.programs
        return result, prog

    return run


def _warnings(prog: ProgramResult) -> str:
    return "".join(m.text for m in prog.libbpf_messages if m.level == "warn")


def _last_error(prog: ProgramResult) -> str:
    lines = [ln for ln in prog.log.splitlines() if ln and not ln.startswith(("processed", ";"))]
    return lines[-1] if lines else ""


def test_unknown_tag_field_is_a_plain_value(load: LoadFn) -> None:
    result, prog = load("unknown_tag.bpf.c")
    assert not result.btf_rejected and "map" not in _warnings(prog)  # map created, no word
    assert prog.failure == Failure.VERIFIER
    assert "invalid mem access 'scalar'" in _last_error(prog)
    _, ok = load("unknown_tag_ok.bpf.c")
    assert ok.accepted, ok.log


def test_extra_tag_field_is_dropped(load: LoadFn) -> None:
    result, prog = load("extra_tag.bpf.c")
    assert not result.btf_rejected
    assert "has no valid kptr" in _last_error(prog)
    _, ok = load("extra_tag_ok.bpf.c")
    assert ok.accepted, ok.log


def test_not_struct_next_to_good_kptr_rejects_btf(load: LoadFn) -> None:
    result, prog = load("not_struct.bpf.c")
    assert result.btf_rejected
    assert "BTF is optional, ignoring" in _warnings(prog)
    assert "has to have BTF in order to use bpf_kptr_xchg" in _last_error(prog)
    result, ok = load("not_struct_ok.bpf.c")
    assert not result.btf_rejected and ok.accepted, ok.log


def test_incomplete_type_field_is_ignored(load: LoadFn) -> None:
    # A plain store of a trusted task pointer passes: the kernel sees no kptr there ...
    result, prog = load("incomplete_type.bpf.c")
    assert not result.btf_rejected and prog.accepted, prog.log
    # ... with the suggested fix the field is a referenced kptr and the same store is refused.
    _, fixed = load("incomplete_type_ok.bpf.c")
    assert "store to referenced kptr disallowed" in _last_error(fixed)


def test_no_dtor_rejects_btf(load: LoadFn) -> None:
    result, prog = load("no_dtor.bpf.c")
    assert result.btf_rejected
    assert "Error loading .BTF into kernel: -2" in _warnings(prog)  # ENOENT: no dtor kfunc
    assert "invalid mem access 'scalar'" in _last_error(prog)
    result, ok = load("no_dtor_ok.bpf.c")
    assert not result.btf_rejected and ok.accepted, ok.log


def test_too_many_fields_rejects_btf(load: LoadFn) -> None:
    result, prog = load("too_many_fields.bpf.c")
    assert result.btf_rejected
    assert "Error loading .BTF into kernel: -7" in _warnings(prog)  # E2BIG
    assert "invalid mem access 'scalar'" in _last_error(prog)
    result, ok = load("too_many_fields_ok.bpf.c")
    assert not result.btf_rejected and ok.accepted, ok.log


def test_map_type_map_loses_btf(load: LoadFn) -> None:
    result, prog = load("map_type.bpf.c")
    assert not result.btf_rejected
    assert "Operation not supported(-95). Retrying without BTF." in _warnings(prog)
    assert "invalid mem access 'scalar'" in _last_error(prog)
    _, ok = load("map_type_ok.bpf.c")
    assert ok.accepted, ok.log


def test_every_program_is_covered() -> None:
    covered = {
        "unknown_tag", "extra_tag", "not_struct", "incomplete_type",
        "no_dtor", "too_many_fields", "map_type",
    }  # fmt: skip
    stems = {Path(p.name.removesuffix(".bpf.c")).name.removesuffix("_ok") for p in TAGS.glob("*")}
    assert stems == covered
