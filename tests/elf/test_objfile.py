"""ObjectFile on real clang output: functions, programs, maps, license, raw sections."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from kptr_lsp.btf.types import Struct
from kptr_lsp.elf import Function, ObjectError, ObjectFile

CompileFn = Callable[[str | Path], bytes]

SOURCE = r"""
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, u32);
	__type(value, u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

static __noinline int bump(u32 key)
{
	u64 one = 1, *v = bpf_map_lookup_elem(&counts, &key);
	if (v)
		return (int)__sync_fetch_and_add(v, 1);
	return bpf_map_update_elem(&counts, &key, &one, BPF_ANY);
}

SEC("xdp")
int count_xdp(struct xdp_md *ctx)
{
	bump(ctx->ingress_ifindex);
	return XDP_PASS;
}

SEC("tp/syscalls/sys_enter_openat")
int count_open(void *ctx)
{
	return bump(0) + bump(1);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
"""


@pytest.fixture(scope="module")
def obj_bytes(compile_bpf: CompileFn) -> bytes:
    return compile_bpf(SOURCE)


@pytest.fixture(scope="module")
def obj(obj_bytes: bytes) -> ObjectFile:
    return ObjectFile.parse(obj_bytes)


def _by_name(obj: ObjectFile) -> dict[str, Function]:
    return {f.name: f for f in obj.functions}


def test_programs_and_subprogram_are_listed(obj: ObjectFile) -> None:
    fns = _by_name(obj)
    assert set(fns) == {"bump", "count_xdp", "count_open"}
    assert [p.name for p in obj.programs] == ["count_xdp", "count_open"]
    assert fns["count_xdp"].section == "xdp" and fns["count_xdp"].is_program
    assert fns["count_open"].section == "tp/syscalls/sys_enter_openat"
    bump = fns["bump"]
    assert bump.section == ".text" and not bump.is_program and not bump.is_global
    assert fns["count_xdp"].is_global


def test_function_extent_matches_its_instructions(obj: ObjectFile) -> None:
    for fn in obj.functions:
        assert fn.count > 0
        assert len(fn.insns) == fn.count * 8
        section = obj.section_data(fn.section)
        assert section is not None
        assert fn.insns == section[fn.start * 8 : (fn.start + fn.count) * 8]
        # Every function ends in `exit` (opcode 0x95) as clang emits it.
        assert fn.insns[-8] == 0x95, f"{fn.name} does not end with exit"


def test_maps_have_names_and_btf_definitions(obj: ObjectFile) -> None:
    assert [(m.name, m.section) for m in obj.maps] == [("counts", ".maps"), ("events", ".maps")]
    spec = obj.btf_spec()
    assert spec is not None
    for m in obj.maps:
        assert m.type_id is not None
        definition = spec.type_by_id(m.type_id)
        assert isinstance(definition, Struct)
        assert definition.member("type") is not None
    counts = spec.type_by_id(obj.maps[0].type_id or 0)
    assert isinstance(counts, Struct) and counts.member("key") is not None


def test_license_and_raw_btf_sections(obj: ObjectFile) -> None:
    assert obj.license == "Dual BSD/GPL"
    assert obj.btf is not None and obj.btf[:2] == b"\x9f\xeb"
    assert obj.btf_ext is not None and obj.btf_ext[:2] == b"\x9f\xeb"
    assert obj.section_data(".BTF") == obj.btf
    assert obj.section_data("no-such-section") is None
    assert ".text" in obj.section_names


def test_object_without_btf_still_lists_programs(clang: str, tmp_path: Path) -> None:
    src = tmp_path / "nobtf.bpf.c"
    src.write_text(
        '__attribute__((section("socket"), used)) int prog(void *ctx) { return 0; }\n'
        'char _license[] __attribute__((section("license"), used)) = "GPL";\n'
    )
    out = tmp_path / "nobtf.o"
    subprocess.run([clang, "-target", "bpf", "-O2", "-c", str(src), "-o", str(out)], check=True)
    obj = ObjectFile.parse(out.read_bytes())
    assert obj.btf is None and obj.btf_ext is None and obj.btf_spec() is None
    assert [(p.name, p.section) for p in obj.programs] == [("prog", "socket")]
    assert obj.maps == []


def test_non_bpf_and_non_elf_inputs_are_rejected(clang: str, tmp_path: Path) -> None:
    with pytest.raises(ObjectError, match="not an ELF"):
        ObjectFile.parse(b"int main() {}")
    src = tmp_path / "host.c"
    src.write_text("int f(void) { return 1; }\n")
    out = tmp_path / "host.o"
    subprocess.run([clang, "-c", str(src), "-o", str(out)], check=True)
    with pytest.raises(ObjectError, match="not a BPF object"):
        ObjectFile.parse(out.read_bytes())


def test_legacy_maps_section_is_listed_without_btf_id(compile_bpf: CompileFn) -> None:
    obj = ObjectFile.parse(
        compile_bpf(
            r"""
struct legacy_def { unsigned int type, key_size, value_size, max_entries, flags; };
struct legacy_def old_map __attribute__((section("maps"), used)) = { 1, 4, 8, 64, 0 };
__attribute__((section("socket"), used)) int prog(void *ctx) { return 0; }
"""
        )
    )
    assert [(m.name, m.section, m.type_id) for m in obj.maps] == [("old_map", "maps", None)]
    assert obj.license is None
