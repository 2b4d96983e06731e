"""`guestVerify: auto` against the real Debian archive: the package it picks for this host's
release (the same major.minor when the archive has one, the newest of them; else the nearest
newer LTS), fetched (once: kept in ~/.cache/kptr-lsp/kernels across runs) and booted, its
release the one the package promised. The choice is made with an empty cache directory, so
kernels fetched before (6.1, 7.3) cannot stand in for the archive's answer."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from kptr_lsp.kernel.running import release as running_release
from kptr_lsp.targets.fetch import CACHE_DIR, FetchError, package_image
from kptr_lsp.targets.guest import LTS, archive_packages, kernel_version, resolve
from kptr_lsp.targets.initramfs import initramfs
from kptr_lsp.targets.kernels import label_of
from kptr_lsp.targets.vm import TargetVM
from tests.targets.conftest import _unavailable

NULL_DEREF = Path(__file__).parent.parent / "programs" / "rejected" / "map_value_null_deref.bpf.c"


def test_auto_picks_the_archives_kernel_closest_to_this_host_and_boots_it(
    compile_bpf: Callable[[Path | str], bytes], tmp_path: Path
) -> None:
    listed = archive_packages()
    if not listed:
        _unavailable("the Debian archive lists no kernel packages (no network?)")
    host = tuple(int(x) for x in running_release().split(".")[:2])
    kernel = resolve("auto", listing=lambda: listed, cache_dir=tmp_path)
    assert kernel is not None and kernel.package is not None
    pick = kernel.package
    version = kernel_version(pick)
    assert version is not None
    same = [v for p in listed if (v := kernel_version(p)) is not None and v[:2] == host]
    if same:  # the same major.minor, the newest the archive has
        assert version[:2] == host and version == max(same), (pick, sorted(same))
    else:  # the nearest newer LTS
        newer_lts = sorted(
            {v[:2] for p in listed if (v := kernel_version(p)) and v[:2] > host and v[:2] in LTS}
        )
        assert newer_lts and version[:2] == newer_lts[0], (pick, newer_lts)
    print(f"\nhost {running_release()}: auto picks {pick}")

    try:
        image = package_image(pick)  # ~100 MB download the first time, then the cache's
    except FetchError as exc:
        pytest.fail(f"the archive listed {pick} but it could not be fetched: {exc}")
    assert image.is_relative_to(CACHE_DIR) and image.stat().st_size > 1 << 20
    vm = TargetVM(image, initramfs(CACHE_DIR))
    try:
        booted = vm.start()
        # The package's own version is the guest's release: 6.18.15+deb13-amd64 for
        # linux-image-6.18.15+deb13-amd64 (the ABI number, when there is one, follows).
        major, minor, patch, _ = version
        assert booted.release.startswith(f"{major}.{minor}.{patch}"), booted.release
        assert label_of(booted.release) != running_release()
        (program,) = vm.verify(compile_bpf(NULL_DEREF)).programs
        assert not program.accepted
        assert "R0 invalid mem access 'map_value_or_null'" in program.log
    finally:
        vm.shutdown()
    assert os.path.exists(image)  # kept for the next run
