"""Quick fixes placed on the syntax tree (toolchain/syntax_tree.py), not on the line's text.

The verifier names an instruction, a register and a line (with the column from `.BTF.ext`);
the tree says which expression on that line the register held, which statement holds it and
which block to put a check in. Each function here returns candidate `Fix`es; none is offered
before the kernel has accepted the program it produces (fix_proof.py).

- `R1 invalid mem access '…or_null…'` (also through `__sync_*` builtins), `pointer arithmetic
  on …or_null… prohibited`, `Possibly NULL pointer passed to … argN`: a NULL check on the
  pointer the register held, which for `v->task->pid` is `v->task` (loaded into a new local),
  not the already-checked `v`; the early return gives what the function's last `return` gives
  when that is a constant (`XDP_PASS`), else 0;
- `Unreleased reference`: the release matching the acquire before each return that still
  holds the reference (not in the branch where the acquire returned NULL);
- `R2 unbounded memory access` / `min value is negative` on a helper's size argument: clamp
  that variable to the buffer before the call;
- `invalid access to packet`: a bounds check against `data_end` that covers the access,
  returning what the function's existing check returns;
- `must be a rcu pointer` on an acquire kfunc: the kptr load and the acquire inside
  `bpf_rcu_read_lock()`/`bpf_rcu_read_unlock()` (every return in between unlocks first);
- `BPF_EXIT … inside bpf_rcu_read_lock-ed region`: `bpf_rcu_read_unlock()` before the return;
- a call to a removed `*_kptr_get` kfunc: RCU read section, load, `*_acquire`;
- a CO-RE relocation libbpf could not resolve: a `bpf_core_field_exists()` guard.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator

from ..analysis import Analysis
from ..findings import Finding
from ..toolchain.syntax import SyntaxUnavailable
from ..toolchain.syntax_tree import Function, Node, SyntaxTree, parse
from .fixes import Edit, Fix, _unit

log = logging.getLogger(__name__)
_WRAPPERS = ("UNEXPOSED_EXPR", "PAREN_EXPR")
# Removed `*_kptr_get` kfuncs (6.4: RCU-protected kptrs) and their replacement acquire.
KPTR_GET_REPLACEMENT = {
    "bpf_task_kptr_get": "bpf_task_acquire",
    "bpf_cgroup_kptr_get": "bpf_cgroup_acquire",
    "bpf_cpumask_kptr_get": "bpf_cpumask_acquire",
}
_ACQUIRE_DECL = {
    "bpf_task_acquire": (
        "extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym;"
    ),
    "bpf_cgroup_acquire": "extern struct cgroup *bpf_cgroup_acquire(struct cgroup *cgrp) __ksym;",
    "bpf_cpumask_acquire": (
        "extern struct bpf_cpumask *bpf_cpumask_acquire(struct bpf_cpumask *cpumask) __ksym;"
    ),
    "bpf_rcu_read_lock": "extern void bpf_rcu_read_lock(void) __ksym;",
    "bpf_rcu_read_unlock": "extern void bpf_rcu_read_unlock(void) __ksym;",
}


def unwrap(node: Node) -> Node:
    while node.kind in _WRAPPERS and len(node.children) == 1:
        node = node.children[0]
    return node


def _nested_blocks(stmt: Node) -> Iterator[Node]:
    """The `{}` blocks of a statement's bodies (if/for/while/…), not those inside expressions
    (a macro's statement expression, `({ … })`)."""
    for child in stmt.children:
        if child.kind == "COMPOUND_STMT":
            yield child
        elif child.kind.endswith("_STMT") and child.kind != "DECL_STMT":
            yield from _nested_blocks(child)


def _statement_at(tree: SyntaxTree, line: int) -> tuple[Function, Node, Node] | None:
    """(function, block, statement) for `line`: the innermost statement of a block there."""
    fn = tree.function_at(line)
    at = _statement(fn, line) if fn is not None else None
    return None if fn is None or at is None else (fn, *at)


def _statement(fn: Function, line: int) -> tuple[Node, Node] | None:
    """(block, statement): the innermost statement of a `{}` block that holds `line`."""
    found: tuple[Node, Node] | None = None

    def visit(block: Node) -> None:
        nonlocal found
        for stmt in block.children:
            if stmt.line <= line <= stmt.end_line:
                found = (block, stmt)
                for inner in _nested_blocks(stmt):
                    if inner.line <= line <= inner.end_line:
                        visit(inner)
                        return
                return

    visit(fn.body)
    return found


def _indent(lines: list[str], line: int) -> str:
    src = lines[line - 1]
    return src[: len(src) - len(src.lstrip())]


def _return(fn: Function, lines: list[str]) -> str:
    """How the function returns early: the constant its last `return` gives (`XDP_PASS`),
    else 0 (nothing for a void function)."""
    if fn.result == "void":
        return "return;"
    returns = [n for n in fn.body.walk() if n.kind == "RETURN_STMT" and n.children]
    if returns:
        value = unwrap(returns[-1].children[0])
        constant = value.kind == "DECL_REF_EXPR" and value.ref_kind == "ENUM_CONSTANT_DECL"
        if constant or value.kind == "INTEGER_LITERAL":
            return f"return {returns[-1].children[0].text(lines)};"
    return "return 0;"


def _free_name(fn: Function, names: tuple[str, ...]) -> str:
    """The first of `names` the function neither declares nor refers to (a global it does not
    use may be shadowed), else the first suffixed with a number."""
    taken = {n for n, _ in fn.params} | {
        n.spelling for n in fn.body.walk() if n.kind in ("VAR_DECL", "DECL_REF_EXPR")
    }
    for name in names:
        if name not in taken:
            return name
    n = 2
    while f"{names[0]}{n}" in taken:
        n += 1
    return f"{names[0]}{n}"


def _insert_before(stmt: Node, text: str) -> Edit:
    return Edit(stmt.line, 0, stmt.line, 0, text)


_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.DOTALL)


