"""The guest loader in Debian's 6.1 kernel: boot, BTF, per-program loads, shutdown."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from kptr_lsp.btf.types import Func
from kptr_lsp.kernel.facts import running_kernel
from kptr_lsp.kernel.running import VMLINUX_BTF
from kptr_lsp.targets.kernels import ReadyKernel, label_of
from kptr_lsp.targets.vm import TargetVM
from kptr_lsp.verify.loader import Failure
from tests.targets.conftest import qemu_processes

PROGRAMS = Path(__file__).parent.parent / "programs"


def test_the_guest_runs_the_target_kernel(debian61_ready: ReadyKernel) -> None:
    assert debian61_ready.release.startswith("6.1.0-")
    assert debian61_ready.label == label_of(debian61_ready.release)
    assert not debian61_ready.label.endswith("-amd64")


def test_type_tag_checks_use_the_guests_btf(debian61_ready: ReadyKernel) -> None:
    checks = debian61_ready.checks
    assert checks.version == (6, 1)
    assert checks.btf_path != VMLINUX_BTF
    # 6.1 has the bpf_kptr_xchg helper's kernel function but not the task kfuncs of 6.2.
    assert checks.spec.find("bpf_kptr_xchg", Func) is not None
    assert checks.spec.find("bpf_task_acquire", Func) is None
    assert running_kernel().spec.find("bpf_task_acquire", Func) is not None


def test_each_program_is_judged_by_the_guest_kernel(
    debian61_ready: ReadyKernel, compile_bpf: Callable[[Path | str], bytes]
) -> None:
    obj = compile_bpf(PROGRAMS / "clean" / "kptr_ok.bpf.c")
    result = debian61_ready.vm.verify(obj, log_level=1)
    assert [p.name for p in result.programs] == ["stash_child", "drop_child"]
    for program in result.programs:
        assert not program.accepted
        assert program.failure is Failure.RELOCATION
        text = "".join(m.text for m in program.libbpf_messages)
        assert "not found in kernel or module BTFs" in text
        assert program.insns  # instructions came back for placement


def test_a_program_both_kernels_accept_is_accepted_in_the_guest(
    debian61_ready: ReadyKernel, compile_bpf: Callable[[Path | str], bytes]
) -> None:
    source = (
        '#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n'
        'SEC("xdp") int pass(struct xdp_md *ctx) { return XDP_PASS; }\n'
        'char LICENSE[] SEC("license") = "GPL";\n'
    )
    result = debian61_ready.vm.verify(compile_bpf(source), log_level=5)
    (program,) = result.programs
    assert program.accepted, program.log
    assert "processed" in program.log and "verification time" in program.log


def test_a_vm_shut_down_leaves_no_qemu(debian61_ready: ReadyKernel) -> None:
    warm = set(qemu_processes(os.getpid()))  # the session's VMs (6.1, and others' tests')
    vm = TargetVM(debian61_ready.vm.image, debian61_ready.vm.initrd)
    try:
        booted = vm.start()
        assert booted.release == debian61_ready.release
        assert len(set(qemu_processes(os.getpid())) - warm) == 1  # this one
    finally:
        vm.shutdown()
    assert set(qemu_processes(os.getpid())) == warm
