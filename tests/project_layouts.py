"""Project layouts real BPF tools use, built in a temporary workspace for tests.

A vendored libbpf is the system's headers copied and given what Debian's libbpf 1.1 lacks
(`BPF_UPROBE`/`BPF_URETPROBE`, added to bpf_tracing.h in libbpf 1.2), so a program using it
compiles only when the vendored copy is the one clang reads.
"""

from __future__ import annotations

import shutil
from pathlib import Path

SYSTEM_LIBBPF = Path("/usr/include/bpf")
HEADERS = ("bpf_helpers.h", "bpf_helper_defs.h", "bpf_tracing.h", "bpf_core_read.h")
NEWER_MACROS = """
/* From libbpf 1.2: not in the system's 1.1. */
#define BPF_UPROBE(name, args...) BPF_KPROBE(name, ##args)
#define BPF_URETPROBE(name, args...) BPF_KRETPROBE(name, ##args)
"""

# Compiles only against the vendored headers.
UPROBE_PROGRAM = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("uprobe")
int BPF_UPROBE(on_malloc, size_t size)
{
\tbpf_printk("malloc(%lu)", size);
\treturn 0;
}

char LICENSE[] SEC("license") = "GPL";
"""


def copy_libbpf_headers(dest: Path) -> Path:
    """The system's libbpf headers in `dest`, with the newer macros added."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in HEADERS:
        shutil.copy(SYSTEM_LIBBPF / name, dest / name)
    tracing = dest / "bpf_tracing.h"
    text = tracing.read_text()
    guard_end = text.rindex("#endif")
    tracing.write_text(text[:guard_end] + NEWER_MACROS + text[guard_end:])
    return dest


def libbpf_source_tree(root: Path) -> Path:
    """libbpf as a git submodule: root/libbpf/src/bpf_helpers.h (libbpf-bootstrap)."""
    return copy_libbpf_headers(root / "libbpf" / "src")


def installed_headers(root: Path) -> Path:
    """Headers installed into a build output dir: root/.output/bpf/ (bcc's libbpf-tools)."""
    return copy_libbpf_headers(root / ".output" / "bpf")


def per_arch_vmlinux(root: Path, generated: Path, arch: str = "x86") -> Path:
    """root/<arch>/vmlinux.h, marked so a program can tell it was the one included."""
    dest = root / arch / "vmlinux.h"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(
        "#define PROJECT_VMLINUX_H 1\n" + (generated / "vmlinux.h").read_text(errors="replace")
    )
    return dest
