"""Which kfuncs take a reference and which give one back, and how to release what was taken.

The kernel records this as KF_ACQUIRE / KF_RELEASE flags in its BTF_ID_FLAGS sets (the
`.BTF_ids` data of vmlinux), which user space cannot read: kernel BTF has the prototypes and a
`bpf_kfunc` decl tag, never the flags. So we keep the kernel's own lists (as of 6.18, from
kernel/bpf/helpers.c, cpumask.c, crypto.c, net/netfilter/nf_conntrack_bpf.c, fs/bpf_fs_kfuncs.c,
kernel/trace/bpf_trace.c) and fall back on naming conventions, and say which one answered.
"""

from __future__ import annotations

import enum

from ..btf.spec import Spec
from ..btf.types import Func, Ptr, Struct, Type

# KF_ACQUIRE in the kernel's BTF_ID_FLAGS sets.
KNOWN_ACQUIRE = frozenset(
    {
        "bpf_obj_new_impl",
        "bpf_percpu_obj_new_impl",
        "bpf_refcount_acquire_impl",
        "bpf_list_pop_front",
        "bpf_list_pop_back",
        "bpf_rbtree_remove",
        "bpf_task_acquire",
        "bpf_task_from_pid",
        "bpf_task_from_vpid",
        "bpf_task_get_cgroup1",
        "bpf_cgroup_acquire",
        "bpf_cgroup_ancestor",
        "bpf_cgroup_from_id",
        "bpf_cpumask_create",
        "bpf_cpumask_acquire",
        "bpf_crypto_ctx_create",
        "bpf_crypto_ctx_acquire",
        "bpf_get_task_exe_file",
        "bpf_lookup_user_key",
        "bpf_lookup_system_key",
        "bpf_xdp_ct_alloc",
        "bpf_xdp_ct_lookup",
        "bpf_skb_ct_alloc",
        "bpf_skb_ct_lookup",
        "bpf_ct_insert_entry",
    }
)
# KF_RELEASE in the kernel's BTF_ID_FLAGS sets.
KNOWN_RELEASE = frozenset(
    {
        "bpf_obj_drop_impl",
        "bpf_percpu_obj_drop_impl",
        "bpf_list_push_front_impl",
        "bpf_list_push_back_impl",
        "bpf_rbtree_add_impl",
        "bpf_task_release",
        "bpf_cgroup_release",
        "bpf_cpumask_release",
        "bpf_crypto_ctx_release",
        "bpf_put_file",
        "bpf_key_put",
        "bpf_ct_release",
    }
)
_ACQUIRE_NAMES = ("_acquire", "_create", "_new_impl", "_alloc")
_RELEASE_NAMES = ("_release", "_drop_impl", "_put", "_destroy")


class RefEffect(enum.StrEnum):
    ACQUIRE = "acquire"
    RELEASE = "release"
    NONE = "none"


def ref_effect(name: str) -> tuple[RefEffect, bool]:
    """What a kfunc does to references, and whether that comes from the kernel's lists (True)
    or only from its name (False)."""
    if name in KNOWN_ACQUIRE:
        return RefEffect.ACQUIRE, True
    if name in KNOWN_RELEASE:
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
