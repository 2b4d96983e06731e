"""The running kernel's BTF: big, lazily inflated, and the source of kfunc knowledge."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kptr_lsp.btf import BTFError, Spec, size_of
from kptr_lsp.btf.types import Func, Int, Struct, Typedef
from kptr_lsp.kernel.running import BTF_DIR, VMLINUX_BTF

VMLINUX = VMLINUX_BTF

pytestmark = pytest.mark.skipif(not os.path.exists(VMLINUX), reason="no kernel BTF")


@pytest.fixture(scope="module")
def kernel_spec() -> Spec:
    spec = Spec.load_kernel(VMLINUX)
    print(f"\nkernel BTF: {len(spec)} types parsed in {spec.parse_seconds * 1000:.1f} ms")
    return spec


def test_task_struct_has_pid(kernel_spec: Spec) -> None:
    task = kernel_spec.find("task_struct", Struct)
    assert isinstance(task, Struct)
    pid = task.member("pid")
    assert pid is not None
    assert isinstance(pid.type, Typedef) and pid.type.name == "pid_t"
    resolved = kernel_spec.resolve(pid.type)
    assert isinstance(resolved, Int) and resolved.encoding & 1 and size_of(pid.type) == 4
    assert pid.offset_bits % 8 == 0 and size_of(task) == task.size > pid.offset_bits // 8


def test_kfuncs_include_task_acquire(kernel_spec: Spec) -> None:
    kfuncs = kernel_spec.kfuncs()
    by_name = {f.name: f for f in kfuncs}
    assert "bpf_task_acquire" in by_name
    acquire = by_name["bpf_task_acquire"]
    assert isinstance(acquire, Func)
    ret = kernel_spec.resolve(acquire.proto.return_type)
    assert ret.name == "" and ret.kind.name == "PTR"  # returns struct task_struct *
    assert [t.value for t in kernel_spec.decl_tags(acquire)].count("bpf_kfunc") == 1
    # Plain kernel functions are not kfuncs.
    assert "schedule" not in by_name
    print(f"kernel kfuncs: {len(kfuncs)}")


def test_module_btf_splits_from_vmlinux(kernel_spec: Spec) -> None:
    modules = sorted(p for p in Path(BTF_DIR).iterdir() if p.name != "vmlinux")
    if not modules:
        pytest.skip("no module BTF on this kernel")
    module = Spec.load_kernel(str(modules[0]), base=kernel_spec)
    assert len(module) > len(kernel_spec)
    first_own = module.type_by_id(len(kernel_spec))
    # Base ids still resolve to the very same objects through the module spec.
    assert module.type_by_id(1) is kernel_spec.type_by_id(1)
    assert first_own.id == len(kernel_spec)


def test_missing_file_is_a_btf_error(tmp_path: Path) -> None:
    with pytest.raises(BTFError, match="No such file"):
        Spec.load_kernel(str(tmp_path / "nope"))
