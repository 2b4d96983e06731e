"""struct_ops maps in `SEC(".struct_ops.link")` on kernels older than 6.4.

libbpf creates such a map with `BPF_F_LINK` (it registers on attach, through a link). Linux
6.4 added that flag; older kernels (Debian's 6.1) refuse every struct_ops map with any flag
(`bpf_struct_ops_map_alloc_check`: EINVAL), so libbpf says `map 'X': failed to create:
Invalid argument(-22)` and no program of the object loads. That is about the kernel, not the
code: the programs are "not verifiable here" (Failure.KERNEL_LACKS), with one Information on
the map (externs.kernel_lacks_findings), as for a subsystem the kernel lacks.
"""

from __future__ import annotations

import dataclasses
import errno as errno_mod
import re
from typing import TYPE_CHECKING

from ..btf.errors import BTFError, ObjectError
from ..btf.types import Datasec
from ..elf.objfile import ObjectFile

if TYPE_CHECKING:
    from .loader import ObjectResult, ProgramResult

LINK_SECTION = ".struct_ops.link"
FIRST_RELEASE = (6, 4)  # commit 68b04864ca42 "bpf: Create links for BPF struct_ops maps."
# libbpf's words (bpf_object__create_maps, 1.0 to 1.6).
MAP_CREATE_FAILED = re.compile(r"map '([^']+)': failed to create: ")
_RELEASE = re.compile(r"(\d+)\.(\d+)")


def release_lacks_links(release: str) -> bool:
    """`6.1.0-57-amd64` → True: a kernel before 6.4 has no struct_ops links."""
    found = _RELEASE.match(release)
    return found is not None and (int(found.group(1)), int(found.group(2))) < FIRST_RELEASE


def link_maps(data: bytes) -> set[str]:
    """The object's struct_ops map variables in `SEC(".struct_ops.link")`."""
    try:
        spec = ObjectFile.parse(data).btf_spec()
    except (ObjectError, BTFError):
        return set()
    if spec is None:
        return set()
    return {
        v.var.name
        for t in spec
        if isinstance(t, Datasec) and t.name == LINK_SECTION
        for v in t.vars
    }


def refused_link_map(result: ProgramResult) -> str | None:
    """The map libbpf failed to create for `result`, when it failed with EINVAL."""
    if result.errno != errno_mod.EINVAL:
        return None
    for m in result.libbpf_messages:
        found = MAP_CREATE_FAILED.search(m.text) if m.level == "warn" else None
        if found is not None:
            return found.group(1)
    return None


def without_link_support(data: bytes, result: ObjectResult, release: str) -> ObjectResult:
    """`result` with the programs that failed only because kernel `release` cannot create a
    `.struct_ops.link` map marked Failure.KERNEL_LACKS (not verifiable here)."""
    from .loader import Failure  # the loader imports this module

    if not release_lacks_links(release):
        return result
    refused = {
        p.name: name
        for p in result.programs
        if p.failure is Failure.MAP_CREATE and (name := refused_link_map(p)) is not None
    }
    if not refused:
        return result
    links = link_maps(data)
    programs = tuple(
        dataclasses.replace(p, failure=Failure.KERNEL_LACKS, object_wide=True)
        if refused.get(p.name) in links
        else p
        for p in result.programs
    )
    return dataclasses.replace(result, programs=programs)
