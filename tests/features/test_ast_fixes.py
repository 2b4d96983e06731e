"""Quick fixes placed on libclang's tree: for each kind, the exact edit offered, and the real
kernel verifier accepting the program once the edit is applied (and refusing the program
before). Programs are in tests/programs/fixes/ (one per kind), and rejected/ and catalogue/."""

from __future__ import annotations

from pathlib import Path

import pytest

from kptr_lsp.analysis import Analysis
from kptr_lsp.features.fix_proof import prove
from kptr_lsp.features.fixes import Edit, Fix, apply_edits, fixes_for
from kptr_lsp.findings import Finding, Severity
from kptr_lsp.pipeline import analyse
from kptr_lsp.settings import Settings

PROGRAMS = Path(__file__).parents[1] / "programs"

# program → (the one fix's title, text the fixed program holds)
CASES = {
    "fixes/kptr_chain_null": (
        "Load `v->task` into `v_task` and return early when it is NULL",
        "\t\treturn 0;\n"
        "\tstruct task_struct *v_task = v->task;\n"
        "\tif (!v_task)\n"
        "\t\treturn 0;\n"
        "\treturn v_task->pid;",
    ),
    "fixes/helper_size_unclamped": (
        "Clamp `len` to sizeof(buf) before bpf_probe_read_kernel()",
        "\tlen = c->len;\n"
        "\tif (len > sizeof(buf))\n"
        "\t\tlen = sizeof(buf);\n"
        "\tbpf_probe_read_kernel(buf, len, task->comm);",
    ),
    "fixes/write_len_clamp_folded": (
        "Return early when `len` exceeds sizeof(e->data)",
        "\te->len = len;\n"
        "\tif (len > sizeof(e->data))\n"
        "\t\treturn 0;\n"
        "\tbpf_probe_read_user(e->data, len, (void *)ctx->args[1]);",
    ),
    "fixes/packet_check_too_short": (
        "Check `ip + 1` against `data_end` before this access "
        "(the check on line 20 proves only 14 bytes)",
        "\tip = (void *)(eth + 1);\n"
        "\tif ((void *)(ip + 1) > data_end)\n"
        "\t\treturn XDP_PASS;\n"
        "\tif (ip->protocol == IPPROTO_UDP)",
    ),
    # No check at all: data_end is loaded from the context first.
    "catalogue/packet_no_bounds_check": (
        "Check `eth + 1` against `data_end` before this access "
        "(nothing checks the packet's length)",
        "\tstruct ethhdr *eth = data;\n\n"
        "\tvoid *data_end = (void *)(long)ctx->data_end;\n"
        "\tif ((void *)(eth + 1) > data_end)\n"
        "\t\treturn XDP_PASS;\n"
        "\tif (eth->h_proto == 0x0008)",
    ),
    "fixes/rcu_kptr_no_lock": (
        "Load and acquire `t` inside bpf_rcu_read_lock()/bpf_rcu_read_unlock()",
        "\tbpf_rcu_read_lock();\n"
        "\tt = s->task;\n"
        "\tif (!t) {\n"
        "\t\tbpf_rcu_read_unlock();\n"
        "\t\treturn 0;\n"
        "\t}\n"
        '\tt = bpf_task_acquire(t); /* EXPECT: error "must be a rcu pointer" */\n'
        "\tbpf_rcu_read_unlock();\n"
        "\tif (!t)",
    ),
    "fixes/task_acquire_leak": (
        "Release `parent` with bpf_task_release() before this return",
        "\tif (!parent)\n"
        "\t\treturn 0;\n"
        # the comment that ends the `if` line stays after the brace
        "\tif (clone_flags & CLONE_THREAD) { /* a thread: its process was counted already */\n"
        "\t\tbpf_task_release(parent);\n"
        "\t\treturn 0;\n"
        "\t}\n",
    ),
    "fixes/kptr_get_removed": (
        "Replace bpf_task_kptr_get() (removed in 6.4) with an RCU read section and "
        "bpf_task_acquire()",
        "\tbpf_rcu_read_lock();\n"
        "\tt = s->task;\n"
        "\tif (t)\n"
        "\t\tt = bpf_task_acquire(t);\n"
        "\tbpf_rcu_read_unlock();",
    ),
    # The pointer an atomic builtin dereferences; an early return with the function's own
    # default (XDP_PASS), not 0 (XDP_ABORTED).
    "rejected/two_programs_one_bad": (
        "Return early when `n` is NULL",
        "\tn = bpf_map_lookup_elem(&per_ifindex, &key);\n"
        "\tif (!n)\n"
        "\t\treturn XDP_PASS;\n"
        "\t__sync_fetch_and_add(n, 1);",
    ),
    "catalogue/null_pointer_arithmetic": (
        "Return early when `v` is NULL",
        "\t__u64 *v = bpf_map_lookup_elem(&table, &key);\n"
        "\tif (!v)\n"
        "\t\treturn XDP_PASS;\n"
        "\t__u64 *w = v + ",
    ),
    "catalogue/kfunc_null_arg": (
        "Return early when `t` is NULL",
        "\tif (!t)\n\t\treturn 0;\n\tbpf_task_release(t);",
    ),
    "catalogue/rcu_unlock_missing": (
        "Call bpf_rcu_read_unlock() before this return",
        "\tpid = task->pid;\n\tbpf_rcu_read_unlock();\n\treturn pid & 1;",
    ),
    "rejected/core_legacy_field_unguarded": (
        "Guard the read of task_struct___legacy.state with bpf_core_field_exists(old->state)",
        "\tif (bpf_core_field_exists(old->state) && BPF_CORE_READ(old, state) == TASK_RUNNING) {",
    ),
}


