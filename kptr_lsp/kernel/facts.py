"""The facts of one kernel (the target the checks see): version-dependent rules plus its BTF.

Every version number below comes from the kernel's history (commit → release it was merged
for), not from guessing; see the report in tests/kernel/test_kernel_truth.py for the behaviour
each one is checked against on the running kernel.

- 5.19: kptrs arrive ("Introduce typed pointer support in BPF maps"): tag "kptr" is an
  unreferenced kptr, "kptr_ref" a referenced one; HASH, LRU_HASH and ARRAY maps hold them.
- 6.1: PERCPU_ARRAY maps hold kptrs ("bpf: Support kptrs in percpu arraymap").
- 6.2: the field record is generalised; at most 10 special fields per type.
- 6.4: 03b77e17aeb2 "bpf: Rename __kptr_ref -> __kptr and __kptr -> __kptr_untrusted": "kptr"
  now means referenced, "kptr_untrusted" unreferenced, "kptr_ref" is unknown. Same release:
  kptrs in PERCPU_HASH, LRU_PERCPU_HASH and the local-storage maps.
- 6.7: "percpu_kptr" (BPF_KPTR_PERCPU, Yonghong Song's local percpu kptr series).
- 6.10: bpf_wq makes it 11 special fields per type (BTF_FIELDS_MAX).
- 6.12: "bpf: Search for kptrs in prog BTF structs": kptr fields of every struct in the
  program's BTF are parsed when the BTF is loaded, so a bad field next to a good kptr makes
  the kernel reject the whole BTF.
- 6.13: "uptr" (task storage maps only).
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass

from ..btf.errors import BTFError
from ..btf.spec import Spec
from ..btf.types import Func, Ptr, Struct
from . import running
from .kfuncs import release_kfunc
from .uapi import MapType

# Field kinds, named as the kernel's enum btf_field_type.
KPTR_UNREF = "unreferenced kptr"
KPTR_REF = "referenced kptr"
KPTR_PERCPU = "percpu kptr"
UPTR = "uptr"
# Every type tag some release reads as a kptr kind (see KernelFacts.tag_kinds for which, when).
KPTR_TAGS = frozenset({"kptr", "kptr_ref", "kptr_untrusted", "percpu_kptr", "uptr"})

# Struct types the verifier treats apart, and what it calls each (enum btf_field_type, plus
# bpf_dynptr, which lives on the stack, never in a map value).
SPECIAL_STRUCTS = {
    "bpf_spin_lock": "spin lock",
    "bpf_res_spin_lock": "resilient spin lock",
    "bpf_timer": "timer",
    "bpf_wq": "workqueue",
    "bpf_task_work": "task work",
    "bpf_list_head": "list head",
    "bpf_list_node": "list node",
    "bpf_rb_root": "rbtree root",
    "bpf_rb_node": "rbtree node",
    "bpf_refcount": "refcount",
    "bpf_dynptr": "dynptr",
}
# Struct types that make a struct of the program's BTF parsed at BTF load (alloc_obj_fields).
ALLOC_OBJ_FIELDS = (
    "bpf_spin_lock",
    "bpf_list_head",
    "bpf_list_node",
    "bpf_rb_root",
    "bpf_rb_node",
    "bpf_refcount",
)
# Special struct fields btf_parse_fields looks for, per caller (the field_mask): in a map
# value (map_check_btf) and in a struct of the program's BTF (btf_parse_struct_metas).
MAP_SPECIALS = frozenset(
    {
        "bpf_spin_lock",
        "bpf_res_spin_lock",
        "bpf_timer",
        "bpf_wq",
        "bpf_task_work",
        "bpf_list_head",
        "bpf_rb_root",
        "bpf_refcount",
    }
)
LOAD_SPECIALS = frozenset({"bpf_spin_lock", "bpf_res_spin_lock", *ALLOC_OBJ_FIELDS})
# Release kfuncs the kernel registers as kptr destructors, for kernels whose BTF does not
# name the dtor itself (before the `<release>_dtor` wrappers).
_KNOWN_DTOR_STRUCTS = ("task_struct", "cgroup", "bpf_cpumask", "bpf_crypto_ctx")


def parse_release(release: str) -> tuple[int, int]:
    """(major, minor) from a `uname -r` string such as "6.18.44-fc-v595"."""
    m = re.match(r"(\d+)\.(\d+)", release)
    if m is None:
        raise ValueError(f"cannot read a kernel version from {release!r}")
    return int(m.group(1)), int(m.group(2))


def fmt_version(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


@functools.lru_cache(maxsize=4)
def _load_spec(btf_path: str) -> Spec:
    return Spec.load_kernel(btf_path)


@dataclass(frozen=True)
class KernelFacts:
    """The kernel the program is checked against (the running one unless settings say)."""

    release: str
    version: tuple[int, int]
    btf_path: str
    # Module BTF lives next to vmlinux for the running kernel; None for a BTF file target.
    modules_dir: str | None = None

    @classmethod
    def from_settings(cls, btf_path: str, release: str) -> KernelFacts:
        return cls(release=release, version=parse_release(release), btf_path=btf_path)

    @property
    def name(self) -> str:
        return f"Linux {fmt_version(self.version)}"

    @property
    def spec(self) -> Spec:
        """The target's vmlinux BTF, loaded lazily and shared between targets."""
        return _load_spec(self.btf_path)

    # -- version-dependent rules ------------------------------------------------------------

    def tag_kinds(self) -> dict[str, str]:
        """Type tag → field kind, as btf_find_kptr of this kernel reads it."""
        if self.version < (5, 19):
            return {}
        if self.version < (6, 4):
            return {"kptr": KPTR_UNREF, "kptr_ref": KPTR_REF}
        tags = {"kptr_untrusted": KPTR_UNREF, "kptr": KPTR_REF}
        if self.version >= (6, 7):
            tags["percpu_kptr"] = KPTR_PERCPU
        if self.version >= (6, 13):
            tags["uptr"] = UPTR
        return tags

    def tag_for(self, kind: str) -> str | None:
        for tag, k in self.tag_kinds().items():
            if k == kind:
                return tag
        return None

    def map_types_for(self, kind: str) -> frozenset[int]:
        """Map types whose values may hold a field of `kind` (map_check_btf)."""
        if kind == UPTR:
            return frozenset({MapType.TASK_STORAGE})
        types = {MapType.HASH, MapType.LRU_HASH, MapType.ARRAY}
        if self.version >= (6, 1):
            types.add(MapType.PERCPU_ARRAY)
        if self.version >= (6, 4):
            types |= {
                MapType.PERCPU_HASH,
                MapType.LRU_PERCPU_HASH,
                MapType.SK_STORAGE,
                MapType.INODE_STORAGE,
                MapType.TASK_STORAGE,
                MapType.CGRP_STORAGE,
            }
        return frozenset(types)

    @property
    def fields_max(self) -> int:
        """BTF_FIELDS_MAX: special fields one struct or section may hold."""
        if self.version < (6, 2):
            return 8
        if self.version < (6, 10):
            return 10
        return 11

    @property
    def btf_parses_kptrs_at_load(self) -> bool:
        """Whether a bad field next to a good kptr makes the whole program BTF rejected."""
        return self.version >= (6, 12)

    # -- kernel types -------------------------------------------------------------------------

    def find_struct(self, name: str) -> Struct | None:
        """The kernel's struct `name` in vmlinux or a loaded module (bpf_find_btf_id)."""
        try:
            found = self.spec.find(name, Struct)
        except BTFError:
            return None
        if isinstance(found, Struct):
            return found
        return self._module_struct(name)

    def _module_struct(self, name: str) -> Struct | None:
        if self.modules_dir is None or not os.path.isdir(self.modules_dir):
            return None
        for entry in sorted(os.listdir(self.modules_dir)):
            if entry == "vmlinux":
                continue
            try:
                spec = _load_module(os.path.join(self.modules_dir, entry), self.btf_path)
                found = spec.find(name, Struct)
            except BTFError:
                continue
            if isinstance(found, Struct):
                return found
        return None

    def dtor_for(self, struct_name: str) -> str | None:
        """The release kfunc the kernel uses to free a referenced kptr to `struct_name`; None
        when it registers no destructor for it. Which kfunc releases a struct is answered by
        kfuncs.release_kfunc alone; this says whether the kernel frees it from a map."""
        return _dtors(self.btf_path).get(struct_name)


