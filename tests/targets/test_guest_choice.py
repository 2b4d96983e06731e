"""Which kernel `guestVerify: auto` verifies in: a pure function of the host's release and a
listing of the archive's packages (fake listings here: no network, nothing downloaded)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kptr_lsp.settings import GuestKernel, Settings
from kptr_lsp.targets.guest import choose, kernel_version, resolve

# What Debian's archive lists, in the forms it uses (meta packages, flavours, debug symbols).
ARCHIVE = [
    "linux-image-amd64",  # a meta package: no version
    "linux-image-6.1.0-56-amd64",
    "linux-image-6.1.0-57-amd64",
    "linux-image-6.1.0-57-cloud-amd64",
    "linux-image-6.1.0-57-rt-amd64",
    "linux-image-6.1.0-57-amd64-dbg",
    "linux-image-6.1.0-57-amd64-unsigned",
    "bookworm-backports/linux-image-6.12.38+deb12-amd64",
    "trixie/linux-image-6.12.48+deb13-amd64",
    "trixie-backports/linux-image-7.3.4+deb13-amd64",
    "trixie-backports/linux-image-6.16.12+deb13-amd64",
    "trixie-backports/linux-image-6.16.3+deb13-amd64",
]


def test_versions_of_package_names() -> None:
    assert kernel_version("linux-image-6.1.0-57-amd64") == (6, 1, 0, 57)
    assert kernel_version("trixie-backports/linux-image-7.3.4+deb13-amd64") == (7, 3, 4, 0)
    others = [
        "linux-image-amd64",
        "linux-image-6.1.0-57-rt-amd64",
        "linux-image-6.1.0-57-cloud-amd64",
        "linux-image-6.1.0-57-amd64-dbg",
        "linux-image-6.1.0-57-amd64-unsigned",
        "linux-headers-6.1.0-57-amd64",
    ]
    for other in others:
        assert kernel_version(other) is None, other


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        # the same major.minor: its newest package
        ("6.1.0-57-amd64", "linux-image-6.1.0-57-amd64"),
        ("6.12.30", "trixie/linux-image-6.12.48+deb13-amd64"),
        ("6.16.1", "trixie-backports/linux-image-6.16.12+deb13-amd64"),
        # none of its series: the nearest newer LTS (6.12), past nearer non-LTS ones (none
        # listed between) and older ones (6.1)
        ("6.2.0", "trixie/linux-image-6.12.48+deb13-amd64"),
        # no newer LTS listed (6.18 is not): the nearest newer release
        ("6.13.2", "trixie-backports/linux-image-6.16.12+deb13-amd64"),
        # this machine (6.18): no newer LTS in the archive, so the nearest newer release
        ("6.18.44-fc-v1045", "trixie-backports/linux-image-7.3.4+deb13-amd64"),
        # newer than everything: the nearest older release
        ("7.5.0", "trixie-backports/linux-image-7.3.4+deb13-amd64"),
    ],
)
def test_auto_policy(host: str, expected: str) -> None:
    assert choose(host, ARCHIVE) == expected


def test_a_cached_package_of_the_series_wins_over_a_newer_download() -> None:
    cached = ["linux-image-6.1.0-56-amd64"]
    assert choose("6.1.0-57-amd64", ARCHIVE, cached) == "linux-image-6.1.0-56-amd64"
    # ...but not over the host's own series
    assert choose("6.12.1", ARCHIVE, cached) == "trixie/linux-image-6.12.48+deb13-amd64"


def test_nothing_fits() -> None:
    assert choose("6.18.0", ["linux-image-amd64"]) is None
    assert choose("not a release", ARCHIVE) is None


def _cache_with(root: Path, *packages: str) -> Path:
    for package in packages:
        (root / package).mkdir(parents=True)
        (root / package / "vmlinuz").write_bytes(b"")
    return root


def test_resolve_takes_the_cached_series_without_asking_the_archive(tmp_path: Path) -> None:
    cache = _cache_with(
        tmp_path, "linux-image-6.1.0-57-amd64", "trixie-backports/linux-image-7.3.4+deb13-amd64"
    )

    def listing() -> list[str]:
        raise AssertionError("the archive was asked although the cache had the series")

    found = resolve("auto", "6.1.0-40-amd64", listing, cache)
    assert found == GuestKernel(package="linux-image-6.1.0-57-amd64")


def test_resolve_asks_the_archive_when_the_cache_lacks_the_series(tmp_path: Path) -> None:
    cache = _cache_with(tmp_path, "linux-image-6.1.0-57-amd64")
    asked: list[bool] = []

    def listing() -> list[str]:
        asked.append(True)
        return ARCHIVE

    found = resolve("auto", "6.18.44", listing, cache)
    assert asked and found == GuestKernel(package="trixie-backports/linux-image-7.3.4+deb13-amd64")


def test_off_and_an_explicit_kernel(tmp_path: Path) -> None:
    assert resolve("off", "6.18.0", lambda: ARCHIVE, tmp_path) is None
    mine = GuestKernel(image="/srv/bzImage")
    assert resolve(mine, "6.18.0", lambda: ARCHIVE, tmp_path) is mine


def test_the_setting() -> None:
    assert Settings.from_mapping({"guestVerify": "off"})[0].guest_verify == "off"
    assert Settings.from_mapping({"guestVerify": False})[0].guest_verify == "off"
    assert Settings.from_mapping({"guestVerify": "auto"})[0].guest_verify == "auto"
    entry = Settings.from_mapping({"guestVerify": "linux-image-6.1.0-56-amd64"})[0].guest_verify
    assert entry == GuestKernel(package="linux-image-6.1.0-56-amd64")
    settings, problems = Settings.from_mapping({"guestVerify": 3})
    assert problems and settings.guest_verify == Settings().guest_verify
