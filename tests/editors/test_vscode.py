"""The packaged extension in a real VS Code (code-server), driven by Debian's chromium through
playwright-core: open the rejected example, the verifier's Error must show in the Problems view
and as a squiggle on the EXPECT line. editors/vscode/test/e2e.mjs does the driving.

Needs code-server, chromium, node and a built .vsix, so it runs only under `make test-editors`
(KPTR_TEST_EDITORS=1), which installs them; elsewhere it is skipped."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.editors.conftest import EDITORS, REJECTED, ROOT, Example, path_without_server
from tests.expectations import read_expectations

VSCODE = EDITORS / "vscode"
TIMEOUT_S = 180

pytestmark = [
    pytest.mark.editors,
    pytest.mark.skipif(
        os.environ.get("KPTR_TEST_EDITORS") != "1",
        reason="VS Code test: run by `make test-editors` (KPTR_TEST_EDITORS=1)",
    ),
]


def test_vscode_shows_the_verifier_error_on_its_line(
    tmp_path: Path, process_tag: str, kernel: None
) -> None:
    code_server = Path(os.environ.get("KPTR_CODE_SERVER_DIR", ""))
    vsix = Path(os.environ.get("KPTR_VSIX", VSCODE / "kptr-lsp.vsix"))
    entry = code_server / "node_modules/code-server/out/node/entry.js"
    node = shutil.which("node")
    assert node, "node not found"
    assert entry.exists(), f"no code-server in {code_server!s}: `make test-editors` installs it"
    assert vsix.exists(), f"{vsix} missing: `make vsix` builds it"
    errors = [e for e in read_expectations(REJECTED).expects if e.severity == 1]
    assert errors, f'{REJECTED} has no /* EXPECT: error "…" */ marker'
    expect = errors[0]

    screenshot = tmp_path / "vscode.png"
    if os.environ.get("KPTR_SCREENSHOT_DIR"):  # `make editor-screenshots`: for the README
        screenshot = Path(os.environ["KPTR_SCREENSHOT_DIR"]) / "vscode-diagnostic.png"
    cmd = [
        node,
        str(VSCODE / "test/e2e.mjs"),
        "--code-server",
        str(code_server),
        "--vsix",
        str(vsix),
        # Opened in place: examples/ is under the checkout, so the extension must find the
        # server by itself in its .venv (kptr-lsp is not on PATH).
        "--file",
        str(REJECTED),
        "--line",
        str(expect.line),
        "--text",
        expect.text,
        "--screenshot",
        str(screenshot),
        "--timeout-s",
        str(TIMEOUT_S - 30),
        "--failure-screenshot",
        str(tmp_path / "failure.png"),
    ]
    if not (ROOT / ".venv/bin/kptr-lsp").exists() or ROOT not in REJECTED.resolve().parents:
        venv = ROOT / ".venv/bin/kptr-lsp"
        server = str(venv) if venv.exists() else shutil.which("kptr-lsp")
        assert server, "kptr-lsp is neither in .venv nor on PATH"
        cmd += ["--server", server]
    env = {**os.environ, "PATH": path_without_server(), "KPTR_EDITOR_TEST_TAG": process_tag}
    env.pop("VIRTUAL_ENV", None)
    tmp_before = set(os.listdir(tempfile.gettempdir()))
    proc = subprocess.Popen(
        cmd,
        cwd=VSCODE,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)  # e2e.mjs and playwright clean up on SIGTERM
        try:
            out, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
    lines = out.decode(errors="replace").strip().splitlines()
    stderr = err.decode(errors="replace")
    assert lines, f"e2e.mjs printed nothing (exit {proc.returncode}):\n{stderr}"
    result = json.loads(lines[-1])
    logs = result.pop("logs", {})
    where = (
        f"\nexit {proc.returncode}; result: {json.dumps(result, indent=1)}\n{stderr}\n"
        + "\n".join(f"== {name}\n{text}" for name, text in logs.items())
    )
    assert "error" not in result, where
    assert result["line"] == expect.line, where
    assert expect.text in result["message"], where
    assert expect.line in result["squiggleLines"], where
    # The causal path and the fix point are in the Problems view, under the diagnostic: every
    # related entry the server gives this diagnostic (as `check --format json` reports it), on
    # its line, and the lines the example marks RELATED among them.
    shown = [(r["line"], r["message"]) for r in result["related"]]
    wanted = _related_of(REJECTED, expect.line, expect.text)
    assert any(m.startswith("fix here:") for _, m in wanted), wanted
    assert shown == wanted, where
    assert set(read_expectations(REJECTED).related_lines) <= {line for line, _ in shown}
    assert proc.returncode == 0, where
    assert screenshot.exists(), where
    # code-server's IPC sockets live in the run's own temp dir, which is removed with it.
    left = {n for n in set(os.listdir(tempfile.gettempdir())) - tmp_before if "vscode" in n}
    assert not left, f"left in {tempfile.gettempdir()}: {sorted(left)}"


def _related_of(path: Path, line: int, text: str) -> list[tuple[int, str]]:
    """(line, message) of each related entry of the finding on `line` whose message holds
    `text`, as the checkout's kptr-lsp reports it for `path`."""
    proc = subprocess.run(
        [str(ROOT / ".venv/bin/kptr-lsp"), "check", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode in (0, 1), proc.stderr
    (report,) = json.loads(proc.stdout)
    (finding,) = [f for f in report["findings"] if f["line"] == line and text in f["message"]]
    return [(r["line"], r["message"]) for r in finding["related"]]


def test_vscode_restricted_mode_runs_the_server_with_defaults(
    example: Example, tmp_path: Path, process_tag: str, kernel: None
) -> None:
    """An untrusted workspace whose .vscode/settings.json names its own clang, server, verify
    helper, clang flags and kernels: in Restricted Mode none of them is used — the extension
    runs (it declares limited support), starts the server of the user's own settings, and the
    diagnostic is the one the defaults give. Each hostile program would leave a marker file if
    it ever ran."""
    code_server = Path(os.environ.get("KPTR_CODE_SERVER_DIR", ""))
    vsix = Path(os.environ.get("KPTR_VSIX", VSCODE / "kptr-lsp.vsix"))
    entry = code_server / "node_modules/code-server/out/node/entry.js"
    node = shutil.which("node")
    assert node and entry.exists() and vsix.exists(), "`make test-editors` installs these"
    server = ROOT / ".venv/bin/kptr-lsp"
    assert server.exists(), "the checkout's .venv has no kptr-lsp: `make setup`"
    marker = tmp_path / "ran"
    evil = tmp_path / "evil"
    evil.write_text(f'#!/bin/sh\necho "$0 $*" >> {marker}\nexit 1\n')
    evil.chmod(0o755)
    workspace = example.path.parent
    (workspace / ".vscode").mkdir()
    (workspace / ".vscode/settings.json").write_text(
        json.dumps(
            {
                "kptrLsp.clang": str(evil),
                "kptrLsp.server.path": str(evil),
                "kptrLsp.verifyHelper": [str(evil)],
                "kptrLsp.extraFlags": ["-include", "/nonexistent/from-the-workspace.h"],
                "kptrLsp.kernels": ["/nonexistent/bzImage-from-the-workspace"],
            }
        )
    )
    cmd = [
        node, str(VSCODE / "test/e2e.mjs"), "--code-server", str(code_server),
        "--vsix", str(vsix), "--file", str(example.path), "--line", str(example.line),
        "--text", example.text, "--server", str(server), "--restricted",
        "--timeout-s", str(TIMEOUT_S - 30), "--failure-screenshot", str(tmp_path / "failure.png"),
    ]  # fmt: skip
    env = {**os.environ, "PATH": path_without_server(), "KPTR_EDITOR_TEST_TAG": process_tag}
    env.pop("VIRTUAL_ENV", None)
    proc = subprocess.Popen(
        cmd,
        cwd=VSCODE,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    lines = out.decode(errors="replace").strip().splitlines()
    assert lines, f"e2e.mjs printed nothing (exit {proc.returncode}):\n{err.decode()}"
    result = json.loads(lines[-1])
    logs = result.pop("logs", {})
    where = f"\n{json.dumps(result, indent=1)[:6000]}\n{err.decode()[-3000:]}\n" + "\n".join(
        f"== {name}\n{text}" for name, text in logs.items()
    )
    assert "error" not in result, where
    # The default clang compiled it (no -include of the workspace's header, no fake clang)
    # and the running kernel verified it: the Error on its line, as in a trusted workspace.
    assert result["line"] == example.line, where
    assert example.text in result["message"], where
    assert not any("from-the-workspace" in p or "target kernel" in p for p in result["problems"])
    assert not marker.exists(), marker.read_text()
    assert "Restricted Mode:" in result["output"], where
    assert f"starting {server}" in result["output"], where  # the user's server.path
    assert result["initialize"].startswith('"initializationOptions"'), where
    assert (
        str(evil) not in result["initialize"] and "from-the-workspace" not in result["initialize"]
    )
    assert proc.returncode == 0, where
