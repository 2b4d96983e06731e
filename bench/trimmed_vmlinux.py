"""How much of a compile goes to debug information that BTF leaves out, and whether a vmlinux.h
cut down to what one program's BTF keeps gives the kernel the same object (issue 15, "less
debug information to emit"). Measured here; kptr-lsp does not compile this way.

clang builds debug information for every kernel type reachable from the structs a program
uses, by value or through pointers (C has no limited debug info), and the BPF backend keeps in
.BTF the full definitions only of what it reaches by value: a struct behind a member pointer
becomes a forward declaration unless something else needs it whole. For each program below:
compile it as the server does without the PCH; take the named structs and unions its .BTF
defines in full; close that set under by-value containment in vmlinux.h (clang
`-fsyntax-only` on the cut header until no "incomplete type" error is left); replace every
other named struct or union of vmlinux.h by a forward declaration, on the same lines; compile
again, the cut header put in place of vmlinux.h with `-ivfsoverlay` (a quote include finds the
includer's directory first, which no -I shadows). Printed: the least CPU time of `--runs`
compiles of each, how many definitions the cut header keeps, and whether what the kernel gets
(instructions and maps byte for byte, .BTF and .BTF.ext with type ids resolved:
tests/toolchain/kernel_view.py) and clang's diagnostics are the same.

A program whose code needs a struct whole that its BTF does not hold (a local `struct
bpf_dynptr`, a `sizeof`) does not compile on the cut header: clang names the struct, it joins
the kept set and the program is compiled again ("recompiles"). What else compiling so in the
server would take (a program that starts using a struct the cut header lacks; a function
parameter, global or map value of a cut struct's pointer type, which BTF would hold whole) is
in the notes of issue 15.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from kptr_lsp.btf.spec import Spec  # noqa: E402
from kptr_lsp.btf.types import Struct, Union  # noqa: E402
from kptr_lsp.elf.objfile import ObjectFile  # noqa: E402
from kptr_lsp.toolchain.clang import find_clang  # noqa: E402
from kptr_lsp.toolchain.compile import CompileOptions, CompileResult, build_command  # noqa: E402
from kptr_lsp.toolchain.headers import included_headers, without_header_lines  # noqa: E402
from tests.toolchain.kernel_view import what_the_kernel_gets  # noqa: E402

PROGRAMS = (
    ROOT / "bench" / "programs" / "two_progs.bpf.c",
    ROOT / "tests" / "programs" / "projects" / "header_chain" / "execsnoop.bpf.c",
    ROOT / "tests" / "programs" / "clean" / "kptr_ok.bpf.c",
    ROOT / "tests" / "programs" / "clean" / "iter_task.bpf.c",
    ROOT / "tests" / "programs" / "clean" / "obj_new_ok.bpf.c",
    ROOT / "tests" / "programs" / "clean" / "dynptr_ok.bpf.c",
)
_DEFINITION = re.compile(r"^(struct|union) (\w+) \{$")
_INCOMPLETE = re.compile(
    r"(?:incomplete (?:element )?type '(?:[^']*\(aka )?|forward declaration of ')"
    r"(?:struct|union) (\w+)"
)


def full_definitions(obj: bytes) -> set[str]:
    btf = ObjectFile.parse(obj).btf
    assert btf is not None
    spec = Spec.parse(btf)
    return {t.name for t in spec if isinstance(t, (Struct, Union)) and t.name}


def cut(lines: list[str], keep: set[str]) -> str:
    """vmlinux.h (bpftool's layout) with every named struct or union outside `keep` only
    declared, each on the line of its definition and its lines kept blank."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        m = _DEFINITION.match(lines[i])
        if m and m.group(2) not in keep:
            j = i
            while not lines[j].startswith("}"):
                j += 1
            out.append(f"{m.group(1)} {m.group(2)};")
            out.extend([""] * (j - i))
            i = j + 1
            continue
        out.append(lines[i])
        i += 1
    return "\n".join(out) + "\n"


def closed_cut(clang: str, vmlinux: Path, keep: set[str], into: Path) -> tuple[int, int]:
    """Write the cut header to `into`, adding back what the kept definitions hold by value;
    (definitions kept, rounds of clang -fsyntax-only)."""
    lines = vmlinux.read_text().splitlines()
    keep = set(keep)
    for rounds in range(1, 100):
        into.write_text(cut(lines, keep))
        check = [clang, "-target", "bpf", "-fsyntax-only", "-ferror-limit=0", "-x", "c", str(into)]
        said = subprocess.run(check, capture_output=True, text=True).stderr
        missing = set(_INCOMPLETE.findall(said)) - keep
        if not missing:
            assert "error:" not in said, said[:2000]
            return len(keep), rounds
        keep |= missing
    raise RuntimeError("the cut header never compiled")


def compile_with(cmd: list[str], stdin: bytes, cwd: str) -> tuple[bytes, str, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, input=stdin, capture_output=True, cwd=cwd, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return proc.stdout, proc.stderr.decode(errors="replace"), cpu


def main(runs: int) -> None:
    clang = find_clang(None)
    options = CompileOptions(use_compile_commands=False, use_pch=False)
    print(
        f"{'program':<28} {'full':>8} {'cut':>8} {'kept':>11}  kernel gets  diagnostics  recompiles"
    )
    with tempfile.TemporaryDirectory(prefix="kptr-trim-") as tmp:
        for source in PROGRAMS:
            text = source.read_text()
            cmd = list(build_command(str(source), text, options, clang))
            stdin = f'#line 1 "{source}"\n{text}'.encode()
            cwd = str(source.parent)
            obj, said, _ = compile_with(cmd, stdin, cwd)
            vmlinux = next(
                Path(h.path) for h in included_headers(said, cwd) if h.path.endswith("vmlinux.h")
            )
            total = sum(1 for line in vmlinux.read_text().splitlines() if _DEFINITION.match(line))
            header = Path(tmp) / f"{source.stem}.vmlinux.h"
            keep = full_definitions(obj)
            kept, _ = closed_cut(clang.path, vmlinux, keep, header)
            overlay = Path(tmp) / f"{source.stem}.overlay.yaml"
            overlay.write_text(
                json.dumps(
                    {
                        "version": 0,
                        "roots": [
                            {
                                "name": str(vmlinux.resolve().parent),
                                "type": "directory",
                                "contents": [
                                    {
                                        "name": "vmlinux.h",
                                        "type": "file",
                                        "external-contents": str(header),
                                    }
                                ],
                            }
                        ],
                    }
                )
            )
            trimmed = [*cmd[:-5], "-ivfsoverlay", str(overlay), *cmd[-5:]]
            # A struct the code needs whole but BTF does not hold (a local `struct
            # bpf_dynptr`, a sizeof): clang names it, and it joins the kept set.
            again = 0
            while True:
                refused = subprocess.run(trimmed, input=stdin, capture_output=True, cwd=cwd)
                wanted = set(_INCOMPLETE.findall(refused.stderr.decode(errors="replace")))
                if refused.returncode == 0 or not wanted - keep or again == 10:
                    break
                keep |= wanted
                kept, _ = closed_cut(clang.path, vmlinux, keep, header)
                again += 1
            if refused.returncode != 0:
                said = without_header_lines(refused.stderr.decode(errors="replace"))
                first = next((line for line in said.splitlines() if "error:" in line), said)
                print(f"{source.name:<28} the cut header does not compile it: {first[-90:]}")
                continue
            full_cpu, cut_cpu = [], []
            for _ in range(runs):
                obj, said, cpu = compile_with(cmd, stdin, cwd)
                full_cpu.append(cpu)
                cut_obj, cut_said, cpu = compile_with(trimmed, stdin, cwd)
                cut_cpu.append(cpu)
            same = what_the_kernel_gets(CompileResult(obj, (), tuple(cmd), 0.0)) == (
                what_the_kernel_gets(CompileResult(cut_obj, (), tuple(trimmed), 0.0))
            )
            diagnostics = without_header_lines(said) == without_header_lines(cut_said)
            print(
                f"{source.name:<28} {min(full_cpu) * 1000:>5.0f} ms {min(cut_cpu) * 1000:>5.0f} ms "
                f"{kept:>5}/{total:<5}  {'same' if same else 'DIFFERENT':<11}  "
                f"{'same' if diagnostics else 'DIFFERENT':<11}  {again}"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    main(parser.parse_args().runs)