_DECLARED: dict[tuple[str, float, str], bool] = {}  # (header, mtime, name) → declares it


def _prototype_in(text: str, name: str) -> bool:
    pattern = re.compile(rf"\b{re.escape(name)}\s*\([^;{{}}()]*\)[^;{{}}()]*;")
    return name in text and pattern.search(_COMMENT.sub(" ", text)) is not None


def _declares(analysis: Analysis, name: str) -> bool:
    """Whether the file or a header its compile read declares the function `name` (a
    prototype outside comments: `… name(…);`). Headers are read once per version."""
    if _prototype_in(analysis.text, name):
        return True
    for header in analysis.compile.headers if analysis.compile is not None else ():
        try:
            key = (header.path, os.stat(header.path).st_mtime, name)
            if key not in _DECLARED:
                with open(header.path, encoding="utf-8", errors="replace") as f:
                    _DECLARED[key] = _prototype_in(f.read(), name)
        except OSError:
            continue
        if _DECLARED[key]:
            return True
    return False


def _declare_missing(analysis: Analysis, names: Iterable[str]) -> list[Edit]:
    """Declarations of the kfuncs a fix calls that the file does not declare yet, after its
    last #include."""
    missing = [n for n in dict.fromkeys(names) if not _declares(analysis, n)]
    if not missing:
        return []
    decls = "".join(_ACQUIRE_DECL[n] + "\n" for n in missing)
    lines = analysis.text.split("\n")
    includes = [n for n, src in enumerate(lines, 1) if src.startswith("#include")]
    line = includes[-1] + 1 if includes else 1
    return [Edit(line, 0, line, 0, decls)]


def _program_log(analysis: Analysis, finding: Finding) -> str:
    for result in analysis.programs:
        if not finding.programs or result.name in finding.programs:
            return result.log
    return ""


def _register_type(log: str, reg: int) -> str:
    """The type the log last gave register `reg` (`untrusted_ptr_or_null_task_struct`)."""
    types = re.findall(rf"\bR{reg}(?:_[rw]+)?=([A-Za-z_]\w*)", log)
    return types[-1] if types else ""


def _struct_of(reg_type: str) -> str:
    """`untrusted_ptr_or_null_task_struct` → `struct task_struct`; "" for map values etc."""
    m = re.match(r"(?:\w*?_)?ptr_or_null_(\w+)$", reg_type) or re.match(
        r"(?:\w*?_)?ptr_(\w+)$", reg_type
    )
    return f"struct {m.group(1)}" if m else ""


