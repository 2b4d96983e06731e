"""Which real program proves each catalogue entry added for issue #14 §5/§6, and which concrete
facts of that program's log its explanation must name.

The programs are batched, several per file (tests/programs/catalogue/*.bpf.c, one program per
message), so that one analysis per file covers them all. In `details`, `@{text}` stands for the
number of the one line of the file that contains `text`: the explanation must name that line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

PROGRAMS = Path(__file__).parent / "programs"


@dataclass(frozen=True)
class Case:
    entry: str  # catalogue entry id
    file: str  # under tests/programs
    program: str  # the program (function) that produces the message
    details: tuple[str, ...]  # substrings of the explanation, `@{...}` resolved to line numbers


def C(entry: str, file: str, program: str, *details: str) -> Case:
    return Case(entry, file, program, details)


S, IRQ, IT = (
    "catalogue/stack_access.bpf.c",
    "catalogue/irq_flags.bpf.c",
    "catalogue/iterators.bpf.c",
)
MB, HA = "catalogue/memory_bounds.bpf.c", "catalogue/helper_args.bpf.c"
PA, PK = "catalogue/pointer_arith.bpf.c", "catalogue/packets.bpf.c"
KF, LO = "catalogue/kptr_fields.bpf.c", "catalogue/local_objects.bpf.c"

CASES: tuple[Case, ...] = (
    # stack access
    C("stack-misaligned", S, "comm_prefix", "line @{(comm + 2)}", "4-byte access", "0+-14"),
    C(
        "stack-read-special",
        S,
        "peek_dynptr",
        "line @{raw = *(volatile}",
        "Stack slot fp-16 holds `dynptr_ringbuf(",
    ),
    C(
        "stack-read-helper",
        S,
        "emit_with_ptr",
        "line @{bpf_ringbuf_output(&events, &e}",
        "bpf_ringbuf_output() reads R2 = fp-24",
        "stack slot fp-24, which holds `dynptr_ringbuf(",
    ),
    C(
        "stack-access-out-of-frame",
        S,
        "short_comm",
        "bpf_get_current_comm() is told to write to 16 bytes at fp-8",
        "only 8 bytes lie between fp-8 and the top of the frame",
    ),
    C(
        "stack-variable-offset",
        S,
        "mark_slot",
        "line @{seen[cpu & 31]}",
        "known bits (0x0; 0x1f) around fp-16",
    ),
    C("pointer-offset-out-of-range", S, "mark_signed", "line @{seen[slot] = 1}", "-2147483648"),
    # IRQ flags
    C(
        "irq-restore-out-of-order",
        IRQ,
        "nested_wrong_order",
        "The restore is instruction",
        "at line @{bpf_local_irq_restore(&outer)}",
        "the innermost save, which must be restored first, is instruction 7 at line "
        "@{bpf_local_irq_save(&inner)}",
    ),
    C(
        "irq-exit-inside-region",
        IRQ,
        "early_return",
        "The flags are saved at instruction",
        "line @{early_return, struct}",  # the exit belongs to BPF_PROG's wrapper
    ),
    C(
        "irq-flag-uninit",
        IRQ,
        "restore_unsaved",
        'line @{bpf_local_irq_restore(&flags); /* EXPECT: error "expected an}',
        "R1 points at fp-8",
    ),
    C(
        "irq-flag-reused",
        IRQ,
        "save_twice",
        "line @{bpf_local_irq_save(&flags); /* EXPECT}",
        "already saved at instruction",
    ),
    # iterators
    C(
        "iter-reinit",
        IT,
        "sum_restarted",
        "line @{bpf_iter_num_new(&it, 0, 20)}",
        "already created at instruction",
        "line @{bpf_iter_num_new(&it, 0, 10)}",
    ),
    C(
        "iter-uninit",
        IT,
        "sum_uncreated",
        "bpf_iter_num_next() is called at instruction",
        "R1 = fp-",
        "no bpf_iter_num_new() initialised",
    ),
    C(
        "iter-not-on-stack",
        IT,
        "iter_in_map",
        "bpf_iter_num_new() at instruction",
        "R1 = `map_value`",
        "line @{bpf_map_lookup_elem(&cursors}",
        "calls bpf_map_lookup_elem()",
    ),
    # memory bounds and dynptrs
    C(
        "zero-sized-read",
        MB,
        "comm_len_maybe_zero",
        "bpf_get_current_comm() is called at instruction",
        "line @{task->pid & 15}",
        "[0, 15]",
    ),
    C(
        "unbounded-memory-access",
        MB,
        "copy_unbounded",
        "bpf_probe_read_kernel() is called at instruction",
        "its size R2 = scalar(",
        "which loads it from memory at r1+",
    ),
    C(
        "memory-access-out-of-bounds",
        MB,
        "record_too_small",
        "line @{e->start = }",
        "the region comes from instruction",
        "line @{bpf_ringbuf_reserve(&events, sizeof(struct small_event)}",
        "calls bpf_ringbuf_reserve()",
        "region of 8 bytes",
    ),
    C(
        "dynptr-overwritten-by-helper",
        MB,
        "read_into_dynptr",
        "bpf_probe_read_kernel() is called at instruction",
        "line @{bpf_probe_read_kernel(&rec}",
        "frame offset -16",
    ),
    C(
        "dynptr-at-offset",
        MB,
        "dynptr_in_arena",
        "line @{reserve_dynptr(&events, 16, 0, rec)}",
        "-20",
    ),
    # helper and kfunc arguments, functions
    C(
        "helper-null-arg",
        HA,
        "swap_mask",
        "bpf_kptr_xchg() is called at instruction",
        "line @{old = bpf_kptr_xchg(&v->mask, cur)}",
        "R2 = `rcu_ptr_or_null_bpf_cpumask`",
        "line @{cur = v->mask;}",
    ),
    C(
        "arg-not-constant",
        HA,
        "peek_header",
        "bpf_dynptr_slice() is called at instruction",
        "R4 = scalar(",
        "line @{__u32 len = skb->len & 63;}",
    ),
    C(
        "arg-not-trusted",
        HA,
        "walk_wakee_threads",
        "bpf_iter_task_new() is called at instruction",
        "R2 = `untrusted_ptr_task_struct`",
    ),
    C(
        "arg-ctx-expected",
        HA,
        "mark_of_value",
        "argument 0 of `skb_mark` is R1 = `map_value`",
        "line @{bpf_map_lookup_elem(&last_skb}",
    ),
    C("sleepable-global-function", HA, "new_task_flag", "line @{return read_user_flag(}"),
    C(
        "call-while-locked",
        "rejected/spin_lock_held_at_call.bpf.c",
        "stamp",
        "bpf_ktime_get_ns() is called at instruction",
        "the lock taken at instruction",
        "line @{bpf_spin_lock(&v->lock)}",
    ),
    C(
        "arg-size-unknown",
        "rejected/global_func_void_arg.bpf.c",
        "trace_write",
        "`UNKNOWN `",
    ),
    C(
        "exception-callback-signature",
        "catalogue/exception_callback.bpf.c",
        "short_frame",
        "The callback the verifier checked is on_throw() (func#1).",
    ),
    # pointer arithmetic, ctx, map object, instructions
    C("pkt-end-arithmetic", PA, "eth_room", "line @{data_end - 4}", "R2"),
    C("pointer-shift", PA, "hash_slot", "R0 is `map_value`", "`<<=`", "line @{<< 3}"),
    C("pointer-bitwise", PA, "align_down", "R0 is `map_value`", "`&=`", "line @{& ~7UL}"),
    C("modified-ctx-deref", PA, "mark_by_pointer", "line @{return *field;}", "R1 = ctx(off=8)"),
    C("same-insn-different-pointers", PA, "len_or_default", "line @{return *len;}"),
    C("map-pointer-write", PA, "bump_config", "line @{*(volatile __u64 *)&settings}"),
    C(
        "unknown-opcode",
        PA,
        "raw_insn",
        "The first instruction with opcode 0xff is instruction 0 at line @{.byte 0xff}",
    ),
    # packets
    C(
        "packet-helper-access",
        PK,
        "sample_header",
        "bpf_perf_event_output() is called at instruction",
        "line @{bpf_perf_event_output(skb}",
    ),
    C("packet-write-direct", PK, "clear_tos", "line @{ip->tos = 0;}"),
    C("packet-write-not-allowed", PK, "clear_proto", "bpf_dynptr_slice_rdwr() is called"),
    # kptrs
    C(
        "kptr-xchg-no-kptr",
        KF,
        "stash_in_counter",
        "bpf_kptr_xchg() is called at instruction",
        "R1 = `map_value`",
        "line @{bpf_map_lookup_elem(&counters}",
    ),
    C("kptr-xchg-not-kptr-field", KF, "stash_untagged", "line @{&o->last}", "offset 8"),
    C(
        "kptr-get-removed",
        "catalogue/removed_kptr_get.bpf.c",
        "parent_pid",
        "not a misspelling",
        "bpf_rcu_read_lock()",
        "bpf_task_acquire(p)",
        "bpf_task_release()",
    ),
    # bpf_list, bpf_rbtree, refcount, percpu objects
    C(
        "collection-lock-not-held",
        LO,
        "queue_job",
        "bpf_list_push_front_impl() is called at instruction",
        "`bpf_list_head`",
    ),
    C("refcount-without-field", LO, "share_job", "R1 = `ptr_timed_job`", "bpf_obj_new_impl()"),
    C(
        "percpu-obj-not-scalars",
        LO,
        "percpu_owner",
        "line @{bpf_percpu_obj_new(struct pcpu_owner)}",
    ),
    C(
        "percpu-direct-access",
        LO,
        "percpu_count",
        "line @{p->count = 1;}",
        "calls bpf_percpu_obj_new_impl()",
    ),
)

# Further programs whose messages the same entries must explain.
ALSO: tuple[Case, ...] = (
    C(
        "helper-wrong-arg",
        HA,
        "seed_from_default",
        "bpf_map_update_elem() is called at instruction",
        "R3 = `map_value_or_null`",
        "line @{bpf_map_lookup_elem(&seeds, &any)}",
        "calls bpf_map_lookup_elem() (kept on the stack at fp-",
    ),
    C(
        "collection-lock-not-held",
        LO,
        "index_job",
        "bpf_rbtree_add_impl() is called at instruction",
        "`bpf_rb_root`",
    ),
)


# Entries of the first catalogue (their single-program files are also checked, one by one, in
# tests/verify/test_explanations.py): the facts their explanations now name.
EXISTING: tuple[Case, ...] = (
    C(
        "map-value-null",
        "rejected/map_value_null_deref.bpf.c",
        "count_syscalls",
        "The access is instruction",
        "line @{*count += 1;}",
        "line @{count = bpf_map_lookup_elem(}",
        "calls bpf_map_lookup_elem()",
    ),
    C(
        "kptr-load-null",
        "rejected/kptr_untrusted_deref_no_null.bpf.c",
        "remember_parent_pid",
        "R1 was loaded by instruction",
        "line @{prev = slot->last_task;}",
    ),
    C(
        "kfunc-null-arg",
        "catalogue/kfunc_null_arg.bpf.c",
        "release_maybe_null",
        "bpf_task_release() is called at instruction 4 at line @{bpf_task_release(t);}",
        "R1 = `ptr_or_null_task_struct`",
        "instruction 2 at line @{bpf_task_from_pid(task->pid)}",
        "calls bpf_task_from_pid()",
    ),
    C(
        "kfunc-rcu-arg",
        "rejected/kfunc_untrusted_arg.bpf.c",
        "acquire_wakee",
        "bpf_task_acquire() is called at instruction",
        "R1 = `untrusted_ptr_task_struct`",
    ),
    C(
        "kfunc-wrong-struct",
        "catalogue/kfunc_wrong_struct.bpf.c",
        "release_mask_as_task",
        "R1 = `ptr_bpf_cpumask`",
        "calls bpf_cpumask_create()",
    ),
    C(
        "helper-wrong-arg",
        "catalogue/helper_wrong_arg.bpf.c",
        "lookup_in_ctx",
        "bpf_map_lookup_elem() is called at instruction",
        "R1 = `ctx`, produced by the program's entry, where R1 is its context argument",
    ),
    C(
        "scalar-deref",
        "catalogue/scalar_deref.bpf.c",
        "read_random_address",
        "R0 = scalar(",
        "line @{bpf_get_prandom_u32();}",
    ),
)


def resolve(detail: str, text: str) -> str:
    """`line @{snippet}` → `line 42`, the one line of `text` holding the snippet."""

    def number(m: re.Match[str]) -> str:
        lines = [n for n, t in enumerate(text.splitlines(), 1) if m.group(1) in t]
        assert len(lines) == 1, f"{m.group(1)!r} is on lines {lines}"
        return str(lines[0])

    return re.sub(r"@\{(.+?)\}(?=\W|$)", number, detail)


# Entries of the first catalogue proven one program per file (tests/verify/test_explanations.py
# PROVEN_BY, ALSO): the facts of that program's log their explanation must name, `@{...}` as
# above. Keyed by the program's file.
DETAILS: dict[str, tuple[str, ...]] = {
    "rejected/kptr_wrong_type_store.bpf.c": (
        "The store is instruction",
        "line @{old = bpf_kptr_xchg(&s->task, mask)}",
        "R2 = `ptr_bpf_cpumask` is produced by instruction",
        "line @{mask = bpf_cpumask_create();}",
    ),
    "rejected/kptr_ref_direct_store.bpf.c": (
        "The plain store is instruction",
        "line @{s->task = acquired;}",
    ),
    "rejected/kptr_wrong_access_size.bpf.c": (
        "The access is instruction",
        "line @{(volatile __u32 *)&s->task}",
    ),
    "rejected/btf_rejected_no_notes.bpf.c": ("bpf_kptr_xchg() is called at instruction",),
    "rejected/obj_new_leak.bpf.c": (
        "is taken at instruction 4 at line @{c = bpf_obj_new(struct counter)}",
        "by bpf_obj_new_impl()",
        "goes through instruction",
        "line @{if (!c)}",
        "where the condition was false",
        "The matching release is bpf_obj_drop().",
    ),
    "rejected/ringbuf_leak.bpf.c": (
        "by bpf_ringbuf_reserve()",
        "The matching release is bpf_ringbuf_submit() or bpf_ringbuf_discard().",
    ),
    "rejected/kptr_xchg_leak.bpf.c": (
        "by bpf_kptr_xchg()",
        "line @{if (old)}",
        "(`if (old)`), where the condition was false",
        "The matching release is bpf_task_release().",
    ),
    "catalogue/rcu_unlock_missing.bpf.c": (
        "The section is entered at instruction",
        "line @{bpf_rcu_read_lock();}",
        "It exits at instruction",
        "line @{return pid & 1;}",
    ),
    "projects/causal/unlock_missing_early_return.bpf.c": (
        "The lock is taken at instruction",
        "line @{bpf_spin_lock(&b->lock)}",
        "line @{if (b->tokens == 0)}",
        "(`if (b->tokens == 0)`), where the condition was true",
        "call bpf_spin_unlock() before that return",
    ),
    "catalogue/dynptr_reinit.bpf.c": (
        "bpf_ringbuf_reserve_dynptr() is called at instruction",
        'line @{&ptr); /* EXPECT: error "cannot overwrite}',
        "still holds the reservation made at instruction",
        "line @{/* the first reservation */}",
    ),
    "catalogue/dynptr_submit_local.bpf.c": (
        "bpf_ringbuf_submit_dynptr() releases R1 = `fp-",
        "line @{bpf_ringbuf_submit_dynptr(&ptr, 0)}",
        "That dynptr was made at instruction",
        "line @{bpf_dynptr_from_mem(v, sizeof(*v), 0, &ptr)}",
    ),
    "catalogue/dynptr_from_stack.bpf.c": (
        "bpf_dynptr_from_mem() is called at instruction",
        "line @{bpf_dynptr_from_mem(buf, sizeof(buf), 0, &ptr)}",
        "with data of kind `fp`",
    ),
    "catalogue/combined_stack_too_large.bpf.c": ("this log reports it", ": 304+304 bytes."),
    "catalogue/call_stack_too_deep.bpf.c": (
        "one frame too deep is instruction",
        "line @{int f6(int x)}",
    ),
    "catalogue/r0_not_set.bpf.c": ('The read is instruction 0 at line @{asm volatile("exit")}',),
    "catalogue/infinite_loop.bpf.c": (
        "The state repeats at instruction 3 at line @{while (!stop)}",
    ),
    "catalogue/too_large.bpf.c": ("The verifier was at instruction", "line @{for (int i = 0;}"),
    "catalogue/too_many_branches.bpf.c": (
        "The jump it stopped at is instruction",
        "line @{if (bpf_get_prandom_u32() & 1)}",
    ),
    "catalogue/exit_code_range.bpf.c": (
        "The exit is instruction",
        "R0 was set by instruction",
        "line @{return 7;}",
        "`r0 = 7`",
    ),
    "catalogue/ptr_or_null_deref.bpf.c": (
        "The access is instruction",
        "line @{pid = t->pid;}",
        "R0 comes from instruction",
        "line @{bpf_task_from_pid(1);}",
    ),
    "catalogue/null_pointer_arithmetic.bpf.c": (
        "The arithmetic is instruction",
        "line @{__u64 *w = v + }",
        "R6 comes from instruction",
        "line @{__u64 *v = bpf_map_lookup_elem(&table, &key);}",
    ),
    "catalogue/release_unacquired.bpf.c": (
        "bpf_task_release() is called at instruction",
        "line @{bpf_task_release(task);}",
    ),
    "catalogue/kfunc_not_allowed.bpf.c": (
        "The call is instruction",
        "line @{bpf_task_from_pid(1);}",
    ),
    "catalogue/helper_not_allowed.bpf.c": (
        "The call is instruction",
        "line @{bpf_skb_store_bytes(}",
    ),
    "catalogue/sleepable_helper.bpf.c": (
        "bpf_copy_from_user() is called at instruction",
        "line @{bpf_copy_from_user(buf}",
    ),
    "catalogue/dynptr_uninit.bpf.c": (
        "bpf_dynptr_read() is called at instruction",
        "line @{bpf_dynptr_read(buf, sizeof(buf), &ptr, 0, 0);}",
    ),
    "catalogue/index_off_by_one.bpf.c": (
        "The access is instruction",
        "line @{v->slots[i] += 1;}",
        "R0 = map_value(map=table,",
    ),
    "catalogue/map_value_out_of_bounds.bpf.c": (
        "The access is instruction",
        "line @{return ((volatile __u64 *)v)[1];}",
    ),
    "catalogue/index_unbounded.bpf.c": (
        "The arithmetic is instruction",
        "line @{v->slots[i] += 1;}",
    ),
    "catalogue/index_min_negative.bpf.c": (
        "bpf_probe_read_kernel() is called at instruction",
        "line @{bpf_probe_read_kernel(buf, len, task->comm);}",
        "R2 = scalar(",
        "line @{int len }",
    ),
    "catalogue/packet_no_bounds_check.bpf.c": (
        "The access is instruction",
        "line @{if (eth->h_proto == 0x0008)}",
    ),
    "catalogue/ctx_bad_offset.bpf.c": ("The access is instruction", "line @{[40];}"),
    "catalogue/rodata_write.bpf.c": ("The write is instruction", "line @{&threshold = 20;}"),
}
