"""What verifying in a guest kernel costs (setting guestVerify): a server with no privileges at
all (run as nobody when started as root), a real LSP client over stdio.

- first verdict after server start: process start → the first publish that carries the
  guest kernel's verifier Error (the guest boots in the background meanwhile; clang's
  findings are published before);
- save → diagnostics through the guest: didChange + didSave of an edit → that version's
  publish with the verifier's Error (compile, then the object sent to the warm guest).

Run with `make bench-guest` (after `make kernels`). The guest is Debian's 7.3 kernel, which
`make kernels` fetches (`auto` would pick the archive's 6.18 on this 6.18 machine and fetch it
first); TCG unless KVM is usable by the server's user.
Figures are printed; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from latency import Published, Session  # noqa: E402

from kptr_lsp.settings import GuestKernel  # noqa: E402
from kptr_lsp.targets.fetch import CACHE_DIR, image_digest  # noqa: E402
from kptr_lsp.targets.kernels import image_of  # noqa: E402
from kptr_lsp.toolchain.debian import libbpf_dir  # noqa: E402

PROGRAM = ROOT / "tests" / "programs" / "rejected" / "map_value_null_deref.bpf.c"
KERNEL = os.environ.get("KPTR_TEST_KERNEL_73", "trixie-backports/linux-image-7.3.4+deb13-amd64")
DROP = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all"]


def _seed(scratch: Path) -> Path:
    """The guest image and nobody's cache (its BTF, the current libbpf): nothing downloaded."""
    image = image_of(GuestKernel(package=KERNEL))
    ours = scratch / "cache" / "kptr-lsp"
    (ours / "kernels" / "btf").mkdir(parents=True)
    copy = scratch / image.name
    shutil.copy(image, copy)
    btf = CACHE_DIR / "btf" / f"{image_digest(image)}.btf"
    if btf.exists():
        shutil.copy(btf, ours / "kernels" / "btf" / btf.name)
    if libbpf_dir().is_dir():
        shutil.copytree(libbpf_dir(), ours / libbpf_dir().relative_to(CACHE_DIR.parent))
    subprocess.run(["chmod", "-R", "a+rwX", str(scratch)], check=True)
    return copy


async def _start(scratch: Path, image: Path, messages: list[str]) -> Session:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "XDG_CACHE_HOME": str(scratch / "cache"),
        "TMPDIR": str(scratch),
    }
    return await Session.start(
        {"guestVerify": str(image), "diagnosticsOnChange": False},
        env,
        prefix=DROP if os.geteuid() == 0 else (),
        root=PROGRAM.parent,
        messages=messages,
    )


def _has_verdict(p: Published) -> bool:
    return any(d.source == "verifier" for d in p.diagnostics)


async def main(args: argparse.Namespace) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="kptr-bench-guest-"))
    scratch.chmod(0o777)
    try:
        image = _seed(scratch)
        work = scratch / "work"
        work.mkdir()
        path = work / PROGRAM.name
        text = PROGRAM.read_text()
        path.write_text(text)
        path.chmod(0o666)
        uri = path.as_uri()
        firsts: list[float] = []
        opened: list[float] = []
        saves: list[float] = []
        accel = "?"
        for _ in range(args.starts):
            start = time.perf_counter()
            messages: list[str] = []
            session = await _start(scratch, image, messages)
            session.versions[uri] = 1
            since = session.mark(uri)
            session.client.text_document_did_open(
                types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "c", 1, text))
            )
            got = await session.wait(uri, 1, since, _has_verdict)
            firsts.append(got.at - start)
            opened.append(session.published[uri][since].at - start)  # clang's, at once
            for i in range(args.saves):
                edited = f"{text}\n/* save {i} */\n"
                since = session.mark(uri)
                t0 = time.perf_counter()
                path.write_text(edited)
                version = session.change(path, edited)
                session.client.text_document_did_save(
                    types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(uri))
                )
                done = await session.wait(uri, version, since, _has_verdict)
                saves.append(done.at - t0)
            notes = [m for m in messages if "guest kernel" in m]
            accel = notes[0].split("(qemu, ", 1)[1].split(")", 1)[0] if notes else "?"
            await session.stop()
        user = "nobody" if os.geteuid() == 0 else os.environ.get("USER", "this user")
        print(f"guest kernel verification ({KERNEL}, qemu {accel}, server as {user})")
        print(f"  first diagnostics after server start (clang) {statistics.median(opened):6.1f} s")
        print(
            f"  first verdict after server start            {statistics.median(firsts):6.1f} s "
            f"(median of {len(firsts)}; boot in the background, clang's findings before)"
        )
        print(
            f"  save → diagnostics through the guest        "
            f"{statistics.median(saves) * 1000:6.0f} ms median, "
            f"{max(saves) * 1000:.0f} ms max ({len(saves)} saves)"
        )
        load = os.getloadavg()[0]
        print(f"  load average at the end: {load:.1f} on {os.cpu_count()} cores")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--starts", type=int, default=2)
    parser.add_argument("--saves", type=int, default=5)
    asyncio.run(main(parser.parse_args()))