def _dereferences(stmt: Node, line: int) -> list[tuple[Node, Node]]:
    """(access, pointer) for each `p->f`, `*p` and `p[i]` of `stmt` on `line`, in source order."""
    out = []
    for node in stmt.walk():
        if not node.line <= line <= node.end_line or not node.children:
            continue
        arrow = node.kind == "MEMBER_REF_EXPR" and node.operator == "->"
        star = node.kind == "UNARY_OPERATOR" and node.operator == "*"
        index = node.kind == "ARRAY_SUBSCRIPT_EXPR"
        if not (arrow or star or index):
            continue
        base = node.children[0]
        if base.pointee:
            out.append((node, base))
    return sorted(out, key=lambda p: (p[1].line, p[1].col))


def _variable(node: Node) -> str | None:
    inner = unwrap(node)
    if inner.kind == "DECL_REF_EXPR" and inner.ref_kind in ("VAR_DECL", "PARM_DECL"):
        return inner.spelling
    return None


def _ptr_decl(pointee: str, name: str) -> str:
    return f"{pointee} *{name}"


# --- NULL check ---------------------------------------------------------------------------

_NULL_DEREF = re.compile(r"\bR(\d+) invalid mem access '\w*or_null\w*'")
_NULL_ARITH = re.compile(r"\bR(\d+) pointer arithmetic on \w*or_null\w* prohibited")
_NULL_ARG = re.compile(r"Possibly NULL pointer passed to (trusted |helper )?arg(\d+)")
_ATOMIC = re.compile(r"^__(?:sync|atomic)_")


def _maybe_null_pointers(stmt: Node, line: int, message: str) -> tuple[int | None, list[Node]]:
    """The register the message names (None: not said) and the pointer expressions on `line`
    it may be about: what is dereferenced, passed, or offset there."""
    if m := _NULL_DEREF.search(message):
        bases = [base for _, base in _dereferences(stmt, line)]
        bases += [  # __sync_fetch_and_add(p, 1) dereferences p
            call.children[1]
            for call in stmt.walk()
            if call.kind == "CALL_EXPR"
            and _ATOMIC.match(call.spelling)
            and len(call.children) > 1
            and call.line <= line <= call.end_line
            and call.children[1].pointee
        ]
        return int(m.group(1)), bases
    if m := _NULL_ARITH.search(message):
        bases = [
            side
            for node in stmt.walk()
            if node.kind == "BINARY_OPERATOR" and node.operator in ("+", "-")
            for side in node.children
            if side.pointee and node.line <= line <= node.end_line
        ]
        return int(m.group(1)), bases
    if m := _NULL_ARG.search(message):
        # kfuncs count arguments from 0 (`trusted arg0`), helpers name the register (`arg2`).
        index = int(m.group(2)) - (1 if m.group(1) == "helper " else 0)
        bases = [
            call.children[1 + index]
            for call in stmt.walk()
            if call.kind == "CALL_EXPR"
            and call.line <= line <= call.end_line
            and 0 <= index < len(call.children) - 1
            and call.children[1 + index].pointee
        ]
        return (index + 1 if m.group(1) == "helper " else None), bases
    return None, []


def null_check(analysis: Analysis, finding: Finding, tree: SyntaxTree) -> list[Fix]:
    found = _statement_at(tree, finding.line)
    if found is None:
        return []
    fn, _, stmt = found
    reg, bases = _maybe_null_pointers(stmt, finding.line, finding.message)
    if not bases:
        return []
    if reg is not None:
        struct = _struct_of(_register_type(_program_log(analysis, finding), reg))
        if struct:
            bases = [b for b in bases if b.pointee == struct]
    candidates = [(b, b) for b in bases]
    if not candidates:
        return []
    col = finding.location.col - 1
    # The pointer whose text holds the line info's column, else the innermost (first loaded).
    holding = [c for c in candidates if c[1].contains(finding.line, col)]
    _, base = min(holding or candidates, key=lambda c: c[1].end_col - c[1].col)
    lines = analysis.text.split("\n")
    indent = _indent(lines, stmt.line)
    unit = _unit(indent)
    ret = _return(fn, lines)
    var = _variable(base)
    if var is not None:
        check = f"{indent}if (!{var})\n{indent}{unit}{ret}\n"
        return [Fix(f"Return early when `{var}` is NULL", (_insert_before(stmt, check),), finding)]
    # An expression (`v->task`): load it once into a local, check that, use it.
    inner = unwrap(base)
    member = inner.spelling if inner.kind == "MEMBER_REF_EXPR" else "ptr"
    owner = _variable(inner.children[0]) if inner.children else None
    local = _free_name(fn, (member, f"{owner}_{member}" if owner else f"{member}_ptr"))
    expr = base.text(lines)
    text = (
        f"{indent}{_ptr_decl(base.pointee, local)} = {expr};\n"
        f"{indent}if (!{local})\n{indent}{unit}{ret}\n"
    )
    edits = (
        _insert_before(stmt, text),
        Edit(base.line, base.col, base.end_line, base.end_col, local),
    )
    title = f"Load `{expr}` into `{local}` and return early when it is NULL"
    return [Fix(title, edits, finding)]


