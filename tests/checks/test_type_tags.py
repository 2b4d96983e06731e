"""The type-tag checks on real programs compiled with clang, against the running kernel's BTF
and against older kernels described by version (tag vocabulary and map support change)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kptr_lsp.checks import (
    BTF_REJECTED,
    FIELD_IGNORED,
    MAP_WITHOUT_BTF,
    build_context,
    culprits,
    describe_kptr_field,
)
from kptr_lsp.elf.decls import read_declarations
from kptr_lsp.elf.objfile import ObjectFile
from kptr_lsp.findings import Severity, Source
from kptr_lsp.kernel.facts import KernelFacts
from tests.checks.tagcheck import TAGS, CheckFn, CompileFn
from tests.expectations import read_expectations

PROGRAMS = sorted(TAGS.glob("*.bpf.c"))
CODES = {
    "unknown_tag": "kptr-unknown-tag",
    "extra_tag": "kptr-extra-tag",
    "not_struct": "kptr-not-struct",
    "incomplete_type": "kptr-incomplete-type",
    "no_dtor": "kptr-no-dtor",
    "too_many_fields": "kptr-too-many-fields",
    "map_type": "kptr-map-type",
}


def _older(target: KernelFacts, release: str) -> KernelFacts:
    # Same BTF (types and kfuncs of this machine), rules of an older release.
    return KernelFacts.from_settings(target.btf_path, release)


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: p.name)
def test_expectations(check: CheckFn, path: Path) -> None:
    """Every EXPECT warning is a check finding on that line; checks report nothing else."""
    wanted = [e for e in read_expectations(path).expects if e.severity == Severity.WARNING]
    found = check(path, None)
    for f in found:
        assert f.source == Source.CHECKS and f.severity == Severity.WARNING
        assert Path(f.file).resolve() == path.resolve(), f.gcc_style()
    got = {(f.line, f.message) for f in found}
    for e in wanted:
        assert any(line == e.line and e.text in msg for line, msg in got), (
            f"{path.name}:{e.line}: no finding containing {e.text!r}; got {sorted(got)}"
        )
    assert len(found) == len(wanted), [f.gcc_style() for f in found]


@pytest.mark.parametrize(("stem", "code"), sorted(CODES.items()))
def test_each_code_has_trigger_and_close_miss(check: CheckFn, stem: str, code: str) -> None:
    assert [f.code for f in check(TAGS / f"{stem}.bpf.c", None)] == [code]
    assert check(TAGS / f"{stem}_ok.bpf.c", None) == []


def test_consequence_wording_follows_kernel_path(check: CheckFn) -> None:
    """Alone, a bad field drops the map's record; next to a good kptr it sinks the BTF."""
    alone = check(TAGS / "unknown_tag.bpf.c", None)[0].message
    assert "silently ignores every special field of map 'slots''s value" in alone
    mixed = check(TAGS / "not_struct.bpf.c", None)[0].message
    assert "rejects the object's whole BTF" in mixed


def test_kptr_ref_is_right_before_6_4(check: CheckFn, target: KernelFacts) -> None:
    old = _older(target, "6.3.0")
    assert check(TAGS / "unknown_tag.bpf.c", old) == []
    # ... and "kptr_untrusted" is what 6.3 does not know; advice names 6.3's spelling.
    found = check(TAGS / "unknown_tag_ok.bpf.c", old)
    assert [f.code for f in found] == ["kptr-unknown-tag"]
    assert 'btf_type_tag("kptr")' in found[0].message
    assert "Linux 6.3" in found[0].message


def test_kptr_ref_advice_on_new_kernels(check: CheckFn) -> None:
    msg = check(TAGS / "unknown_tag.bpf.c", None)[0].message
    assert 'For a referenced kptr write btf_type_tag("kptr")' in msg
    assert "Linux 6.4" in msg


def test_map_support_and_limits_follow_version(check: CheckFn, target: KernelFacts) -> None:
    # 5.19: only hash, lru_hash and array hold kptrs; at most 8 fields.
    old = _older(target, "5.19.0")
    assert old.map_types_for("unreferenced kptr") == frozenset({1, 2, 9})
    assert old.fields_max == 8
    assert _older(target, "6.9.1").fields_max == 10
    # No BTF-wide rejection before 6.12: the same field only drops the map's record.
    msg = check(TAGS / "not_struct.bpf.c", _older(target, "6.11.0"))[0].message
    assert "ignores every special field" in msg
    assert "percpu_kptr" not in _older(target, "6.6.0").tag_kinds()
    assert "uptr" in _older(target, "6.13.0").tag_kinds()


def test_culprits_name_the_field(compile_bpf: CompileFn, target: KernelFacts) -> None:
    cases = {
        "not_struct.bpf.c": (BTF_REJECTED, "bad"),
        "unknown_tag.bpf.c": (FIELD_IGNORED, "task"),
        "map_type.bpf.c": (MAP_WITHOUT_BTF, ""),
    }
    for name, (effect, field) in cases.items():
        path = TAGS / name
        data = compile_bpf(path)
        obj = ObjectFile.parse(data)
        spec = obj.btf_spec()
        assert spec is not None
        got = culprits(build_context(obj, spec, read_declarations(data), target, str(path)))
        assert [(c.effect, c.field) for c in got] == [(effect, field)], name
        expect_line = next(e.line for e in read_expectations(path).expects)
        assert got[0].location.line == expect_line
        assert got[0].related().location == got[0].location


def test_describe_kptr_field(compile_bpf: CompileFn, target: KernelFacts) -> None:
    data = compile_bpf(TAGS / "extra_tag_ok.bpf.c")
    spec = ObjectFile.parse(data).btf_spec()
    assert spec is not None
    text = describe_kptr_field(spec, "slot", "task", target)
    assert text.startswith("referenced kptr to struct task_struct (kernel type)")
    assert "bpf_task_release" in text
    assert describe_kptr_field(spec, "slot", "nope", target) == ""
    bad = ObjectFile.parse(compile_bpf(TAGS / "unknown_tag.bpf.c")).btf_spec()
    assert bad is not None
    assert "kptr-unknown-tag" in describe_kptr_field(bad, "slot", "task", target)


def test_global_data_section_fields(check: CheckFn, tmp_path: Path) -> None:
    """The kernel parses kptr fields of .bss/.data DATASECs too (btf_find_datasec_var)."""
    src = tmp_path / "glob.bpf.c"
    src.write_text(
        '#include "vmlinux.h"\n'
        "#include <bpf/bpf_helpers.h>\n"
        'struct task_struct __attribute__((btf_type_tag("kptr_ref"))) *g SEC(".data.t");\n'
        'char LICENSE[] SEC("license") = "GPL";\n'
    )
    found = check(src, None)
    assert [(f.code, f.line) for f in found] == [("kptr-unknown-tag", 3)]
    assert "global data section .data.t" in found[0].message
