"""A target kernel booted in a small qemu VM, kept warm, that verifies objects on request.

The guest runs `guest_loader.c` as /init and talks over its second serial port (/dev/ttyS1),
which qemu connects to our pipes (`-serial stdio`); the first port (the console) goes to
/dev/null.

KVM is used when /dev/kvm opens and a first boot under it reaches the loader within
KVM_PROBE_S; else TCG (emulation: Debian 6.1 boots in ~7 s). The probe's outcome is kept per
kernel image, qemu and host kernel in the cache, so a machine where KVM cannot run the guest
pays for it once. (On our development machine, itself a guest, /dev/kvm is kvm-pvm's, which
runs only PVM-enabled guest kernels: a Debian kernel stops after the real-mode setup.)
KPTR_LSP_KVM=0 turns KVM off.

qemu is started by a thread that lives as long as the VM and has the kernel kill qemu when this
process dies (PR_SET_PDEATHSIG fires when the *thread* that started the child exits, so the
starting thread must outlive the VM). `shutdown_all()` (also registered with atexit) powers
every VM off.
"""

from __future__ import annotations

import atexit
import ctypes
import dataclasses
import hashlib
import json
import logging
import os
import select
import signal
import subprocess
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from kptr_lsp.toolchain.native import strip_debug
from kptr_lsp.toolchain.which import which
from kptr_lsp.verify.loader import (
    DEFAULT_LOG_SIZE,
    Level,
    LibbpfMessage,
    ObjectResult,
    ProgramResult,
    btf_outcome,
    classify,
)
from kptr_lsp.verify.slots import without_program_slots
from kptr_lsp.verify.struct_ops_link import without_link_support

QEMU = "qemu-system-x86_64"
BOOT_TIMEOUT_S = 120.0  # TCG on a busy 2-core machine
KVM_PROBE_S = 20.0  # a guest under KVM reaches its loader in ~1 s; one that does not, never does
REQUEST_TIMEOUT_S = 300.0
MEMORY_MB = 512
_PR_SET_PDEATHSIG = 1
_LEVELS: dict[bytes, Level] = {b"W": "warn", b"I": "info", b"D": "debug"}


log = logging.getLogger(__name__)


class VMError(Exception):
    pass


def vm_name(pid: int) -> str:
    """qemu's `-name` of the VMs process `pid` boots: who owns a qemu, from `ps` alone."""
    return f"kptr-lsp-{pid}"


def kvm_unusable() -> str | None:
    """Why KVM is not even tried (KPTR_LSP_KVM=0, /dev/kvm does not open); None: try it."""
    if os.environ.get("KPTR_LSP_KVM") == "0":
        return "KPTR_LSP_KVM=0"
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
    except OSError as exc:
        return f"/dev/kvm: {exc.strerror or exc}"
    os.close(fd)
    return None


def _probe_record(image: Path, cache_dir: Path) -> Path:
    """Where the KVM probe's outcome for `image` is kept: per image, qemu and host kernel."""
    qemu = which(QEMU) or QEMU
    key = [str(image), os.uname().release, qemu]
    for path in (image, Path(qemu)):
        try:
            st = path.stat()
            key += [str(st.st_size), str(st.st_mtime_ns)]
        except OSError:
            key.append("?")
    digest = hashlib.sha256("\0".join(key).encode()).hexdigest()[:16]
    return cache_dir / "kvm-probe" / f"{digest}.json"


