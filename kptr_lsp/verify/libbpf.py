"""ctypes binding to libbpf (1.x): only the calls the loader needs.

Which libbpf: the current one `make setup` fetched from bookworm-backports into the cache
(toolchain/debian.py: libbpf1 1.4 — Debian 12's own 1.1 cannot prepare exception callbacks,
`.struct_ops.link` maps or `struct_ops.s/` programs), else the system's with a warning, once.
`KPTR_LSP_LIBBPF` names a .so to use instead, or `system` for the system's. Every user in the
process (the loader, the BTF dump of toolchain/vmlinux.py) goes through this one choice.

Handles are plain ints (C pointers). Functions return libbpf's own convention turned into Python:
negative error codes become positive errnos, NULL pointers become None. Nothing here knows about
programs' results; see loader.py for that.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import platform
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

log = logging.getLogger(__name__)

# enum libbpf_print_level
LIBBPF_WARN: Final = 0
LIBBPF_INFO: Final = 1
LIBBPF_DEBUG: Final = 2

BPF_PROG_TYPE_SOCKET_FILTER: Final = 1
BPF_PROG_TYPE_XDP: Final = 6
BPF_PROG_TYPE_TRACING: Final = 26
BPF_PROG_TYPE_LSM: Final = 29
BPF_INSN_SIZE: Final = 8

# sizeof(va_list) per ABI. On x86_64 va_list is __va_list_tag[1] (arrives as a pointer); on aarch64
# the 32-byte struct is passed by reference. Either way a plain memcpy is va_copy, which lets us
# format a message twice when the first buffer was too small.
_VA_LIST_SIZE: Final = {"x86_64": 24, "aarch64": 32}.get(platform.machine(), 0)
_FIRST_FORMAT_SIZE: Final = 4096


class OpenOpts(ctypes.Structure):
    """struct bpf_object_open_opts as of libbpf 1.1 (80 bytes on LP64). libbpf 1.4 appended
    `bpf_token_path` (and a trailing `size_t :0`); `sz` tells it we stop before, which it
    accepts: the token path is then NULL, i.e. libbpf's default (no token without a delegating
    BPF FS), exactly as for a 1.4 caller that leaves it unset."""

    _fields_ = (
        ("sz", ctypes.c_size_t),
        ("object_name", ctypes.c_char_p),
        ("relaxed_maps", ctypes.c_bool),
        ("pin_root_path", ctypes.c_char_p),
        ("_attach_prog_fd", ctypes.c_uint32),  # removed field, kept for layout
        ("kconfig", ctypes.c_char_p),
        ("btf_custom_path", ctypes.c_char_p),
        ("kernel_log_buf", ctypes.c_void_p),
        ("kernel_log_size", ctypes.c_size_t),
        ("kernel_log_level", ctypes.c_uint32),
    )


class _DlInfo(ctypes.Structure):
    _fields_ = (
        ("dli_fname", ctypes.c_char_p),
        ("dli_fbase", ctypes.c_void_p),
        ("dli_sname", ctypes.c_char_p),
        ("dli_saddr", ctypes.c_void_p),
    )


PRINT_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
# btf_dump_printf_fn_t: (ctx, fmt, va_list)
BTF_DUMP_PRINTF_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p)

PrintSink = Callable[[int, str], None]
"""Receives (libbpf print level, formatted message) for every libbpf print."""


class LibbpfError(OSError):
    """libbpf could not be found or lacks a symbol we need."""


LIBBPF_ENV: Final = "KPTR_LSP_LIBBPF"


@dataclass(frozen=True)
class Choice:
    """Which libbpf shared object to load, and why (for the log, hovers and --version)."""

    path: str
    origin: str  # "bookworm-backports (/root/.cache/…/libbpf.so.1.4.6)", "the system's"
    warning: str | None = None  # why the current libbpf is not the one in use


def _system_libbpf() -> str:
    return ctypes.util.find_library("bpf") or "libbpf.so.1"


def choose() -> Choice:
    """The current libbpf from the cache, else the system's (with a warning)."""
    forced = os.environ.get(LIBBPF_ENV, "")
    if forced == "system":
        return Choice(_system_libbpf(), f"the system ({LIBBPF_ENV}=system)")
    if forced:
        return Choice(forced, f"{LIBBPF_ENV}={forced}")
    # Imported here: the toolchain package is heavy, and only the first binding needs it.
    from kptr_lsp.toolchain.debian import LIBBPF_SUITE, libbpf_tree

    tree = libbpf_tree()
    if tree is not None:
        return Choice(str(tree.shared), f"{LIBBPF_SUITE} ({tree.root})")
    return Choice(
        _system_libbpf(),
        "the system",
        f"the current libbpf (libbpf1 from {LIBBPF_SUITE}) is not in the cache: loading "
        "through the system's libbpf, which may reject exception callbacks and struct_ops "
        "that the kernel accepts; run `make setup` to fetch it",
    )


