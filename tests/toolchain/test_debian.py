"""Debian packages from any suite through a private apt configuration (toolchain/debian.py),
against the real Debian archive: the system's apt configuration and state are never touched."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

import pytest

from kptr_lsp.toolchain import debian

# What apt keeps for the system: sources, lists, dpkg status. None may change.
SYSTEM_APT = (Path("/etc/apt"), Path("/var/lib/apt/lists"), Path("/var/lib/dpkg/status"))


def _snapshot() -> dict[str, tuple[int, int]]:
    seen: dict[str, tuple[int, int]] = {}
    for top in SYSTEM_APT:
        paths = [top] if top.is_file() else [p for p in top.rglob("*") if p.is_file()]
        for p in paths:
            try:
                st = p.stat()
            except OSError:
                continue
            seen[str(p)] = (st.st_size, st.st_mtime_ns)
    return seen


def test_mirror_is_read_from_deb822_and_one_line_sources(tmp_path: Path) -> None:
    (tmp_path / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\n# a comment\nURIs: http://mirror.example/debian/\nSuites: bookworm\n"
    )
    assert debian.mirror((str(tmp_path),)) == "http://mirror.example/debian"
    one = tmp_path / "sources.list"
    one.write_text(
        "# deb http://old/debian x main\ndeb [arch=amd64] http://other/debian bookworm main\n"
    )
    assert debian.mirror((str(one),)) == "http://other/debian"
    assert debian.mirror((str(tmp_path / "missing"),)) == debian.DEFAULT_MIRROR


def test_names_that_are_not_suites_or_packages_are_refused() -> None:
    for bad in ("../etc", "-o", "Bookworm", ""):
        with pytest.raises(debian.DebianError):
            debian.check_suite(bad)
    for bad in ("-oDir::Etc=/", "a/b", "x y"):
        with pytest.raises(debian.DebianError):
            debian.check_package(bad)


def test_depends_takes_the_first_alternative_without_versions() -> None:
    fields = {
        "Depends": "dracut | initramfs-tools (>= 0.120), linux-binary-7.3.4+deb13-amd64 (= 7.3)"
    }
    assert debian.depends(fields) == ["dracut", "linux-binary-7.3.4+deb13-amd64"]


@pytest.fixture(scope="module")
def fetched(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[debian.LibbpfTree, dict[str, tuple[int, int]], Path]:
    """libbpf1 + libbpf-dev fetched from bookworm-backports into a fresh cache, as `make setup`
    does on a new machine."""
    before = _snapshot()
    cache = tmp_path_factory.mktemp("fresh-cache")
    tree = debian.fetch_libbpf(cache)
    return tree, before, cache


def test_fetch_into_a_fresh_cache_gives_a_current_libbpf(
    fetched: tuple[debian.LibbpfTree, dict[str, tuple[int, int]], Path],
) -> None:
    tree, _, cache = fetched
    assert tree.root == debian.libbpf_dir(cache)
    assert tuple(int(x) for x in tree.version.split(".")[:2]) >= (1, 4)
    assert (tree.include / "bpf" / "bpf_tracing.h").read_text().count("BPF_KSYSCALL") > 0
    assert tree.static is not None and tree.static.stat().st_size > 0
    lib = ctypes.CDLL(str(tree.shared))
    lib.libbpf_version_string.restype = ctypes.c_char_p
    assert lib.libbpf_version_string().decode() == "v" + ".".join(tree.version.split(".")[:2])
    # Fetched once: the second call finds the tree without apt.
    assert debian.libbpf_tree(cache) == tree
    # Nothing left from the download but the unpacked tree and the private apt state.
    assert sorted(p.name for p in debian.libbpf_dir(cache).parent.iterdir()) == [tree.root.name]
    assert not list((cache / "apt" / debian.LIBBPF_SUITE / "archives").glob("*.deb"))


def test_the_systems_apt_is_never_touched(
    fetched: tuple[debian.LibbpfTree, dict[str, tuple[int, int]], Path],
) -> None:
    _, before, cache = fetched
    assert _snapshot() == before
    apt = debian.Apt.for_suite(debian.LIBBPF_SUITE, cache)
    assert (apt.root / "etc" / "sources.list").read_text().split()[-2:] == [
        debian.LIBBPF_SUITE,
        "main",
    ]
    assert any((apt.root / "lists").glob("*bookworm-backports*Packages*"))


def test_an_unknown_package_is_a_clear_error(
    fetched: tuple[debian.LibbpfTree, dict[str, tuple[int, int]], Path], tmp_path: Path
) -> None:
    _, _, cache = fetched
    apt = debian.Apt.for_suite(debian.LIBBPF_SUITE, cache)
    with pytest.raises(debian.DebianError, match="no-such-package-kptr"):
        apt.download("no-such-package-kptr", tmp_path)
    assert not list(tmp_path.iterdir())
    assert os.listdir(apt.root / "archives" / "partial") == []
