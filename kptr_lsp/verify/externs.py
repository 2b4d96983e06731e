"""Externs the running kernel cannot resolve, and what they mean for each program.

Three cases, told apart by a general mechanism rather than by names:

* A kfunc this kernel lacks. libbpf resolves every extern of the object before it loads any
  program, so one missing kfunc fails them all with `extern (func ksym) 'X': not found in
  kernel or module BTFs`. We load the object again with the missing kfuncs bound weak
  (verify/setup.py: `weaken_externs`), which libbpf accepts, so the programs that never call
  them get the kernel's real verdict, and the failure is attributed to the programs whose
  loaded instructions (their own and the subprograms libbpf appends) call one.
* A subsystem this kernel lacks: the object's struct_ops map plugs into a kernel type (e.g.
  `struct sched_ext_ops`) that is not in the kernel's BTF. libbpf says so
  (`struct_ops init_kern: struct X is not found in kernel BTF`) once the missing kfuncs no
  longer stop it first. Nothing about the code can be verified in this kernel then.
* Symbols only a linker provides: externs outside `.ksyms`/`.kconfig` (functions, maps or
  variables defined in another object the project links with `bpftool gen object`). libbpf
  cannot open such an object at all; read from the object itself, before any load.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..btf.errors import BTFError, ObjectError
from ..btf.types import Datasec, Func, Linkage, Var
from ..elf.decls import Declarations, symbol_uses
from ..elf.objfile import TEXT, Function, ObjectFile
from ..findings import Finding, Location, Severity, Source
from .layout import loaded_layout
from .setup import detach_struct_ops, weaken_externs

if TYPE_CHECKING:
    from ..model import ObjectModel
    from .loader import LibbpfMessage, ObjectResult, ProgramResult

# libbpf's words (unchanged from 1.0 to 1.6: bpf_object__resolve_ksym_func_btf_id).
KFUNC_NOT_FOUND = re.compile(r"extern \(func ksym\) '([^']+)': not found in kernel or module BTFs")
# bpf_map__init_kern_struct_ops / find_struct_ops_kern_types (1.0 to 1.6): the struct_ops
# type itself, or its `bpf_struct_ops_<name>` value type.
STRUCT_OPS_NOT_FOUND = re.compile(
    r"struct_ops init_kern: struct (?:bpf_struct_ops_)?(\w+) is not found in kernel BTF"
)
# The DATASECs of externs that libbpf itself resolves (kernel symbols, kernel config).
LIBBPF_EXTERN_SECTIONS = frozenset({".ksyms", ".kconfig"})
# Each round weakens at least one more kfunc; an object has few.
_MAX_ROUNDS = 64


def missing_kfuncs(result: ObjectResult) -> dict[str, LibbpfMessage]:
    """Kfunc externs libbpf could not find in this kernel → the warning that said so."""
    found: dict[str, LibbpfMessage] = {}
    for prog in result.programs:
        for m in prog.libbpf_messages:
            hit = KFUNC_NOT_FOUND.search(m.text) if m.level == "warn" else None
            if hit is not None:
                found.setdefault(hit.group(1), m)
    return found


def missing_struct_ops(result: ObjectResult) -> dict[str, str]:
    """struct_ops types libbpf did not find in the kernel's BTF → its warning, verbatim."""
    found: dict[str, str] = {}
    for prog in result.programs:
        for m in prog.libbpf_messages:
            hit = STRUCT_OPS_NOT_FOUND.search(m.text) if m.level == "warn" else None
            if hit is not None:
                found.setdefault(hit.group(1), m.text.strip())
    return found


def struct_ops_maps(obj: ObjectFile) -> dict[str, list[str]]:
    """struct_ops type name → the object's struct_ops map variables of that type."""
    out: dict[str, list[str]] = {}
    try:
        spec = obj.btf_spec()
    except BTFError:
        return out
    if spec is None:
        return out
    for t in spec:
        if isinstance(t, Datasec) and t.name.startswith((".struct_ops", "struct_ops")):
            for v in t.vars:
                var = v.var
                target = spec.resolve(var.type) if isinstance(var, Var) else None
                if target is not None and target.name:
                    out.setdefault(target.name, []).append(var.name)
    return out


