"""Finding clang: the newest usable one, its include dirs, and advice when it is missing."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from kptr_lsp.toolchain import ToolchainError, find_clang, find_libbpf_headers
from kptr_lsp.toolchain.clang import target_arch


def test_discovered_clang_targets_bpf_and_is_recent() -> None:
    clang = find_clang()
    assert os.access(clang.path, os.X_OK)
    assert clang.version[0] >= 14
    # Debian keeps asm/types.h under the multiarch dir: it must be on our search list.
    assert any(os.path.isfile(os.path.join(d, "asm", "types.h")) for d in clang.system_includes)
    assert clang.target_arch == "x86" or os.uname().machine != "x86_64"


def test_discovery_picks_the_newest_installed_clang() -> None:
    newest = max(
        int(p.name.removeprefix("llvm-"))
        for p in Path("/usr/lib").glob("llvm-*")
        if (p / "bin" / "clang").exists()
    )
    assert find_clang().version[0] >= newest


def test_explicit_clang_by_command_name() -> None:
    clang = find_clang("clang-19")
    assert clang.version[0] == 19


def test_missing_clang_path_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(ToolchainError, match=r"apt-get install clang llvm libbpf-dev"):
        find_clang(str(tmp_path / "no-such-clang"))


def test_a_binary_that_is_not_clang_is_refused() -> None:
    with pytest.raises(ToolchainError, match="does not look like clang"):
        find_clang("/bin/true")


def test_arch_define_follows_the_machine() -> None:
    assert target_arch("x86_64") == "x86"
    assert target_arch("aarch64") == "arm64"
    assert target_arch("s390x") == "s390"
    assert target_arch("riscv64") == "riscv"


def test_libbpf_headers_found_on_the_system_path() -> None:
    d = find_libbpf_headers(find_clang())
    assert os.path.isfile(os.path.join(d, "bpf", "bpf_helpers.h"))


def test_missing_libbpf_headers_say_what_to_install(tmp_path: Path) -> None:
    bare = dataclasses.replace(find_clang(), system_includes=())
    with pytest.raises(ToolchainError, match="libbpf-dev"):
        find_libbpf_headers(bare, [str(tmp_path)])
