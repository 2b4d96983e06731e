"""The `kernels` setting: one entry per target, as an editor's JSON config writes it."""

from __future__ import annotations

from kptr_lsp.settings import GuestKernel, Settings


def test_packages_images_and_named_targets_are_read() -> None:
    settings, problems = Settings.from_mapping(
        {
            "kernels": [
                "linux-image-6.1.0-56-amd64",
                "/srv/bzImage-5.15",
                {"name": "prod", "package": "linux-image-6.12.0-1-amd64"},
            ]
        }
    )
    assert problems == []
    assert settings.kernels == (
        GuestKernel(package="linux-image-6.1.0-56-amd64"),
        GuestKernel(image="/srv/bzImage-5.15"),
        GuestKernel(name="prod", package="linux-image-6.12.0-1-amd64"),
    )


def test_a_broken_entry_is_reported_not_fatal() -> None:
    settings, problems = Settings.from_mapping(
        {"kernels": [{"image": "/a", "package": "b"}], "jobs": 3}
    )
    assert settings.kernels == () and settings.jobs == 3
    assert problems == [
        "setting 'kernels': a target kernel needs exactly one of 'image' and 'package'"
    ]


def test_no_targets_by_default() -> None:
    assert Settings().kernels == ()
