"""The rules a report names: every finding code kptr-lsp emits and every entry of the
explanation catalogue (kptr_lsp/data/explanations.toml), each with help text and a link.

A finding's rule is its catalogue entry when it has one (the kernel message explained), else
its code, else the stage it comes from (a clang error without a -W flag is rule `clang`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from ..findings import Finding, Severity
from ..targets.verdicts import TARGET_NOT_VERIFIED
from ..toolchain.compdb import FLAGS_DROPPED
from ..verify.explanations import catalogue, docs_url


@dataclass(frozen=True)
class Rule:
    id: str
    title: str  # one line
    help: str  # what it means and what to do, plain text
    severity: Severity  # the usual severity of its findings
    help_uri: str | None = None
    category: str = "kptr-lsp"


_TYPE_TAGS = "BTF type tags"
_LOAD = "loading"
# (code, title, help, usual severity, category). The type-tag codes are the checks of
# kptr_lsp/checks/type_tags.py (README "Type-tag checks"); the rest come from the compile,
# object reading and loading stages.
_CODES: tuple[tuple[str, str, str, Severity, str], ...] = (
    (
        "clang",
        "clang reported an error",
        "clang could not compile the file for BPF; the message is clang's own.",
        Severity.ERROR,
        "compile",
    ),
    (
        "toolchain",
        "The toolchain is incomplete",
        "kptr-lsp could not compile at all: clang, libbpf or the kernel's BTF is missing "
        "or unusable. The message says what to install.",
        Severity.ERROR,
        "environment",
    ),
    (
        "timeout",
        "clang timed out",
        "clang ran longer than the compile timeout and was stopped.",
        Severity.ERROR,
        "compile",
    ),
    (
        FLAGS_DROPPED,
        "compile_commands.json flags were dropped",
        "Flags of the file's compile_commands.json entry that could run code or write files "
        "(plugins, -B, --config, -Xclang, output and profile paths …) are not passed to clang "
        "when the file is analysed; the message names them.",
        Severity.INFORMATION,
        "compile",
    ),
    (
        "bad-object",
        "The compiled object could not be read",
        "clang produced an ELF object that kptr-lsp could not parse (ELF, BTF or .BTF.ext).",
        Severity.ERROR,
        "object",
    ),
    (
        "verifier",
        "The kernel verifier rejected the program",
        "The kernel's verifier refused to load the program; the message starts with the "
        "kernel's words and the explanation catalogue has no entry for them.",
        Severity.ERROR,
        _LOAD,
    ),
    (
        "load",
        "The program failed to load",
        "The kernel or libbpf refused to load the program for a reason outside the verifier "
        "log; the message has libbpf's explanation.",
        Severity.ERROR,
        _LOAD,
    ),
    (
        "open",
        "libbpf could not open the object",
        "libbpf refused the object before loading any program (a malformed section, an "
        "unknown map definition …).",
        Severity.ERROR,
        _LOAD,
    ),
    (
        "map-create",
        "The kernel refused to create a map",
        "A map the program uses could not be created, so no program of the object loads.",
        Severity.ERROR,
        _LOAD,
    ),
    (
        "relocation",
        "A relocation failed",
        "libbpf could not resolve a relocation (a CO-RE field or a kfunc/ksym missing from "
        "this kernel).",
        Severity.ERROR,
        _LOAD,
    ),
    (
        "map-too-large",
        "A map is over the memory cap",
        "The map would take more memory than mapMemoryCapMb allows, so it was never created "
        "and no program of the file was loaded.",
        Severity.ERROR,
        _LOAD,
    ),
    (
        "btf-rejected",
        "The kernel rejected the object's BTF",
        "The kernel refused the object's BTF; libbpf loads on without it, so kptrs are lost "
        "and verifier logs carry no source lines.",
        Severity.WARNING,
        _LOAD,
    ),
    (
        "map-without-btf",
        "A map was created without BTF",
        "The kernel created the map without its BTF types, so its special fields (kptrs, "
        "locks, timers) mean nothing to the verifier.",
        Severity.WARNING,
        _LOAD,
    ),
    (
        "map-placeholder",
        "A map sized at run time got a placeholder size",
        "The map's size is set by its userspace before load; it was given a small "
        "placeholder so the object could be verified.",
        Severity.INFORMATION,
        _LOAD,
    ),
    (
        "attach-target",
        "Not verified: attach target missing",
        "The program's attach target is not in this kernel, so it would not load here. "
        "This says nothing about the code.",
        Severity.INFORMATION,
        _LOAD,
    ),
    (
        "not-verifiable",
        "Not verified: program type not allowed here",
        "This kernel does not allow this program type here. This says nothing about the code.",
        Severity.INFORMATION,
        _LOAD,
    ),
    (
        "kernel-lacks",
        "Not verified: the kernel lacks the subsystem",
        "This kernel has no BTF type for the subsystem the programs plug into (sched_ext, a "
        "struct_ops type …), so it cannot load them whatever the code; verify them in a "
        "target kernel that has it.",
        Severity.INFORMATION,
        _LOAD,
    ),
    (
        "needs-linking",
        "Not verified: the object needs linking",
        "An extern function or variable is defined in another BPF object that the build "
        "links in first (bpftool gen object); libbpf cannot load this object alone.",
        Severity.INFORMATION,
        _LOAD,
    ),
    (
        TARGET_NOT_VERIFIED,
        "Not verified on a target kernel",
        "A target kernel could not be booted or asked; the message says why.",
        Severity.INFORMATION,
        _LOAD,
    ),
    (
        "internal-error",
        "kptr-lsp failed to analyse the file",
        "An internal error in kptr-lsp; please report it with the server log.",
        Severity.ERROR,
        "kptr-lsp",
    ),
    (
        "kptr-unknown-tag",
        "Unknown kptr type tag",
        "A type tag the target kernel does not know (libbpf 1.1's __kptr_ref): the kernel "
        "ignores the map value's special fields.",
        Severity.WARNING,
        _TYPE_TAGS,
    ),
    (
        "kptr-extra-tag",
        "More than one type tag on a kptr",
        "More than one type tag on the pointee: the kernel ignores the value's special fields.",
        Severity.WARNING,
        _TYPE_TAGS,
    ),
    (
        "kptr-not-struct",
        "kptr to a non-struct",
        "A kptr must point to a struct; otherwise the kernel may reject the object's BTF.",
        Severity.WARNING,
        _TYPE_TAGS,
    ),
    (
        "kptr-incomplete-type",
        "kptr to a forward-declared struct",
        "The struct is only forward-declared in the object's BTF: the kernel ignores the field.",
        Severity.WARNING,
        _TYPE_TAGS,
    ),
    (
        "kptr-no-dtor",
        "Referenced kptr without a release kfunc",
        "A referenced kptr to a type with no release kfunc: the kernel rejects the object's BTF.",
        Severity.WARNING,
        _TYPE_TAGS,
    ),
    (
        "kptr-too-many-fields",
        "Too many special fields",
        "More special fields than the kernel's limit: the kernel rejects the object's BTF.",
        Severity.WARNING,
        _TYPE_TAGS,
    ),
    (
        "kptr-map-type",
        "Map type cannot hold kptrs",
        "This map type cannot hold kptrs: the map is created without BTF.",
        Severity.WARNING,
        _TYPE_TAGS,
    ),
    (
        "kptr-no-kernel-type",
        "vmlinux.h struct missing from the target kernel",
        "A vmlinux.h struct the target kernel lacks: the verifier takes it for a bpf_obj_new type.",
        Severity.WARNING,
        _TYPE_TAGS,
    ),
)


@functools.cache
def known_rules() -> tuple[Rule, ...]:
    """Every code, then every catalogue entry (the kernel messages explained)."""
    rules = [Rule(c, t, h, s, category=cat) for c, t, h, s, cat in _CODES]
    for e in catalogue():
        rules.append(
            Rule(
                e.id,
                e.title,
                f"{e.cause}\nFix: {e.fix}",
                Severity.ERROR,
                docs_url(e.id),
                e.category,
            )
        )
    return tuple(rules)


def rule_id(f: Finding) -> str:
    return f.explanation_id or f.code or str(f.source)


def rule_for(f: Finding) -> Rule:
    """The finding's rule; a code nobody listed (a clang -W flag) gets a rule of its own."""
    wanted = rule_id(f)
    for r in known_rules():
        if r.id == wanted:
            return r
    if wanted.startswith("-W"):
        return Rule(wanted, f"clang warning {wanted}", f"clang's {wanted} diagnostic.", f.severity)
    return Rule(wanted, wanted, f"kptr-lsp finding {wanted}.", f.severity)