def _parent(fn: Function, target: Node) -> Node | None:
    for node in fn.body.walk():
        if any(child is target for child in node.children):
            return node
    return None


def _before_return(lines: list[str], fn: Function, ret: Node, call: str, var: str) -> list[Edit]:
    """`call` run just before the return `ret`: the return braced with it when it is the lone
    body of an `if`, its value computed first when it reads `var`."""
    indent = _indent(lines, ret.line)
    value = ret.children[0].text(lines) if ret.children else ""
    if var and ret.children and any(_variable(n) == var for n in ret.children[0].walk()):
        name = _free_name(fn, ("ret", "retval"))
        body = [f"{fn.result} {name} = {value};", call, f"return {name};"]
    else:
        body = [call, f"return {value};" if value else "return;"]
    src = lines[ret.end_line - 1]
    end = ret.end_col + 1 if src[ret.end_col : ret.end_col + 1] == ";" else ret.end_col
    parent = _parent(fn, ret)
    if parent is None or parent.kind == "COMPOUND_STMT":
        return [Edit(ret.line, ret.col, ret.end_line, end, f"\n{indent}".join(body))]
    outer = _indent(lines, parent.line)
    unit = _unit(outer)
    if parent.kind == "IF_STMT" and len(parent.children) > 1 and parent.children[1] is ret:
        cond = parent.children[0]
        head = lines[cond.end_line - 1]
        close = head.find(")", cond.end_col)
        if ret.line != parent.line and close >= 0 and cond.end_line < ret.line:
            inner = "".join(f"{indent}{b}\n" for b in body[:-1]) + f"{indent}{body[-1]}"
            return [
                Edit(cond.end_line, close + 1, cond.end_line, close + 1, " {"),
                Edit(ret.line, 0, ret.end_line, end, f"{inner}\n{outer}}}"),
            ]
    # `if (x) return 0;` on one line, an else or a loop body: a block in the return's place.
    inner = "".join(f"{outer}{unit}{b}\n" for b in body)
    return [Edit(ret.line, ret.col, ret.end_line, end, f"{{\n{inner}{outer}}}")]


# --- clamp a helper's size argument -------------------------------------------------------

_SIZE_ARG = re.compile(r"\bR([1-5]) (?:unbounded memory access|min value is negative)")


def clamp_size(analysis: Analysis, finding: Finding, tree: SyntaxTree) -> list[Fix]:
    m = _SIZE_ARG.search(finding.message)
    fn = tree.function_at(finding.line)
    if m is None or fn is None:
        return []
    at = _statement(fn, finding.line)
    if at is None:
        return []
    _, stmt = at
    arg = int(m.group(1)) - 1
    calls = [
        n for n in stmt.walk() if n.kind == "CALL_EXPR" and n.line <= finding.line <= n.end_line
    ]
    for call in calls:
        args = call.children[1:]
        if arg < 1 or arg >= len(args):
            continue
        size = _variable(args[arg])
        buf = unwrap(args[arg - 1])
        while buf.kind == "CSTYLE_CAST_EXPR" and buf.children:  # (void *)buf
            buf = unwrap(buf.children[-1])
        if size is None or not buf.type.endswith("]"):  # only arrays have a size to clamp to
            continue
        lines = analysis.text.split("\n")
        indent = _indent(lines, stmt.line)
        unit = _unit(indent)
        bound = f"sizeof({buf.text(lines)})"
        size_type = unwrap(args[arg]).type
        signed = not size_type.startswith("unsigned") and size_type != "_Bool"
        text = f"{indent}if ({size} > {bound})\n{indent}{unit}{size} = {bound};\n"
        if signed:
            text += f"{indent}if ({size} < 0)\n{indent}{unit}{size} = 0;\n"
        clamp = Fix(
            f"Clamp `{size}` to {bound} before {call.spelling}()",
            (_insert_before(stmt, text),),
            finding,
        )
        # clang may turn the clamp into a copy the verifier does not bound (the kernel tells):
        # a branch that leaves on the same register always bounds it.
        test = f"{size} > {bound}" + (f" || {size} < 0" if signed else "")
        text = f"{indent}if ({test})\n{indent}{unit}{_return(fn, lines)}\n"
        leave = Fix(
            f"Return early when `{size}` exceeds {bound}",
            (_insert_before(stmt, text),),
            finding,
        )
        return [clamp, leave]
    return []


