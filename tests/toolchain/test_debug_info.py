"""The debug information the server asks clang for: DWARF 4 (clang's default is 5), because a
compile on the preamble PCH then skips reading vmlinux.h back to checksum it. What the kernel
gets is the same either way: the programs' instructions byte for byte, the same BTF types and
.BTF.ext records (DWARF 4 reaches two forward declarations in another order, so they are
numbered apart, as a PCH numbers them apart: compared with type ids resolved).
Declarations are still found on their lines through the DWARF 4 file table. Real clang.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

from kptr_lsp.elf.decls import read_declarations
from kptr_lsp.elf.objfile import ObjectFile
from kptr_lsp.toolchain.clang import find_clang
from kptr_lsp.toolchain.compile import CompileOptions, build_command, compile_buffer
from tests.toolchain.kernel_view import what_the_kernel_gets

PROJECTS = Path(__file__).resolve().parent.parent / "programs" / "projects"
OPTIONS = CompileOptions(use_compile_commands=False, use_pch=False)


def _dwarf_version(obj: bytes) -> int:
    from io import BytesIO

    from elftools.elf.elffile import ELFFile

    info = ELFFile(BytesIO(obj)).get_dwarf_info()
    return next(info.iter_CUs()).header["version"]


def test_dwarf_4_gives_the_kernel_what_clangs_default_gives(
    tmp_path: Path, xdg_cache: Path
) -> None:
    tools = tmp_path / "tools"
    shutil.copytree(PROJECTS / "header_chain", tools)
    src = tools / "execsnoop.bpf.c"
    text = src.read_text()
    ours = compile_buffer(str(src), text, options=OPTIONS)
    assert ours.obj is not None and "-gdwarf-4" in ours.command
    cmd = [f for f in build_command(str(src), text, OPTIONS, find_clang(None)) if f != "-gdwarf-4"]
    stdin = f'#line 1 "{src}"\n{text}'.encode()
    default = subprocess.run(cmd, input=stdin, capture_output=True, cwd=tools, check=True).stdout
    assert (_dwarf_version(ours.obj), _dwarf_version(default)) == (4, 5)
    mine, theirs = ObjectFile.parse(ours.obj), ObjectFile.parse(default)
    insns = [[(f.name, f.insns) for f in o.programs] for o in (mine, theirs)]
    assert insns[0] == insns[1]
    plain = dataclasses.replace(ours, obj=default)
    assert what_the_kernel_gets(ours) == what_the_kernel_gets(plain)
    # the declaration lines the diagnostics and lenses use are the same through either table
    lines = text.splitlines()
    tables = [read_declarations(obj) for obj in (ours.obj, default)]
    assert dict(tables[0].functions) == dict(tables[1].functions)
    assert dict(tables[0].variables) == dict(tables[1].variables)
    programs = {f.name for f in mine.programs}
    found = {n: d for n, d in tables[0].functions.items() if n in programs}
    assert found and len(found) == len(programs)
    for name, decl in found.items():
        assert decl.file == str(src) and name in lines[decl.line - 1], (name, decl)


def test_a_projects_own_g_flag_is_kept(tmp_path: Path, xdg_cache: Path) -> None:
    src = tmp_path / "p.bpf.c"
    src.write_text((PROJECTS / "header_chain" / "execsnoop.bpf.c").read_text())
    (tmp_path / "compile_commands.json").write_text(
        f'[{{"directory": "{tmp_path}", "file": "{src}", '
        f'"arguments": ["clang", "-g", "-O2", "-target", "bpf", "-c", "{src}"]}}]'
    )
    cmd = build_command(
        str(src), src.read_text(), CompileOptions(workspace_root=str(tmp_path)), find_clang(None)
    )
    assert "-gdwarf-4" not in cmd and "-g" in cmd
