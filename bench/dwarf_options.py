"""Which clang options shrink the debug information a compile builds and emits, and which of
them leave what the verifier sees identical (issue 15, "less debug information to emit").

For each option set, the program of tests/programs/projects/header_chain/execsnoop.bpf.c is
compiled the way the server compiles it (without the preamble PCH, whose type order differs
from one build of it to the next), `--runs` times; printed: the least CPU time of a compile,
and whether the programs' instructions, `.BTF` and `.BTF.ext` are byte-identical to the
default's (every run compared, so an option whose output is not stable shows as different),
and whether DWARF is still there for declaration lines. Nothing is adopted here: kptr-lsp
keeps `-g` as it is unless an option is both faster and identical.
"""

from __future__ import annotations

import argparse
import io
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from elftools.elf.elffile import ELFFile  # noqa: E402

from kptr_lsp.elf.objfile import ObjectFile  # noqa: E402
from kptr_lsp.toolchain import pch  # noqa: E402
from kptr_lsp.toolchain.clang import find_clang  # noqa: E402
from kptr_lsp.toolchain.compile import CompileOptions, build_command  # noqa: E402

PROGRAM = ROOT / "tests" / "programs" / "projects" / "header_chain" / "execsnoop.bpf.c"
OPTION_SETS: tuple[tuple[str, ...], ...] = (
    (),
    ("-gdwarf-4",),
    ("-fdebug-types-section",),
    ("-gstrict-dwarf",),
    ("-gno-column-info",),
    ("-gno-inline-line-tables",),
    ("-gsplit-dwarf",),
    ("-gcodeview",),  # no DWARF at all: the BPF backend still emits BTF
)


def sections(obj: bytes) -> tuple[object, bytes, bytes, bool]:
    parsed = ObjectFile.parse(obj)
    insns = tuple((f.name, f.insns) for f in parsed.programs)
    dwarf = ELFFile(io.BytesIO(obj)).get_section_by_name(".debug_info") is not None
    return insns, parsed.btf or b"", parsed.btf_ext or b"", dwarf


def compile_with(cmd: list[str], text: str, cwd: str) -> tuple[bytes, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, input=text.encode(), capture_output=True, cwd=cwd, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return proc.stdout, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(runs: int) -> None:
    text = PROGRAM.read_text()
    clang = find_clang(None)
    server = build_command(str(PROGRAM), text, CompileOptions(use_compile_commands=False), clang)
    # The reference is clang's own default (DWARF 5), not the -gdwarf-4 the server adds.
    base = [f for f in server if f != "-gdwarf-4"]
    reference = None
    preamble = pch.preamble_of(text)
    assert preamble is not None
    print(f"{'options':<28} {'CPU (min)':>10} {'with PCH':>9}  instructions  .BTF  .BTF.ext  DWARF")
    with tempfile.TemporaryDirectory(prefix="kptr-dwarf-") as tmp:
        for extra in OPTION_SETS:
            flags = [*base[:-5], *extra]
            # Without the PCH: a PCH's type order varies from one build of it to the next,
            # and with it the order of .BTF's types; a plain compile is reproducible.
            cmd = [*flags, "-x", "c", "-", "-o", "-"]
            body = text
            results, times = [], []
            for _ in range(runs):
                obj, cpu = compile_with(cmd, body, tmp)  # -gsplit-dwarf's .dwo lands there
                results.append(sections(obj))
                times.append(cpu)
            if reference is None:
                reference = results[0]
            same = [all(r[i] == reference[i] for r in results) for i in range(3)]
            marks = ["same" if s else "DIFFERENT" for s in same]
            dwarf = "yes" if results[0][3] else "none"
            name = " ".join(extra) or "(default -g)"
            # The server's save: the preamble precompiled, the rest compiled on it (types are
            # read back from the PCH, the source files' checksums computed again).
            pch_file = str(Path(tmp) / "preamble.pch")
            subprocess.run(
                [*[f for f in flags if f != "-c"], "-x", "c-header", "-", "-o", pch_file],
                input=preamble.directives.encode(),
                capture_output=True,
                cwd=tmp,
                check=True,
            )
            on_pch = [*flags, "-include-pch", pch_file, "-x", "c", "-", "-o", "-"]
            pch_times = [
                compile_with(on_pch, preamble.blanked(text), tmp)[1]  # .dwo lands in tmp
                for _ in range(runs)
            ]
            print(
                f"{name:<28} {min(times) * 1000:>7.0f} ms {min(pch_times) * 1000:>6.0f} ms  "
                f"{marks[0]:>12}  {marks[1]:>4}  {marks[2]:>8}  {dwarf}"
            )
            for leftover in Path(tmp).glob("*.dwo"):
                leftover.unlink()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    main(parser.parse_args().runs)
