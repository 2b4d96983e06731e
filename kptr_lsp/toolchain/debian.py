"""Debian packages from any suite, fetched once into the cache with a private apt configuration.

Debian 12's own libbpf is 1.1 and target kernels live in other suites (bookworm-backports,
trixie-backports): we need packages the machine's apt sources do not name, and we must never
touch those sources. Each suite gets its own apt tree under ~/.cache/kptr-lsp/apt/<suite>/ — a
one-line sources.list, lists, archives, an empty dpkg status — and every apt command runs with
`-o Dir::…` options pointing there, so /etc/apt and /var/lib/apt are only read for apt.conf.d.
`apt-get download` needs no root and installs nothing; `dpkg-deb -x` unpacks a package's files.

The libbpf section at the end knows where the current libbpf (libbpf1 + libbpf-dev from
bookworm-backports) lands, for the loader, the BTF dump, the compile and the guest loader.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .which import which

DEFAULT_MIRROR = "http://deb.debian.org/debian"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
_SUITE = re.compile(r"^[a-z][a-z0-9-]*$")
_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
_APT_TIMEOUT_S = 600


class DebianError(Exception):
    """A package could not be fetched or unpacked; the message says why, for a person."""


def cache_home() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "kptr-lsp"


def check_suite(suite: str) -> str:
    if not _SUITE.match(suite):
        raise DebianError(f"not a Debian suite name: {suite!r}")
    return suite


def check_package(package: str) -> str:
    if not _PACKAGE.match(package):
        raise DebianError(f"not a Debian package name: {package!r}")
    return package


def mirror(sources: tuple[str, ...] = ("/etc/apt/sources.list", "/etc/apt/sources.list.d")) -> str:
    """The Debian mirror this machine's apt uses (read only), for the same archive's other
    suites; `KPTR_LSP_DEBIAN_MIRROR` overrides it, deb.debian.org is the default."""
    override = os.environ.get("KPTR_LSP_DEBIAN_MIRROR")
    if override:
        return override.rstrip("/")
    files: list[str] = []
    for s in sources:
        if os.path.isdir(s):
            files += sorted(glob.glob(os.path.join(s, "*.list")))
            files += sorted(glob.glob(os.path.join(s, "*.sources")))
        elif os.path.isfile(s):
            files.append(s)
    for f in files:
        with contextlib.suppress(OSError):
            for uri in _uris(Path(f).read_text(errors="replace")):
                if uri.rstrip("/").endswith("/debian") and "security" not in uri:
                    return uri.rstrip("/")
    return DEFAULT_MIRROR


def _uris(text: str) -> Iterator[str]:
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("URIs:"):  # deb822
            yield from line.split(":", 1)[1].split()
        elif line.startswith("deb "):  # one-line: deb [opts] URI suite components
            words = re.sub(r"\[[^]]*\]", " ", line).split()
            if len(words) >= 2:
                yield words[1]


@dataclass(frozen=True)
class Apt:
    """A private apt tree for one suite of the Debian archive."""

    suite: str
    root: Path
    mirror_url: str

    @classmethod
    def for_suite(cls, suite: str, cache: Path | None = None) -> Apt:
        check_suite(suite)
        return cls(suite, (cache or cache_home()) / "apt" / suite, mirror())

    def _prepare(self) -> None:
        for sub in ("etc/sources.list.d", "etc/preferences.d", "lists/partial", "archives/partial"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        signed = f"[signed-by={KEYRING}] " if os.path.isfile(KEYRING) else ""
        line = f"deb {signed}{self.mirror_url} {self.suite} main\n"
        sources = self.root / "etc" / "sources.list"
        if not sources.is_file() or sources.read_text() != line:
            sources.write_text(line)
            for old in (self.root / "lists").glob("*_*"):  # lists of another mirror
                old.unlink()
        status = self.root / "status"
        if not status.exists():
            status.write_text("")

    def options(self) -> list[str]:
        r = self.root
        opts = {
            "Dir::Etc::SourceList": r / "etc" / "sources.list",
            "Dir::Etc::SourceParts": r / "etc" / "sources.list.d",
            "Dir::Etc::Preferences": r / "etc" / "preferences",
            "Dir::Etc::PreferencesParts": r / "etc" / "preferences.d",
            "Dir::State": r,
            "Dir::State::Lists": r / "lists",
            "Dir::State::status": r / "status",
            "Dir::Cache": r,
            "Dir::Cache::Archives": r / "archives",
            "Dir::Cache::pkgcache": "",
            "Dir::Cache::srcpkgcache": "",
            "Acquire::Languages": "none",
            "APT::Sandbox::User": "root" if os.geteuid() == 0 else "",
        }
        out: list[str] = []
        for key, value in opts.items():
            if key == "APT::Sandbox::User" and not value:
                continue
            out += ["-o", f"{key}={value}"]
        return out

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self._prepare()
        with open(self.root / "kptr-lsp.lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)  # one apt at a time per tree: apt's own lock fails
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _run(self, args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        cmd = [which(args[0]) or args[0], "-q", *self.options(), *args[1:]]
        try:
            return subprocess.run(
                cmd,
                cwd=cwd,
                capture_output=True,
                text=True,
                timeout=_APT_TIMEOUT_S,
                env={**os.environ, "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"},
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DebianError(f"{args[0]} {args[1]} failed: {exc}") from exc

    def _has_lists(self) -> bool:
        return any((self.root / "lists").glob("*_Packages*"))

    def _update(self) -> None:
        done = self._run(["apt-get", "update"])
        if done.returncode != 0 or not self._has_lists():
            raise DebianError(
                f"apt-get update for {self.suite} ({self.mirror_url}) failed: {_last(done)}"
            )

    def show(self, package: str) -> dict[str, str]:
        """The candidate's control fields (`apt-cache show`), updating the lists once if the
        package is unknown to them."""
        check_package(package)
        with self._locked():
            for attempt in (0, 1):
                if attempt or not self._has_lists():
                    self._update()
                done = self._run(["apt-cache", "show", "--no-all-versions", package])
                if done.returncode == 0 and done.stdout.strip():
                    return _control(done.stdout)
        raise DebianError(f"{self.suite} has no package {package}: {_last(done)}")

    def names(self, prefix: str) -> list[str]:
        """The suite's package names that start with `prefix` (`apt-cache pkgnames`), from
        its lists (fetched once when there are none)."""
        with self._locked():
            if not self._has_lists():
                self._update()
            done = self._run(["apt-cache", "pkgnames", prefix])
        if done.returncode != 0:
            raise DebianError(f"apt-cache pkgnames for {self.suite} failed: {_last(done)}")
        return sorted(done.stdout.split())

    def download(self, package: str, dest: Path) -> Path:
        """The .deb of `package`'s candidate in `dest`; refreshes the lists once when the
        archive no longer has the version they name."""
        check_package(package)
        dest.mkdir(parents=True, exist_ok=True)
        with self._locked():
            for attempt in (0, 1):
                if attempt or not self._has_lists():
                    self._update()
                before = set(dest.glob("*.deb"))
                done = self._run(["apt-get", "download", package], cwd=dest)
                debs = sorted(set(dest.glob("*.deb")) - before)
                if done.returncode == 0 and debs:
                    return debs[0]
        raise DebianError(f"apt-get download {package} from {self.suite} failed: {_last(done)}")


def _last(done: subprocess.CompletedProcess[str]) -> str:
    lines = [x for x in (done.stderr or done.stdout or "").splitlines() if x.strip()]
    return lines[-1].strip() if lines else f"exit status {done.returncode}"


def _control(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = ""
    for line in text.split("\n\n", 1)[0].splitlines():
        if line[:1] in (" ", "\t") and key:
            fields[key] += "\n" + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            fields[key] = value.strip()
    return fields


def depends(fields: dict[str, str]) -> list[str]:
    """Package names of a Depends field, first alternative of each, versions dropped."""
    out: list[str] = []
    for item in fields.get("Depends", "").split(","):
        name = item.split("|", 1)[0].strip().split(" ", 1)[0].split(":", 1)[0]
        if name:
            out.append(name)
    return out


def unpack(deb: Path, dest: Path) -> None:
    """The package's files under `dest` (dpkg-deb -x: no maintainer scripts run)."""
    try:
        done = subprocess.run(
            [which("dpkg-deb") or "dpkg-deb", "-x", str(deb), str(dest)],
            capture_output=True,
            text=True,
            timeout=300,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DebianError(f"dpkg-deb -x {deb.name} failed: {exc}") from exc
    if done.returncode != 0:
        raise DebianError(f"dpkg-deb -x {deb.name} failed: {_last(done)}")


def fetch_tree(
    suite: str, packages: tuple[str, ...], dest: Path, cache: Path | None = None
) -> Path:
    """`packages` of `suite` unpacked together into `dest`, once: the tree appears whole (a
    temporary sibling renamed into place) with a `.packages` file naming the .debs."""
    marker = dest / ".packages"
    if marker.is_file():
        return dest
    apt = Apt.for_suite(suite, cache)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        debs = tmp / ".debs"
        names = []
        for package in packages:
            deb = apt.download(package, debs)
            unpack(deb, tmp)
            names.append(deb.name)
        shutil.rmtree(debs)
        (tmp / ".packages").write_text("".join(f"{n}\n" for n in names))
        try:
            os.rename(tmp, dest)
        except OSError:
            if not marker.is_file():  # not a concurrent fetch that won the race
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


# --- the current libbpf (libbpf1 + libbpf-dev from bookworm-backports) -------------------------

LIBBPF_SUITE = "bookworm-backports"
LIBBPF_PACKAGES = ("libbpf1", "libbpf-dev")


@dataclass(frozen=True)
class LibbpfTree:
    """An unpacked libbpf1 + libbpf-dev: what the loader, compile and guest loader use."""

    root: Path
    shared: Path  # libbpf.so.1.x.y
    static: Path | None  # libbpf.a (libbpf-dev)
    include: Path  # holds bpf/bpf_helpers.h
    version: str  # from the .so's file name: "1.4.6"
    origin: str  # for people: "libbpf1 1.4.6 from bookworm-backports"


def libbpf_dir(cache: Path | None = None) -> Path:
    """Where the current libbpf is unpacked: <cache>/libbpf/bookworm-backports/."""
    return (cache or cache_home()) / "libbpf" / LIBBPF_SUITE


def libbpf_tree(cache: Path | None = None) -> LibbpfTree | None:
    """The fetched current libbpf, or None when `make setup` has not fetched it. Without an
    explicit cache: $XDG_CACHE_HOME's, then ~/.cache's (a process given a scratch cache, as
    tests and editors' sandboxes do, still finds what setup fetched)."""
    if cache is not None:
        return _tree_at(libbpf_dir(cache))
    homes = [cache_home(), Path(os.path.expanduser("~")) / ".cache" / "kptr-lsp"]
    for home in dict.fromkeys(homes):
        tree = _tree_at(libbpf_dir(home))
        if tree is not None:
            return tree
    return None


_trees: dict[Path, LibbpfTree] = {}


def _tree_at(root: Path) -> LibbpfTree | None:
    found = _trees.get(root)
    if found is not None and found.shared.is_file():
        return found
    if not (root / ".packages").is_file():
        return None
    shared = sorted(root.glob("usr/lib/*/libbpf.so.1.*")) or sorted(
        root.glob("usr/lib/libbpf.so.1.*")
    )
    include = root / "usr" / "include"
    if not shared or not (include / "bpf" / "bpf_helpers.h").is_file():
        return None
    static = next(iter(sorted(root.glob("usr/lib/*/libbpf.a"))), None)
    version = shared[-1].name.removeprefix("libbpf.so.")
    tree = LibbpfTree(
        root, shared[-1], static, include, version, f"libbpf {version} from {LIBBPF_SUITE}"
    )
    _trees[root] = tree
    return tree


def libbpf_include(cache: Path | None = None) -> list[str]:
    """[the current libbpf's include directory] once fetched, else []: for compiles."""
    tree = libbpf_tree(cache)
    return [str(tree.include)] if tree is not None else []


def fetch_libbpf(cache: Path | None = None) -> LibbpfTree:
    """Fetch (once) and describe the current libbpf; raises DebianError."""
    fetch_tree(LIBBPF_SUITE, LIBBPF_PACKAGES, libbpf_dir(cache), cache)
    tree = libbpf_tree(cache)
    if tree is None:
        raise DebianError(f"{'/'.join(LIBBPF_PACKAGES)} from {LIBBPF_SUITE} hold no libbpf.so")
    return tree
