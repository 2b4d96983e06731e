"""Toolchain test plumbing: one vmlinux.h cache per session, pointed at by XDG_CACHE_HOME."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An XDG cache home shared by the tests: vmlinux.h is generated (≈1 s) once per session."""
    return tmp_path_factory.mktemp("xdg-cache")


@pytest.fixture
def xdg_cache(shared_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(shared_cache))
    return shared_cache


@pytest.fixture
def fresh_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path_factory.mktemp("fresh-cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache
