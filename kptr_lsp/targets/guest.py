"""The guest kernel as the verifier of last resort (setting `guestVerify`).

When the host refuses `bpf()` (an ordinary user, no helper), or refuses a program for reasons
outside the code (fentry/fexit/LSM refused with EPERM on some hosts), the programs are
verified in a guest kernel booted in qemu as the same ordinary user: the guest loader is root
in the guest (targets/vm.py). The object is still compiled against the host's `vmlinux.h`
(CO-RE makes it portable); the guest judges it, and its BTF judges the type-tag checks.

`auto` picks a Debian kernel package by `choose`: a pure function of the host's release and
the packages the archive (and the cache) has, so the policy is tested on listings of our own.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kptr_lsp.findings import Finding
from kptr_lsp.kernel.running import release as running_release
from kptr_lsp.model import ObjectModel
from kptr_lsp.settings import GuestKernel
from kptr_lsp.targets.fetch import CACHE_DIR
from kptr_lsp.targets.kernels import ReadyKernel, TargetError, label_of, ready
from kptr_lsp.targets.verdicts import judge, merge
from kptr_lsp.targets.vm import TargetVM
from kptr_lsp.toolchain.debian import Apt, DebianError
from kptr_lsp.verify.loader import Failure, ProgramResult
from kptr_lsp.verify.setup import DataPatch

NOT_VERIFIABLE_HERE = "not-verifiable"  # the host's finding for a program it will not load

log = logging.getLogger(__name__)

AUTO, OFF = "auto", "off"
# Long-term kernels (kernel.org): `auto`'s second choice is the nearest newer one of these.
LTS = frozenset({(4, 19), (5, 4), (5, 10), (5, 15), (6, 1), (6, 6), (6, 12), (6, 18)})
# Suites of the Debian archive `auto` looks in (besides the machine's own apt sources).
SUITES = ("bookworm", "bookworm-backports", "trixie", "trixie-backports")
# `linux-image-6.1.0-57-amd64`, `linux-image-7.3.4+deb13-amd64`: a versioned amd64 kernel
# (qemu-system-x86_64 boots it), not a meta package, -rt, -cloud, -dbg or -unsigned.
_IMAGE = re.compile(r"^linux-image-(\d+)\.(\d+)(?:\.(\d+))?(?:-(\d+)|\+deb\d+)?-amd64$")
_RELEASE = re.compile(r"(\d+)\.(\d+)")


def kernel_version(spec: str) -> tuple[int, int, int, int] | None:
    """`trixie-backports/linux-image-7.3.4+deb13-amd64` → (7, 3, 4, 0); None for a package
    that is not a versioned amd64 kernel image."""
    found = _IMAGE.match(spec.rpartition("/")[2])
    if found is None:
        return None
    major, minor, patch, abi = found.groups()
    return int(major), int(minor), int(patch or 0), int(abi or 0)


def choose(host_release: str, available: Iterable[str], cached: Iterable[str] = ()) -> str | None:
    """The package `auto` verifies in, of `available` (package names, `suite/package` for
    another suite): the host's major.minor when there is one; else the nearest newer LTS;
    else the nearest newer release; else the nearest older one. Within a major.minor a
    package already in `cached` wins (no download), then the newest. None: nothing fits."""
    found = _RELEASE.match(host_release)
    if found is None:
        return None
    host = (int(found.group(1)), int(found.group(2)))
    kept = set(cached)
    versions = {spec: v for spec in {*available, *kept} if (v := kernel_version(spec))}
    if not versions:
        return None

    def best_of(series: tuple[int, int]) -> str:
        same = [s for s, v in versions.items() if v[:2] == series]
        return max(same, key=lambda s: (s in kept, versions[s], s))

    series = {v[:2] for v in versions.values()}
    newer = sorted(s for s in series if s > host)
    older = sorted((s for s in series if s < host), reverse=True)
    for pick in (
        [host] if host in series else [],
        [s for s in newer if s in LTS],
        newer,
        older,
    ):
        if pick:
            return best_of(pick[0])
    return None


def cached_packages(cache_dir: Path = CACHE_DIR) -> list[str]:
    """Kernel packages already fetched into the cache (`pkg` or `suite/pkg`)."""
    out = []
    for image in cache_dir.glob("**/vmlinuz"):
        rel = image.parent.relative_to(cache_dir).as_posix()
        if kernel_version(rel) is not None:
            out.append(rel)
    return sorted(out)


def archive_packages(suites: Iterable[str] = SUITES) -> list[str]:
    """Kernel image packages the machine's apt sources (bare names) and each Debian suite in
    `suites` (`suite/package`, through a private apt configuration) have."""
    out: list[str] = []
    try:
        import subprocess

        done = subprocess.run(
            ["apt-cache", "pkgnames", "linux-image-"], capture_output=True, text=True, timeout=60
        )
        out += done.stdout.split()
    except (OSError, subprocess.SubprocessError) as exc:
        log.info("guestVerify auto: apt-cache pkgnames failed: %s", exc)
    for suite in suites:
        try:
            out += [f"{suite}/{name}" for name in Apt.for_suite(suite).names("linux-image-")]
        except DebianError as exc:
            log.info("guestVerify auto: %s", exc)
    return [p for p in out if kernel_version(p) is not None]


def resolve(
    setting: str | GuestKernel,
    host_release: str | None = None,
    listing: Callable[[], Iterable[str]] = archive_packages,
    cache_dir: Path = CACHE_DIR,
) -> GuestKernel | None:
    """The guest kernel of setting `guestVerify`; None when it is off or nothing fits.
    `auto` looks in the archive only when the cache has no kernel of the host's series."""
    if isinstance(setting, GuestKernel):
        return setting
    if setting != AUTO:
        return None
    release = host_release or running_release()
    cached = cached_packages(cache_dir)
    pick = choose(release, cached, cached)
    if pick is not None and _same_series(pick, release):
        return GuestKernel(package=pick)
    pick = choose(release, listing(), cached)
    return GuestKernel(package=pick) if pick is not None else None