@functools.lru_cache(maxsize=64)
def _load_module(path: str, base_path: str) -> Spec:
    return Spec.load_kernel(path, base=_load_spec(base_path))


@functools.lru_cache(maxsize=4)
def _dtors(btf_path: str) -> dict[str, str]:
    """struct name → release kfunc, for the structs the kernel has a kptr destructor for:
    those the `<release>_dtor` functions in kernel BTF free.

    Since the dtor wrappers exist, each `X_dtor` frees what the kfunc `X(struct S *)` releases.
    Older kernels register the release kfunc itself; fall back to the types they register. The
    name is release_kfunc's answer (the wrapper's `X` when that has none).
    """
    try:
        spec = _load_spec(btf_path)
        kfuncs = spec.kfuncs()
    except BTFError:
        return {}
    found: dict[str, str] = {}
    for release in kfuncs:
        if not release.proto.params or spec.find(release.name + "_dtor", Func) is None:
            continue
        ptr = spec.resolve(release.proto.params[0].type)
        target = spec.resolve(ptr.type) if isinstance(ptr, Ptr) else None
        if isinstance(target, Struct) and target.name and target.name not in found:
            found[target.name] = release_kfunc(spec, target.name) or release.name
    if not found:
        for struct in _KNOWN_DTOR_STRUCTS:
            if spec.find(struct, Struct) is not None:
                found[struct] = release_kfunc(spec, struct) or "its release kfunc"
    return found


def running_kernel(btf_path: str = running.VMLINUX_BTF) -> KernelFacts:
    release = running.release()
    modules = running.BTF_DIR if btf_path == running.VMLINUX_BTF else None
    return KernelFacts(
        release=release,
        version=parse_release(release),
        btf_path=btf_path,
        modules_dir=modules,
    )
