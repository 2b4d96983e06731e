"""Keep the server's resident memory to what it uses, and its garbage collector off the save.

glibc's malloc gives every thread that allocates its own arena (up to eight per core), and
an arena keeps the pages its thread once needed. Each load parses the kernel's BTF inside
libbpf (megabytes of small allocations) on whichever verifier or analysis thread runs it, so
every thread's arena grows to that high-water mark and stays there: in `make bench` the
server's resident set grew to ~370 MB after 12 saves and a 50-program object, against ~180
MB with two arenas, for the same work (bench/latency.py prints RSS after each phase).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc

_M_ARENA_MAX = -8  # glibc's malloc.h
ARENAS = 2


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas for the threads this process starts from now on. Call it
    before starting threads. False where the C library has no `mallopt` (not glibc)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, arenas))


def freeze_long_lived() -> int:
    """Leave what the server holds for its lifetime out of every future cyclic collection.

    The server's imports leave ~60k objects that live as long as it does (lsprotocol's,
    cattrs', pygls' and pyelftools' classes and functions, our own modules), and every full
    collection walked all of them again: ~35 ms alone and ~55 ms in a running server on this
    machine, with the GIL held, once every few saves, inside a save or in the middle of the
    next one (a save's own Python work is ~10 ms). Frozen, a full collection walks only what
    was allocated since: 7-10 ms in the server (bench/gc_pauses.py). Frozen objects still go
    when their last reference does; only a reference cycle among them would stay, and these
    are never garbage. Call it once the server's modules are imported, before the first
    document. Returns how many objects were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
