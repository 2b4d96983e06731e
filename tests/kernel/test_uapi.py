"""The uapi enums written down in kptr_lsp/kernel/uapi.py agree with the running kernel's BTF."""

from __future__ import annotations

from pathlib import Path

import pytest

from kptr_lsp.btf.spec import Spec
from kptr_lsp.btf.types import Enum
from kptr_lsp.kernel.running import VMLINUX_BTF
from kptr_lsp.kernel.uapi import MapType, map_type_label


def test_map_types_match_the_running_kernel() -> None:
    if not Path(VMLINUX_BTF).exists():
        pytest.skip(f"no kernel BTF at {VMLINUX_BTF}")
    enum = Spec.load_kernel(VMLINUX_BTF).find("bpf_map_type", Enum)
    assert isinstance(enum, Enum)
    kernel = {
        v.value: v.name.removeprefix("BPF_MAP_TYPE_")
        for v in enum.values
        if not v.name.startswith("__") and not v.name.endswith("_DEPRECATED")
    }
    ours = {t.value: t.name for t in MapType}
    # Every value we name is the kernel's, under the kernel's name ...
    assert {v: kernel.get(v) for v in ours} == ours
    # ... and this kernel has no map type in our range that we lack.
    assert [v for v in kernel if v <= max(ours) and v not in ours] == []
    newer = sorted(kernel[v] for v in kernel if v > max(ours))
    print(f"map types newer than uapi.py: {newer or 'none'}")


def test_labels_read_as_in_messages() -> None:
    assert MapType.PERCPU_ARRAY.label == "percpu_array"
    assert map_type_label(27) == "ringbuf"
    assert map_type_label(999) == "type 999"