# --- packet bounds ------------------------------------------------------------------------

_PACKET = re.compile(
    r"invalid access to packet, off=(\d+) size=(\d+), R(\d+)\(id=\d+,off=\d+,r=(\d+)\)"
)
_COMPARE = (">", ">=", "<", "<=")
_PACKET_CTX = ("struct xdp_md *", "struct __sk_buff *")


def _end_check(fn: Function, before: int, lines: list[str]) -> tuple[Node, str] | None:
    """The last `if (… > data_end) <then>` above `before`, and the `data_end` side's text."""
    found: tuple[Node, str] | None = None
    for node in fn.body.walk():
        if node.kind != "IF_STMT" or node.line >= before or len(node.children) < 2:
            continue
        cond = unwrap(node.children[0])
        if cond.kind != "BINARY_OPERATOR" or cond.operator not in _COMPARE:
            continue
        for side in cond.children:
            text = side.text(lines)
            if re.search(r"\bdata_end\b", text):
                found = (node, text)
    return found


def packet_bounds(analysis: Analysis, finding: Finding, tree: SyntaxTree) -> list[Fix]:
    m = _PACKET.search(finding.message)
    fn = tree.function_at(finding.line)
    if m is None or fn is None:
        return []
    at = _statement(fn, finding.line)
    lines = analysis.text.split("\n")
    if at is None:
        return []
    _, stmt = at
    indent = _indent(lines, stmt.line)
    check = _end_check(fn, finding.line, lines)
    load = ""
    if check is not None:
        guard, end = check
        then = guard.children[1].text(lines).strip()
        if not then.endswith((";", "}")):
            then += ";"
        why = f"the check on line {guard.line} proves only {m.group(4)} bytes"
    else:
        # No check at all: load data_end from the context the way the code loaded data.
        ctx = next((n for n, t in fn.params if t in _PACKET_CTX), None)
        if ctx is None:
            return []
        end = _free_name(fn, ("data_end", "pkt_end"))
        load = f"{indent}void *{end} = (void *)(long){ctx}->data_end;\n"
        then = _return(fn, lines)
        why = "nothing checks the packet's length"
    for _, base in _dereferences(stmt, finding.line):
        var = _variable(base)
        if var is None or not base.pointee.startswith("struct "):
            continue
        text = f"{load}{indent}if ((void *)({var} + 1) > {end})\n{indent}{_unit(indent)}{then}\n"
        title = f"Check `{var} + 1` against `{end}` before this access ({why})"
        return [Fix(title, (_insert_before(stmt, text),), finding)]
    return []


# --- RCU read section ---------------------------------------------------------------------

_ACQUIRE = re.compile(r"^bpf_\w+_acquire$")


def _assigned(stmt: Node) -> tuple[str, Node] | None:
    """`x = <expr>;` or `T *x = <expr>;` → (x, expr)."""
    if stmt.kind == "DECL_STMT" and len(stmt.children) == 1:
        var = stmt.children[0]
        exprs = [c for c in var.children if c.kind not in ("TYPE_REF",)]
        if var.kind == "VAR_DECL" and exprs:
            return var.spelling, exprs[-1]
    node = unwrap(stmt)
    if node.kind == "BINARY_OPERATOR" and node.operator == "=" and len(node.children) == 2:
        name = _variable(node.children[0])
        if name is not None:
            return name, node.children[1]
    return None