def _names(names: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def kernel_lacks_findings(ctx: ObjectModel, result: ObjectResult) -> list[Finding]:
    """One Information per struct_ops type this kernel lacks, on the map that needs it: the
    kernel lacks a subsystem, which says nothing about the code."""
    lacking = missing_struct_ops(result)
    if not lacking:
        return _link_findings(ctx, result)
    kfuncs = sorted(missing_kfuncs(result))
    maps = struct_ops_maps(ctx.obj)
    programs = tuple(p.name for p in result.programs)
    findings: list[Finding] = []
    for type_name, said in lacking.items():
        users = maps.get(type_name, [])
        where = next(
            (loc for m in users if (loc := ctx.decls.variables.get(m)) is not None),
            Location(ctx.path, 1),
        )
        which = f"struct_ops map {_names(users)}" if users else "the object's struct_ops map"
        lines = [
            said.removeprefix("libbpf: "),
            f"This kernel has no `struct {type_name}` in its BTF: the subsystem {which} plugs "
            "into is not built into it.",
        ]
        if kfuncs:
            lines.append(f"It has none of the kfuncs {_names(kfuncs)} either.")
        lines.append(
            "The programs were not verified: this kernel cannot load them whatever the code. "
            "Verify them in a kernel that has it (a target kernel: the `kernels` setting, or "
            "`kptr-lsp check --kernel`)."
        )
        findings.append(
            Finding(
                where,
                Severity.INFORMATION,
                Source.VERIFIER,
                "\n".join(lines),
                code="kernel-lacks",
                programs=programs,
            )
        )
    return findings


def _link_findings(ctx: ObjectModel, result: ObjectResult) -> list[Finding]:
    """One Information per `.struct_ops.link` map a kernel before 6.4 refused to create
    (verify/struct_ops_link.py): it has no struct_ops links, whatever the code."""
    from .loader import Failure  # the loader imports this module
    from .struct_ops_link import refused_link_map

    refused: dict[str, str] = {}
    for prog in result.programs:
        name = refused_link_map(prog) if prog.failure is Failure.KERNEL_LACKS else None
        if name is not None:
            said = next(m.text for m in prog.libbpf_messages if f"map '{name}'" in m.text)
            refused.setdefault(name, said.strip().removeprefix("libbpf: "))
    programs = tuple(p.name for p in result.programs if p.failure is Failure.KERNEL_LACKS)
    return [
        Finding(
            ctx.decls.variables.get(name) or Location(ctx.path, 1),
            Severity.INFORMATION,
            Source.VERIFIER,
            f'{said}\nThis kernel cannot create struct_ops maps in SEC(".struct_ops.link"): '
            "libbpf creates them with BPF_F_LINK (registered through a link on attach), which "
            "Linux added in 6.4.\nThe programs were not verified: this kernel cannot load them "
            "whatever the code. Verify them in a kernel since 6.4, or declare the map in "
            'SEC(".struct_ops") for the kernels before it.',
            code="kernel-lacks",
            programs=programs,
        )
        for name, said in refused.items()
    ]


def around_missing_kfuncs(
    data: bytes, first: ObjectResult, again: Callable[[bytes, str | None], ObjectResult]
) -> ObjectResult:
    """`first` (the object's load as compiled) with the kfuncs this kernel lacks taken out of
    the way. libbpf names one missing kfunc per load (it stops at the first) and resolves every
    extern whichever programs load, so `again(weakened, program)` loads just one program until
    libbpf names no new one, then `again(weakened, None)` loads them all with every missing
    kfunc bound weak. Programs that call none of them keep that load's verdict; a caller keeps
    libbpf's words about the kfuncs it calls."""
    said = missing_kfuncs(first)
    if not said or not first.programs:
        return first
    probe = first.programs[0].name
    for _ in range(_MAX_ROUNDS):
        found = again(weaken_externs(data, said), probe)
        new = {k: v for k, v in missing_kfuncs(found).items() if k not in said}
        if not new:
            break
        said.update(new)
    result = again(weaken_externs(data, said), None)
    if result.open_error is not None or not result.programs:
        return first
    from .loader import Failure  # the loader imports this module

    # About the object whatever its programs call: these stay a caller's verdict. Any other
    # failure of a caller (another program's load failing, e.g.) is the missing kfunc's.
    whole_object = {Failure.KERNEL_LACKS, Failure.MAP_CREATE, Failure.MAP_TOO_LARGE, Failure.OPEN}
    calls = _calls(data, result.programs, said)
    callers = {name for name, used in calls.items() if used}
    if any(not p.accepted and p.name not in callers for p in result.programs):
        # A struct_ops map loads all its programs together: without the callers in it, the
        # others get their own verdict instead of a caller's failure.
        detached = detach_struct_ops(weaken_externs(data, said), callers)
        if detached != weaken_externs(data, said):
            alone = again(detached, None)
            if alone.open_error is None:
                others = {p.name: p for p in alone.programs if p.name not in callers}
                result = dataclasses.replace(
                    result, programs=tuple(others.get(p.name, p) for p in result.programs)
                )
    before = {p.name: p for p in first.programs}
    out: list[ProgramResult] = []
    for prog in result.programs:
        mine = [said[name] for name in said if name in calls.get(prog.name, ())]
        original = before.get(prog.name)
        if not mine or original is None:
            out.append(prog)
        elif prog.object_wide and prog.failure in whole_object:
            # Something else stops the whole object too (e.g. a struct_ops type this kernel
            # lacks): that is the verdict; the kfuncs it calls are part of the story.
            out.append(
                dataclasses.replace(prog, libbpf_messages=prog.libbpf_messages + tuple(mine))
            )
        else:
            out.append(
                dataclasses.replace(
                    prog,
                    accepted=False,
                    failure=original.failure,
                    errno=original.errno,
                    log="",
                    libbpf_messages=tuple(mine),
                    object_wide=False,
                )
            )
    return dataclasses.replace(result, programs=tuple(out))


def _calls(
    data: bytes, programs: tuple[ProgramResult, ...], names: Mapping[str, object]
) -> dict[str, set[str]]:
    """Program name → the externs among `names` that its loaded instructions reference: its own
    section's relocations and those of the subprograms libbpf appended to it."""
    try:
        obj = ObjectFile.parse(data)
    except ObjectError:
        return {p.name: set(names) for p in programs}  # cannot tell: every program may
    uses = {name: symbol_uses(data, name) for name in names}
    out: dict[str, set[str]] = {}
    for prog in programs:
        fn = next((f for f in obj.programs if f.name == prog.name), None)
        if fn is None:
            out[prog.name] = set(names)
            continue
        placed: list[Function] = (
            [p.function for p in loaded_layout(fn, obj.functions, prog.insns)]
            if prog.insns
            else [fn, *(f for f in obj.functions if f.section == TEXT)]  # no layout: assume all
        )
        out[prog.name] = {
            name
            for name, found in uses.items()
            if any(
                u.section == f.section and f.start <= u.insn_off < f.start + f.count
                for u in found
                for f in placed
            )
        }
    return out


@dataclass(frozen=True)
class LinkExtern:
    """An extern only another object can define: libbpf's loader never resolves it."""

    name: str
    kind: str  # "function", "map" or "variable"


def link_externs(obj: ObjectFile) -> list[LinkExtern]:
    """The object's undefined symbols that are not kernel symbols or kernel config: what
    `bpftool gen object` (libbpf's static linker) must resolve from another object first."""
    wanted = [u for u in obj.undefined if not u.local]
    if not wanted:
        return []
    libbpf_resolves: set[str] = set()
    maps: set[str] = set()
    functions: set[str] = set()
    try:
        spec = obj.btf_spec()
    except BTFError:
        spec = None
    if spec is None:
        return []  # without BTF libbpf resolves no extern at all: let it say so
    for t in spec:
        if isinstance(t, Func) and t.linkage is Linkage.EXTERN:
            functions.add(t.name)
        if not isinstance(t, Datasec):
            continue
        names = {v.var.name for v in t.vars}
        if t.name in LIBBPF_EXTERN_SECTIONS:
            libbpf_resolves |= names
        elif t.name == ".maps":
            maps |= names
    found: list[LinkExtern] = []
    for u in wanted:
        if u.name in libbpf_resolves or any(e.name == u.name for e in found):
            continue
        kind = (
            "function"
            if u.function or u.name in functions
            else "map"
            if u.name in maps
            else "variable"
        )
        found.append(LinkExtern(u.name, kind))
    return found


def _described(e: LinkExtern) -> str:
    return f"{'map ' if e.kind == 'map' else ''}`{e.name}`"


def link_reason(needed: list[LinkExtern]) -> str:
    """Why the object was not verified, in one line (the verdict's note)."""
    return (
        "it needs other BPF objects linked in first (`bpftool gen object`): unresolved "
        f"externs {', '.join(_described(e) for e in needed)}"
    )


def link_extern_findings(path: str, decls: Declarations, needed: list[LinkExtern]) -> list[Finding]:
    """One Information per extern another object must define, on its declaration."""
    findings = []
    others = ", ".join(_described(e) for e in needed)
    for e in needed:
        table = decls.functions if e.kind == "function" else decls.variables
        findings.append(
            Finding(
                table.get(e.name) or Location(path, 1),
                Severity.INFORMATION,
                Source.VERIFIER,
                f"extern {e.kind} `{e.name}` is not defined in this file: another BPF object "
                "defines it, linked in first (`bpftool gen object out.bpf.o this.bpf.o "
                "lib.bpf.o`). libbpf cannot load this object alone, so its programs were not "
                f"verified. Unresolved here: {others}.",
                code="needs-linking",
            )
        )
    return sorted(findings, key=lambda f: f.location.line)
