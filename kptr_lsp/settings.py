"""Typed settings, read from LSP initializationOptions / workspace configuration or CLI flags.

Every setting has a default that works with no configuration on a Debian/Ubuntu machine with
clang and libbpf installed. Keys are accepted in camelCase (VS Code style) or snake_case.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from typing import Any

from .kernel.running import VMLINUX_BTF


@dataclass(frozen=True)
class GuestKernel:
    """A kernel to verify against besides the running one: an image file or a Debian package."""

    name: str | None = None  # how diagnostics name it; None = the guest's release
    image: str | None = None  # path to a bzImage/vmlinuz
    package: str | None = None  # e.g. "linux-image-6.1.0-56-amd64", fetched with apt-get

    def label(self) -> str:
        return self.name or self.package or self.image or "?"

    @classmethod
    def parse(cls, value: Any) -> GuestKernel:
        """{"name", "image" | "package"}, or a string: a package name (`linux-image-…`, or
        with its Debian suite: `trixie-backports/linux-image-…`), else an image path."""
        if isinstance(value, str):
            return cls(package=value) if _is_package(value) else cls(image=value)
        if not isinstance(value, dict):
            raise TypeError("expected a kernel image path, a package name or an object")
        unknown = set(value) - {"name", "image", "package"}
        if unknown:
            raise TypeError(f"unknown key(s) {sorted(unknown)} in a target kernel")
        if not all(isinstance(v, str) for v in value.values()):
            raise TypeError("target kernel values must be strings")
        if bool(value.get("image")) == bool(value.get("package")):
            raise TypeError("a target kernel needs exactly one of 'image' and 'package'")
        return cls(value.get("name"), value.get("image"), value.get("package"))


_PACKAGE = re.compile(r"^(?:[a-z][a-z0-9-]*/)?linux-[a-z0-9][a-z0-9+.-]*$")


def _is_package(value: str) -> bool:
    """A bare name, or `suite/linux-…` that is not an existing file (`build/linux-5.x` is)."""
    if "/" not in value:
        return True
    return bool(_PACKAGE.match(value)) and not os.path.exists(value)


@dataclass(frozen=True)
class Settings:
    clang: str | None = None  # path to clang; None = newest clang/clang-NN found
    extra_flags: tuple[str, ...] = ()  # appended to clang's command line
    include_dirs: tuple[str, ...] = ()
    kernel_btf: str = VMLINUX_BTF  # target kernel's BTF (vmlinux.h, checks)
    kernel_release: str | None = None  # that kernel's release (e.g. "6.1.0"); None = running
    use_compile_commands: bool = True
    # The compile_commands.json to take flags from; None = the nearest one above the file
    compile_commands: str | None = None
    precompiled_header: bool = True  # precompile the vmlinux.h include block once
    # compile on vmlinux.h cut to the types the file's BTF holds, when exact (toolchain/trim.py)
    trim_vmlinux: bool = True
    diagnostics_on_change: bool = True  # re-analyse unsaved edits after an idle delay
    change_delay_ms: int = 600  # idle delay before an unsaved edit is analysed
    verify: bool = True  # load programs into the kernel verifier
    # 1 (the failing path) | 4 (BPF_LOG_STATS: verification time and stack depth, for the
    # code lens); on 6.18 the error text is the same as at level 1.
    verifier_log_level: int = 5
    jobs: int = 2  # programs verified concurrently
    compile_timeout_s: float = 30.0
    map_memory_cap_mb: int = 256  # maps bigger than this are not created (0 = no cap)
    # Command that loads programs for us when bpf() is refused, e.g.
    # "sudo -n /path/to/kptr-lsp verify-helper"; empty = none.
    verify_helper: tuple[str, ...] = ()
    # `const volatile` global → value written into .rodata before load (default: the source's)
    rodata_overrides: tuple[tuple[str, int], ...] = ()
    log_level: str = "info"
    # Kernels to verify against too, each booted in a small VM (see kptr_lsp/targets/)
    kernels: tuple[GuestKernel, ...] = ()
    # Inlay hints of the verifier's cost per line (`×1,063 · 4,252 insns`), from a level-2 log
    cost_hints: bool = True
    cost_hint_min_insns: int = 1000  # only on lines where it processed at least this many
    # Verify in a guest kernel (qemu, as this user) what the host will not load: "auto" (a
    # Debian kernel close to the host's release), "off", or a kernel entry as in `kernels`
    # (default: $KPTR_LSP_GUEST_VERIFY, else "auto")
    guest_verify: str | GuestKernel = dataclasses.field(default_factory=lambda: _guest_default())

    @classmethod
    def from_mapping(cls, raw: Any) -> tuple[Settings, list[str]]:
        """Build settings from a JSON-ish mapping; returns (settings, problems).

        Unknown keys and values of the wrong type are reported, not fatal: a typo in an
        editor's config must not stop the server.
        """
        problems: list[str] = []
        if raw is None:
            return cls(), problems
        if not isinstance(raw, dict):
            return cls(), [f"settings must be an object, got {type(raw).__name__}"]
        # VS Code sends {"kptrLsp": {...}} when asked for the whole section.
        if "kptrLsp" in raw and isinstance(raw["kptrLsp"], dict):
            raw = raw["kptrLsp"]
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, value in raw.items():
            name = _snake(key)
            if name == "trace":  # kptrLsp.trace.server is the client's own setting
                continue
            f = fields.get(name)
            if f is None:
                problems.append(f"unknown setting {key!r}")
                continue
            default = f.default
            try:
                values[name] = _coerce(value, default, f.type)
            except (TypeError, ValueError) as exc:
                problems.append(f"setting {key!r}: {exc}")
        release = values.get("kernel_release")
        if release is not None and not re.match(r"^\d+\.\d+", release):
            problems.append(f"setting 'kernelRelease': {release!r} is not a kernel release")
            del values["kernel_release"]
        return dataclasses.replace(cls(), **values), problems


def _guest_default() -> str | GuestKernel:
    value = os.environ.get("KPTR_LSP_GUEST_VERIFY", "auto")
    try:
        return value if value in ("auto", "off") else GuestKernel.parse(value)
    except TypeError:
        return "auto"


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def _coerce(value: Any, default: Any, type_name: Any) -> Any:
    text = str(type_name)
    if text.startswith("tuple[tuple[str, int]"):
        return _name_to_int(value)
    if text.startswith("str | GuestKernel"):
        if value is False or value in ("off", "auto"):
            return "off" if value is False else value
        return GuestKernel.parse(value)
    if text.startswith("tuple[GuestKernel"):
        return tuple(GuestKernel.parse(v) for v in (value if isinstance(value, list) else [value]))
    if "tuple" in text:
        if isinstance(value, str):
            return tuple(value.split())
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise TypeError("expected a list of strings")
    if text.startswith("bool"):
        if isinstance(value, bool):
            return value
        raise TypeError("expected true or false")
    if text.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError("expected a number")
        return int(value)
    if text.startswith("float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError("expected a number")
        return float(value)
    if value is None and "None" in text:
        return None
    if isinstance(value, str):
        return value
    raise TypeError("expected a string")


def _name_to_int(value: Any) -> tuple[tuple[str, int], ...]:
    """{"name": 1, ...} → (("name", 1), ...), sorted so equal settings compare equal."""
    if value == []:
        return ()  # an empty Lua table: Neovim cannot tell an empty object from a list
    if not isinstance(value, dict):
        raise TypeError("expected an object of variable name → integer")
    out: list[tuple[str, int]] = []
    for name, number in value.items():
        if isinstance(number, bool):
            number = int(number)  # a C flag set from JSON true/false
        if not isinstance(number, int):
            raise TypeError(f"{name!r}: expected an integer")
        out.append((str(name), number))
    return tuple(sorted(out))
