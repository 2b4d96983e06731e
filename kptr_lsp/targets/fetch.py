"""Kernel images for target kernels: a path as given, or a Debian package fetched once.

`apt-get download` needs no root and installs nothing; `dpkg-deb --fsys-tarfile` gives the
package's files, of which we keep only /boot/vmlinuz-*. Both are cached under
~/.cache/kptr-lsp/kernels/<package>/vmlinuz.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
import tempfile
from pathlib import Path

CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kptr-lsp" / "kernels"


class FetchError(Exception):
    pass


def package_image(package: str, cache_dir: Path = CACHE_DIR) -> Path:
    """The vmlinuz of Debian package `package` (e.g. linux-image-6.1.0-56-amd64)."""
    if not package or "/" in package or package.startswith("-"):
        raise FetchError(f"not a package name: {package!r}")
    image = cache_dir / package / "vmlinuz"
    if image.exists():
        return image
    image.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=image.parent) as tmp:
        done = subprocess.run(
            ["apt-get", "download", "-q", package],
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=600,
        )
        debs = list(Path(tmp).glob("*.deb"))
        if done.returncode != 0 or not debs:
            why = done.stderr.strip().splitlines()
            raise FetchError(f"apt-get download {package} failed: {why[-1] if why else '?'}")
        kernel = _vmlinuz_of(debs[0])
        part = image.with_suffix(".part")
        part.write_bytes(kernel)
        part.replace(image)
    return image


def _vmlinuz_of(deb: Path) -> bytes:
    tar = subprocess.run(
        ["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=False, timeout=300
    )
    if tar.returncode != 0:
        raise FetchError(f"dpkg-deb could not read {deb.name}: {tar.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(tar.stdout)) as archive:
        for member in archive.getmembers():
            if member.isfile() and Path(member.name).name.startswith("vmlinuz-"):
                data = archive.extractfile(member)
                if data is not None:
                    return data.read()
    raise FetchError(f"{deb.name} has no /boot/vmlinuz-*")


def image_digest(image: Path) -> str:
    """Content hash of a kernel image: the key of its cached BTF."""
    h = hashlib.sha256()
    with image.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]
