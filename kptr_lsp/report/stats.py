"""`kptr-lsp check --stats`: the verifier's statistics per program, as veristat prints them,
and `--compare OLD.json`: the change per program since a previous run (veristat's `-C`), with
`--max-growth N` failing the run when a program's processed instructions grew more than N %.

Everything but the JIT's code size (the kernel's bpf_prog_info of the loaded program, read
before it is closed; none for a rejected one) comes from the verifier's own log of the
ordinary load (log level 1 | 4): the
`processed N insns (limit L) max_states_per_insn M total_states T peak_states P` line at every
level, `verification time U usec` and `stack depth D+D…` with BPF_LOG_STATS. The JSON written
by `--stats --format json` is what `--compare` reads.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import IO, Any

from . import Exit, FileReport, relative, verdict

SCHEMA = "kptr-lsp-stats/1"
STATS_FORMATS = ("text", "json", "csv")


@dataclass(frozen=True)
class ProgramStats:
    file: str  # relative to the directory `check` ran in, when below it
    program: str
    section: str
    verdict: str
    insns: int | None  # processed instructions; None when the program never reached the verifier
    insn_limit: int | None
    total_states: int | None
    peak_states: int | None
    max_states_per_insn: int | None
    verification_time_us: int | None  # with BPF_LOG_STATS only
    stack_depth: tuple[int, ...]  # per subprogram, as the verifier prints it
    jited_bytes: int | None = None  # the JIT's code size, from the kernel's bpf_prog_info

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "program": self.program,
            "section": self.section,
            "verdict": self.verdict,
            "insns": self.insns,
            "insn_limit": self.insn_limit,
            "total_states": self.total_states,
            "peak_states": self.peak_states,
            "max_states_per_insn": self.max_states_per_insn,
            "verification_time_us": self.verification_time_us,
            "stack_depth": list(self.stack_depth),
            "jited_bytes": self.jited_bytes,
        }

    @classmethod
    def from_json(cls, raw: Any) -> ProgramStats:
        if not isinstance(raw, dict):
            raise ValueError("a program entry is not an object")

        def number(key: str) -> int | None:
            value = raw.get(key)
            if value is None or (isinstance(value, int) and not isinstance(value, bool)):
                return value
            raise ValueError(f"{key!r} of program {raw.get('program')!r} is not a number")

        def text(key: str) -> str:
            value = raw.get(key)
            if not isinstance(value, str):
                raise ValueError(f"a program entry has no {key!r}")
            return value

        depth = raw.get("stack_depth", [])
        if not isinstance(depth, list) or not all(isinstance(d, int) for d in depth):
            raise ValueError(f"'stack_depth' of program {raw.get('program')!r} is not a list")
        return cls(
            file=text("file"),
            program=text("program"),
            section=raw.get("section") or "",
            verdict=text("verdict"),
            insns=number("insns"),
            insn_limit=number("insn_limit"),
            total_states=number("total_states"),
            peak_states=number("peak_states"),
            max_states_per_insn=number("max_states_per_insn"),
            verification_time_us=number("verification_time_us"),
            stack_depth=tuple(depth),
            jited_bytes=number("jited_bytes"),
        )


def program_stats(report: FileReport, cwd: str) -> list[ProgramStats]:
    """One entry per program of the file that went to the loader."""
    out: list[ProgramStats] = []
    name = relative(report.analysis.path, cwd)
    for p in report.analysis.programs:
        st = p.parsed_log.stats
        out.append(
            ProgramStats(
                file=name,
                program=p.name,
                section=p.section,
                verdict=verdict(p),
                insns=st.processed_insns if st else None,
                insn_limit=st.insn_limit if st else None,
                total_states=st.total_states if st else None,
                peak_states=st.peak_states if st else None,
                max_states_per_insn=st.max_states_per_insn if st else None,
                verification_time_us=st.verification_time_us if st else None,
                stack_depth=st.stack_depth if st else (),
                jited_bytes=p.jited_size,
            )
        )
    return out


def load_baseline(path: str) -> list[ProgramStats]:
    """The programs of a `--stats --format json` file. Raises ValueError saying what is wrong."""
    try:
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not JSON: {exc}") from None
    if not isinstance(raw, dict) or raw.get("schema") != SCHEMA:
        raise ValueError(
            f"{path} is not the output of `kptr-lsp check --stats --format json` "
            f'(no "schema": "{SCHEMA}")'
        )
    programs = raw.get("programs")
    if not isinstance(programs, list):
        raise ValueError(f"{path} has no list of programs")
    try:
        return [ProgramStats.from_json(p) for p in programs]
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


@dataclass(frozen=True)
class Change:
    """One program in both runs, or in only one of them."""

    old: ProgramStats | None
    new: ProgramStats | None

    @property
    def name(self) -> tuple[str, str]:
        s = self.new or self.old
        assert s is not None
        return s.file, s.program

    @property
    def delta(self) -> int | None:
        if self.old is None or self.new is None or self.old.insns is None:
            return None
        if self.new.insns is None:
            return None
        return self.new.insns - self.old.insns

    @property
    def growth_pct(self) -> float | None:
        """Change of processed instructions in percent of the old count."""
        d = self.delta
        if d is None or self.old is None or not self.old.insns:
            return None
        return 100.0 * d / self.old.insns


def compare(old: Sequence[ProgramStats], new: Sequence[ProgramStats]) -> list[Change]:
    """Programs matched by file and name; a program whose file moved is matched by its name
    alone when that name is unique in both runs."""
    by_key = {(s.file, s.program): s for s in old}
    names: dict[str, list[ProgramStats]] = {}
    for s in old:
        names.setdefault(s.program, []).append(s)
    new_names: dict[str, int] = {}
    for s in new:
        new_names[s.program] = new_names.get(s.program, 0) + 1
    used: set[tuple[str, str]] = set()
    changes: list[Change] = []
    for s in new:
        match = by_key.get((s.file, s.program))
        if match is None and len(names.get(s.program, [])) == 1 and new_names[s.program] == 1:
            candidate = names[s.program][0]
            if (candidate.file, candidate.program) not in {(n.file, n.program) for n in new}:
                match = candidate
        if match is not None:
            used.add((match.file, match.program))
        changes.append(Change(match, s))
    changes += [Change(s, None) for s in old if (s.file, s.program) not in used]
    return changes


def over_budget(changes: Iterable[Change], max_growth_pct: float) -> list[Change]:
    return [c for c in changes if (g := c.growth_pct) is not None and g > max_growth_pct]


# --- printing ---------------------------------------------------------------------------------


def _n(value: int | None) -> str:
    return "" if value is None else str(value)


def _depth(depth: tuple[int, ...]) -> str:
    return "+".join(str(d) for d in depth)


STATS_COLUMNS = (
    "file",
    "program",
    "verdict",
    "insns",
    "total_states",
    "peak_states",
    "max_states_per_insn",
    "verification_time_us",
    "stack_depth",
    "jited_bytes",
)


def _stats_row(s: ProgramStats) -> list[str]:
    return [
        s.file,
        s.program,
        s.verdict,
        _n(s.insns),
        _n(s.total_states),
        _n(s.peak_states),
        _n(s.max_states_per_insn),
        _n(s.verification_time_us),
        _depth(s.stack_depth),
        _n(s.jited_bytes),
    ]


COMPARE_COLUMNS = (
    "file",
    "program",
    "verdict_old",
    "verdict_new",
    "insns_old",
    "insns_new",
    "insns_diff",
    "insns_diff_pct",
    "peak_states_old",
    "peak_states_new",
    "total_states_old",
    "total_states_new",
    "verification_time_us_old",
    "verification_time_us_new",
)


def _pct(change: Change) -> str:
    g = change.growth_pct
    return "" if g is None else f"{g:+.1f}"


def _compare_row(c: Change) -> list[str]:
    o, n = c.old, c.new
    file, program = c.name
    return [
        file,
        program,
        o.verdict if o else "",
        n.verdict if n else "",
        _n(o.insns) if o else "",
        _n(n.insns) if n else "",
        _n(c.delta),
        _pct(c),
        _n(o.peak_states) if o else "",
        _n(n.peak_states) if n else "",
        _n(o.total_states) if o else "",
        _n(n.total_states) if n else "",
        _n(o.verification_time_us) if o else "",
        _n(n.verification_time_us) if n else "",
    ]


def _table(header: Sequence[str], rows: list[list[str]]) -> str:
    """Columns aligned; numbers to the right."""
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)
    ]

    def line(cells: Sequence[str]) -> str:
        out = []
        for i, cell in enumerate(cells):
            numeric = cell.lstrip("+-").replace(".", "", 1).isdigit()
            out.append(cell.rjust(widths[i]) if numeric else cell.ljust(widths[i]))
        return "  ".join(out).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


_TEXT_STATS = ("file", "program", "verdict", "insns", "total states", "peak states",
               "max/insn", "time µs", "stack B", "JIT B")  # fmt: skip
_TEXT_COMPARE = ("file", "program", "verdict", "insns old", "insns new", "diff", "diff %",
                 "peak old", "peak new", "time µs old", "time µs new")  # fmt: skip


def _text_compare_row(c: Change) -> list[str]:
    o, n = c.old, c.new
    file, program = c.name
    if o is None:
        word = f"{n.verdict if n else ''} (new)"
    elif n is None:
        word = f"{o.verdict} (gone)"
    else:
        word = n.verdict if o.verdict == n.verdict else f"{o.verdict} → {n.verdict}"
    d = c.delta
    return [
        file,
        program,
        word,
        _n(o.insns) if o else "",
        _n(n.insns) if n else "",
        "" if d is None else f"{d:+}",
        _pct(c),
        _n(o.peak_states) if o else "",
        _n(n.peak_states) if n else "",
        _n(o.verification_time_us) if o else "",
        _n(n.verification_time_us) if n else "",
    ]


class StatsWriter:
    """A report Writer (see report/__init__.py) printing statistics, or their comparison with
    `baseline`, once every file is in (tables need every row to align)."""

    def __init__(
        self, out: IO[str], cwd: str, fmt: str, baseline: list[ProgramStats] | None = None
    ) -> None:
        if fmt not in STATS_FORMATS:
            raise ValueError(f"--stats prints {', '.join(STATS_FORMATS)}, not {fmt!r}")
        self.out, self.cwd, self.fmt, self.baseline = out, cwd, fmt, baseline
        self.programs: list[ProgramStats] = []
        self.changes: list[Change] = []

    def file(self, report: FileReport) -> None:
        self.programs += program_stats(report, self.cwd)

    def close(self) -> None:
        self.programs.sort(key=lambda s: (s.file, s.program))
        if self.baseline is None:
            self._write_stats()
        else:
            self.changes = compare(self.baseline, self.programs)
            self._write_compare()

    def _write_stats(self) -> None:
        if self.fmt == "json":
            doc = {"schema": SCHEMA, "programs": [s.to_json() for s in self.programs]}
            self.out.write(json.dumps(doc, indent=2) + "\n")
        elif self.fmt == "csv":
            self.out.write(_csv(STATS_COLUMNS, [_stats_row(s) for s in self.programs]))
        else:
            self.out.write(_table(_TEXT_STATS, [_stats_row(s) for s in self.programs]) + "\n")

    def _write_compare(self) -> None:
        if self.fmt == "json":
            doc = {
                "schema": SCHEMA,
                "compare": [
                    {
                        "file": c.name[0],
                        "program": c.name[1],
                        "old": c.old.to_json() if c.old else None,
                        "new": c.new.to_json() if c.new else None,
                        "insns_diff": c.delta,
                        "insns_diff_pct": c.growth_pct,
                    }
                    for c in self.changes
                ],
            }
            self.out.write(json.dumps(doc, indent=2) + "\n")
        elif self.fmt == "csv":
            self.out.write(_csv(COMPARE_COLUMNS, [_compare_row(c) for c in self.changes]))
        else:
            rows = [_text_compare_row(c) for c in self.changes]
            self.out.write(_table(_TEXT_COMPARE, rows) + "\n")


def _csv(header: Sequence[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def budget_message(grew: Sequence[Change], max_growth_pct: float) -> str:
    """What `--max-growth` says on stderr when programs grew past it."""
    parts = []
    for c in grew:
        assert c.old is not None and c.new is not None
        parts.append(
            f"{c.name[0]}: {c.name[1]} grew by {c.growth_pct:.0f} % "
            f"({c.old.insns:,} → {c.new.insns:,} insns processed)"
        )
    return (
        f"kptr-lsp: {len(grew)} program(s) grew more than --max-growth {max_growth_pct:g} %:\n"
        + "\n".join(f"  {p}" for p in parts)
    )


def stats_writer(
    out: IO[str],
    cwd: str,
    fmt: str,
    *,
    stats: bool,
    compare: str | None,
    max_growth: float | None,
) -> StatsWriter | None:
    """The writer for `--stats` / `--compare`, or None without them. Raises ValueError for
    options that do not go together or a baseline that cannot be read."""
    if max_growth is not None and compare is None:
        raise ValueError("--max-growth needs --compare OLD.json")
    if not stats and compare is None:
        if fmt == "csv":
            raise ValueError("--format csv goes with --stats or --compare")
        return None
    baseline = load_baseline(compare) if compare is not None else None
    return StatsWriter(out, cwd, fmt, baseline)


def budget_exit(written: StatsWriter, max_growth: float | None, err: IO[str]) -> Exit:
    """REJECTED when a program grew more than `max_growth` % since the baseline."""
    if max_growth is None:
        return Exit.CLEAN
    grew = over_budget(written.changes, max_growth)
    if not grew:
        return Exit.CLEAN
    err.write(budget_message(grew, max_growth) + "\n")
    return Exit.REJECTED
