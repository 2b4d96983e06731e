"""What was read from one compiled object: the one model that checks, placement, the target
kernels' verdicts and the features all take.

Pure data plus views derived from it on first use. It sits below `verify/` and `analysis.py`
so both can take it without importing each other.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from .btf.ext import BTFExt
from .btf.spec import Spec
from .checks.type_tags import Context, build_context
from .elf.decls import Declarations
from .elf.objfile import ObjectFile
from .kernel.facts import KernelFacts


@dataclass(frozen=True)
class ObjectModel:
    """The object compiled from `path`: its bytes, ELF, BTF, line info, declarations, and the
    kernel the type-tag checks judge it by (None without BTF)."""

    path: str  # the main source file (absolute)
    data: bytes
    obj: ObjectFile
    spec: Spec | None
    ext: BTFExt | None
    decls: Declarations
    target: KernelFacts | None = None

    @functools.cached_property
    def checks_context(self) -> Context | None:
        """The object's map values as the target kernel's BTF field parser reads them (the
        type-tag checks' view), built on first use and kept: the checks, their culprits,
        hovers and fixes share it."""
        if self.spec is None or self.target is None:
            return None
        return self.checks_context_for(self.target)

    def checks_context_for(self, target: KernelFacts) -> Context | None:
        """The same view by another kernel's rules (a target kernel in a guest)."""
        if self.spec is None:
            return None
        return build_context(self.obj, self.spec, self.decls, target, self.path)
