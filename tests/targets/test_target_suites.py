"""Target kernels from any Debian suite (`suite/package`, the newer image/binary split) and the
guest loader on the current libbpf: struct_ops and exception callbacks judged by the guest.

Debian's 7.3 kernel comes from trixie-backports through the private apt configuration; its VM
is booted once per session (the same GuestKernel value as every other test that wants 7.3)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from kptr_lsp.settings import GuestKernel, Settings
from kptr_lsp.targets.fetch import FetchError, package_image, split_package
from kptr_lsp.targets.initramfs import build_loader
from kptr_lsp.targets.kernels import ReadyKernel
from kptr_lsp.toolchain import debian

PACKAGE_73 = os.environ.get("KPTR_TEST_KERNEL_73", "trixie-backports/linux-image-7.3.4+deb13-amd64")
PROJECT = Path(__file__).parent.parent / "programs" / "projects" / "current_libbpf"
Compile = Callable[[Path | str], bytes]


def test_suite_package_entries_are_packages_not_paths() -> None:
    settings, problems = Settings.from_mapping(
        {
            "kernels": [
                PACKAGE_73,
                "build/vmlinuz",
                {"package": "bookworm/linux-image-6.1.0-56-amd64"},
            ]
        }
    )
    assert problems == []
    assert settings.kernels == (
        GuestKernel(package=PACKAGE_73),
        GuestKernel(image="build/vmlinuz"),
        GuestKernel(package="bookworm/linux-image-6.1.0-56-amd64"),
    )
    assert split_package(PACKAGE_73) == ("trixie-backports", PACKAGE_73.split("/")[1])
    assert split_package("linux-image-6.1.0-56-amd64") == (None, "linux-image-6.1.0-56-amd64")
    for bad in ("../x/linux-image-1", "trixie/-o", "a/b/linux-image-1"):
        with pytest.raises(FetchError):
            split_package(bad)


def test_a_meta_package_is_followed_to_the_kernel_in_linux_binary(tmp_path: Path) -> None:
    """linux-image-7.3.4+deb13-amd64 holds no kernel: it is in linux-binary-…, under
    usr/lib/modules/<release>/vmlinuz. Fetched into an empty cache, as on a new machine."""
    image = package_image(PACKAGE_73, tmp_path)
    assert image == tmp_path / "trixie-backports" / PACKAGE_73.split("/")[1] / "vmlinuz"
    data = image.read_bytes()
    assert data[0x202:0x206] == b"HdrS"  # a bzImage's setup header
    assert b"7.3.4+deb13-amd64" in data
    assert sorted(p.name for p in image.parent.iterdir()) == ["vmlinuz"]  # no .deb left
    assert package_image(PACKAGE_73, tmp_path) == image  # cached: no apt the second time


def test_a_package_without_a_kernel_says_so(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="has no kernel image"):
        package_image("trixie-backports/linux-base-7.3.4+deb13-amd64", tmp_path)


def test_the_guest_loader_links_the_current_libbpf(tmp_path: Path) -> None:
    tree = debian.libbpf_tree()
    if tree is None or tree.static is None:
        pytest.fail("the current libbpf is not in the cache: run `make setup`")
    loader = tmp_path / "loader"
    build_loader(loader, tree=tree)
    binary = loader.read_bytes()
    # Texts only libbpf >= 1.3 has: exception callbacks and sleepable struct_ops sections.
    assert b"cannot find exception callback" in binary
    assert b"struct_ops.s+" in binary
    system = tmp_path / "system-loader"
    build_loader(system, tree=None)
    assert b"cannot find exception callback" not in system.read_bytes()


@pytest.mark.parametrize(
    ("name", "programs"),
    [
        ("tcp_cc_link.bpf.c", ["half_init", "half_ssthresh", "half_cong_avoid", "half_undo_cwnd"]),
        ("dummy_ops_sleepable.bpf.c", ["test_1", "test_sleepable"]),
        ("exception_cb.bpf.c", ["guard_ingress"]),
        ("scx_fifo.bpf.c", ["fifo_select_cpu", "fifo_enqueue", "fifo_dispatch", "fifo_init"]),
    ],
)
def test_the_73_guest_gives_struct_ops_and_exception_callbacks_the_kernels_verdict(
    debian73_ready: ReadyKernel, compile_bpf: Compile, name: str, programs: list[str]
) -> None:
    """What libbpf 1.1 cannot prepare, 7.3 accepts when the guest loads it through 1.4 — a
    sched_ext scheduler too (the host kernel has no sched_ext: there it is not verifiable)."""
    assert debian73_ready.release.startswith("7.3.")
    result = debian73_ready.vm.verify(compile_bpf(PROJECT / name), log_level=1)
    assert result.open_error is None
    verdicts = {p.name: (p.accepted, p.log[-300:]) for p in result.programs}
    assert {n: v[0] for n, v in verdicts.items()} == dict.fromkeys(programs, True), verdicts


def test_the_61_guest_judges_struct_ops_in_the_pre_link_form(
    debian61_ready: ReadyKernel, compile_bpf: Compile
) -> None:
    result = debian61_ready.vm.verify(compile_bpf(PROJECT / "tcp_cc_legacy.bpf.c"), log_level=1)
    assert [(p.name, p.accepted) for p in result.programs] == [
        ("legacy_half_init", True),
        ("legacy_half_ssthresh", True),
        ("legacy_half_cong_avoid", True),
        ("legacy_half_undo_cwnd", True),
    ]
