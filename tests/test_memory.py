"""kptr_lsp/memory.py. The malloc arena cap: threads started after it share two arenas, so
memory a thread once needed (libbpf's parse of the kernel BTF on a verifier thread) is not
kept once per thread, counted with glibc's own `malloc_info`. The freeze of the server's
long-lived objects: full collections no longer walk them. Both in fresh interpreters."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
# Eight threads hold memory at the same time, then the arenas are counted.
PROGRAM = """
import ctypes, sys, tempfile, threading
sys.path.insert(0, {root!r})
if {limited}:
    from kptr_lsp.memory import limit_malloc_arenas
    assert limit_malloc_arenas()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
held = threading.Barrier(8)
def work():
    blocks = [libc.malloc(4096) for _ in range(64)]
    held.wait()
    for p in blocks:
        libc.free(p)
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
with tempfile.NamedTemporaryFile() as out:
    fh = libc.fopen(out.name.encode(), b"w")
    libc.malloc_info(0, fh)
    libc.fclose(fh)
    print(open(out.name).read().count("<heap nr="))
"""


def arenas(limited: bool) -> int:
    code = PROGRAM.format(root=str(ROOT), limited=limited)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return int(proc.stdout)


def test_threads_share_two_malloc_arenas() -> None:
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("malloc arenas are glibc's")
    assert arenas(limited=False) > 2  # the control: a thread's own arena each, by default
    assert arenas(limited=True) <= 2


FREEZE = """
import gc, sys, weakref
sys.path.insert(0, {root!r})
import kptr_lsp.server  # every module the server imports
from kptr_lsp.memory import freeze_long_lived

class Held:
    pass

held = Held()
gone = weakref.ref(held)
frozen = freeze_long_lived()
walked = len(gc.get_objects())  # what a full collection walks from now on
del held
print(frozen, walked, gone() is None)
"""


def test_the_servers_long_lived_objects_are_left_out_of_collections() -> None:
    """After the server's imports, a full collection walked ~60k objects (~55 ms with the
    GIL held, inside saves: bench/gc_pauses.py); frozen, it walks what came later only, and
    an object still goes when its last reference does."""
    code = FREEZE.format(root=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    frozen, walked, freed = proc.stdout.split()
    assert int(frozen) > 20_000
    assert int(walked) < 1_000
    assert freed == "True"
