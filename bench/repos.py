"""Whole-tree check: how `kptr-lsp check DIR -j N` grows with files, next to the by-hand loop.

    .venv/bin/python bench/repos.py [--files 5 10 20] [--rounds 2]

For each size a tree is generated in a temporary directory (removed afterwards) the way bcc's
libbpf-tools lays one out: per tool a `tool.bpf.c` in one of the styles of
tests/programs/projects/ (runtime-sized maps, rodata options, missing attach targets, many
programs) including `<vmlinux.h>`-style, `<bpf/…>`, the shared `maps.bpf.h` and its own
`tool.h`, plus its user-space `tool.c` (skipped by check: not BPF). Each BPF
file differs (a `const volatile` variant), so no cache serves one file for another.

Measured in one run, alternating so that machine noise hits all alike, each a fresh process:
- by hand: per BPF file, serially, `clang -target bpf -g -O2 -c` and `bpftool prog loadall`
  (the pins removed afterwards, untimed);
- `kptr-lsp check DIR -j 1` and `-j 2`.
Then 10 files two at a time on check's threads and on forked processes, alternating.
One untimed check per tree first builds its precompiled header (as the first CI run of a
configuration does). Figures are printed; nothing is asserted. Needs bpf() (root).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from real_projects import PROJECTS, STYLES, variant  # noqa: E402

from kptr_lsp.batch import check_all  # noqa: E402
from kptr_lsp.pipeline import analyse, kernel_verification_available  # noqa: E402
from kptr_lsp.settings import Settings  # noqa: E402
from kptr_lsp.sources import Source, collect  # noqa: E402
from kptr_lsp.toolchain.clang import find_clang  # noqa: E402
from kptr_lsp.toolchain.vmlinux import ensure_vmlinux_h  # noqa: E402

KPTR_LSP = ROOT / ".venv" / "bin" / "kptr-lsp"
_SUMMARY = re.compile(r"^kptr-lsp: (\d+) files?, (\d+) programs?: (.*)$", re.MULTILINE)

USER_SPACE = """\
// SPDX-License-Identifier: GPL-2.0
/* {name}: the tool's user-space half (libbpf skeleton), built for the host, not for BPF. */
#include <argp.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "{name}.h"
#include "{name}.skel.h"

static volatile sig_atomic_t exiting;

static void sig_int(int signo)
{{
\texiting = 1;
}}

