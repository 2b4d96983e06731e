"""Memory across saves: what one save does in the server (libclang's syntax check, the analysis,
the lenses' DWARF walk and save history) repeated on one document keeps nothing of the saves
before it beyond bounded caches. Run in a fresh interpreter and counted with tracemalloc (every
Python allocation still alive, after a full collection) and the process's anonymous memory
(libclang's and libbpf's C allocations): no timing is involved."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
SOURCE = ROOT / "tests" / "programs" / "clean" / "xdp.bpf.c"
SAVES, SETTLED = 16, 4  # caches (the verifier cache, malloc's arenas) fill in the first saves
PROGRAM = """
import gc, json, sys, tempfile, tracemalloc
from pathlib import Path
sys.path.insert(0, {root!r})
from kptr_lsp.memory import limit_malloc_arenas
limit_malloc_arenas()  # as the server does
from kptr_lsp.lsp.views import ProgramViews
from kptr_lsp.pipeline import analyse, compile_options
from kptr_lsp.settings import Settings
from kptr_lsp.toolchain.syntax import SyntaxChecker

def anon_kib():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1])

source = Path({source!r}).read_text()
with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "prog.bpf.c"
    settings, views, syntax = Settings(), ProgramViews(), SyntaxChecker()
    uri = path.as_uri()
    tracemalloc.start()
    out = []
    for i in range({saves}):
        # each save changes one program's instructions: a new compile, a new verification
        text = source.replace("return XDP_PASS;", f"return {{i}} ? XDP_PASS : XDP_DROP;", 1)
        path.write_text(text)
        syntax.check(str(path), text, compile_options(settings, folder))
        views.saved(uri, text)
        analysis = analyse(str(path), text, settings, workspace_root=folder)
        assert analysis.model is not None, analysis.findings
        len(analysis.model.decls.functions)  # the lenses' DWARF walk
        views.analysed(uri, analysis, views.published(uri, analysis))
        del analysis
        gc.collect()
        out.append((tracemalloc.get_traced_memory()[0], anon_kib()))
    print(json.dumps(out))
"""


def test_saving_one_document_again_and_again_keeps_no_memory_per_save() -> None:
    code = PROGRAM.format(root=str(ROOT), source=str(SOURCE), saves=SAVES)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    sizes = json.loads(proc.stdout)
    (python_then, anon_then), (python_now, anon_now) = sizes[SETTLED - 1], sizes[-1]
    saves = SAVES - SETTLED
    # An Analysis kept per save (its object, findings, logs) is tens of KiB: 2 KiB per save
    # is what the bounded verifier cache adds for the one program each save changes.
    assert (python_now - python_then) / saves < 2048, sizes
    # A libclang translation unit or libbpf object kept per save is megabytes.
    assert (anon_now - anon_then) / saves < 256, sizes
