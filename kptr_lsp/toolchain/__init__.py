"""Toolchain: find clang, compile the editor buffer for BPF, generate vmlinux.h.

The only package that runs clang (and bpftool, as a vmlinux.h fallback).
"""

from __future__ import annotations

from kptr_lsp.toolchain.clang import Clang, ToolchainError, find_clang, find_libbpf_headers
from kptr_lsp.toolchain.compile import CompileOptions, CompileResult, compile_buffer
from kptr_lsp.toolchain.diagnostics import parse_clang_stderr
from kptr_lsp.toolchain.vmlinux import ensure_vmlinux_h

__all__ = [
    "Clang",
    "CompileOptions",
    "CompileResult",
    "ToolchainError",
    "compile_buffer",
    "ensure_vmlinux_h",
    "find_clang",
    "find_libbpf_headers",
    "parse_clang_stderr",
]
