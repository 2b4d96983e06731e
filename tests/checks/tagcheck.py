"""Names shared by the type-tag check tests (fixtures live in conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kptr_lsp.findings import Finding
from kptr_lsp.kernel.facts import KernelFacts
from kptr_lsp.kernel.running import VMLINUX_BTF

TAGS = Path(__file__).parent.parent / "programs" / "tags"
KERNEL_BTF = Path(VMLINUX_BTF)
CompileFn = Callable[[str | Path], bytes]
CheckFn = Callable[[Path, KernelFacts | None], list[Finding]]
