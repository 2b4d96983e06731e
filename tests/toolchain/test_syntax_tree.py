"""The syntax tree quick fixes read: libclang's parse of a real program, with the compile's
flags, as plain nodes whose columns are characters of the line (not bytes)."""

from __future__ import annotations

from pathlib import Path

from kptr_lsp.pipeline import compile_options
from kptr_lsp.settings import Settings
from kptr_lsp.toolchain.clang import find_clang
from kptr_lsp.toolchain.compile import build_command
from kptr_lsp.toolchain.syntax_tree import parse

PROGRAM = Path(__file__).parents[1] / "programs" / "fixes" / "kptr_chain_null.bpf.c"


def test_the_member_chain_of_the_failing_line_with_character_columns(clang: str) -> None:
    # A non-ASCII comment ahead of the expression: libclang counts its bytes, we count chars.
    text = PROGRAM.read_text().replace("\treturn v->task->pid;", "\t/* é */ return v->task->pid;")
    cmd = build_command(str(PROGRAM), text, compile_options(Settings(), None), find_clang(clang))
    tree = parse(str(PROGRAM), text, cmd)
    line = next(n for n, src in enumerate(text.split("\n"), 1) if "return v->task->pid" in src)
    fn = tree.function_at(line)
    assert fn is not None and fn.name == "____read_pid" and fn.result == "int"
    members = [n for n in fn.body.walk() if n.kind == "MEMBER_REF_EXPR" and n.line == line]
    lines = text.split("\n")
    assert [(m.text(lines), m.operator, m.pointee) for m in members] == [
        ("v->task->pid", "->", ""),
        ("v->task", "->", "struct task_struct"),
    ]
    assert lines[line - 1][members[1].col :].startswith("v->task->pid;")