class Libbpf:
    """The libbpf shared object with typed wrappers. Use `libbpf()` for the shared instance."""

    def __init__(self, path: str | None = None) -> None:
        self.choice = Choice(path, path) if path else choose()
        try:
            self._lib = self._open(path is None)
            self._libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        except OSError as exc:
            raise LibbpfError(f"cannot load libbpf: {exc}") from exc
        self._print_fn: object = None  # keeps the C callback alive while installed
        self.print_sink: PrintSink | None = None
        self._declare()

    def _open(self, may_fall_back: bool) -> ctypes.CDLL:
        """The chosen library; the system's when the fetched one does not load here (built
        for Debian 12's glibc: another distribution may be older)."""
        try:
            return ctypes.CDLL(self.choice.path, use_errno=True)
        except OSError as exc:
            system = _system_libbpf()
            if not may_fall_back or self.choice.path == system:
                raise
            self.choice = Choice(
                system,
                "the system",
                f"the current libbpf ({self.choice.path}) does not load here ({exc}): loading "
                "through the system's libbpf, which may reject exception callbacks and "
                "struct_ops that the kernel accepts",
            )
            return ctypes.CDLL(system, use_errno=True)

    def _declare(self) -> None:
        vp, cp, i, sz = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_size_t
        sigs: dict[str, tuple[object, list[object]]] = {
            "bpf_object__open_mem": (vp, [vp, sz, ctypes.POINTER(OpenOpts)]),
            "bpf_object__load": (i, [vp]),
            "bpf_object__close": (None, [vp]),
            "bpf_object__next_program": (vp, [vp, vp]),
            "bpf_object__name": (cp, [vp]),
            "bpf_program__name": (cp, [vp]),
            "bpf_program__section_name": (cp, [vp]),
            "bpf_program__set_autoload": (i, [vp, ctypes.c_bool]),
            "bpf_program__set_log_buf": (i, [vp, vp, sz]),
            "bpf_program__set_log_level": (i, [vp, ctypes.c_uint32]),
            "bpf_program__insns": (vp, [vp]),
            "bpf_program__insn_cnt": (sz, [vp]),
            "bpf_program__type": (i, [vp]),
            "bpf_program__fd": (i, [vp]),
            "bpf_obj_get_info_by_fd": (i, [i, vp, ctypes.POINTER(ctypes.c_uint32)]),
            # Map setup between open and load (what a project's userspace does).
            "bpf_map__set_max_entries": (i, [vp, ctypes.c_uint32]),
            "bpf_map__set_key_size": (i, [vp, ctypes.c_uint32]),
            "bpf_map__set_value_size": (i, [vp, ctypes.c_uint32]),
            "bpf_map__initial_value": (vp, [vp, ctypes.POINTER(sz)]),
            "bpf_map__set_initial_value": (i, [vp, vp, sz]),
            "libbpf_set_print": (vp, [PRINT_FN]),
            "libbpf_strerror": (i, [i, vp, sz]),
            "libbpf_version_string": (cp, []),
            "libbpf_major_version": (ctypes.c_uint32, []),
            "libbpf_minor_version": (ctypes.c_uint32, []),
            "bpf_prog_load": (i, [i, cp, cp, vp, sz, vp]),
            "libbpf_probe_bpf_prog_type": (i, [i, vp]),
            "bpf_object__next_map": (vp, [vp, vp]),
            "bpf_map__name": (cp, [vp]),
            "bpf_map__type": (i, [vp]),
            "bpf_map__max_entries": (ctypes.c_uint32, [vp]),
            "bpf_map__key_size": (ctypes.c_uint32, [vp]),
            "bpf_map__value_size": (ctypes.c_uint32, [vp]),
            "libbpf_num_possible_cpus": (i, []),
            # BTF as C (toolchain/vmlinux.py's vmlinux.h)
            "btf__parse": (vp, [cp, vp]),
            "btf__type_cnt": (ctypes.c_uint32, [vp]),
            "btf__free": (None, [vp]),
            "btf_dump__new": (vp, [vp, BTF_DUMP_PRINTF_FN, vp, vp]),
            "btf_dump__dump_type": (i, [vp, ctypes.c_uint32]),
            "btf_dump__free": (None, [vp]),
        }
        try:
            for name, (restype, argtypes) in sigs.items():
                fn = getattr(self._lib, name)
                fn.restype = restype
                fn.argtypes = argtypes
        except AttributeError as exc:
            raise LibbpfError(f"libbpf lacks a symbol: {exc}") from exc
        self._libc.vsnprintf.restype = ctypes.c_int
        self._libc.vsnprintf.argtypes = [vp, sz, cp, vp]
        self._libc.dladdr.restype = ctypes.c_int
        self._libc.dladdr.argtypes = [vp, ctypes.POINTER(_DlInfo)]

    # --- objects -----------------------------------------------------------------------------

    def open_mem(self, buf: ctypes.Array[ctypes.c_char], opts: OpenOpts) -> tuple[int | None, int]:
        """(object handle, 0) or (None, errno). `buf` must outlive the object: libbpf keeps it."""
        ptr = self._lib.bpf_object__open_mem(buf, len(buf), ctypes.byref(opts))
        if not ptr:
            return None, ctypes.get_errno() or 22
        return int(ptr), 0

    def load(self, obj: int) -> int:
        """0 or a positive errno. Releases the GIL for the whole verification."""
        ret = int(self._lib.bpf_object__load(obj))
        return -ret if ret < 0 else 0

    def close(self, obj: int) -> None:
        self._lib.bpf_object__close(obj)

    def object_name(self, obj: int) -> str:
        return _text(self._lib.bpf_object__name(obj))

    def programs(self, obj: int) -> list[int]:
        out: list[int] = []
        prog = self._lib.bpf_object__next_program(obj, None)
        while prog:
            out.append(int(prog))
            prog = self._lib.bpf_object__next_program(obj, prog)
        return out

    # --- maps (as libbpf will create them: internal .data/.bss maps included) ----------------

    def maps(self, obj: int) -> list[int]:
        out: list[int] = []
        m = self._lib.bpf_object__next_map(obj, None)
        while m:
            out.append(int(m))
            m = self._lib.bpf_object__next_map(obj, m)
        return out

    def map_name(self, m: int) -> str:
        return _text(self._lib.bpf_map__name(m))

    def map_type(self, m: int) -> int:
        return int(self._lib.bpf_map__type(m))

    def map_max_entries(self, m: int) -> int:
        return int(self._lib.bpf_map__max_entries(m))

    def map_key_size(self, m: int) -> int:
        return int(self._lib.bpf_map__key_size(m))

    def map_value_size(self, m: int) -> int:
        return int(self._lib.bpf_map__value_size(m))

    def possible_cpus(self) -> int:
        """Per-CPU maps hold one value per possible CPU; 1 if libbpf cannot tell."""
        n = int(self._lib.libbpf_num_possible_cpus())
        return n if n > 0 else 1

    # --- programs ----------------------------------------------------------------------------

    def program_name(self, prog: int) -> str:
        return _text(self._lib.bpf_program__name(prog))

    def program_section(self, prog: int) -> str:
        return _text(self._lib.bpf_program__section_name(prog))

    def program_type(self, prog: int) -> int:
        return int(self._lib.bpf_program__type(prog))

    def set_autoload(self, prog: int, autoload: bool) -> int:
        return -int(self._lib.bpf_program__set_autoload(prog, autoload))

    def set_log(self, prog: int, buf: ctypes.Array[ctypes.c_char], level: int) -> int:
        """Give the program a log buffer (must outlive the load) and a verifier log level."""
        err = -int(self._lib.bpf_program__set_log_buf(prog, buf, len(buf)))
        return err or -int(self._lib.bpf_program__set_log_level(prog, level))

    def insns(self, prog: int) -> bytes:
        """The program's instructions as libbpf holds them now (raw struct bpf_insn array)."""
        ptr = self._lib.bpf_program__insns(prog)
        count = int(self._lib.bpf_program__insn_cnt(prog))
        if not ptr or count <= 0:
            return b""
        return ctypes.string_at(ptr, count * BPF_INSN_SIZE)

    def jited_size(self, prog: int) -> int | None:
        """Bytes of machine code the kernel's JIT made of a loaded program (`jited_prog_len`
        of struct bpf_prog_info); None when it is not loaded or the kernel does not say (no
        JIT, or a process not allowed to see it)."""
        fd = int(self._lib.bpf_program__fd(prog))
        if fd < 0:
            return None
        info = (ctypes.c_uint32 * 6)()  # type, id, tag[8], jited_prog_len, xlated_prog_len
        size = ctypes.c_uint32(ctypes.sizeof(info))
        if self._lib.bpf_obj_get_info_by_fd(fd, info, ctypes.byref(size)) != 0:
            return None
        return int(info[4]) or None

    # --- map setup before load --------------------------------------------------------------
    # Setters return 0 or a positive errno; they only work between open and load.

    def set_map_max_entries(self, m: int, value: int) -> int:
        return -int(self._lib.bpf_map__set_max_entries(m, value))

    def set_map_key_size(self, m: int, value: int) -> int:
        return -int(self._lib.bpf_map__set_key_size(m, value))

    def set_map_value_size(self, m: int, value: int) -> int:
        return -int(self._lib.bpf_map__set_value_size(m, value))

    def map_initial_value(self, m: int) -> bytes | None:
        """The initial contents of a global-data map (.rodata, .data), None for other maps."""
        size = ctypes.c_size_t(0)
        ptr = self._lib.bpf_map__initial_value(m, ctypes.byref(size))
        return ctypes.string_at(ptr, size.value) if ptr else None

    def set_map_initial_value(self, m: int, data: bytes) -> int:
        buf = ctypes.create_string_buffer(data, len(data))  # libbpf copies it
        return -int(self._lib.bpf_map__set_initial_value(m, buf, len(data)))

    # --- global ------------------------------------------------------------------------------

    def strerror(self, err: int) -> str:
        """libbpf's text for an errno, including its own LIBBPF_ERRNO__* codes (4000+)."""
        buf = ctypes.create_string_buffer(256)
        self._lib.libbpf_strerror(err, buf, len(buf))
        return buf.value.decode(errors="replace") or os.strerror(err)

    def version(self) -> str:
        return _text(self._lib.libbpf_version_string())

    def file(self) -> str:
        """The file the dynamic loader really opened (dladdr of one of its functions)."""
        info = _DlInfo()
        fn = ctypes.cast(self._lib.libbpf_version_string, ctypes.c_void_p)
        if self._libc.dladdr(fn, ctypes.byref(info)) and info.dli_fname:
            return os.path.realpath(os.fsdecode(info.dli_fname))
        return self.choice.path

    def full_version(self) -> str:
        """`1.4.6` from the file name (libbpf_version_string has no patch level), else `v1.4`."""
        name = os.path.basename(self.file())
        prefix = "libbpf.so."
        if name.startswith(prefix) and name.count(".") >= 4:
            return name[len(prefix) :]
        return self.version()

    def describe(self) -> str:
        """`libbpf 1.4.6 from bookworm-backports (/root/.cache/…)`: for people."""
        return f"libbpf {self.full_version()} from {self.choice.origin}"

    def is_current(self) -> bool:
        """At least 1.4: prepares exception callbacks and every struct_ops form."""
        return (int(self._lib.libbpf_major_version()), int(self._lib.libbpf_minor_version())) >= (
            1,
            4,
        )

    @property
    def shared_object(self) -> ctypes.CDLL:
        """The loaded library itself, its functions declared here (the BTF dump's too)."""
        return self._lib

    @property
    def libc(self) -> ctypes.CDLL:
        """The C library, `vsnprintf` declared (libbpf's callbacks hand over a va_list)."""
        return self._libc

    def prog_load_raw(self, prog_type: int, insns: bytes, license_: str = "GPL") -> int:
        """bpf_prog_load without an object: a file descriptor or a negative errno."""
        buf = ctypes.create_string_buffer(insns, len(insns))
        fd = int(
            self._lib.bpf_prog_load(
                prog_type, b"kptr_probe", license_.encode(), buf, len(insns) // BPF_INSN_SIZE, None
            )
        )
        return fd

    def probe_prog_type(self, prog_type: int) -> bool | None:
        """libbpf's probe: does this kernel load programs of this type? None if it cannot tell."""
        ret = int(self._lib.libbpf_probe_bpf_prog_type(prog_type, None))
        return None if ret < 0 else ret == 1

    def set_print(self, sink: PrintSink, wants: Callable[[int], bool] | None = None) -> None:
        """Route every libbpf message, formatted, to `sink`. Process-global, like libbpf's hook.
        `wants(level)` False skips a message before it is formatted: libbpf prints ~230 debug
        lines per load, and formatting each holds the GIL that parallel loads need."""

        def hook(level: int, fmt: bytes | None, ap: int | None) -> int:
            if wants is not None and not wants(level):
                return 0
            # An exception must not unwind into C: ctypes would only print it anyway.
            with contextlib.suppress(Exception):
                sink(level, self._format(fmt or b"", ap))
            return 0

        fn = PRINT_FN(hook)
        self._lib.libbpf_set_print(fn)
        self._print_fn = fn
        self.print_sink = sink

    def _format(self, fmt: bytes, ap: int | None) -> str:
        if ap is None:
            return fmt.decode(errors="replace")
        saved = ctypes.string_at(ap, _VA_LIST_SIZE) if _VA_LIST_SIZE else b""
        size = _FIRST_FORMAT_SIZE if _VA_LIST_SIZE else 1 << 20
        buf = ctypes.create_string_buffer(size)
        need = int(self._libc.vsnprintf(buf, size, fmt, ap))
        if need >= size and saved:
            ctypes.memmove(ap, saved, len(saved))  # va_copy back to the start
            buf = ctypes.create_string_buffer(need + 1)
            self._libc.vsnprintf(buf, need + 1, fmt, ap)
        return buf.value.decode(errors="replace")


def _text(value: bytes | None) -> str:
    return value.decode(errors="replace") if value else ""


_shared: Libbpf | None = None
_shared_lock = threading.Lock()


def libbpf() -> Libbpf:
    """The process-wide binding (libbpf's print hook is global, so one binding is enough)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Libbpf()
            if _shared.choice.warning:
                log.warning("%s", _shared.choice.warning)
            log.info("loading through %s", _shared.describe())
        return _shared


def status() -> tuple[str, str | None]:
    """(which libbpf loads programs, why it is not the current one or None): for
    `--version`, the server log and hovers. Never raises."""
    try:
        lib = libbpf()
    except LibbpfError as exc:
        return f"libbpf: not loadable ({exc})", str(exc)
    return lib.describe(), lib.choice.warning
