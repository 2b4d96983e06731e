"""KVM when it can run the guest, TCG when it cannot, and why: the first boot of an image under
KVM is a probe (it must reach the guest loader within KVM_PROBE_S), whose outcome is kept, so
a machine where KVM cannot run Debian's kernel (this one: its /dev/kvm is kvm-pvm's, which runs
only PVM guest kernels) pays for the probe once. Each image's probe record starts fresh here:
the initramfs is copied into the test's own cache directory, where the record is kept."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

from kptr_lsp.targets.kernels import ReadyKernel
from kptr_lsp.targets.vm import KVM_PROBE_S, TargetVM, kvm_probed, kvm_unusable

PASS = (
    '#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n'
    'SEC("xdp") int pass(struct xdp_md *ctx) { return XDP_PASS; }\n'
    'char LICENSE[] SEC("license") = "GPL";\n'
)


def _boot(image: Path, initrd: Path, obj: bytes) -> tuple[TargetVM, float]:
    vm = TargetVM(image, initrd)
    t0 = time.monotonic()
    try:
        vm.start()
        wall = time.monotonic() - t0
        (program,) = vm.verify(obj).programs
        assert program.accepted, program.log  # the guest works, whichever accelerator
    except BaseException:
        vm.shutdown()
        raise
    return vm, wall


def test_kvm_when_it_boots_the_guest_else_tcg_saying_why(
    debian61_ready: ReadyKernel, compile_bpf: Callable[[Path | str], bytes], tmp_path: Path
) -> None:
    image = debian61_ready.vm.image
    initrd = tmp_path / debian61_ready.vm.initrd.name
    shutil.copy(debian61_ready.vm.initrd, initrd)
    obj = compile_bpf(PASS)
    assert kvm_probed(image, tmp_path) is None  # a fresh record

    vm, _ = _boot(image, initrd, obj)
    booted = vm.booted
    vm.shutdown()
    assert booted is not None
    why_not = kvm_unusable()
    print(f"\n/dev/kvm: {why_not or 'opens'}; {booted.accel} {booted.accel_note!r}")
    if why_not is not None:  # not even tried
        assert (booted.accel, booted.accel_note) == ("TCG", "")
        assert kvm_probed(image, tmp_path) is None
        return
    kept = kvm_probed(image, tmp_path)
    assert kept is not None, "the KVM probe's outcome was not kept"
    works, note = kept
    if works:
        assert (booted.accel, booted.accel_note) == ("KVM", "")
        return
    assert booted.accel == "TCG"
    assert booted.accel_note == note
    assert note.startswith("KVM: ") and note.endswith("; TCG instead"), note
    assert "under KVM" in note or "stopped" in note, note

    # The next boot of the image goes straight to TCG, saying why, without probing again.
    vm, wall = _boot(image, initrd, obj)
    again = vm.booted
    vm.shutdown()
    assert again is not None and (again.accel, again.accel_note) == ("TCG", note)
    assert wall - again.boot_s < KVM_PROBE_S / 2, f"probed again ({wall:.1f} s to boot)"
