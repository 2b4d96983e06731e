"""The fast DWARF walk gives exactly the declaration tables pyelftools gives, much faster."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from kptr_lsp.elf.decls import _read_tables_fast, _read_tables_pyelftools, read_declarations

PROGRAMS = Path(__file__).resolve().parent.parent / "programs"
# Structs with kptr members, maps and globals, subprograms, vmlinux.h and not, a kfunc extern.
SAMPLES = (
    "tags/too_many_fields_ok.bpf.c",
    "tags/incomplete_type.bpf.c",
    "clean/maps_and_globals.bpf.c",
    "clean/xdp.bpf.c",
    "rejected/shared_subprog_two_programs.bpf.c",
    "rejected/missing_kfunc.bpf.c",
    "projects/runtime_sized.bpf.c",
)


@pytest.mark.parametrize("sample", SAMPLES)
def test_same_tables_as_pyelftools(compile_bpf: Callable[[str | Path], bytes], sample: str) -> None:
    data = compile_bpf(PROGRAMS / sample)
    fast = _read_tables_fast(data)
    assert fast == _read_tables_pyelftools(data)
    assert fast.functions and fast.variables


def test_dwarf_4_and_inline_strings(clang: str, vmlinux_dir: Path) -> None:
    # -gdwarf-4 names through DW_FORM_strp (no string offsets table), decl lines as data forms.
    source = PROGRAMS / "tags" / "too_many_fields_ok.bpf.c"
    cmd = [clang, "-target", "bpf", "-g", "-gdwarf-4", "-O2", "-D__TARGET_ARCH_x86"]
    cmd += ["-I", str(vmlinux_dir), "-idirafter", "/usr/include/x86_64-linux-gnu"]
    data = subprocess.run([*cmd, "-c", str(source), "-o", "-"], capture_output=True, check=True)
    fast = _read_tables_fast(data.stdout)
    assert fast == _read_tables_pyelftools(data.stdout)
    assert fast.members


def test_malformed_dwarf_falls_back_to_pyelftools(
    compile_bpf: Callable[[str | Path], bytes],
) -> None:
    data = bytearray(compile_bpf(PROGRAMS / "clean" / "maps_and_globals.bpf.c"))
    elf = ELFFile(io.BytesIO(bytes(data)))
    dwarf = elf.get_dwarf_info(relocate_dwarf_sections=False)
    cu = next(dwarf.iter_CUs())
    codes = set(cu.get_abbrev_table()._abbrev_map)
    bad = next(c for c in range(1, 0x80) if c not in codes)
    victim = list(cu.get_top_DIE().iter_children())[-1]  # the last top-level entry
    section = elf.get_section_by_name(".debug_info")
    assert section is not None
    at = section["sh_offset"] + victim.offset
    data[at] = bad  # an abbreviation code the unit does not define
    with pytest.raises(KeyError):
        _read_tables_fast(bytes(data))
    decls = read_declarations(bytes(data))
    reference = _read_tables_pyelftools(bytes(data))
    assert dict(decls.variables) == reference.variables
    assert dict(decls.functions) == reference.functions
    assert reference.variables  # the entries before the broken one are still placed
