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


class Stop(Exception):
    pass


def test_a_background_read_pauses_and_can_be_abandoned(
    compile_bpf: Callable[[str | Path], bytes],
) -> None:
    """The server's lens walk (server._update_views): asked at its start and every ~16 KB of
    DWARF whether to go on, it gives the same tables as a read on first use; abandoned
    midway, it leaves them to that first use, complete."""
    data = compile_bpf(SOURCE)  # vmlinux.h: task_struct's types, hundreds of KB of DWARF
    expected = read_declarations(data)
    wanted = dict(expected.functions), dict(expected.variables), dict(expected.members)

    asked: list[int] = []
    walked = read_declarations(data)
    walked.read_in_background(lambda: asked.append(1))
    assert len(asked) > 3  # at the start, then as the walk goes
    assert (dict(walked.functions), dict(walked.variables), dict(walked.members)) == wanted

    def stop_at_the_third() -> None:
        asked.append(1)
        if len(asked) == 3:
            raise Stop

    del asked[:]
    abandoned = read_declarations(data)
    try:
        abandoned.read_in_background(stop_at_the_third)
    except Stop:
        pass
    else:
        raise AssertionError("the walk went on past a checkpoint that stopped it")
    assert len(asked) == 3
    assert (dict(abandoned.functions), dict(abandoned.variables), dict(abandoned.members)) == (
        wanted
    )
    assert len(asked) == 3  # read on first use, without the checkpoint
