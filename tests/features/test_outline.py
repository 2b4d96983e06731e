"""The outline of a real program: programs with their SEC, maps with their type, key/value
and size, global variables with their section, each on its declaration line."""

from __future__ import annotations

from pathlib import Path

from kptr_lsp.features.outline import SymbolKind, document_symbols
from kptr_lsp.pipeline import analyse
from kptr_lsp.settings import Settings

PROGRAMS = Path(__file__).parents[1] / "programs"


def test_outline_of_maps_and_globals() -> None:
    path = PROGRAMS / "clean/maps_and_globals.bpf.c"
    text = path.read_text()
    analysis = analyse(str(path), text, Settings(verify=False))
    assert analysis.model is not None
    symbols = document_symbols(analysis.model, str(path))
    by_name = {s.name: s for s in symbols}
    lines = text.splitlines()
    for s in symbols:
        assert s.name in lines[s.location.line - 1], s
    assert [s.location.line for s in symbols] == sorted(s.location.line for s in symbols)

    prog = by_name["on_sys_enter"]
    assert prog.kind is SymbolKind.PROGRAM
    assert prog.detail == 'SEC("tracepoint/raw_syscalls/sys_enter")'
    assert prog.end_line > prog.location.line  # spans its body

    assert by_name["per_pid"].kind is SymbolKind.MAP
    assert by_name["per_pid"].detail == "hash · __u32 → __u64 · 4,096 entries"
    assert by_name["total"].detail == "percpu_array · __u32 → __u64 · 1 entry"
    assert by_name["events"].detail.startswith("ringbuf · ")
    assert by_name["events"].detail.endswith(" bytes")  # a ring buffer's size, not entries

    assert by_name["target_tgid"].kind is SymbolKind.VARIABLE
    assert by_name["target_tgid"].detail == "const volatile __u32 · .rodata"
    assert by_name["events_dropped"].detail == "__u64 · .bss"
    assert by_name["events_seen"].detail == "__u64 · .data"


def test_outline_lists_every_program_of_a_file() -> None:
    path = PROGRAMS / "rejected/shared_subprog_two_programs.bpf.c"
    analysis = analyse(str(path), path.read_text(), Settings(verify=False))
    assert analysis.model is not None
    programs = [
        s for s in document_symbols(analysis.model, str(path)) if s.kind is SymbolKind.PROGRAM
    ]
    # The shared static subprogram is not a program: it has no SEC of its own.
    assert [(s.name, s.detail) for s in programs] == [
        ("xdp_count", 'SEC("xdp")'),
        ("tc_count", 'SEC("tc")'),
    ]
