"""Loading through the current libbpf (1.4 from bookworm-backports, fetched by `make setup`):
the loader uses it, and what Debian 12's libbpf 1.1 could not prepare — exception callbacks,
struct_ops in `.struct_ops.link` maps, `struct_ops.s/` programs — gets the kernel's verdict.

Each program is a real one under tests/programs/projects/current_libbpf/, compiled against the
current libbpf's headers and loaded into the running kernel."""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from kptr_lsp.toolchain import debian
from kptr_lsp.verify import loader
from kptr_lsp.verify.libbpf import LIBBPF_ENV, OpenOpts, libbpf
from kptr_lsp.verify.loader import Failure, ObjectResult, verify_object

PROJECT = Path(__file__).parent.parent / "programs" / "projects" / "current_libbpf"
Compile = Callable[[str], bytes]


@pytest.fixture(scope="module")
def current() -> debian.LibbpfTree:
    tree = debian.libbpf_tree()
    if tree is None:
        pytest.fail("the current libbpf is not in the cache: run `make setup`")
    return tree


@pytest.fixture(scope="module")
def compile_current(clang: str, vmlinux_dir: Path, current: debian.LibbpfTree) -> Compile:
    """Compile a program of the project against the current libbpf's headers."""

    def compile_(name: str) -> bytes:
        cmd = [clang, "-target", "bpf", "-g", "-O2", "-D__TARGET_ARCH_x86"]
        cmd += ["-I", str(vmlinux_dir), "-isystem", str(current.include)]
        cmd += ["-idirafter", "/usr/include/x86_64-linux-gnu", "-c", str(PROJECT / name)]
        proc = subprocess.run([*cmd, "-o", "-"], capture_output=True, check=False)
        assert proc.returncode == 0, proc.stderr.decode()
        return proc.stdout

    return compile_


def _verdicts(result: ObjectResult) -> dict[str, bool]:
    assert result.open_error is None, result.open_error
    return {p.name: p.accepted for p in result.programs}


def test_the_loader_and_the_btf_dump_use_the_current_libbpf(current: debian.LibbpfTree) -> None:
    lib = libbpf()
    assert lib.is_current(), lib.describe()
    assert lib.file() == str(current.shared.resolve())
    assert lib.full_version() == current.version
    assert "bookworm-backports" in lib.describe()
    # One copy of libbpf in the process: the BTF dump binds the loader's library.
    from kptr_lsp.toolchain.vmlinux import _libbpf

    assert _libbpf() is lib.shared_object


def test_exception_callback_gets_the_kernels_verdict(
    kernel: None, compile_current: Compile
) -> None:
    result = verify_object(compile_current("exception_cb.bpf.c"), name="exception_cb")
    assert _verdicts(result) == {"guard_ingress": True}


def test_a_static_exception_callback_is_libbpfs_error_in_its_words(
    kernel: None, compile_current: Compile
) -> None:
    result = verify_object(compile_current("exception_cb_static.bpf.c"), name="static_cb")
    (prog,) = result.programs
    assert not prog.accepted
    warnings = "".join(m.text for m in prog.libbpf_messages if m.level == "warn")
    assert "cannot find exception callback 'drop_on_throw'" in warnings
    assert prog.failure is not Failure.VERIFIER  # the kernel never saw it


def test_tcp_congestion_ops_in_struct_ops_link_gets_the_kernels_verdict(
    kernel: None, compile_current: Compile
) -> None:
    result = verify_object(compile_current("tcp_cc_link.bpf.c"), name="tcp_cc_link")
    assert _verdicts(result) == {
        "half_init": True,
        "half_ssthresh": True,
        "half_cong_avoid": True,
        "half_undo_cwnd": True,
    }


def test_sleepable_struct_ops_program_gets_the_kernels_verdict(
    kernel: None, compile_current: Compile
) -> None:
    result = verify_object(compile_current("dummy_ops_sleepable.bpf.c"), name="dummy_ops")
    assert _verdicts(result) == {"test_1": True, "test_sleepable": True}


def _bpftool(*args: str) -> list[dict[str, object]]:
    bpftool = shutil.which("bpftool") or "/usr/sbin/bpftool"
    out = subprocess.run([bpftool, "-j", *args], capture_output=True, text=True, check=True)
    return list(json.loads(out.stdout or "[]"))


def test_struct_ops_loads_leave_nothing_registered(kernel: None, compile_current: Compile) -> None:
    verify_object(compile_current("tcp_cc_link.bpf.c"), name="tcp_cc_link")
    assert not [m for m in _bpftool("struct_ops", "list") if m.get("name") == "half"]
    names = ("half_init", "half_ssthres", "half_cong_avoi", "half_undo_cwnd")  # 15 chars max
    deadline = time.monotonic() + 5  # program references drop after an RCU grace period
    while any(p.get("name") in names for p in _bpftool("prog", "list")):
        assert time.monotonic() < deadline, "struct_ops programs stayed in the kernel"
        time.sleep(0.1)


