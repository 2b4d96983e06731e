/* kptr_common.h: kptr tags and kfunc declarations that libbpf 1.1 headers lack. */
#ifndef KPTR_COMMON_H
#define KPTR_COMMON_H

/*
 * Tag spellings as in libbpf >= 1.2 bpf_helpers.h. libbpf 1.1 defines __kptr as
 * btf_type_tag("kptr") too, and __kptr_ref as "kptr_ref" (no longer accepted by the
 * kernel since 6.3): since 6.3, "kptr" means a *referenced* kptr and "kptr_untrusted"
 * an unreferenced one.
 */
#undef __kptr
#define __kptr __attribute__((btf_type_tag("kptr")))
#ifndef __kptr_untrusted
#define __kptr_untrusted __attribute__((btf_type_tag("kptr_untrusted")))
#endif
#ifndef __percpu_kptr
#define __percpu_kptr __attribute__((btf_type_tag("percpu_kptr")))
#endif
#ifndef __ksym
#define __ksym __attribute__((section(".ksyms")))
#endif

struct task_struct;
struct cgroup;
struct bpf_cpumask;
struct cpumask;

/* task kfuncs (kernel/bpf/helpers.c) */
extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;
extern struct task_struct *bpf_task_from_pid(int pid) __ksym;

/* cgroup kfuncs */
extern struct cgroup *bpf_cgroup_acquire(struct cgroup *cgrp) __ksym;
extern void bpf_cgroup_release(struct cgroup *cgrp) __ksym;

/* cpumask kfuncs (kernel/bpf/cpumask.c) */
extern struct bpf_cpumask *bpf_cpumask_create(void) __ksym;
extern void bpf_cpumask_release(struct bpf_cpumask *cpumask) __ksym;

/* RCU read-side section for sleepable / kptr RCU access */
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;

/* Local objects (as in selftests' bpf_experimental.h) */
extern void *bpf_obj_new_impl(__u64 local_type_id, void *meta) __ksym;
extern void bpf_obj_drop_impl(void *kptr, void *meta) __ksym;
extern void *bpf_percpu_obj_new_impl(__u64 local_type_id, void *meta) __ksym;
extern void bpf_percpu_obj_drop_impl(void *kptr, void *meta) __ksym;

#ifndef bpf_core_type_id_local
/* same as libbpf's bpf_core_read.h (BPF_TYPE_ID_LOCAL == 0) */
#define bpf_core_type_id_local(type) __builtin_btf_type_id(*(typeof(type) *)0, 0)
#endif

#define bpf_obj_new(type) ((type *)bpf_obj_new_impl(bpf_core_type_id_local(type), NULL))
#define bpf_obj_drop(kptr) bpf_obj_drop_impl(kptr, NULL)
#define bpf_percpu_obj_new(type) \
	((type __percpu_kptr *)bpf_percpu_obj_new_impl(bpf_core_type_id_local(type), NULL))
#define bpf_percpu_obj_drop(kptr) bpf_percpu_obj_drop_impl(kptr, NULL)

#endif /* KPTR_COMMON_H */
