"""Real-project benchmark: total time to analyse a directory of 50+ BPF objects in the styles
real tools use (runtime-sized maps, rodata options, missing attach targets, many programs per
object), and how verification time grows with the number of programs in one object.

    .venv/bin/python bench/real_projects.py [--objects 52] [--jobs 2]

Everything runs in-process through `kptr_lsp.pipeline.analyse` (compile → checks → verify in
the running kernel) on files generated into a temporary directory that is removed afterwards.
Each generated file differs (a `const volatile` variant number), so no cache can serve one
file's result for another. Needs bpf() (root).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kptr_lsp.findings import Severity  # noqa: E402
from kptr_lsp.pipeline import analyse, kernel_verification_available  # noqa: E402
from kptr_lsp.settings import Settings  # noqa: E402

PROJECTS = ROOT / "tests" / "programs" / "projects"
STYLES = ("runtime_sized", "rodata_index", "missing_targets", "many_programs")
_PROBES = re.compile(r"^LOCK_PROBES\(.*\)\n", re.MULTILINE)
_LOCK_FUNCTIONS = [
    m.split(", ")[1].rstrip(")\n")
    for m in _PROBES.findall((PROJECTS / "many_programs.bpf.c").read_text())
]


def variant(text: str, n: int) -> str:
    """The same program with a distinct object: one more rodata variable."""
    return text.replace(
        "#include <bpf/bpf_tracing.h>\n",
        f"#include <bpf/bpf_tracing.h>\n\nconst volatile int bench_variant = {n};\n",
        1,
    )


def lock_tool(programs: int) -> str:
    """The many-programs style with `programs` programs: probe pairs (+1 odd kprobe)."""
    text = (PROJECTS / "many_programs.bpf.c").read_text()
    pairs = [f"LOCK_PROBES({i}, {fn})\n" for i, fn in enumerate(_LOCK_FUNCTIONS)]
    while len(pairs) * 2 < programs:
        i = len(pairs)
        pairs.append(f"LOCK_PROBES({i}, {_LOCK_FUNCTIONS[i % len(_LOCK_FUNCTIONS)]}_{i})\n")
    body = "".join(pairs[: programs // 2])
    # Keep the hand-written bad program only when asked for an odd count.
    text = _PROBES.sub("", text)
    head, tail = text.split('SEC("kretprobe/mutex_unlock")', 1)
    if programs % 2:
        return head + body + 'SEC("kretprobe/mutex_unlock")' + tail
    return head + body + 'char LICENSE[] SEC("license") = "GPL";\n'


def run(path: Path, settings: Settings, root: Path) -> tuple[float, float, int, int]:
    """(total s, verify s, programs, errors) for one file."""
    t0 = time.perf_counter()
    analysis = analyse(str(path), path.read_text(), settings, workspace_root=str(root))
    total = time.perf_counter() - t0
    errors = sum(f.severity is Severity.ERROR for f in analysis.findings)
    return total, analysis.timings.get("verify", 0.0), len(analysis.programs), errors


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--objects", type=int, default=52)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    ok, why = kernel_verification_available()
    if not ok:
        print(f"bpf() is refused ({why}): run as root", file=sys.stderr)
        return 2
    settings = Settings(jobs=args.jobs)
    print(f"kptr-lsp real-project benchmark · {os.cpu_count()} CPUs · jobs={args.jobs}")
    with tempfile.TemporaryDirectory(prefix="kptr-bench-projects-") as tmp:
        root = Path(tmp)
        files: list[Path] = []
        for n in range(args.objects):
            style = STYLES[n % len(STYLES)]
            path = root / f"{style}_{n:03d}.bpf.c"
            path.write_text(variant((PROJECTS / f"{style}.bpf.c").read_text(), n))
            files.append(path)
        run(files[0], settings, root)  # warm: vmlinux.h, kernel BTF, clang discovery

        t0 = time.perf_counter()
        rows = [run(f, settings, root) for f in files]
        total = time.perf_counter() - t0
        programs = sum(r[2] for r in rows)
        errors = sum(r[3] for r in rows)
        per_object = [r[0] for r in rows]
        print(
            f"\n{len(files)} objects, {programs} programs: total {total:.1f} s "
            f"(per object median {statistics.median(per_object):.2f} s, "
            f"max {max(per_object):.2f} s; verification {sum(r[1] for r in rows):.1f} s); "
            f"{errors} Errors (expected {sum(1 for f in files if 'missing_targets' in f.name)}"
            f" + {sum(1 for f in files if 'many_programs' in f.name)})"
        )

        print("\nprograms in one object → verification time (and per program)")
        for count in (1, 10, 25, 50, 73, 100):
            path = root / f"lock_tool_{count}.bpf.c"
            path.write_text(lock_tool(count))
            seconds, verify, progs, _ = run(path, settings, root)
            print(
                f"  {progs:4d} programs: verify {verify:6.2f} s "
                f"({1000 * verify / max(progs, 1):5.1f} ms/program), whole analysis {seconds:.2f} s"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