def _same_series(spec: str, release: str) -> bool:
    v, found = kernel_version(spec), _RELEASE.match(release)
    return v is not None and found is not None and v[:2] == (int(found[1]), int(found[2]))


def accelerator(vm: TargetVM | None, *, why: bool = True) -> str:
    """How the guest runs: `KVM`, or `TCG` (emulation) and, with `why`, why not KVM when it
    was tried."""
    booted = vm.booted if vm is not None else None
    if booted is None:
        return "TCG"
    return f"{booted.accel}; {booted.accel_note}" if why and booted.accel_note else booted.accel


@dataclass(frozen=True)
class GuestState:
    """Where the session's guest is: `kernel` None and `error` None while not asked for."""

    kernel: GuestKernel | None = None
    ready: ReadyKernel | None = None
    error: str | None = None
    starting: bool = False


class GuestSession:
    """The one guest of a server session, booted in the background on first need: an
    analysis never waits for it (it says it wants it; `start` boots and calls back)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = GuestState()
        self._setting: str | GuestKernel = AUTO

    def configure(self, setting: str | GuestKernel) -> None:
        with self._lock:
            if setting != self._setting:
                self._setting = setting
                if not self._state.starting:
                    self._state = GuestState()

    @property
    def enabled(self) -> bool:
        return self._setting != OFF

    def state(self) -> GuestState:
        with self._lock:
            return self._state

    def start(self, on_done: Callable[[GuestState], None]) -> bool:
        """Boot the guest in a thread (once); `on_done(state)` when it is up or failed.
        False when it is off, up, failed or already starting."""
        with self._lock:
            s = self._state
            if not self.enabled or s.starting or s.ready is not None or s.error is not None:
                return False
            setting = self._setting
            self._state = GuestState(starting=True)

        def boot() -> None:
            kernel: GuestKernel | None = None
            try:
                kernel = resolve(setting)
                if kernel is None:
                    state = GuestState(error="no Debian kernel package fits this host")
                else:
                    log.info("guest kernel %s: booting in qemu", kernel.label())
                    up = ready(kernel)
                    log.info(
                        "guest kernel %s (%s) is up, %s, booted in %.1f s",
                        up.label,
                        up.release,
                        accelerator(up.vm),
                        up.vm.booted.boot_s if up.vm.booted else 0.0,
                    )
                    state = GuestState(kernel, up)
            except TargetError as exc:
                state = GuestState(kernel, error=str(exc))
            except Exception as exc:  # never a dead thread with `starting` stuck on
                log.exception("guest kernel failed to start")
                state = GuestState(kernel, error=f"{type(exc).__name__}: {exc}")
            with self._lock:
                self._state = state
            on_done(state)

        threading.Thread(target=boot, name="kptr-guest-boot", daemon=True).start()
        return True


# --- the guest's verdict in an analysis --------------------------------------------------------

# What the host refuses for reasons outside the code, that a guest can judge instead.
HOST_REFUSED = frozenset({Failure.NOT_PERMITTED})


def host_refused(programs: Iterable[ProgramResult]) -> list[str]:
    """Programs the host will not load whatever the code (e.g. fentry refused with EPERM)."""
    return [p.name for p in programs if p.failure in HOST_REFUSED]


@dataclass(frozen=True)
class GuestVerdict:
    label: str  # how diagnostics name the guest kernel
    programs: tuple[ProgramResult, ...]
    findings: tuple[Finding, ...]  # each naming the guest kernel
    error: str | None = None  # the guest could not verify: why
    vm: TargetVM | None = None


def verify_in_guest(
    kernel: GuestKernel,
    ctx: ObjectModel,
    *,
    log_level: int,
    only: Iterable[str] | None = None,
    text: str = "",
    patches: tuple[DataPatch, ...] = (),
) -> GuestVerdict:
    """The guest's verdict on the object (its programs `only`, when given), with `patches`
    (rodataOverrides) applied: findings of its verifier, libbpf and type-tag checks by its
    BTF, each naming it as target kernels do."""
    from kptr_lsp.pipeline import relate_to_culprits  # the pipeline imports this module

    judged = judge(kernel, ctx, log_level=log_level, patches=patches)
    label = judged.verdict.label
    if judged.verdict.error is not None:
        return GuestVerdict(label, (), judged.findings, error=judged.verdict.error)
    wanted = None if only is None else set(only)
    programs = tuple(p for p in judged.verdict.programs if wanted is None or p.name in wanted)
    findings = [
        f
        for f in relate_to_culprits(list(judged.findings), list(judged.blame), text)
        if wanted is None or (f.programs and set(f.programs) <= wanted)
    ]
    vm = _ready_vm(kernel)
    return GuestVerdict(label, programs, tuple(merge([(label, findings)])), vm=vm)


def _ready_vm(kernel: GuestKernel) -> TargetVM | None:
    try:
        return ready(kernel).vm
    except TargetError:
        return None


def said_instead(host: Sequence[Finding], guest: GuestVerdict, release: str) -> list[Finding]:
    """The host's "not verifiable here" findings of the programs the guest judged, each
    saying that the guest verified it and how; the guest's own findings say it too."""
    verdicts = {p.name: "accepted" if p.accepted else "rejected" for p in guest.programs}
    out: list[Finding] = []
    for f in host:
        judged = [verdicts[name] for name in f.programs if name in verdicts]
        if f.code == NOT_VERIFIABLE_HERE and judged:
            how = "accepted it" if set(judged) == {"accepted"} else "rejected it (see its Error)"
            f = dataclasses.replace(
                f, message=f"{f.message}\nVerified in guest kernel {guest.label} instead: it {how}."
            )
        out.append(f)
    host_label = label_of(release)
    for f in guest.findings:
        out.append(
            dataclasses.replace(
                f,
                message=f"{f.message}\nVerified in guest kernel {guest.label}: this kernel "
                f"({host_label}) does not allow this program type.",
            )
        )
    return out