def rcu_section(analysis: Analysis, finding: Finding, tree: SyntaxTree) -> list[Fix]:
    if "must be a rcu pointer" not in finding.message:
        return []
    found = _statement_at(tree, finding.line)
    if found is None:
        return []
    fn, block, stmt = found
    call = next(
        (
            n
            for n in stmt.walk()
            if n.kind == "CALL_EXPR" and _ACQUIRE.match(n.spelling) and len(n.children) == 2
        ),
        None,
    )
    var = _variable(call.children[1]) if call is not None else None
    if var is None:
        return []
    index = block.children.index(stmt)
    load = None
    for earlier in reversed(block.children[:index]):
        a = _assigned(earlier)
        if a is not None and a[0] == var:
            expr = unwrap(a[1])
            if expr.kind == "MEMBER_REF_EXPR":
                load = earlier
            break
    if load is None:
        return []
    lines = analysis.text.split("\n")
    indent = _indent(lines, stmt.line)
    edits = [
        _insert_before(load, f"{indent}bpf_rcu_read_lock();\n"),
        _append_after(lines, stmt, f"\n{indent}bpf_rcu_read_unlock();"),
    ]
    # A return between the load and the acquire would leave the section open: unlock first.
    for between in block.children[block.children.index(load) + 1 : index]:
        for node in between.walk():
            if node.kind == "RETURN_STMT":
                edits += _unlock_before_return(lines, fn, node)
    edits += _declare_missing(analysis, ("bpf_rcu_read_lock", "bpf_rcu_read_unlock"))
    title = f"Load and acquire `{var}` inside bpf_rcu_read_lock()/bpf_rcu_read_unlock()"
    return [Fix(title, tuple(edits), finding)]


def _append_after(lines: list[str], stmt: Node, text: str) -> Edit:
    """Insert `text` after `stmt`'s `;`, past a comment that ends its line."""
    src = lines[stmt.end_line - 1]
    end = stmt.end_col + 1 if src[stmt.end_col : stmt.end_col + 1] == ";" else stmt.end_col
    rest = src[end:].strip()
    if not rest or rest.startswith("//") or (rest.startswith("/*") and rest.endswith("*/")):
        end = len(src)
    return Edit(stmt.end_line, end, stmt.end_line, end, text)


def _unlock_before_return(lines: list[str], fn: Function, ret: Node) -> list[Edit]:
    return _before_return(lines, fn, ret, "bpf_rcu_read_unlock();", "")


_EXIT_IN_RCU = re.compile(r"BPF_EXIT instruction .*inside bpf_rcu_read_lock-ed region")


def rcu_unlock(analysis: Analysis, finding: Finding, tree: SyntaxTree) -> list[Fix]:
    """A return inside an RCU read section: close the section before it."""
    if not _EXIT_IN_RCU.search(finding.message):
        return []
    fn = tree.function_at(finding.line)
    if fn is None:
        return []
    returns = [n for n in fn.body.walk() if n.kind == "RETURN_STMT" and n.line == finding.line]
    if len(returns) != 1:
        return []
    lines = analysis.text.split("\n")
    edits = _unlock_before_return(lines, fn, returns[0])
    return [Fix("Call bpf_rcu_read_unlock() before this return", tuple(edits), finding)]


# --- removed *_kptr_get -------------------------------------------------------------------


def kptr_get(analysis: Analysis, finding: Finding, tree: SyntaxTree) -> list[Fix]:
    name = next((k for k in KPTR_GET_REPLACEMENT if f"'{k}'" in finding.message), None)
    found = _statement_at(tree, finding.line)
    if name is None or found is None:
        return []
    _, _, stmt = found
    assigned = _assigned(stmt)
    if assigned is None:
        return []
    var, value = assigned
    call = unwrap(value)
    if call.kind != "CALL_EXPR" or call.spelling != name or len(call.children) != 2:
        return []
    arg = unwrap(call.children[1])
    if arg.kind != "UNARY_OPERATOR" or arg.operator != "&" or not arg.children:
        return []
    lines = analysis.text.split("\n")
    kptr = arg.children[0].text(lines)
    acquire = KPTR_GET_REPLACEMENT[name]
    indent = _indent(lines, stmt.line)
    unit = _unit(indent)
    head = ""
    if stmt.kind == "DECL_STMT":  # `struct task_struct *t = bpf_task_kptr_get(&v->task);`
        head = (
            f"{indent}{lines[stmt.line - 1][stmt.col : call.col].rstrip().rstrip('=').rstrip()};\n"
        )
    end = (
        stmt.end_col + 1
        if lines[stmt.end_line - 1][stmt.end_col : stmt.end_col + 1] == ";"
        else stmt.end_col
    )
    text = (
        f"{head}{indent}bpf_rcu_read_lock();\n"
        f"{indent}{var} = {kptr};\n"
        f"{indent}if ({var})\n{indent}{unit}{var} = {acquire}({var});\n"
        f"{indent}bpf_rcu_read_unlock();"
    )
    edits = [Edit(stmt.line, 0, stmt.end_line, end, text)]
    edits += _declare_missing(analysis, (acquire, "bpf_rcu_read_lock", "bpf_rcu_read_unlock"))
    title = f"Replace {name}() (removed in 6.4) with an RCU read section and {acquire}()"
    return [Fix(title, tuple(edits), finding)]


