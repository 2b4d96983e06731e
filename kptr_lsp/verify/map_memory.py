"""How much kernel memory a map asks for, from what libbpf will pass to BPF_MAP_CREATE.

A typo such as `max_entries, 1 << 30` makes the kernel try to preallocate gigabytes for a hash
map the moment we load the program; the loader refuses such maps before anything is created.
The figure is the map's payload (keys and values), not the kernel's exact accounting: enough to
tell a sensible map from a runaway one.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass

from ..kernel.uapi import MapType

PER_CPU_TYPES = frozenset(
    {
        MapType.PERCPU_HASH,
        MapType.PERCPU_ARRAY,
        MapType.LRU_PERCPU_HASH,
        MapType.PERCPU_CGROUP_STORAGE,
    }
)
# max_entries is the ring's size in bytes, not a count of entries.
BYTE_SIZED_TYPES = frozenset({MapType.RINGBUF, MapType.USER_RINGBUF})

MIB = 1 << 20


@dataclass(frozen=True)
class MapSize:
    """One map as libbpf would create it, and the memory that takes."""

    name: str
    map_type: int
    max_entries: int
    key_size: int
    value_size: int
    cpus: int  # copies of each value (possible CPUs for per-CPU maps, else 1)
    bytes: int

    def explain(self) -> str:
        """The arithmetic, in the map definition's own terms."""
        if self.map_type in BYTE_SIZED_TYPES:
            return f"a ring buffer of max_entries {self.max_entries} bytes"
        if self.map_type == MapType.ARENA:
            return f"an arena of max_entries {self.max_entries} pages of {mmap.PAGESIZE} bytes"
        value = f"value {self.value_size}"
        if self.cpus > 1:
            value += f" × {self.cpus} possible CPUs"
        return f"max_entries {self.max_entries} × (key {self.key_size} + {value}) bytes"


def map_size(
    name: str, map_type: int, max_entries: int, key_size: int, value_size: int, cpus: int
) -> MapSize:
    copies = max(cpus, 1) if map_type in PER_CPU_TYPES else 1
    if map_type in BYTE_SIZED_TYPES:
        total = max_entries
    elif map_type == MapType.ARENA:
        total = max_entries * mmap.PAGESIZE
    else:
        total = max_entries * (key_size + value_size * copies)
    return MapSize(name, map_type, max_entries, key_size, value_size, copies, total)


def human(n: int) -> str:
    """1536 → '1.5 KiB'; exact enough for a diagnostic."""
    if n < 1024:
        return f"{n} bytes"
    size = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 1024:
            return f"{size:.1f} {unit}"
    return f"{size / 1024:.1f} TiB"


@dataclass(frozen=True)
class MapOverCap:
    """A map the loader refused to create: it would take more than `cap` bytes."""

    size: MapSize
    cap: int

    def message(self) -> str:
        return (
            f"map '{self.size.name}' would take {human(self.size.bytes)} of kernel memory "
            f"({self.size.explain()}), over the {human(self.cap)} cap (setting "
            "mapMemoryCapMb); kptr-lsp did not create it"
        )


def over_cap(sizes: list[MapSize], cap: int | None) -> tuple[MapOverCap, ...]:
    if cap is None or cap <= 0:
        return ()
    return tuple(MapOverCap(s, cap) for s in sizes if s.bytes > cap)
