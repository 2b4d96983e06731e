"""Prog arrays statically initialised with the object's own programs (the libbpf jump-table
idiom) never fail a program loaded alone: the real object, the real libbpf, the real kernel."""

from __future__ import annotations

import ctypes
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection
from elftools.elf.sections import SymbolTableSection

from kptr_lsp.verify.loader import (
    DEFAULT_LOG_SIZE,
    Failure,
    ObjectResult,
    _binding,
    _load_one,
    _Target,
    verify_object,
)
from kptr_lsp.verify.slots import without_program_slots

CompileFn = Callable[[str | Path], bytes]
DISPATCH = Path(__file__).parent.parent / "programs" / "projects" / "tail_call_dispatch.bpf.c"
ACCEPTED = ("handle_ipv4", "handle_ipv6", "xdp_dispatch")

MAP_IN_MAP = """
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct inner {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} inner_a SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
    __uint(max_entries, 2);
    __type(key, __u32);
    __array(values, struct inner);
} outer SEC(".maps") = { .values = { [0] = &inner_a } };

SEC("xdp") int leaf(struct xdp_md *ctx) { return XDP_PASS; }

struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, 1);
    __uint(key_size, sizeof(__u32));
    __array(values, int (void *));
} jumps SEC(".maps") = { .values = { [0] = (void *)&leaf } };

SEC("xdp") int root(struct xdp_md *ctx)
{
    __u32 key = 0;
    void *m = bpf_map_lookup_elem(&outer, &key);
    if (m && bpf_map_lookup_elem(m, &key))
        bpf_tail_call(ctx, &jumps, 0);
    return XDP_PASS;
}
char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def dispatch(compile_bpf: CompileFn) -> bytes:
    return compile_bpf(DISPATCH)


def _messages(result: ObjectResult) -> str:
    return "".join(m.text for p in result.programs for m in p.libbpf_messages)


@pytest.mark.parametrize("together", [False, True], ids=["one-by-one", "together-first"])
def test_programs_in_a_static_jump_table_are_judged_by_their_code(
    kernel: None, dispatch: bytes, together: bool
) -> None:
    result = verify_object(dispatch, together=together)
    verdicts = {p.name: p.failure for p in result.programs}
    assert verdicts == {
        "handle_ipv4": Failure.NONE,
        "handle_ipv6": Failure.NONE,
        "handle_arp": Failure.VERIFIER,
        "xdp_dispatch": Failure.NONE,
    }
    assert "failed to initialize slot" not in _messages(result)
    (arp,) = [p for p in result.programs if p.name == "handle_arp"]
    assert "R0 invalid mem access 'map_value_or_null'" in arp.log


def test_without_the_fix_libbpf_fails_the_accepted_programs(kernel: None, dispatch: bytes) -> None:
    """What kptr-lsp used to report: the slot write, not the code, failed the load."""
    lib = _binding()
    buf = ctypes.create_string_buffer(dispatch, len(dispatch))
    for name in ACCEPTED:
        result = _load_one(lib, buf, "obj", _Target(name, "xdp"), 1, DEFAULT_LOG_SIZE)
        warned = "".join(m.text for m in result.libbpf_messages if m.level == "warn")
        assert not result.accepted and result.failure is Failure.MAP_CREATE
        assert "map 'dispatch_table': failed to initialize slot [" in warned
        # ...although the kernel's own log says it accepted the program
        assert "processed " in result.log and "invalid" not in result.log


def _maps_relocations(data: bytes) -> list[str]:
    """Names of the symbols `.rel.maps` points at."""
    elf = ELFFile(io.BytesIO(data))
    rel = elf.get_section_by_name(".rel.maps")
    symtab = elf.get_section_by_name(".symtab")
    if rel is None:
        return []
    assert isinstance(rel, RelocationSection) and isinstance(symtab, SymbolTableSection)
    return [symtab.get_symbol(r["r_info_sym"]).name for r in rel.iter_relocations()]


def test_only_program_slots_are_dropped(
    kernel: None, dispatch: bytes, compile_bpf: CompileFn
) -> None:
    assert sorted(_maps_relocations(dispatch)) == ["handle_arp", "handle_ipv4", "handle_ipv6"]
    assert _maps_relocations(without_program_slots(dispatch)) == []
    mixed = compile_bpf(MAP_IN_MAP)
    assert sorted(_maps_relocations(mixed)) == ["inner_a", "leaf"]
    # The map-in-map slot is libbpf's to fill at map creation, whatever loads: it stays.
    assert _maps_relocations(without_program_slots(mixed)) == ["inner_a"]
    result = verify_object(mixed, together=False)
    assert [(p.name, p.accepted) for p in result.programs] == [("leaf", True), ("root", True)]


@pytest.mark.parametrize("data", [b"", b"\x7fELF", b"not an object at all" * 10])
def test_unreadable_input_is_left_to_libbpf(data: bytes) -> None:
    assert without_program_slots(data) == data
