"""Plumbing for the real-editor tests: the example program, its expected diagnostic, the fixing
edit, and a check that nothing a test started is still running afterwards."""

from __future__ import annotations

import contextlib
import difflib
import os
import shutil
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.expectations import read_expectations

ROOT = Path(__file__).resolve().parents[2]
EDITORS = ROOT / "editors"
# The editors' test program: examples/rejected.bpf.c, with `/* EXPECT: error "…" */` on the line
# where the verifier's error must land, and examples/clean.bpf.c, its fixed version.
EXAMPLES = Path(os.environ.get("KPTR_EDITOR_EXAMPLES", ROOT / "examples"))
REJECTED = EXAMPLES / "rejected.bpf.c"
CLEAN = EXAMPLES / "clean.bpf.c"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "editors: needs code-server and chromium; run by `make test-editors`"
    )


@dataclass(frozen=True)
class Example:
    path: Path  # a private copy of rejected.bpf.c, safe to edit
    line: int  # 1-based line of the expected Error
    text: str  # part of its message
    edits: list[dict[str, object]]  # rejected → clean, as 0-based [start, end) line edits


def fixing_edits(before: list[str], after: list[str]) -> list[dict[str, object]]:
    """The line edits that turn `before` into `after` (what a person fixing it would type)."""
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    return [
        {"start": i1, "end": i2, "lines": after[j1:j2]}
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
        if tag != "equal"
    ]


@pytest.fixture
def example(tmp_path: Path) -> Example:
    if not REJECTED.is_file() or not CLEAN.is_file():
        pytest.fail(f"{REJECTED} and {CLEAN} are the editors' test programs; one is missing")
    errors = [e for e in read_expectations(REJECTED).expects if e.severity == 1]
    if not errors:
        pytest.fail(f'{REJECTED} has no /* EXPECT: error "…" */ marker on its failing line')
    work = tmp_path / "project"
    work.mkdir()
    for item in EXAMPLES.iterdir():  # the example may include a header beside it
        if item.is_file():
            shutil.copy(item, work / item.name)
    copy = work / REJECTED.name
    edits = fixing_edits(REJECTED.read_text().splitlines(), CLEAN.read_text().splitlines())
    return Example(copy, errors[0].line, errors[0].text, edits)


def server_command() -> list[str] | None:
    """None when the clients can find the server themselves (the checkout's .venv), else a
    command for this interpreter."""
    if (ROOT / ".venv" / "bin" / "kptr-lsp").exists():
        return None
    return [sys.executable, "-m", "kptr_lsp"]


def path_without_server() -> str:
    """$PATH less any directory holding kptr-lsp: the clients must find it on their own."""
    dirs = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join(d for d in dirs if d and not (Path(d) / "kptr-lsp").exists())


def _tagged_pids(tag: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if tag.encode() in (entry / "environ").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


@pytest.fixture
def process_tag() -> Iterator[str]:
    """A value to put in the environment of everything a test starts; afterwards no process
    may still carry it (every child inherits it: servers, code-server, chromium)."""
    tag = f"kptr-editor-test-{uuid.uuid4()}"
    yield tag
    deadline = time.monotonic() + 10
    left = _tagged_pids(tag)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = _tagged_pids(tag)
    for pid in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    assert not left, f"processes left running after the test: {left}"
