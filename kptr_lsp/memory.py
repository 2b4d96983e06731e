"""Keep the server's resident memory to what it uses.

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
