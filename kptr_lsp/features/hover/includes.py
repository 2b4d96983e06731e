"""Hover on an `#include` line: the file clang really opened for it, and why that one."""

from __future__ import annotations

import os
import re

from ...analysis import Analysis
from ...toolchain import debian, vmlinux
from ...verify.libbpf import status as libbpf_status

_INCLUDE_LINE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]')


def _header_origin(analysis: Analysis, path: str) -> str:
    result = analysis.compile
    vendored = result.vendored_libbpf if result is not None else None
    if vendored is not None:
        roots = {os.path.realpath(vendored.include_dir)}
        roots.add(os.path.realpath(os.path.join(vendored.include_dir, "bpf")))
        if any(path.startswith(r + os.sep) for r in roots):
            return f"The project's vendored libbpf ({vendored.origin}), preferred to the system's."
    current = debian.libbpf_tree()
    if current is not None and path.startswith(str(current.include) + os.sep):
        return (
            f"The current libbpf's headers ({current.origin}, fetched into the cache by "
            "`make setup`), preferred to the system's."
        )
    if path.startswith(str(vmlinux.cache_root()) + os.sep):
        return "Generated from the kernel's BTF: the project has no vmlinux.h of its own."
    if os.path.basename(path) == "vmlinux.h":
        return "The project's own vmlinux.h, preferred to one generated from the kernel's BTF."
    return "Found on the include path."


def include_hover(analysis: Analysis, line: int, character: int) -> str | None:
    """On an `#include` line of the buffer: the file clang really opened for it, and why."""
    lines = analysis.text.splitlines()
    if analysis.compile is None or not 0 < line <= len(lines):
        return None
    m = _INCLUDE_LINE.match(lines[line - 1])
    if m is None:
        return None
    name = m.group(1)
    direct = [h.path for h in analysis.compile.headers if h.depth == 1]
    hit = next((p for p in direct if p.endswith(os.sep + name)), None) or next(
        (p for p in direct if os.path.basename(p) == os.path.basename(name)), None
    )
    if hit is None:
        return None
    text = f"`{name}` → `{hit}`\n\n{_header_origin(analysis, hit)}"
    if name.startswith("bpf/"):
        text += f"\n\nPrograms load through {libbpf_status()[0]}."
    return text
