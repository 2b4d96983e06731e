"""Enums of the kernel's user-space ABI (include/uapi/linux/bpf.h), in one place.

Their values never change once released (they are ABI), so they are written down here once;
tests/kernel/test_uapi.py checks every member against the running kernel's BTF (`enum
bpf_map_type` there), which is where a new member would show first.
"""

from __future__ import annotations

import enum


class MapType(enum.IntEnum):
    """enum bpf_map_type, without the BPF_MAP_TYPE_ prefix."""

    UNSPEC = 0
    HASH = 1
    ARRAY = 2
    PROG_ARRAY = 3
    PERF_EVENT_ARRAY = 4
    PERCPU_HASH = 5
    PERCPU_ARRAY = 6
    STACK_TRACE = 7
    CGROUP_ARRAY = 8
    LRU_HASH = 9
    LRU_PERCPU_HASH = 10
    LPM_TRIE = 11
    ARRAY_OF_MAPS = 12
    HASH_OF_MAPS = 13
    DEVMAP = 14
    SOCKMAP = 15
    CPUMAP = 16
    XSKMAP = 17
    SOCKHASH = 18
    CGROUP_STORAGE = 19
    REUSEPORT_SOCKARRAY = 20
    PERCPU_CGROUP_STORAGE = 21
    QUEUE = 22
    STACK = 23
    SK_STORAGE = 24
    DEVMAP_HASH = 25
    STRUCT_OPS = 26
    RINGBUF = 27
    INODE_STORAGE = 28
    TASK_STORAGE = 29
    BLOOM_FILTER = 30
    USER_RINGBUF = 31
    CGRP_STORAGE = 32
    ARENA = 33

    @property
    def label(self) -> str:
        """As users read it in messages and the outline: "percpu_array"."""
        return self.name.lower()


def map_type_label(value: int) -> str:
    """The label of a map type number, or `type N` for one this table does not know."""
    try:
        return MapType(value).label
    except ValueError:
        return f"type {value}"
