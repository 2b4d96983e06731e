"""The catalogue of verifier messages: what the kernel's words mean, and what to change.

The catalogue is data (kptr_lsp/data/explanations.toml); this module loads it, matches the
kernel's error text against it and renders the documentation page that diagnostics link to
(docs/verifier-messages.md, regenerated with `python -m kptr_lsp.verify.explanations`).
"""

from __future__ import annotations

import functools
import os
import re
import string
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from .. import __version__
from .log_facts import FACT_KEYS

DOCS_NAME = "verifier-messages.md"
# The page in a source checkout (how `make setup` installs kptr-lsp: editable).
SOURCE_DOCS = Path(__file__).resolve().parents[2] / "docs" / DOCS_NAME


class CatalogueError(ValueError):
    """The catalogue file is malformed: a bad pattern, a placeholder without a group."""


@dataclass(frozen=True)
class Entry:
    id: str
    category: str
    title: str
    pattern: re.Pattern[str]
    cause: str
    fix: str
    # Sentences about this program, from the log (verify/log_facts.py): each is shown when
    # every fact it names is known, first after the title.
    detail: tuple[str, ...] = ()
    # Names of the helpers/kfuncs whose last call on the failing path is fact acquired_at
    # (the lock still held, the IRQ flags saved...): a full-match pattern.
    calls: re.Pattern[str] | None = None


@dataclass(frozen=True)
class Explanation:
    entry: Entry
    groups: dict[str, str]  # the variable parts of the kernel's text (register, id, type...)
    facts: dict[str, str] = field(default_factory=dict)  # from the log (log_facts)

    @property
    def details(self) -> list[str]:
        known = {**self.facts, **self.groups}
        return [d.format_map(known) for d in self.entry.detail if _placeholders(d) <= set(known)]

    @property
    def cause(self) -> str:
        return self.entry.cause.format_map(self.groups)

    @property
    def fix(self) -> str:
        return self.entry.fix.format_map(self.groups)

    def text(self) -> str:
        """Plain text for under the kernel's words in a diagnostic."""
        said = " ".join([*self.details, self.cause])
        return f"{self.entry.title}. {said}\nFix: {self.fix}"


def _placeholders(template: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name}
    except ValueError as exc:  # a lone brace
        raise CatalogueError(f"template {template[:40]!r}...: {exc}") from exc


def parse_catalogue(text: str) -> tuple[Entry, ...]:
    """Entries from the TOML text, checked so that a bad entry fails at load, not on a user."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"catalogue: {exc}") from exc
    entries: list[Entry] = []
    seen: set[str] = set()
    for n, item in enumerate(raw.get("message", []), start=1):
        where = f"catalogue entry {n} ({item.get('id', '?')})"
        try:
            entry_id, category, title = item["id"], item["category"], item["title"]
            pattern_text, cause, fix = item["pattern"], item["cause"], item["fix"]
        except KeyError as exc:
            raise CatalogueError(f"{where}: missing {exc}") from exc
        if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", entry_id) or entry_id in seen:
            raise CatalogueError(f"{where}: id must be unique kebab-case")
        seen.add(entry_id)
        try:
            pattern = re.compile(pattern_text, re.MULTILINE)
        except re.error as exc:
            raise CatalogueError(f"{where}: pattern: {exc}") from exc
        missing = (_placeholders(cause) | _placeholders(fix)) - set(pattern.groupindex)
        if missing:
            raise CatalogueError(f"{where}: no group for {sorted(missing)}")
        detail = item.get("detail", [])
        if not isinstance(detail, list) or not all(isinstance(d, str) for d in detail):
            raise CatalogueError(f"{where}: detail must be a list of strings")
        for d in detail:
            unknown = _placeholders(d) - set(pattern.groupindex) - FACT_KEYS
            if unknown:
                raise CatalogueError(f"{where}: detail names no group or fact {sorted(unknown)}")
        calls_text = item.get("calls")
        try:
            calls = re.compile(calls_text) if calls_text is not None else None
        except (re.error, TypeError) as exc:
            raise CatalogueError(f"{where}: calls: {exc}") from exc
        entries.append(Entry(entry_id, category, title, pattern, cause, fix, tuple(detail), calls))
    return tuple(entries)


@functools.cache
def catalogue() -> tuple[Entry, ...]:
    text = resources.files("kptr_lsp").joinpath("data/explanations.toml").read_text()
    return parse_catalogue(text)


def explain(
    kernel_text: str,
    entries: tuple[Entry, ...] | None = None,
    facts: Callable[[Entry, dict[str, str]], dict[str, str]] | None = None,
) -> Explanation | None:
    """The first catalogue entry whose pattern occurs in the kernel's error text;
    `facts(entry, groups)` gives what the log says about this program (verify/log_facts.py)."""
    for entry in catalogue() if entries is None else entries:
        m = entry.pattern.search(kernel_text)
        if m is not None:
            groups = {k: v for k, v in m.groupdict().items() if v is not None}
            return Explanation(entry, groups, facts(entry, groups) if facts is not None else {})
    return None


def render_docs(entries: tuple[Entry, ...] | None = None) -> str:
    """The Markdown page diagnostics link to: one anchored section per entry."""
    entries = catalogue() if entries is None else entries
    out = [
        "# Verifier messages explained",
        "",
        "<!-- Generated from kptr_lsp/data/explanations.toml by "
        "`python -m kptr_lsp.verify.explanations`; edit that file, not this one. -->",
        "",
        "kptr-lsp shows these explanations under the kernel's own words, and links each "
        "diagnostic here (its `codeDescription`). Every entry was produced by a real program "
        "on Linux 6.18 (see `tests/programs/`). Words in {braces} are filled in from the "
        "kernel's message or, under *In your program*, from the verifier's log of your "
        "program: {at} is the failing instruction with its C line, {call} the helper or "
        "kfunc it calls, {reg_type} the type the verifier gave the register, {origin} the "
        "instruction that produced its value.",
        "",
    ]
    categories: list[str] = []
    for e in entries:
        if e.category not in categories:
            categories.append(e.category)
    for category in categories:
        out += [f"## {category}", ""]
        for e in (e for e in entries if e.category == category):
            out += [
                f'<a id="{e.id}"></a>',
                f"### {e.title}",
                "",
                f"`{e.id}` — kernel text matching: `{e.pattern.pattern}`",
                "",
                f"**Why.** {e.cause}",
                "",
                *([f"**In your program.** {' '.join(e.detail)}", ""] if e.detail else []),
                f"**Fix.** {e.fix}",
                "",
            ]
    return "\n".join(out)


def _cache_docs() -> Path:
    """A copy of the page for installs without a source tree, one per kptr-lsp version."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = Path(base) / "kptr-lsp" / "docs" / __version__ / DOCS_NAME
    text = render_docs()
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return path


@functools.cache
def docs_page() -> Path:
    return SOURCE_DOCS if SOURCE_DOCS.is_file() else _cache_docs()


def docs_url(entry_id: str) -> str:
    """Where a diagnostic's codeDescription points: the page, at the entry's anchor. A
    file:// URL: it works offline and always matches the catalogue of the running server."""
    return f"{docs_page().as_uri()}#{entry_id}"


if __name__ == "__main__":
    sys.stdout.write(render_docs())
