"""vmlinux.h from kernel BTF: libbpf's btf_dump through ctypes (bpftool as a fallback), cached
by the BTF's content hash so a kernel upgrade gets a fresh header and nothing else does.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import os
import platform
import re
import subprocess
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

from kptr_lsp.kernel.running import VMLINUX_BTF
from kptr_lsp.toolchain.clang import ToolchainError
from kptr_lsp.toolchain.which import which

# Same preamble and trailer as `bpftool btf dump file … format c` (bpftool's dump_btf_c()).
PREAMBLE = (
    "#ifndef __VMLINUX_H__\n"
    "#define __VMLINUX_H__\n"
    "\n"
    "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n"
    "#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\n"
    "#endif\n"
    "\n"
)
TRAILER = (
    "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n"
    "#pragma clang attribute pop\n"
    "#endif\n"
    "\n"
    "#endif /* __VMLINUX_H__ */\n"
)

_INCLUDE_RE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*[<"]vmlinux\.h[">]', re.MULTILINE)

# sizeof(va_list) where it is a struct passed by pointer; copying it is what va_copy does.
_VA_LIST_SIZE = {"x86_64": 24, "aarch64": 32, "arm64": 32}


def includes_vmlinux(text: str) -> bool:
    return _INCLUDE_RE.search(text) is not None


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "kptr-lsp" / "vmlinux"


_hash_memo: dict[tuple[str, int, int, int], str] = {}
_generate_lock = threading.Lock()  # two buffers opened at once should not both dump 3 MB


def btf_digest(btf_path: str) -> str:
    """sha256 of the BTF bytes, memoised on (path, inode, size, mtime): hashing 5 MB per
    keystroke would be wasted work."""
    st = os.stat(btf_path)
    key = (os.path.abspath(btf_path), st.st_ino, st.st_size, st.st_mtime_ns)
    digest = _hash_memo.get(key)
    if digest is None:
        with open(btf_path, "rb") as fh:
            digest = hashlib.sha256(fh.read()).hexdigest()
        _hash_memo[key] = digest
    return digest


def find_existing(search_dirs: Iterable[str]) -> str | None:
    """The first directory in `search_dirs` that already holds a vmlinux.h."""
    for d in search_dirs:
        if d and os.path.isfile(os.path.join(d, "vmlinux.h")):
            return d
    return None


def _libbpf() -> ctypes.CDLL:
    # The loader's libbpf (the current one from the cache, else the system's): one choice and
    # one copy of libbpf per process.
    from kptr_lsp.verify.libbpf import LibbpfError, libbpf

    try:
        lib = libbpf().shared_object
    except LibbpfError as e:
        raise ToolchainError(f"libbpf not loadable ({e}): install libbpf1 / libbpf") from e
    major = getattr(lib, "libbpf_major_version", None)
    if major is None or major() < 1:
        # libbpf 0.x spells btf_dump__new differently.
        raise ToolchainError("libbpf ≥ 1.0 is needed to dump BTF as C")
    return lib  # its BTF functions are declared with the rest, in verify/libbpf.py


def _libc() -> ctypes.CDLL:
    from kptr_lsp.verify.libbpf import libbpf

    return libbpf().libc


def dump_with_libbpf(btf_path: str) -> bytes:
    """Every type of the BTF as C, as bpftool prints it, through libbpf's btf_dump API."""
    from kptr_lsp.verify.libbpf import BTF_DUMP_PRINTF_FN

    lib, libc = _libbpf(), _libc()
    va_size = _VA_LIST_SIZE.get(platform.machine())
    chunks: list[bytes] = [PREAMBLE.encode()]
    buf = ctypes.create_string_buffer(4096)
    failures: list[str] = []  # exceptions cannot cross the C callback: collect, raise after

    def printf(_ctx: int | None, fmt: bytes | None, args: int | None) -> None:
        if not fmt:
            return
        if b"%" not in fmt:  # most fragments are literal punctuation: skip the C call
            chunks.append(fmt)
            return
        saved = None
        if va_size and args:  # keep a copy (va_copy) in case the fragment needs a bigger buffer
            saved = ctypes.create_string_buffer(va_size)
            ctypes.memmove(saved, args, va_size)
        n = libc.vsnprintf(buf, len(buf), fmt, args)
        if n < 0:
            failures.append(f"vsnprintf failed on {fmt!r}")
        elif n < len(buf):
            chunks.append(buf.raw[:n])
        elif saved is None:
            failures.append(f"fragment of {n} bytes does not fit in {len(buf)}")
        else:
            big = ctypes.create_string_buffer(n + 1)
            libc.vsnprintf(big, len(big), fmt, ctypes.addressof(saved))
            chunks.append(big.raw[:n])

    callback = BTF_DUMP_PRINTF_FN(printf)  # kept alive in this frame for the whole dump
    btf = lib.btf__parse(os.fsencode(btf_path), None)
    if not btf:
        err = ctypes.get_errno()
        raise ToolchainError(f"cannot parse BTF {btf_path}: {os.strerror(err)}")
    try:
        dump = lib.btf_dump__new(btf, callback, None, None)
        if not dump:
            err = ctypes.get_errno()
            raise ToolchainError(f"btf_dump__new failed for {btf_path}: {os.strerror(err)}")
        try:
            for type_id in range(1, lib.btf__type_cnt(btf)):
                rc = lib.btf_dump__dump_type(dump, type_id)
                if rc < 0 or failures:
                    why = failures[0] if failures else os.strerror(-rc)
                    raise ToolchainError(f"dumping BTF type {type_id} of {btf_path}: {why}")
        finally:
            lib.btf_dump__free(dump)
    finally:
        lib.btf__free(btf)
    chunks.append(TRAILER.encode())
    return b"".join(chunks)


def dump_with_bpftool(btf_path: str) -> bytes:
    bpftool = which("bpftool") or next(
        (p for p in ("/usr/sbin/bpftool", "/sbin/bpftool") if os.access(p, os.X_OK)), None
    )
    if bpftool is None:
        raise ToolchainError(
            "cannot generate vmlinux.h: libbpf failed and bpftool is missing "
            "(apt-get install bpftool / linux-tools-common)"
        )
    proc = subprocess.run(
        [bpftool, "btf", "dump", "file", btf_path, "format", "c"],
        capture_output=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        msg = proc.stderr.decode(errors="replace").strip()
        raise ToolchainError(f"bpftool btf dump {btf_path} failed: {msg}")
    return proc.stdout


def write_atomic(target: Path, data: bytes) -> None:
    """Write via a temp file in the same directory and rename: readers (another server, a
    concurrent compile) see the old file or the whole new one, and a failure leaves nothing."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".vmlinux.h.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def ensure_vmlinux_h(btf_path: str = VMLINUX_BTF, cache_dir: Path | None = None) -> str:
    """The directory holding a vmlinux.h for `btf_path`, generating it on a cache miss."""
    if not os.path.exists(btf_path):
        raise ToolchainError(
            f"kernel BTF {btf_path} not found: the kernel needs CONFIG_DEBUG_INFO_BTF=y, "
            "or set the kernel BTF setting to a vmlinux/BTF file"
        )
    out_dir = (cache_dir or cache_root()) / btf_digest(btf_path)
    header = out_dir / "vmlinux.h"
    if header.is_file():
        return str(out_dir)
    with _generate_lock:
        if not header.is_file():
            try:
                data = dump_with_libbpf(btf_path)
            except ToolchainError:
                data = dump_with_bpftool(btf_path)
            write_atomic(header, data)
    return str(out_dir)