# --- CO-RE guard --------------------------------------------------------------------------

_CORE = re.compile(r"failed to resolve CO-RE relocation .*?\bstruct (\w+)\.([\w.]+)")


def core_guard(analysis: Analysis, finding: Finding, tree: SyntaxTree) -> list[Fix]:
    m = _CORE.search(finding.message)
    found = _statement_at(tree, finding.line)
    if m is None or found is None:
        return []
    _, _, stmt = found
    struct, field = f"struct {m.group(1)}", m.group(2)
    base = next(
        (
            n
            for n in stmt.walk()
            if n.kind == "DECL_REF_EXPR" and n.pointee == struct and n.line == finding.line
        ),
        None,
    )
    if base is None:
        return []
    guard = f"bpf_core_field_exists({base.spelling}->{field})"
    lines = analysis.text.split("\n")
    if stmt.kind == "IF_STMT" and stmt.children:
        cond = stmt.children[0]
        edits: tuple[Edit, ...] = (Edit(cond.line, cond.col, cond.line, cond.col, f"{guard} && "),)
    else:
        indent = _indent(lines, stmt.line)
        edits = (_insert_before(stmt, f"{indent}if ({guard})\n"),)
    title = f"Guard the read of {m.group(1)}.{field} with {guard}"
    return [Fix(title, edits, finding)]


# --- release on the leaking branch --------------------------------------------------------

# What releases what each acquire returns: (title verb, call with {var}).
_RELEASE_OF = {
    "bpf_task_acquire": [("Release", "bpf_task_release({var});")],
    "bpf_task_from_pid": [("Release", "bpf_task_release({var});")],
    "bpf_task_from_vpid": [("Release", "bpf_task_release({var});")],
    "bpf_cgroup_acquire": [("Release", "bpf_cgroup_release({var});")],
    "bpf_cgroup_from_id": [("Release", "bpf_cgroup_release({var});")],
    "bpf_cgroup_ancestor": [("Release", "bpf_cgroup_release({var});")],
    "bpf_task_get_cgroup1": [("Release", "bpf_cgroup_release({var});")],
    "bpf_cpumask_create": [("Release", "bpf_cpumask_release({var});")],
    "bpf_cpumask_acquire": [("Release", "bpf_cpumask_release({var});")],
    "bpf_sk_lookup_tcp": [("Release", "bpf_sk_release({var});")],
    "bpf_sk_lookup_udp": [("Release", "bpf_sk_release({var});")],
    "bpf_skc_lookup_tcp": [("Release", "bpf_sk_release({var});")],
    "bpf_ringbuf_reserve": [
        ("Submit", "bpf_ringbuf_submit({var}, 0);"),
        ("Discard", "bpf_ringbuf_discard({var}, 0);"),
    ],
}


def _release_calls(analysis: Analysis, acquire: str, var: str) -> list[tuple[str, str]]:
    """(title, call) for each way to release what `acquire` returned into `var`."""
    if acquire == "bpf_obj_new_impl":  # through the bpf_obj_new() macro, or called directly
        macro = re.search(r"\bbpf_obj_new\s*\(", analysis.text) is not None
        call = f"bpf_obj_drop({var});" if macro else f"bpf_obj_drop_impl({var}, NULL);"
        return [(f"Drop `{var}`", call)]
    if acquire == "bpf_percpu_obj_new_impl":
        return [(f"Drop `{var}`", f"bpf_percpu_obj_drop({var});")]
    out = []
    for verb, template in _RELEASE_OF.get(acquire, []):
        call = template.format(var=var)
        if verb == "Release":
            title = f"Release `{var}` with {call.split('(')[0]}()"
        elif verb == "Submit":
            title = f"Submit `{var}` to the ring buffer"
        else:
            title = f"{verb} `{var}`"
        out.append((title, call))
    return out