def test_debian_12s_libbpf_would_have_rejected_them(
    kernel: None, compile_current: Compile, tmp_path: Path
) -> None:
    """The same objects through the system's libbpf 1.1 (KPTR_LSP_LIBBPF=system, in a child:
    the binding is per process): the false rejections the current libbpf removes."""
    for name in ("exception_cb.bpf.c", "tcp_cc_link.bpf.c", "dummy_ops_sleepable.bpf.c"):
        (tmp_path / f"{name}.o").write_bytes(compile_current(name))
    script = (
        "import json, pathlib, sys\n"
        "from kptr_lsp.verify.loader import verify_object\n"
        "out = {}\n"
        "for p in sorted(pathlib.Path(sys.argv[1]).glob('*.o')):\n"
        "    r = verify_object(p.read_bytes(), name=p.stem.split('.')[0])\n"
        "    out.update({x.name: [x.accepted, x.log + ''.join(m.text for m in x.libbpf_messages"
        " if m.level == 'warn')] for x in r.programs})\n"
        "print(json.dumps(out))\n"
    )
    env = {**os.environ, "KPTR_LSP_LIBBPF": "system"}
    proc = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    old = json.loads(proc.stdout)
    assert not any(accepted for accepted, _ in old.values()), old
    assert "exception callback type id not found in func_info" in old["guard_ingress"][1]
    assert "missing BPF prog type" in old["test_sleepable"][1]
    assert "strerror_r(524)" in old["half_init"][1]


# The texts behind the regular expressions: program reached the kernel, map creation, BTF log.
_PATTERN_TEXTS = ("': BPF program load failed", "map '%s': failed to", "-- BEGIN BTF LOAD LOG ---")


@pytest.mark.parametrize(
    "texts",
    [loader._ATTACH_HINTS, loader._RELOCATION_HINTS, loader._POISON_MARKS, _PATTERN_TEXTS],
    ids=["attach", "relocation", "poison", "patterns"],
)
def test_every_libbpf_text_the_loader_classifies_by_is_in_the_current_libbpf(
    current: debian.LibbpfTree, texts: tuple[str, ...]
) -> None:
    """The classes key on libbpf's English text: each text must be one this libbpf prints
    (its format strings are in the .so), or the class silently stops matching."""
    strings = current.shared.read_bytes()
    for text in texts:
        # Format strings hold %s/%d where the message has names and numbers.
        for literal in filter(None, re.split(r"%[a-z]+", text)):
            assert literal.encode() in strings, f"{text!r} is not printed by {current.origin}"


def test_open_opts_matches_the_current_libbpf_header(
    current: debian.LibbpfTree, tmp_path: Path
) -> None:
    """Our ctypes struct bpf_object_open_opts against the C compiler's layout of the current
    libbpf.h: every field we bind at the same offset, `sz` ending before what 1.4 appended."""
    fields = [name for name, _ in OpenOpts._fields_ if not name.startswith("_")]
    src = tmp_path / "layout.c"
    src.write_text(
        "#include <stdio.h>\n#include <stddef.h>\n#include <bpf/libbpf.h>\nint main(void) {\n"
        + "".join(
            f'printf("{n} %zu\\n", offsetof(struct bpf_object_open_opts, {n}));\n' for n in fields
        )
        + 'printf("sizeof %zu\\n", sizeof(struct bpf_object_open_opts));\nreturn 0;\n}\n'
    )
    exe = tmp_path / "layout"
    cc = shutil.which("cc") or shutil.which("gcc")
    assert cc, "no C compiler"
    subprocess.run([cc, "-I", str(current.include), str(src), "-o", str(exe)], check=True)
    out = dict(
        line.split()
        for line in subprocess.run([str(exe)], capture_output=True, text=True).stdout.splitlines()
    )
    for name in fields:
        assert int(out[name]) == getattr(OpenOpts, name).offset, name
    assert ctypes.sizeof(OpenOpts) <= int(out["sizeof"])


def test_a_fetched_libbpf_that_does_not_load_here_falls_back_with_a_warning(
    tmp_path: Path,
) -> None:
    """On a distribution older than Debian 12 the fetched .so may not load (glibc): kptr-lsp
    then uses the system's libbpf and says why, instead of failing every load."""
    root = debian.libbpf_dir(tmp_path / "cache" / "kptr-lsp")
    (root / "usr" / "lib" / "x86_64-linux-gnu").mkdir(parents=True)
    (root / "usr" / "include" / "bpf").mkdir(parents=True)
    (root / "usr" / "lib" / "x86_64-linux-gnu" / "libbpf.so.1.4.6").write_bytes(b"not ELF")
    (root / "usr" / "include" / "bpf" / "bpf_helpers.h").write_text("")
    (root / ".packages").write_text("libbpf1_1.4.6_amd64.deb\n")
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop(LIBBPF_ENV, None)
    proc = subprocess.run(
        [sys.executable, "-m", "kptr_lsp", "--version"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "from the system" in proc.stdout.splitlines()[1]
    assert "does not load here" in proc.stderr
