/* The project's common header, next to the project's own vmlinux.h (found by clang from here). */
#ifndef __EXECWATCH_COMMON_H
#define __EXECWATCH_COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#endif /* __EXECWATCH_COMMON_H */
