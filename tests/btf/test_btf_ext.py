""".BTF.ext of a real object: line_info lands on the right C line and column."""

from __future__ import annotations

from btf_sample import Sample

from kptr_lsp.btf import LineInfo, line_for, parse_ext
from kptr_lsp.btf.ext import BTFExt


def _ext(sample: Sample) -> BTFExt:
    assert sample.obj.btf_ext is not None
    return parse_ext(sample.obj.btf_ext, sample.spec)


def _at(infos: list[LineInfo], line: int) -> list[LineInfo]:
    return [li for li in infos if li.line == line]


def test_line_info_points_at_the_map_lookup_call(sample: Sample) -> None:
    infos = _ext(sample).line_info["xdp"]
    line = sample.line_of("bpf_map_lookup_elem(")
    hits = _at(infos, line)
    assert hits, f"no line_info for line {line}: {infos}"
    li = hits[0]
    assert li.file == str(sample.path)
    assert "bpf_map_lookup_elem(&kl_map, &key)" in li.text
    # Column of the call expression, 1-based, counting the leading tab as one column.
    assert li.col == li.text.index("bpf_map_lookup_elem") + 1


def test_line_info_columns_distinguish_parts_of_one_statement(sample: Sample) -> None:
    infos = _ext(sample).line_info[".text"]
    line = sample.line_of("return x * 3 + 1;")
    text = "\treturn x * 3 + 1;"
    cols = {li.col for li in _at(infos, line)}
    assert text.index("*") + 1 in cols
    assert text.index("+") + 1 in cols


def test_line_for_finds_the_statement_covering_an_instruction(sample: Sample) -> None:
    infos = _ext(sample).line_info["xdp"]
    lookup = _at(infos, sample.line_of("bpf_map_lookup_elem("))[0]
    following = [li.insn_off for li in infos if li.insn_off > lookup.insn_off]
    assert following, "the lookup is not the last statement"
    # Every instruction up to the next line_info belongs to the lookup statement.
    for insn in range(lookup.insn_off, min(following)):
        assert line_for(infos, insn) == lookup
    assert line_for(infos, -1) is None
    assert line_for([], 0) is None


def test_line_info_sections_match_program_sections(sample: Sample) -> None:
    ext = _ext(sample)
    assert set(ext.line_info) == {f.section for f in sample.obj.functions}
    for section, infos in ext.line_info.items():
        end = max(f.start + f.count for f in sample.obj.functions if f.section == section)
        # Every line_info addresses an instruction that exists in its section.
        assert all(0 <= li.insn_off < end for li in infos)


def test_func_info_names_each_function_at_its_start(sample: Sample) -> None:
    ext = _ext(sample)
    got = {(sec, fi.name, fi.insn_off) for sec, fis in ext.func_info.items() for fi in fis}
    want = {(f.section, f.name, f.start) for f in sample.obj.functions}
    assert got == want
    for fis in ext.func_info.values():
        for fi in fis:
            assert sample.spec.type_by_id(fi.type_id).name == fi.name


def test_core_relocations_are_parsed_not_skipped(sample: Sample) -> None:
    relos = _ext(sample).core_relos["tp/syscalls/sys_enter_openat"]
    assert relos, "BPF_CORE_READ must emit a CO-RE relocation"
    roots = {sample.spec.type_by_id(r.type_id).name for r in relos}
    assert "task_struct" in roots
    assert all(r.access.startswith("0") for r in relos)