def kvm_probed(image: Path, cache_dir: Path) -> tuple[bool, str] | None:
    """The kept outcome of booting `image` under KVM: (works, why), None if never tried."""
    try:
        got = json.loads(_probe_record(image, cache_dir).read_text())
        return bool(got["works"]), str(got["why"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _keep_probe(image: Path, cache_dir: Path, works: bool, why: str) -> None:
    path = _probe_record(image, cache_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"works": works, "why": why}))
        tmp.replace(path)
    except OSError as exc:
        log.info("KVM probe of %s not kept: %s", image, exc)


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class _Reader:
    """Reads qemu's stdout (the guest's ttyS1) with a deadline."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = bytearray()

    def _fill(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([self.fd], [], [], left)[0]:
            raise VMError("the VM did not answer in time")
        chunk = os.read(self.fd, 1 << 20)
        if not chunk:
            raise VMError("the VM stopped")
        self.buf += chunk

    def line(self, deadline: float) -> bytes:
        while (end := self.buf.find(b"\n")) < 0:
            self._fill(deadline)
        out = bytes(self.buf[:end])
        del self.buf[: end + 1]
        return out

    def exactly(self, n: int, deadline: float) -> bytes:
        while len(self.buf) < n:
            self._fill(deadline)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


def for_guest(data: bytes) -> bytes:
    """The object without DWARF (libbpf loads from .BTF/.BTF.ext; DWARF is 95% of the bytes and
    the serial port is slow); the object as is when llvm-strip is missing or fails."""
    return strip_debug(data)


def _messages(raw: bytes) -> tuple[LibbpfMessage, ...]:
    out = []
    for record in raw.split(b"\0"):
        if record:
            level = _LEVELS.get(record[:1], "warn")
            out.append(LibbpfMessage(level, record[1:].decode(errors="replace")))
    return tuple(out)


@dataclass(frozen=True)
class BootedKernel:
    image: Path
    release: str  # `uname -r` in the guest
    boot_s: float
    accel: str = "TCG"  # "KVM" or "TCG"
    # Why TCG although KVM was tried (the probe's words), for the server log; "" otherwise.
    accel_note: str = ""


class TargetVM:
    """One warm guest running `image`. Requests are serialised: the guest loads one at a time."""

    def __init__(self, image: Path, initrd: Path) -> None:
        self.image = image
        self.initrd = initrd
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: _Reader | None = None
        self.booted: BootedKernel | None = None
        self.loads = 0  # LOAD requests answered: how often an object was sent to the guest

    def _command(self, accel: str) -> list[str]:
        return [
            which(QEMU) or QEMU,
            "-name",
            vm_name(os.getpid()),
            "-nodefaults",
            "-accel",
            accel.lower(),
            "-m",
            str(MEMORY_MB),
            "-smp",
            "1",
            "-display",
            "none",
            "-monitor",
            "none",
            "-no-reboot",
            "-kernel",
            str(self.image),
            "-initrd",
            str(self.initrd),
            "-append",
            "console=ttyS0 quiet panic=-1 rdinit=/init",
            "-serial",
            "null",
            "-serial",
            "stdio",
        ]

    def start(self) -> BootedKernel:
        with self._lock:
            if self.booted is not None and self._alive():
                return self.booted
            self._stop()
            return self._boot()

    def _boot(self) -> BootedKernel:
        """Under KVM when it may work (probing it on the first boot of this image), else TCG."""
        cache_dir = self.initrd.parent
        why_not = kvm_unusable()
        kept = None if why_not is not None else kvm_probed(self.image, cache_dir)
        if why_not is None and (kept is None or kept[0]):
            try:
                booted = self._boot_with("KVM", KVM_PROBE_S if kept is None else BOOT_TIMEOUT_S)
            except VMError as exc:  # a probe, or KVM stopped working since: TCG from now on
                note = f"KVM: {exc}; TCG instead"
                log.info("%s", note)
                _keep_probe(self.image, cache_dir, False, note)
            else:
                if kept is None:
                    _keep_probe(self.image, cache_dir, True, f"booted in {booted.boot_s:.1f} s")
                return booted
        elif kept is not None:
            note = kept[1]
        else:
            note = ""
        booted = self._boot_with("TCG", BOOT_TIMEOUT_S)
        self.booted = booted = dataclasses.replace(booted, accel_note=note)
        return booted

    def _boot_with(self, accel: str, timeout_s: float) -> BootedKernel:
        started = threading.Event()
        failure: list[BaseException] = []

        def own() -> None:
            # Lives as long as qemu: PR_SET_PDEATHSIG is tied to this thread (see above).
            try:
                self._proc = subprocess.Popen(
                    self._command(accel),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    preexec_fn=_die_with_parent,
                )
            except OSError as exc:
                failure.append(exc)
                return
            finally:
                started.set()
            self._proc.wait()

        threading.Thread(target=own, name=f"kptr-vm {self.image.name}", daemon=True).start()
        started.wait()
        if failure or self._proc is None or self._proc.stdout is None:
            raise VMError(f"cannot start {QEMU}: {failure[0] if failure else 'no process'}")
        t0 = time.monotonic()
        self._reader = _Reader(self._proc.stdout.fileno())
        try:
            line = self._reader.line(t0 + timeout_s)
        except VMError as exc:
            self._stop()
            raise VMError(
                f"{self.image} did not boot to the loader under {accel} in {timeout_s:.0f} s: {exc}"
            ) from exc
        if not line.startswith(b"KPTR-READY "):
            self._stop()
            raise VMError(f"{self.image}: unexpected first words from the guest: {line!r}")
        release = line.split(b" ", 1)[1].decode()
        self.booted = BootedKernel(self.image, release, time.monotonic() - t0, accel)
        return self.booted

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _send(self, data: bytes) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write(data)
            self._proc.stdin.flush()
        except OSError as exc:
            raise VMError(f"the VM stopped: {exc}") from exc

    def _request(self, head: bytes, body: bytes = b"") -> _Reader:
        if self.booted is None or not self._alive():
            self._boot()
        assert self._reader is not None
        self._send(head + body)
        return self._reader

    def btf(self) -> bytes:
        """The guest kernel's /sys/kernel/btf/vmlinux."""
        with self._lock:
            reader = self._request(b"BTF\n")
            deadline = time.monotonic() + REQUEST_TIMEOUT_S
            head = reader.line(deadline).split()
            if len(head) != 2 or head[0] != b"BTF":
                raise VMError(f"unexpected answer to BTF: {head!r}")
            return reader.exactly(int(head[1]), deadline)

    def verify(
        self, data: bytes, *, log_level: int = 1, log_size: int = DEFAULT_LOG_SIZE
    ) -> ObjectResult:
        """Load each program of `data` alone in the guest, as verify/loader.py does here."""
        with self._lock:
            try:
                return self._verify(data, log_level, log_size)
            except VMError:
                self._stop()  # out of step with the guest: the next request boots again
                raise

    def _verify(self, data: bytes, log_level: int, log_size: int) -> ObjectResult:
        # One program per object there too: prog-array slots naming others cannot be filled.
        sent = for_guest(without_program_slots(data))
        packed = zlib.compress(sent, 6)
        request = f"LOAD {log_level} {log_size} {len(packed)} {len(sent)}\n".encode()
        reader = self._request(request, packed)
        self.loads += 1
        deadline = time.monotonic() + REQUEST_TIMEOUT_S
        programs: list[ProgramResult] = []
        while True:
            t0 = time.monotonic()
            head = reader.line(deadline).decode(errors="replace").split(" ")
            if head[0] == "END" and len(head) == 3:
                messages = _messages(reader.exactly(int(head[2]), deadline))
                open_err = int(head[1])
                break
            if head[0] != "PROG" or len(head) != 10:
                raise VMError(f"unexpected answer from the guest loader: {' '.join(head)!r}")
            name, section, err = head[1], head[2], int(head[3])
            log = reader.exactly(int(head[4]), deadline).decode(errors="replace")
            msgs = _messages(reader.exactly(int(head[5]), deadline))
            insns = reader.exactly(int(head[6]), deadline)
            cut, log_used = head[7] == "1", int(head[8])
            verdict_log = reader.exactly(int(head[9]), deadline).decode(errors="replace")
            failure, wide = classify(name, err, log, msgs)
            programs.append(
                ProgramResult(
                    name=name,
                    section=section,
                    accepted=err == 0,
                    failure=failure,
                    errno=err,
                    log=log,
                    libbpf_messages=msgs,
                    insns=insns,
                    duration_s=time.monotonic() - t0,
                    object_wide=wide,
                    log_cut=cut,
                    log_size=log_used,
                    verdict_log=verdict_log,
                )
            )
        if open_err:
            detail = "".join(m.text for m in messages if m.level == "warn").strip()
            reason = f"{os.strerror(open_err)} (errno {open_err})"
            return ObjectResult((), False, "", f"{reason}: {detail}" if detail else reason)
        btf_rejected, btf_log = btf_outcome(programs)
        result = ObjectResult(tuple(programs), btf_rejected, btf_log, open_error=None)
        release = self.booted.release if self.booted is not None else ""
        return without_link_support(data, result, release)

    def _stop(self) -> None:
        proc, self._proc, self.booted = self._proc, None, None
        if proc is None:
            return
        if proc.poll() is None and proc.stdin is not None:
            try:
                proc.stdin.write(b"QUIT\n")
                proc.stdin.flush()
                proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()

    def shutdown(self) -> None:
        with self._lock:
            self._stop()


_vms: dict[tuple[Path, Path], TargetVM] = {}
_vms_lock = threading.Lock()


def warm_vm(image: Path, initrd: Path) -> TargetVM:
    """The VM for `image`, booted on first use and kept until `shutdown_all`."""
    with _vms_lock:
        vm = _vms.get((image, initrd))
        if vm is None:
            vm = _vms[(image, initrd)] = TargetVM(image, initrd)
    vm.start()
    return vm


def shutdown_all() -> None:
    """Power off every VM this process booted."""
    with _vms_lock:
        vms = list(_vms.values())
        _vms.clear()
    for vm in vms:
        vm.shutdown()


atexit.register(shutdown_all)
