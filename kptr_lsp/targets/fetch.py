"""Kernel images for target kernels: a path as given, or a Debian package fetched once.

A package is `linux-image-6.1.0-56-amd64` (resolved through the host's apt sources) or
`<suite>/<package>`, e.g. `trixie-backports/linux-image-7.3.4+deb13-amd64`, fetched from that
suite of the Debian archive through a private apt configuration (toolchain/debian.py: the
system's apt sources are never touched). `apt-get download` needs no root and installs nothing.

Debian's newer kernels split the image package: `linux-image-<release>` is a meta package and
the kernel itself is in `linux-binary-<release>` under usr/lib/modules/<release>/vmlinuz (older
ones ship /boot/vmlinuz-<release>). A package without a kernel is followed through its
Depends to the one that has it. The kernel is cached as
~/.cache/kptr-lsp/kernels/[<suite>/]<package>/vmlinuz.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tarfile
import tempfile
from pathlib import Path

from kptr_lsp.toolchain.debian import (
    Apt,
    DebianError,
    cache_home,
    check_package,
    check_suite,
    depends,
)
from kptr_lsp.toolchain.which import which

CACHE_DIR = cache_home() / "kernels"
# Depends of a kernel meta package that may hold the kernel itself, tried in this order.
_KERNEL_PACKAGES = ("linux-binary-", "linux-image-")


class FetchError(Exception):
    pass


def split_package(spec: str) -> tuple[str | None, str]:
    """`suite/package` → (suite, package); a bare package → (None, package)."""
    suite, sep, package = spec.rpartition("/")
    try:
        check_package(package)
        if sep:
            check_suite(suite)
    except DebianError as exc:
        raise FetchError(f"not a package name: {spec!r} ({exc})") from exc
    return (suite if sep else None), package


def package_image(spec: str, cache_dir: Path = CACHE_DIR) -> Path:
    """The vmlinuz of Debian package `spec` (`linux-image-6.1.0-56-amd64`, or with its suite:
    `trixie-backports/linux-image-7.3.4+deb13-amd64`)."""
    suite, package = split_package(spec)
    image = (cache_dir / suite / package if suite else cache_dir / package) / "vmlinuz"
    if image.exists():
        return image
    image.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=image.parent) as tmp:
        kernel = _fetch_kernel(suite, package, Path(tmp))
        part = image.with_suffix(f".{os.getpid()}.part")
        part.write_bytes(kernel)
        part.replace(image)
    return image


def _fetch_kernel(suite: str | None, package: str, tmp: Path) -> bytes:
    apt = Apt.for_suite(suite) if suite else None
    wanted, seen = [package], set()
    while wanted:
        name = wanted.pop(0)
        if name in seen:
            continue
        seen.add(name)
        deb = _download(apt, name, tmp)
        kernel = _vmlinuz_of(deb)
        deb.unlink()
        if kernel is not None:
            return kernel
        if apt is not None and len(seen) < 4:  # a meta package: the kernel is a dependency
            wanted += [d for d in depends(apt.show(name)) if d.startswith(_KERNEL_PACKAGES)]
    others = sorted(seen - {package})
    where = f" (nor does {', '.join(others)})" if others else ""
    raise FetchError(
        f"{package} has no kernel image (/boot/vmlinuz-* or usr/lib/modules/*/vmlinuz){where}"
    )


def _download(apt: Apt | None, package: str, dest: Path) -> Path:
    if apt is not None:
        try:
            return apt.download(package, dest)
        except DebianError as exc:
            raise FetchError(str(exc)) from exc
    try:
        done = subprocess.run(
            ["apt-get", "download", "-q", package],
            cwd=dest,
            capture_output=True,
            text=True,
            timeout=600,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FetchError(f"apt-get download {package} failed: {exc}") from exc
    debs = list(dest.glob("*.deb"))
    if done.returncode != 0 or not debs:
        why = done.stderr.strip().splitlines()
        raise FetchError(f"apt-get download {package} failed: {why[-1] if why else '?'}")
    return debs[0]


def _is_kernel(name: str) -> bool:
    """boot/vmlinuz-<release> (Debian ≤ 6.x packages) or usr/lib/modules/<release>/vmlinuz."""
    parts = Path(name).parts
    if len(parts) >= 2 and parts[-2] == "boot" and parts[-1].startswith("vmlinuz-"):
        return True
    return len(parts) >= 3 and parts[-1] == "vmlinuz" and parts[-3] == "modules"


def _vmlinuz_of(deb: Path) -> bytes | None:
    """The kernel in the package, None when it has none. The data tar is streamed: a kernel
    package can hold modules worth hundreds of MB."""
    try:
        proc = subprocess.Popen(
            [which("dpkg-deb") or "dpkg-deb", "--fsys-tarfile", str(deb)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except OSError as exc:
        raise FetchError(f"dpkg-deb could not read {deb.name}: {exc}") from exc
    assert proc.stdout is not None
    found: bytes | None = None
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as archive:
            for member in archive:
                if member.isfile() and _is_kernel(member.name):
                    data = archive.extractfile(member)
                    if data is not None:
                        found = data.read()
                        break
    except tarfile.TarError as exc:
        raise FetchError(f"dpkg-deb could not read {deb.name}: {exc}") from exc
    finally:
        proc.stdout.close()
        _, err = proc.communicate(timeout=300)
    if found is None and proc.returncode not in (0, None, -13):  # -13: we closed the pipe
        raise FetchError(f"dpkg-deb could not read {deb.name}: {err.decode().strip()}")
    return found


def image_digest(image: Path) -> str:
    """Content hash of a kernel image: the key of its cached BTF."""
    h = hashlib.sha256()
    with image.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]