def errors(analysis: Analysis) -> list[str]:
    return [f.message for f in analysis.findings if f.severity is Severity.ERROR]


def rejection(name: str) -> tuple[Path, str, Analysis, Finding]:
    path = PROGRAMS / f"{name}.bpf.c"
    text = path.read_text()
    before = analyse(str(path), text, Settings())
    assert before.verified and errors(before), "the kernel must reject the program as written"
    return path, text, before, next(f for f in before.findings if f.severity is Severity.ERROR)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_fix_is_the_expected_edit_and_the_kernel_accepts_it(kernel: None, name: str) -> None:
    path, text, before, finding = rejection(name)
    title, fixed_text = CASES[name]
    fixes = fixes_for(before, finding)
    assert title in [f.title for f in fixes]
    fix = next(f for f in fixes if f.title == title)
    fixed = apply_edits(text, fix.edits)
    assert fixed_text in fixed, fixed
    after = analyse(str(path), fixed, Settings())
    assert after.verified
    assert errors(after) == [], f"{fix.title}:\n{fixed}"


def _proven(analysis: Analysis, finding: Finding) -> list[str]:
    """The titles of the fixes the kernel accepts, each proven first (lsp/actions' gate)."""
    return [f.title for f in fixes_for(analysis, finding) if prove(analysis, f, Settings()).holds]


def test_a_null_check_on_the_already_checked_pointer_is_not_offered(kernel: None) -> None:
    """The old text-matching fix checked `v` for `return v->task->pid;`: the kernel still
    rejects that, so the gate refuses it; the fix on the tree is the one offered."""
    _, text, before, finding = rejection("fixes/kptr_chain_null")
    line = next(n for n, src in enumerate(text.split("\n"), 1) if "return v->task->pid" in src)
    wrong = Fix(
        "Return early when `v` is NULL",
        (Edit(line, 0, line, 0, "\tif (!v)\n\t\treturn 0;\n"),),
        finding,
    )
    proof = prove(before, wrong, Settings())
    assert not proof.holds
    assert proof.detail.startswith(
        "the kernel still rejects the fixed program: R1 invalid mem access"
    )
    # The gate the editor goes through accepts the fix on the tree.
    assert _proven(before, finding) == [CASES["fixes/kptr_chain_null"][0]]


def test_a_clamp_the_compiler_folds_away_is_not_offered(kernel: None) -> None:
    """Both size fixes are candidates; for write_len_clamp_folded the kernel still rejects the
    clamp (clang passes the unbounded 64-bit copy), so only the early return is offered, while
    for helper_size_unclamped both hold."""
    _, _, before, finding = rejection("fixes/write_len_clamp_folded")
    assert [f.title for f in fixes_for(before, finding)] == [
        "Clamp `len` to sizeof(e->data) before bpf_probe_read_user()",
        "Return early when `len` exceeds sizeof(e->data)",
    ]
    assert _proven(before, finding) == ["Return early when `len` exceeds sizeof(e->data)"]
    _, _, before, finding = rejection("fixes/helper_size_unclamped")
    assert _proven(before, finding) == [
        "Clamp `len` to sizeof(buf) before bpf_probe_read_kernel()",
        "Return early when `len` exceeds sizeof(buf)",
    ]
