"""Shared plumbing for the type-tag checks: compile a tags/ program and check it."""

from __future__ import annotations

from pathlib import Path

import pytest

from kptr_lsp.checks import build_context, run_checks
from kptr_lsp.elf.decls import read_declarations
from kptr_lsp.elf.objfile import ObjectFile
from kptr_lsp.findings import Finding
from kptr_lsp.kernel.facts import KernelFacts, running_kernel
from tests.checks.tagcheck import KERNEL_BTF, CheckFn, CompileFn


@pytest.fixture(scope="session")
def target() -> KernelFacts:
    if not KERNEL_BTF.exists():
        pytest.skip(f"no kernel BTF at {KERNEL_BTF}")
    return running_kernel()


@pytest.fixture(scope="session")
def check(compile_bpf: CompileFn, target: KernelFacts) -> CheckFn:
    cache: dict[Path, bytes] = {}

    def run(path: Path, kernel: KernelFacts | None = None) -> list[Finding]:
        if path not in cache:
            cache[path] = compile_bpf(path)
        data = cache[path]
        obj = ObjectFile.parse(data)
        spec = obj.btf_spec()
        assert spec is not None
        return run_checks(
            build_context(obj, spec, read_declarations(data), kernel or target, str(path))
        )

    return run
