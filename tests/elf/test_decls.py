"""Declaration lines from DWARF: where map, program and field diagnostics are placed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kptr_lsp.elf.decls import read_declarations, symbol_uses

SOURCE = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct value {
	int count;
	struct task_struct *task;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, int);
	__type(value, struct value);
} values SEC(".maps");

extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym;

SEC("xdp")
int count(struct xdp_md *ctx)
{
	int key = 0;
	struct value *v = bpf_map_lookup_elem(&values, &key);

	return v ? v->count : 0;
}

char LICENSE[] SEC("license") = "GPL";
"""


def line_of(text: str) -> int:
    return next(i for i, line in enumerate(SOURCE.splitlines(), 1) if text in line)


def test_maps_programs_and_members_have_their_lines(
    compile_bpf: Callable[[str | Path], bytes], tmp_path: Path
) -> None:
    path = tmp_path / "decls.bpf.c"
    path.write_text(SOURCE)
    decls = read_declarations(compile_bpf(path))
    assert decls.variables["values"].line == line_of("} values SEC")
    assert decls.variables["values"].file == str(path)
    assert decls.functions["count"].line == line_of("int count(")
    assert decls.members[("value", "task")].line == line_of("struct task_struct *task;")
    # vmlinux.h's thousands of structs are not walked.
    assert ("task_struct", "pid") not in decls.members


def test_symbol_uses_find_the_map_reference(compile_bpf: Callable[[str | Path], bytes]) -> None:
    uses = symbol_uses(compile_bpf(SOURCE), "values")
    assert [u.section for u in uses] == ["xdp"]
    assert uses[0].insn_off > 0


def test_garbage_gives_empty_tables() -> None:
    assert read_declarations(b"\x7fELF garbage").functions == {}
    assert symbol_uses(b"not an elf", "x") == []
