"""What a quick fix costs the editor: the list (libclang's tree of the file) and the proof
(the fixed buffer compiled and loaded into the kernel), per fix kind's program.

Run with `make bench` (needs root or CAP_BPF). For each program of tests/programs/fixes/:
the analysis of the rejected buffer (what the server has anyway), the first listing of its
fixes (a libclang parse on the compile's PCH), a second listing (kept tree), the proof of the
fix (compile + verify, what codeAction/resolve waits for) and a second proof (kept verdict).
Figures are printed; nothing is asserted.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from kptr_lsp.features.fix_proof import prove
from kptr_lsp.features.fixes import fixes_for
from kptr_lsp.findings import Severity
from kptr_lsp.pipeline import analyse
from kptr_lsp.settings import Settings

PROGRAMS = Path(__file__).resolve().parent.parent / "tests" / "programs" / "fixes"


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def main() -> None:
    settings = Settings()
    rows = []
    for path in sorted(PROGRAMS.glob("*.bpf.c")):
        text = path.read_text()
        t = time.perf_counter()
        analysis = analyse(str(path), text, settings)
        analysed = _ms(t)
        finding = next(f for f in analysis.findings if f.severity is Severity.ERROR)
        t = time.perf_counter()
        fixes = fixes_for(analysis, finding)
        listed = _ms(t)
        t = time.perf_counter()
        fixes_for(analysis, finding)
        relisted = _ms(t)
        t = time.perf_counter()
        holds = [prove(analysis, fix, settings).holds for fix in fixes]
        proven = _ms(t)
        t = time.perf_counter()
        for fix in fixes:
            prove(analysis, fix, settings)
        reproven = _ms(t)
        rows.append((path.name, analysed, listed, relisted, proven, reproven, holds))
    print(f"{'program':34} {'analyse':>8} {'list':>7} {'again':>6} {'proof':>7} {'again':>6}  held")
    for name, a, lst, relst, p, rep, holds in rows:
        print(f"{name:34} {a:7.0f}ms {lst:6.0f}ms {relst:5.1f}ms {p:6.0f}ms {rep:5.1f}ms  {holds}")
    print(
        f"median: list {statistics.median(r[2] for r in rows):.0f} ms, "
        f"proof {statistics.median(r[4] for r in rows):.0f} ms"
    )


if __name__ == "__main__":
    main()
