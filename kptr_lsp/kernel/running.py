"""The running kernel: the only place that knows where its BTF lives and how to ask its release.

As cilium/ebpf's btf/kernel.go: every other module takes a BTF path or a release as data.
"""

from __future__ import annotations

import os

BTF_DIR = "/sys/kernel/btf"  # vmlinux and one file per loaded module
VMLINUX_BTF = BTF_DIR + "/vmlinux"


def release() -> str:
    """The running kernel's release, as `uname -r` prints it (e.g. "6.18.44-fc-v595")."""
    return os.uname().release
