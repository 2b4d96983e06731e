"""What the guest kernel judges for the host (guestVerify), beyond the verdict itself: the
workspace's `rodataOverrides` reach the guest's verifier, an unchanged program is not sent to
the guest again, and the state hover reads Debian 6.1's log (whose source notes name no file
and line). This host refuses fentry loads with EPERM whatever the code, so an fentry program
is judged by the guest while the test runs as root."""

from __future__ import annotations

from pathlib import Path

from kptr_lsp.analysis import Analysis
from kptr_lsp.features.hover.state import state_hover
from kptr_lsp.findings import Severity
from kptr_lsp.pipeline import analyse
from kptr_lsp.settings import GuestKernel, Settings
from kptr_lsp.targets.kernels import ReadyKernel

# `strict` decides whether the map value is checked for NULL: the kernel sees .rodata as
# constant, so with its default (0) the check is dead code and the dereference is rejected.
SOURCE = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

const volatile int strict = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} calls SEC(".maps");

SEC("fentry/do_unlinkat")
int BPF_PROG(count_unlinks, int dfd, struct filename *name)
{
	__u32 key = 0;
	__u64 *n = bpf_map_lookup_elem(&calls, &key);

	if (strict) {
		if (!n)
			return 0;
	}
	*n += 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""
DEREF = SOURCE.splitlines().index("\t*n += 1;") + 1
STRICT = Settings(rodata_overrides=(("strict", 1),))


def _analyse(path: Path, text: str, settings: Settings, guest: GuestKernel) -> Analysis:
    path.write_text(text)
    return analyse(str(path), text, settings, guest=guest)


def _errors(a: Analysis) -> list[tuple[int, str]]:
    return [(f.line, f.message) for f in a.findings if f.severity == Severity.ERROR]


def test_rodata_overrides_reach_the_guests_verifier(
    kernel: None, debian61: GuestKernel, debian61_ready: ReadyKernel, tmp_path: Path
) -> None:
    path = tmp_path / "strict_rodata.bpf.c"
    default = _analyse(path, SOURCE, Settings(), debian61)
    assert default.guest_programs == ("count_unlinks",)  # the host refused it: the guest's
    assert [(p.name, p.accepted) for p in default.programs] == [("count_unlinks", False)]
    ((line, message),) = _errors(default)
    assert line == DEREF and "R0 invalid mem access 'map_value_or_null'" in message
    assert message.startswith(f"[{debian61_ready.label}] ")

    overridden = _analyse(path, SOURCE, STRICT, debian61)
    assert overridden.guest_programs == ("count_unlinks",)
    assert [(p.name, p.accepted) for p in overridden.programs] == [("count_unlinks", True)]
    assert _errors(overridden) == []
    assert [(v.name, v.value, v.overridden) for v in overridden.rodata] == [("strict", 1, True)]


def test_the_state_hover_reads_the_6_1_guests_log(
    kernel: None, debian61: GuestKernel, debian61_ready: ReadyKernel, tmp_path: Path
) -> None:
    path = tmp_path / "strict_hover.bpf.c"
    rejected = _analyse(path, SOURCE, Settings(), debian61)
    assert rejected.verbose is not None and rejected.verbose.guest is debian61_ready.vm
    hover = state_hover(rejected, DEREF, 1)
    assert hover is not None, "no state on the dereference's line from 6.1's level-2 log"
    assert f"on entry to line {DEREF} in program `count_unlinks`" in hover
    assert "`r0`: pointer into a map value — may be NULL" in hover
    # With the override the guest walked the NULL check first: the same line, R0 checked.
    checked = state_hover(_analyse(path, SOURCE, STRICT, debian61), DEREF, 1)
    assert checked is not None
    assert "`r0`: pointer into a map value" in checked and "may be NULL" not in checked
    assert "`r1`: integer 1" in checked  # `strict`, read from .rodata as the override set it


def test_an_unchanged_program_is_not_sent_to_the_guest_again(
    kernel: None, debian61: GuestKernel, debian61_ready: ReadyKernel, tmp_path: Path
) -> None:
    vm = debian61_ready.vm
    path = tmp_path / "saved_twice.bpf.c"
    loads = vm.loads
    first = _analyse(path, SOURCE, Settings(), debian61)
    assert vm.loads > loads  # the first save asks the guest
    loads = vm.loads
    again = _analyse(path, SOURCE, Settings(), debian61)
    assert vm.loads == loads, "an identical save was verified in the guest again"
    assert again.guest_programs == first.guest_programs == ("count_unlinks",)
    assert _errors(again) == _errors(first)
    assert [p.log for p in again.programs] == [p.log for p in first.programs]

    # A line inserted above the program: same code, no guest round, the error moves with it.
    moved = _analyse(path, "/* a comment */\n" + SOURCE, Settings(), debian61)
    assert vm.loads == loads
    assert [line for line, _ in _errors(moved)] == [DEREF + 1]

    # The override changes what the kernel sees: the guest is asked.
    _analyse(path, SOURCE, STRICT, debian61)
    assert vm.loads > loads
    loads = vm.loads
    # And a changed program is verified again.
    edited = _analyse(path, SOURCE.replace("*n += 1;", "*n += 2;"), Settings(), debian61)
    assert vm.loads > loads
    assert [line for line, _ in _errors(edited)] == [DEREF]
