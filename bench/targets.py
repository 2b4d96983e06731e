"""What a target kernel costs: VM boot, first BTF dump, and each object's verification in the
guest next to the running kernel's. Run with `make bench-targets` (after `make kernels`).
Figures are printed; nothing is asserted."""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

from kptr_lsp.pipeline import analyse
from kptr_lsp.settings import GuestKernel, Settings
from kptr_lsp.targets.fetch import CACHE_DIR, image_digest, package_image
from kptr_lsp.targets.initramfs import initramfs
from kptr_lsp.targets.vm import TargetVM, shutdown_all

ROOT = Path(__file__).resolve().parent.parent
OBJECTS = [
    ROOT / "tests/programs/clean/kptr_ok.bpf.c",
    ROOT / "tests/programs/clean/obj_new_ok.bpf.c",
    ROOT / "tests/programs/rejected/kptr_untrusted_deref_no_null.bpf.c",
]
RUNS = 5


def main() -> None:
    package = sys.argv[1] if len(sys.argv) > 1 else "linux-image-6.1.0-56-amd64"
    image = package_image(package)
    initrd = initramfs(CACHE_DIR)
    print(
        f"target {package}: image {image.stat().st_size / 2**20:.1f} MiB, "
        f"initramfs {initrd.stat().st_size / 2**20:.1f} MiB"
    )
    vm = TargetVM(image, initrd)
    t0 = time.perf_counter()
    booted = vm.start()
    print(f"boot to the loader ({booted.release}): {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    btf = vm.btf()
    print(
        f"BTF dump over the serial port: {len(btf) / 2**20:.1f} MiB in "
        f"{time.perf_counter() - t0:.1f} s (once per image {image_digest(image)})"
    )
    vm.shutdown()

    target = Settings(kernels=(GuestKernel(package=package),))
    for path in OBJECTS:
        text = path.read_text()
        analyse(str(path), text, target)  # boots once, warms caches
        here, there = [], []
        for _ in range(RUNS):
            analysis = analyse(str(path), text, target)
            here.append(analysis.timings["verify"])
            there.append(analysis.timings["targets"])
        print(
            f"{path.name}: running kernel {statistics.median(here) * 1000:.0f} ms, "
            f"+ {package} {statistics.median(there) * 1000:.0f} ms (median of {RUNS})"
        )
    shutdown_all()
    print(f"qemu processes left: {os.popen('pgrep -c qemu-system').read().strip()}")


if __name__ == "__main__":
    main()
