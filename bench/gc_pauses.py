"""Python's garbage-collector pauses during saves, with and without the server's freeze of its
long-lived objects (kptr_lsp/memory.py, `freeze_long_lived`).

A full (generation 2) collection walks every object the collector tracks, with the GIL held:
in the server, the ~60k that its imports leave (lsprotocol, cattrs, pygls, pyelftools, our own
modules) and whatever the analyses keep. This script imports the server's modules as
`kptr-lsp` does, then analyses the "real tools" layout of bench/latency.py the way a save does
(compile, object, checks, verification, then the declaration-line walk of the code lenses),
in rounds that alternate between the two settings, and prints, per setting: full collections
per save, and their pauses (median and longest). Needs root (or CAP_BPF) for verification.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from latency import LAYOUTS  # noqa: E402

import kptr_lsp.server  # noqa: E402,F401  (every module the server imports)
from kptr_lsp.pipeline import analyse  # noqa: E402
from kptr_lsp.settings import Settings  # noqa: E402

_started: list[float] = []
_pauses: list[float] = []


def _watch(phase: str, info: dict[str, int]) -> None:
    if info["generation"] != 2:
        return
    if phase == "start":
        _started.append(time.perf_counter())
    elif _started:
        _pauses.append(time.perf_counter() - _started.pop())


def main(rounds: int, saves: int) -> None:
    layout = LAYOUTS[1]
    settings = Settings()
    results: dict[bool, tuple[list[float], int]] = {False: ([], 0), True: ([], 0)}
    with tempfile.TemporaryDirectory(prefix="kptr-gc-") as tmp:
        source = layout.write(Path(tmp))
        variant = 0

        def save() -> None:
            nonlocal variant
            text = layout.program(variant)
            variant += 1
            source.write_text(text)
            analysis = analyse(str(source), text, settings, workspace_root=tmp)
            if analysis.model is not None:
                len(analysis.model.decls.functions)  # what the code lenses read after a save

        for _ in range(3):  # the PCH, vmlinux.h and the caches a first save builds
            save()
            time.sleep(2)
        gc.callbacks.append(_watch)
        for r in range(rounds * 2):
            frozen = r % 2 == 1
            if frozen:
                gc.collect()
                gc.freeze()
            del _pauses[:]
            for _ in range(saves):
                save()
            pauses, count = results[frozen]
            results[frozen] = (pauses + _pauses, count + saves)
            if frozen:
                gc.unfreeze()
        gc.callbacks.remove(_watch)

    print(f"full collections during saves of {layout.name!r}, {rounds} rounds of {saves} each")
    print(f"{'':<34}{'per save':>10}{'median':>10}{'longest':>10}")
    for frozen, label in ((False, "everything tracked"), (True, "long-lived objects frozen")):
        pauses, count = results[frozen]
        med = f"{statistics.median(pauses) * 1000:.1f} ms" if pauses else "-"
        top = f"{max(pauses) * 1000:.1f} ms" if pauses else "-"
        print(f"  {label:<32}{len(pauses) / count:>10.2f}{med:>10}{top:>10}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--saves", type=int, default=8)
    args = parser.parse_args()
    main(args.rounds, args.saves)