def _null_branch(node: Node, var: str) -> bool:
    """`if (!var)` / `if (var == NULL)`: the branch where the acquire returned nothing."""
    if node.kind != "IF_STMT" or not node.children:
        return False
    cond = unwrap(node.children[0])
    if cond.kind == "UNARY_OPERATOR" and cond.operator == "!" and cond.children:
        return _variable(cond.children[0]) == var
    if cond.kind == "BINARY_OPERATOR" and cond.operator == "==" and len(cond.children) == 2:
        names = [_variable(c) for c in cond.children]
        other = cond.children[1 - names.index(var)] if var in names else None
        return other is not None and unwrap(other).kind in ("INTEGER_LITERAL", "CSTYLE_CAST_EXPR")
    return False


def _leaking_returns(fn: Function, acquire: Node, var: str) -> list[Node]:
    """The returns after the acquire that neither follow a release of `var` nor sit in its
    NULL branch: where the reference is still held when the program exits."""
    out: list[Node] = []

    def releases(node: Node) -> bool:
        return any(
            n.kind == "CALL_EXPR" and any(_variable(a) == var for a in n.children[1:])
            for n in node.walk()
        )

    def visit(node: Node, released: bool) -> bool:
        """Walk statements in order; returns whether `var` has been released by the end."""
        after = (node.line, node.col) > (acquire.end_line, acquire.end_col)
        if node.kind == "RETURN_STMT":
            if after and not released and not releases(node):
                out.append(node)
            return released
        if node.kind == "IF_STMT" and node.children:
            branches = node.children[1:]
            if _null_branch(node, var):
                branches = branches[1:]  # nothing is held where the acquire returned NULL
            done = [visit(b, released) for b in branches]
            return released or (len(node.children) > 2 and all(done))
        if node.kind == "COMPOUND_STMT":
            for child in node.children:
                released = visit(child, released)
            return released
        if node.kind in ("FOR_STMT", "WHILE_STMT", "DO_STMT", "SWITCH_STMT", "CASE_STMT"):
            for child in node.children:
                visit(child, released)
            return released
        return released or (after and releases(node))

    visit(fn.body, False)
    return out


def release_leak(analysis: Analysis, finding: Finding, tree: SyntaxTree) -> list[Fix]:
    if "Unreleased reference" not in finding.message:
        return []
    found = _statement_at(tree, finding.line)
    if found is None:
        return []
    fn, _, stmt = found
    assigned = _assigned(stmt)
    if assigned is None:
        return []
    var, value = assigned
    call = unwrap(value)
    while call.kind == "CSTYLE_CAST_EXPR" and call.children:  # bpf_obj_new()'s cast
        call = unwrap(call.children[-1])
    if call.kind != "CALL_EXPR":
        return []
    releases = _release_calls(analysis, call.spelling, var)
    returns = _leaking_returns(fn, stmt, var)
    if not releases or not returns:
        return []
    lines = analysis.text.split("\n")
    where = (
        "before this return"
        if len(returns) == 1
        else "before the returns on lines " + ", ".join(str(r.line) for r in returns)
    )
    fixes = []
    for title, release in releases:
        edits: list[Edit] = []
        for ret in returns:
            edits += _before_return(lines, fn, ret, release, var)
        fixes.append(Fix(f"{title} {where}", tuple(edits), finding))
    return fixes


FIXERS = (
    null_check,
    release_leak,
    clamp_size,
    packet_bounds,
    rcu_section,
    rcu_unlock,
    kptr_get,
    core_guard,
)


def fixes(analysis: Analysis, finding: Finding, tree: SyntaxTree) -> list[Fix]:
    out: list[Fix] = []
    for fixer in FIXERS:
        try:
            out += fixer(analysis, finding, tree)
        except Exception:  # one fixer's bug must not take the others (or the request) down
            log.exception(
                "quick fix %s failed on %s:%d", fixer.__name__, analysis.path, finding.line
            )
    return out


def tree_fixes(analysis: Analysis, finding: Finding) -> list[Fix]:
    """The fixes placed on the analysis's own syntax tree; [] when libclang cannot parse it."""
    if analysis.compile is None or not analysis.compile.command:
        return []
    try:
        tree = parse(analysis.path, analysis.text, analysis.compile.command)
    except SyntaxUnavailable as exc:
        log.info("no syntax tree for the quick fixes of %s: %s", analysis.path, exc)
        return []
    return fixes(analysis, finding, tree)
