"""Which kfuncs take a reference and which give one back, and how to release what was taken.

The kernel records this as KF_ACQUIRE / KF_RELEASE flags in its BTF_ID_FLAGS sets (the
`.BTF_ids` data of vmlinux), which user space cannot read: kernel BTF has the prototypes and a
`bpf_kfunc` decl tag, never the flags. So we keep the kernel's own lists, stamped with the
release they come from, in kptr_lsp/data/kfunc_flags.toml, fall back on naming conventions,
and say which one answered.
"""

from __future__ import annotations

import enum
import functools
import tomllib
from dataclasses import dataclass
from importlib import resources

from ..btf.spec import Spec
from ..btf.types import Func, Ptr, Struct, Type


@dataclass(frozen=True)
class KfuncFlags:
    """The KF_ACQUIRE / KF_RELEASE kfuncs of release `kernel` (kptr_lsp/data/kfunc_flags.toml)."""

    kernel: str
    acquire: frozenset[str]
    release: frozenset[str]


@functools.cache
def kfunc_flags() -> KfuncFlags:
    data = tomllib.loads(resources.files("kptr_lsp").joinpath("data/kfunc_flags.toml").read_text())
    return KfuncFlags(data["kernel"], frozenset(data["acquire"]), frozenset(data["release"]))


_ACQUIRE_NAMES = ("_acquire", "_create", "_new_impl", "_alloc")
_RELEASE_NAMES = ("_release", "_drop_impl", "_put", "_destroy")


class RefEffect(enum.StrEnum):
    ACQUIRE = "acquire"
    RELEASE = "release"
    NONE = "none"


def ref_effect(name: str) -> tuple[RefEffect, bool]:
    """What a kfunc does to references, and whether that comes from the kernel's lists (True)
    or only from its name (False)."""
    flags = kfunc_flags()
    if name in flags.acquire:
        return RefEffect.ACQUIRE, True
    if name in flags.release:
        return RefEffect.RELEASE, True
    if name.endswith(_ACQUIRE_NAMES):
        return RefEffect.ACQUIRE, False
    if name.endswith(_RELEASE_NAMES):
        return RefEffect.RELEASE, False
    return RefEffect.NONE, False


def _pointee_struct(spec: Spec, t: Type) -> str | None:
    t = spec.resolve(t)
    if isinstance(t, Ptr):
        target = spec.resolve(t.type)
        if isinstance(target, Struct) and target.name:
            return target.name
    return None


def release_kfunc(spec: Spec, struct_name: str) -> str | None:
    """The kfunc that releases a reference to `struct struct_name` in this kernel: a releasing
    kfunc whose only argument is a pointer to that struct (e.g. bpf_task_release)."""
    for func in spec.kfuncs():
        effect, _ = ref_effect(func.name)
        if effect is not RefEffect.RELEASE or not isinstance(func, Func):
            continue
        params = func.proto.params
        if len(params) == 1 and _pointee_struct(spec, params[0].type) == struct_name:
            return func.name
    return None


# The function that releases what an acquiring helper or kfunc returned, by its name (helpers
# too: ring buffer records, socket lookups), or by the pointee for bpf_kptr_xchg, which hands
# back whatever the map held. No BTF needed: read by verify/causal.py from a log alone.
RELEASE_OF_ACQUIRE = {
    "bpf_task_acquire": "bpf_task_release",
    "bpf_task_from_pid": "bpf_task_release",
    "bpf_task_from_vpid": "bpf_task_release",
    "bpf_task_get_cgroup1": "bpf_cgroup_release",
    "bpf_cgroup_acquire": "bpf_cgroup_release",
    "bpf_cgroup_from_id": "bpf_cgroup_release",
    "bpf_cgroup_ancestor": "bpf_cgroup_release",
    "bpf_cpumask_create": "bpf_cpumask_release",
    "bpf_cpumask_acquire": "bpf_cpumask_release",
    "bpf_obj_new_impl": "bpf_obj_drop",
    "bpf_percpu_obj_new_impl": "bpf_percpu_obj_drop",
    "bpf_refcount_acquire_impl": "bpf_obj_drop",
    "bpf_ringbuf_reserve": "bpf_ringbuf_submit or bpf_ringbuf_discard",
    "bpf_ringbuf_reserve_dynptr": "bpf_ringbuf_submit_dynptr or bpf_ringbuf_discard_dynptr",
    "bpf_sk_lookup_tcp": "bpf_sk_release",
    "bpf_sk_lookup_udp": "bpf_sk_release",
    "bpf_skc_lookup_tcp": "bpf_sk_release",
    "bpf_get_task_exe_file": "bpf_put_file",
    "bpf_xdp_ct_lookup": "bpf_ct_release",
    "bpf_skb_ct_lookup": "bpf_ct_release",
    "bpf_xdp_ct_alloc": "bpf_ct_release",
    "bpf_skb_ct_alloc": "bpf_ct_release",
    "bpf_iter_task_vma_new": "bpf_iter_task_vma_destroy",
}
RELEASE_OF_POINTEE = {
    "task_struct": "bpf_task_release",
    "cgroup": "bpf_cgroup_release",
    "bpf_cpumask": "bpf_cpumask_release",
}
