"""kptr_lsp/data/kfunc_flags.toml against the running kernel: each listed kfunc this kernel has
is a kfunc in its BTF, and for acquire/release pairs a tracing program can call, the verifier
treats them as the file says (what was acquired must be released; releasing it is accepted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kptr_lsp.btf.spec import Spec
from kptr_lsp.kernel import kfuncs as kfunc_facts
from kptr_lsp.kernel.facts import parse_release, running_kernel
from kptr_lsp.kernel.kfuncs import RefEffect, kfunc_flags, ref_effect
from kptr_lsp.kernel.running import VMLINUX_BTF, release
from kptr_lsp.verify.loader import Failure, verify_object
from tests.checks.tagcheck import CompileFn

COMMON = Path(__file__).parents[1] / "programs" / "kptr_common.h"
# (type, acquire call, release kfunc): callable from tp_btf, no trusted argument needed.
PAIRS = [
    ("struct task_struct", "bpf_task_from_pid(1)", "bpf_task_release"),
    ("struct cgroup", "bpf_cgroup_from_id(1)", "bpf_cgroup_release"),
    ("struct bpf_cpumask", "bpf_cpumask_create()", "bpf_cpumask_release"),
]


def _program(ctype: str, acquire: str, release_call: str | None) -> str:
    body = f"\tif (x)\n\t\t{release_call}(x);\n" if release_call else ""
    return (
        f'#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n#include <bpf/bpf_tracing.h>\n'
        f'#include "{COMMON}"\n'
        "extern struct cgroup *bpf_cgroup_from_id(u64 cgid) __ksym;  /* not in kptr_common.h */\n\n"
        'SEC("tp_btf/task_newtask")\n'
        "int BPF_PROG(p, struct task_struct *task, u64 clone_flags)\n{\n"
        f"\t{ctype} *x = {acquire};\n\n{body}\treturn 0;\n}}\n\n"
        'char LICENSE[] SEC("license") = "GPL";\n'
    )


def test_the_file_says_which_kernel_it_was_taken_from() -> None:
    flags = kfunc_flags()
    assert parse_release(flags.kernel) <= parse_release(release()), (
        f"kfunc_flags.toml is from {flags.kernel}, newer than this kernel"
    )
    assert flags.acquire and flags.release and not flags.acquire & flags.release


def test_listed_kfuncs_are_kfuncs_of_this_kernel() -> None:
    if not Path(VMLINUX_BTF).exists():
        pytest.skip(f"no kernel BTF at {VMLINUX_BTF}")
    kfuncs = {f.name for f in Spec.load_kernel(VMLINUX_BTF).kfuncs()}
    flags = kfunc_flags()
    # Module kfuncs (conntrack) may be absent while their module is not loaded; the core ones
    # of the pairs below must be there.
    for _, acquire, release_kfunc in PAIRS:
        assert acquire.split("(")[0] in kfuncs & flags.acquire
        assert release_kfunc in kfuncs & flags.release
    print(f"listed but not in vmlinux BTF: {sorted((flags.acquire | flags.release) - kfuncs)}")


@pytest.mark.parametrize(("ctype", "acquire", "release_kfunc"), PAIRS, ids=[p[2] for p in PAIRS])
def test_verifier_treats_the_pair_as_listed(
    compile_bpf: CompileFn, kernel: None, ctype: str, acquire: str, release_kfunc: str
) -> None:
    assert ref_effect(acquire.split("(")[0]) == (RefEffect.ACQUIRE, True)
    assert ref_effect(release_kfunc) == (RefEffect.RELEASE, True)
    (leak,) = verify_object(compile_bpf(_program(ctype, acquire, None))).programs
    assert leak.failure is Failure.VERIFIER and "Unreleased reference" in leak.log, leak.log
    (fixed,) = verify_object(compile_bpf(_program(ctype, acquire, release_kfunc))).programs
    assert fixed.accepted, fixed.log


def test_the_dtor_and_the_release_kfunc_are_one_answer() -> None:
    """The kptr destructor the checks name (from the kernel's `_dtor` wrappers) and the
    release kfunc hovers and fixes suggest come from one lookup: they agree."""
    if not Path(VMLINUX_BTF).exists():
        pytest.skip(f"no kernel BTF at {VMLINUX_BTF}")
    facts = running_kernel()
    for ctype, _, release_call in PAIRS:
        struct = ctype.removeprefix("struct ")
        assert kfunc_facts.release_kfunc(facts.spec, struct) == release_call
        assert facts.dtor_for(struct) == release_call
    assert facts.dtor_for("file") is None  # no destructor: kptr-no-dtor
