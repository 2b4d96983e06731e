"""The type hover says what the target kernel makes of a `"kptr"` tag: before 6.4 it meant an
unreferenced kptr, since then a referenced one. Shown with Debian's 6.1 in its VM: a plain store
of a task pointer into the field is accepted there and refused here (6.18), and the hover over
the same struct, with 6.1's BTF and release as the checks' target, names the kind 6.1 reads."""

from __future__ import annotations

from pathlib import Path

from kptr_lsp.analysis import Analysis
from kptr_lsp.features.hover import hover_text
from kptr_lsp.pipeline import analyse
from kptr_lsp.settings import GuestKernel, Settings
from kptr_lsp.targets.kernels import ReadyKernel

SOURCE = r"""/* A task pointer stored plainly into a "kptr"-tagged field. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define KPTR __attribute__((btf_type_tag("kptr")))

struct stash_slot {
	struct task_struct KPTR *task;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, struct stash_slot);
} slots SEC(".maps");

SEC("tp_btf/task_newtask")
int BPF_PROG(stash, struct task_struct *task, u64 clone_flags)
{
	struct stash_slot *s;
	int key = 0;

	if (!task->pid) /* a member read: the object's BTF then has all of task_struct */
		return 0;
	s = bpf_map_lookup_elem(&slots, &key);
	if (!s)
		return 0;
	s->task = task;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""
STRUCT_LINE = SOURCE.splitlines().index("struct stash_slot {") + 1
FIELD_LINE = STRUCT_LINE + 1


def _analyse(path: Path, settings: Settings) -> Analysis:
    return analyse(str(path), SOURCE, settings)


def test_kptr_tag_hover_follows_the_target_kernel(
    kernel: None, debian61: GuestKernel, debian61_ready: ReadyKernel, tmp_path: Path
) -> None:
    path = tmp_path / "plain_store.bpf.c"
    path.write_text(SOURCE)

    # The kernels' behaviour: 6.18 refuses the plain store (a referenced kptr), 6.1 takes it.
    both = _analyse(path, Settings(kernels=(debian61,)))
    running, old = both.kernels
    assert [p.accepted for p in running.programs] == [False]
    assert "store to referenced kptr disallowed" in running.programs[0].log
    assert old.release.startswith("6.1.")
    assert [p.accepted for p in old.programs] == [True], old.programs[0].log

    # The hover, with each kernel as the checks' target.
    here = hover_text(_analyse(path, Settings(verify=False)), STRUCT_LINE, len("struct st"))
    facts = debian61_ready.checks
    then = _analyse(
        path, Settings(verify=False, kernel_btf=facts.btf_path, kernel_release=facts.release)
    )
    assert then.model is not None and then.model.target is not None
    assert then.model.target.version == (6, 1)
    there = hover_text(then, STRUCT_LINE, len("struct st"))
    assert here is not None and there is not None
    assert "`task` | `struct task_struct *` — **referenced kptr** |" in here
    assert "`task` | `struct task_struct *` — **unreferenced kptr** |" in there
    # The field hover (the checks' reading) agrees with the struct hover on each kernel.
    field_there = hover_text(then, FIELD_LINE, len("\tstruct task_struct KPTR *t"))
    assert field_there is not None and "unreferenced kptr to struct task_struct" in field_there
