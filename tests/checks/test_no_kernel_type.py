"""kptr-no-kernel-type: a struct from vmlinux.h that the target kernel's BTF lacks.

A project's vmlinux.h may come from a newer kernel than the one it runs on. The kernel looks a
kptr's struct up by name in its own BTF; when it is not there, it takes the field for a kptr to
a program-allocated object (bpf_obj_new). The test builds such a header (this kernel's
vmlinux.h plus one struct it does not have), checks the rule fires on the field's line, and
loads a program to show the kernel treats the field as a local-object kptr.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from kptr_lsp.kernel.facts import KernelFacts
from kptr_lsp.verify.loader import verify_object
from tests.checks.tagcheck import TAGS, CheckFn, CompileFn
from tests.expectations import read_expectations

MISSING = "imaginary_kernel_obj"  # not in any kernel's BTF
PROGRAM = f"""\
/* a kptr to a struct that vmlinux.h declares but the running kernel does not have */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "{TAGS.parent / "kptr_common.h"}"

struct holder {{
	struct {MISSING} __kptr *obj; /* EXPECT: warning "does not exist in" */
	struct task_struct __kptr *task;
}};

struct {{
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, struct holder);
}} holders SEC(".maps");

SEC("tp_btf/task_newtask")
int BPF_PROG(stash, struct task_struct *task, u64 clone_flags)
{{
	struct {MISSING} *o, *old;
	struct holder *h;
	int key = 0;

	h = bpf_map_lookup_elem(&holders, &key);
	if (!h)
		return 0;
	o = bpf_obj_new(struct {MISSING});
	if (!o)
		return 0;
	o->refs = task->pid; /* makes task_struct complete in the object's BTF */
	old = bpf_kptr_xchg(&h->obj, o);
	if (old)
		bpf_obj_drop(old);
	return 0;
}}

char LICENSE[] SEC("license") = "GPL";
"""


def _project(tmp_path: Path, vmlinux_dir: Path) -> Path:
    header = tmp_path / "vmlinux.h"
    shutil.copy(vmlinux_dir / "vmlinux.h", header)
    with header.open("a") as fh:
        fh.write(f"\nstruct {MISSING} {{ int refs; long stamp; }};\n")
    prog = tmp_path / "newer_kernel.bpf.c"
    prog.write_text(PROGRAM)
    return prog


def test_rule_fires_on_the_field_and_not_on_kernel_structs(
    tmp_path: Path, vmlinux_dir: Path, check: CheckFn, target: KernelFacts
) -> None:
    prog = _project(tmp_path, vmlinux_dir)
    findings = [f for f in check(prog, target) if f.code == "kptr-no-kernel-type"]
    (expected,) = read_expectations(prog).expects
    assert [f.line for f in findings] == [expected.line]
    assert f"struct {MISSING} does not exist in {target.name}'s BTF" in findings[0].message
    # task_struct, declared in the same vmlinux.h, is a kernel type: no finding for it.
    assert not any("task" in f.message.split(":")[0] for f in findings)


def test_kernel_treats_the_field_as_a_program_object_kptr(
    tmp_path: Path, vmlinux_dir: Path, compile_bpf: CompileFn, kernel: None
) -> None:
    result = verify_object(compile_bpf(_project(tmp_path, vmlinux_dir)))
    (prog,) = result.programs
    # bpf_obj_new'd objects are accepted into the field: the kernel took it for a local type.
    assert prog.accepted, prog.log
    assert not result.btf_rejected


def test_kernel_pointer_cannot_be_stored_in_it(
    tmp_path: Path, vmlinux_dir: Path, compile_bpf: CompileFn, kernel: None
) -> None:
    prog = _project(tmp_path, vmlinux_dir)
    text = prog.read_text()
    store_kernel_object = text.replace(
        f"o = bpf_obj_new(struct {MISSING});",
        f"o = (struct {MISSING} *)bpf_task_acquire(task);",
    ).replace("bpf_obj_drop(old);", "bpf_task_release((struct task_struct *)old);")
    # A task may not be written to; still read one of its members so that task_struct stays a
    # complete type in the object's BTF (a forward-declared kptr target changes the verdict).
    # The same goes for the missing struct, which no member access mentions any more.
    store_kernel_object = re.sub(
        r"o->refs = task->pid;.*",
        f'bpf_printk("%d %d", task->pid, bpf_core_type_size(struct {MISSING}));',
        store_kernel_object,
    ).replace(
        "#include <bpf/bpf_tracing.h>",
        "#include <bpf/bpf_tracing.h>\n#include <bpf/bpf_core_read.h>",
    )
    assert store_kernel_object != text
    prog.write_text(store_kernel_object)
    (result,) = verify_object(compile_bpf(prog)).programs
    assert not result.accepted
    assert "invalid kptr access" in result.log, result.log
