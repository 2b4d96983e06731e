"""`const volatile` globals: read from the object, overridden from settings, noted for hovers."""

from __future__ import annotations

import os
from pathlib import Path

from kptr_lsp.elf.rodata import read_const_globals
from kptr_lsp.findings import Severity
from kptr_lsp.pipeline import analyse
from kptr_lsp.settings import Settings
from kptr_lsp.verify.rodata import plan_rodata
from kptr_lsp.verify.setup import DataPatch
from tests.conftest import CompileFn

PROJECTS = Path(__file__).parents[1] / "programs" / "projects"


def test_const_volatile_globals_and_their_defaults(compile_bpf: CompileFn) -> None:
    found = read_const_globals(compile_bpf(PROJECTS / "runtime_sized.bpf.c"))
    assert [(g.name, g.size, g.default_value()) for g in found] == [
        ("kernel_stacks_only", 1, 0),
        ("targ_tgid", 4, 0xFFFFFFFF),
    ]


def test_overrides_become_patches_and_notes(compile_bpf: CompileFn) -> None:
    found = read_const_globals(compile_bpf(PROJECTS / "runtime_sized.bpf.c"))
    patches, values = plan_rodata(found, {"targ_tgid": 42, "not_here": 1}, {})
    tgid = next(g for g in found if g.name == "targ_tgid")
    assert patches == (DataPatch(".rodata", tgid.offset, (42).to_bytes(4, "little")),)
    by_name = {v.name: v for v in values}
    assert by_name["targ_tgid"].overridden and by_name["targ_tgid"].value == 42
    assert "rodataOverrides" in by_name["targ_tgid"].note()
    assert not by_name["kernel_stacks_only"].overridden
    assert "its default in the source" in by_name["kernel_stacks_only"].note()


def test_an_override_too_big_for_the_variable_is_not_applied(compile_bpf: CompileFn) -> None:
    found = read_const_globals(compile_bpf(PROJECTS / "runtime_sized.bpf.c"))
    patches, values = plan_rodata(found, {"kernel_stacks_only": 300}, {})
    assert patches == ()
    assert "does not fit in 1 bytes" in values[0].note()


def test_setting_reads_a_json_object() -> None:
    settings, problems = Settings.from_mapping({"rodataOverrides": {"slot": 7, "verbose": True}})
    assert problems == []
    assert settings.rodata_overrides == (("slot", 7), ("verbose", 1))
    _, problems = Settings.from_mapping({"rodataOverrides": ["slot"]})
    assert problems


def test_analysis_notes_the_values_and_the_override_verdict(kernel: None) -> None:
    path = str((PROJECTS / "rodata_index.bpf.c").resolve())
    text = Path(path).read_text()
    default = analyse(path, text, Settings())
    assert not default.rejected
    (value,) = default.rodata
    assert value.name == "slot" and value.value == 0 and not value.overridden
    assert (
        value.location is not None
        and "const volatile u32 slot" in text.splitlines()[value.location.line - 1]
    )
    overridden = analyse(path, text, Settings(rodata_overrides=(("slot", 7),)))
    errors = [f for f in overridden.findings if f.severity is Severity.ERROR]
    assert [os.path.basename(f.file) for f in errors] == ["rodata_index.bpf.c"]
    assert "invalid access to map value" in errors[0].message
