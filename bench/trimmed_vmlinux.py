"""How much of a compile goes to debug information that BTF leaves out, and how much a
vmlinux.h cut down to what one program's BTF holds saves (issue 15, "less debug information
to emit"). The server compiles so since (kptr_lsp/toolchain/trim.py, which says when such a
compile is exact); this measures it on plain compiles, without the PCH.

clang builds debug information for every kernel type reachable from the structs a program
uses, by value or through pointers (C has no limited debug info), and the BPF backend keeps in
.BTF the full definitions only of what it reaches by value: a struct behind a member pointer
becomes a forward declaration unless something else needs it whole. For each program below:
compile it as the server does without the PCH; take the names of the structs, unions and
forward declarations its .BTF holds; close that set under by-value containment in vmlinux.h
(`trim.Header.closure`); replace every other named struct or union of vmlinux.h by a forward
declaration, on the same lines; compile again, the cut header put in place of vmlinux.h with
`-ivfsoverlay`. Printed: the least CPU time of `--runs` compiles of each, how many definitions
the cut header keeps, and whether what the kernel gets (instructions and maps byte for byte,
.BTF and .BTF.ext with type ids resolved: tests/toolchain/kernel_view.py) and clang's
diagnostics are the same.

A program whose code needs a struct whole that its BTF does not hold (a local `struct
bpf_dynptr`, a `sizeof`) does not compile on the cut header: clang names the struct, it joins
the kept set and the program is compiled again ("recompiles"), as in the server.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from kptr_lsp.toolchain.clang import find_clang  # noqa: E402
from kptr_lsp.toolchain.compile import CompileOptions, CompileResult, build_command  # noqa: E402
from kptr_lsp.toolchain.headers import included_headers, without_header_lines  # noqa: E402
from kptr_lsp.toolchain.trim import CutHeaders, read_header  # noqa: E402
from tests.toolchain.kernel_view import what_the_kernel_gets  # noqa: E402

PROGRAMS = (
    ROOT / "bench" / "programs" / "two_progs.bpf.c",
    ROOT / "tests" / "programs" / "projects" / "header_chain" / "execsnoop.bpf.c",
    ROOT / "tests" / "programs" / "clean" / "kptr_ok.bpf.c",
    ROOT / "tests" / "programs" / "clean" / "iter_task.bpf.c",
    ROOT / "tests" / "programs" / "clean" / "obj_new_ok.bpf.c",
    ROOT / "tests" / "programs" / "clean" / "dynptr_ok.bpf.c",
)


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
            whole = read_header(str(vmlinux))
            assert whole is not None, f"{vmlinux} is not in bpftool's layout"
            cuts = CutHeaders(root=Path(tmp))
            cuts.learn(str(source), 0, obj, said, cwd)
            # A struct the code needs whole but BTF does not hold (a local `struct
            # bpf_dynptr`, a sizeof): clang names it, and it joins the kept set.
            again, verdict = 0, ""
            while verdict != "exact" and again < 10:
                cut = cuts.cut_for(str(source), text)
                assert cut is not None
                trimmed = list(cut.command(tuple(cmd)))
                ran = subprocess.run(trimmed, input=stdin, capture_output=True, cwd=cwd)
                verdict = cuts.judge(
                    str(source),
                    cut,
                    ran.returncode,
                    ran.stdout,
                    ran.stderr.decode(errors="replace"),
                    cwd,
                )
                if verdict == "whole":
                    break
                again += verdict == "again"
            if verdict != "exact":
                said = without_header_lines(ran.stderr.decode(errors="replace"))
                first = next((line for line in said.splitlines() if "error:" in line), said)
                print(f"{source.name:<28} not exact on the cut header ({verdict}): {first[-80:]}")
                continue
            kept, total = len(cut.keep), len(whole.spans)
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