int main(int argc, char **argv)
{{
\tstruct {name}_bpf *obj = {name}_bpf__open_and_load();

\tif (!obj)
\t\treturn 1;
\tsignal(SIGINT, sig_int);
\twhile (!exiting)
\t\tsleep(1);
\t{name}_bpf__destroy(obj);
\treturn 0;
}}
"""


# libbpf-tools' maps.bpf.h: the helper most of its tools include (latency.py uses it too).
MAPS_BPF_H = (Path(__file__).parent / "programs" / "maps.bpf.h").read_text()


def make_tree(root: Path, files: int, salt: int) -> list[Path]:
    """`files` tools in one directory, libbpf-tools style; returns the BPF sources."""
    root.mkdir(parents=True)
    (root / "maps.bpf.h").write_text(MAPS_BPF_H)
    sources: list[Path] = []
    for n in range(files):
        style = STYLES[n % len(STYLES)]
        name = f"{style}{n:02d}"
        bpf = root / f"{name}.bpf.c"
        text = variant((PROJECTS / f"{style}.bpf.c").read_text(), salt * 1000 + n)
        # The tools' own headers after libbpf's, as libbpf-tools include them.
        text = text.replace(
            "#include <bpf/bpf_tracing.h>\n",
            f'#include <bpf/bpf_tracing.h>\n#include "maps.bpf.h"\n#include "{name}.h"\n',
            1,
        )
        bpf.write_text(text)
        (root / f"{name}.c").write_text(USER_SPACE.format(name=name))
        (root / f"{name}.h").write_text(f"#pragma once\n#define {name.upper()}_MAX 128\n")
        sources.append(bpf)
    return sources


def by_hand(sources: list[Path], clang: str, vmlinux_dir: str, pin: str) -> float:
    bpftool = shutil.which("bpftool") or "/usr/sbin/bpftool"
    total = 0.0
    for source in sources:
        obj = source.with_suffix(".o")
        start = time.perf_counter()
        flags = ["-target", "bpf", "-g", "-O2", "-D__TARGET_ARCH_x86", f"-I{vmlinux_dir}"]
        subprocess.run([clang, *flags, "-c", str(source), "-o", str(obj)], check=True)
        # A tool with a rejected program fails here, as it would by hand: the time still counts.
        subprocess.run(
            [bpftool, "prog", "loadall", str(obj), pin],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        total += time.perf_counter() - start
        shutil.rmtree(pin, ignore_errors=True)  # untimed; the programs go with the pins
        obj.unlink()
    return total


def check(tree: Path, jobs: int) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(
        [str(KPTR_LSP), "check", "-j", str(jobs), str(tree)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    took = time.perf_counter() - start
    found = _SUMMARY.search(proc.stderr)
    if proc.returncode not in (0, 1) or found is None:
        raise SystemExit(f"kptr-lsp check failed ({proc.returncode}):\n{proc.stderr}")
    return took, found.group(0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, nargs="+", default=[5, 10, 20])
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    ok, why = kernel_verification_available()
    if not ok:
        print(f"bpf() is refused ({why}): run as root", file=sys.stderr)
        return 2
    clang = find_clang(None).path
    vmlinux_dir = ensure_vmlinux_h()
    load = os.getloadavg()
    print(
        f"kptr-lsp whole-tree check · {os.cpu_count()} CPUs · load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} · {args.rounds} rounds, median"
    )
    with tempfile.TemporaryDirectory(prefix="kptr-bench-repos-") as tmp:
        pin = f"/sys/fs/bpf/kptr-bench-repos-{os.getpid()}"  # on bpffs: bpftool mounts one else
        print(f"\n{'BPF files':>9}  {'by hand':>8}  {'-j 1':>15}  {'-j 2':>15}  summary")
        for files in args.files:
            tree = Path(tmp) / f"tree{files}"
            sources = make_tree(tree, files, files)
            check(tree, 2)  # untimed: the page cache, and any PCH files of the tree share
            hand: list[float] = []
            one: list[float] = []
            two: list[float] = []
            summary = ""
            for _ in range(args.rounds):
                hand.append(by_hand(sources, clang, vmlinux_dir, pin))
                one.append(check(tree, 1)[0])
                took, summary = check(tree, 2)
                two.append(took)
            h, j1, j2 = (statistics.median(x) for x in (hand, one, two))
            print(
                f"{files:>9}  {h:7.2f}s  {j1:6.2f}s ({j1 / h:4.2f}×)  {j2:6.2f}s ({j2 / h:4.2f}×)"
                f"  {summary.removeprefix('kptr-lsp: ').split(' · ')[0]}"
            )
        threads_or_processes(Path(tmp) / "tree-tp", args.rounds)
        load = os.getloadavg()
        print(f"\nload average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 0


_POOL_SOURCES: list[Source] = []
_POOL_SETTINGS = Settings(jobs=2)


def _analyse_one(i: int) -> tuple[object, object]:
    source = _POOL_SOURCES[i]
    analysis = analyse(source.path, source.text, _POOL_SETTINGS, workspace_root=source.root)
    return analysis.findings, analysis.programs  # what a process pool would send back


def threads_or_processes(tree: Path, rounds: int, files: int = 10) -> None:
    """The same files, -j 2, on check's threads and on forked processes (started after the
    shared setup, so they inherit vmlinux.h and the kernel BTF), alternating."""
    make_tree(tree, files, 99)
    _POOL_SOURCES[:] = collect([str(tree)]).sources
    list(check_all(_POOL_SOURCES[:1], _POOL_SETTINGS, jobs=1))  # imports, vmlinux.h, BTF
    threads: list[float] = []
    processes: list[float] = []
    for _ in range(rounds):
        start = time.perf_counter()
        list(check_all(_POOL_SOURCES, _POOL_SETTINGS, jobs=2))
        threads.append(time.perf_counter() - start)
        start = time.perf_counter()
        with multiprocessing.get_context("fork").Pool(2) as pool:
            pool.map(_analyse_one, range(len(_POOL_SOURCES)), chunksize=1)
        processes.append(time.perf_counter() - start)
    t, p = statistics.median(threads), statistics.median(processes)
    print(
        f"\n{files} files, 2 at a time, in one process: threads {t:.2f}s, "
        f"forked processes {p:.2f}s ({p / t:.2f}×)"
    )


if __name__ == "__main__":
    sys.exit(main())
