"""A real Neovim (headless) with editors/nvim on its runtimepath opens the rejected example: the
plugin starts kptr-lsp, the verifier's Error lands on the EXPECT line (vim.diagnostic.get()),
it stays while the fix is unsaved (diagnosticsOnChange = false, given as init options), and
goes once the fix is written.

Debian bookworm's Neovim 0.7 (vim.lsp.start_client + buf_attach_client) always runs; a
Neovim >= 0.11 (vim.lsp.config / vim.lsp.enable with lsp/kptr_lsp.lua) runs too when
$KPTR_NVIM_011 names one (`make test-editors` installs one)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.editors.conftest import (
    EDITORS,
    REJECTED,
    Example,
    path_without_server,
    server_command,
)

TIMEOUT_S = 120


def _nvims() -> list[object]:
    debian = shutil.which("nvim") or "/usr/bin/nvim"
    modern = os.environ.get("KPTR_NVIM_011")
    return [
        pytest.param(debian, id="debian-nvim"),
        pytest.param(
            modern,
            id="nvim-0.11",
            marks=pytest.mark.skipif(
                not modern, reason="KPTR_NVIM_011 not set (make test-editors sets it)"
            ),
        ),
    ]


def _lua_string(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid Lua string literal for these paths


def _init_lua(tmp: Path) -> Path:
    cmd = server_command()
    lines = [
        f"vim.opt.runtimepath:prepend({_lua_string(str(EDITORS / 'nvim'))})",
        "vim.opt.swapfile = false",
        # Settings for the server, passed as init options by the plugin.
        "vim.g.kptr_lsp_settings = { diagnosticsOnChange = false, logLevel = 'debug' }",
        "vim.lsp.set_log_level('info')",  # the server's stderr lands in lsp.log, for failures
    ]
    if cmd:
        lines.append(f"vim.g.kptr_lsp_cmd = vim.fn.json_decode({_lua_string(json.dumps(cmd))})")
    init = tmp / "init.lua"
    init.write_text("\n".join(lines) + "\n")
    return init


@pytest.mark.parametrize("nvim", _nvims())
def test_neovim_shows_the_verifier_error_and_clears_it_on_save(
    nvim: str, example: Example, tmp_path: Path, process_tag: str, kernel: None
) -> None:
    if not shutil.which(nvim):
        pytest.fail(f"{nvim} not found: `make setup` installs Debian's neovim")
    out = tmp_path / "result.json"
    home = tmp_path / "home"
    private_tmp = tmp_path / "tmp"  # Neovim keeps nvim.$USER there: gone with tmp_path
    private_tmp.mkdir()
    env = {
        **os.environ,
        "TMPDIR": str(private_tmp),
        "PATH": path_without_server(),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "XDG_STATE_HOME": str(home / ".local/state"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "KPTR_TEST_OUT": str(out),
        "KPTR_TEST_EDITS": json.dumps(example.edits),
        "KPTR_TEST_TIMEOUT_MS": str(TIMEOUT_S * 1000),
        "KPTR_EDITOR_TEST_TAG": process_tag,
    }
    env.pop("VIRTUAL_ENV", None)
    driver = Path(__file__).with_name("nvim_driver.lua")
    proc = subprocess.Popen(
        [
            nvim,
            "--headless",
            "-n",
            "-i",
            "NONE",
            "-u",
            str(_init_lua(tmp_path)),
            str(example.path),
            "-c",
            f"luafile {driver}",
        ],
        cwd=example.path.parent,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=3 * TIMEOUT_S)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    log = output.decode(errors="replace")
    assert out.exists(), f"Neovim wrote no result (exit {proc.returncode}):\n{log}"
    result = json.loads(out.read_text())
    lsp_logs = "".join(
        f"\n== {p}\n{p.read_text(errors='replace')[-6000:]}" for p in home.rglob("lsp.log")
    )
    where = (
        f"\nNeovim {result.get('nvim')} said:\n{log}\nresult: {json.dumps(result, indent=1)}"
        + lsp_logs
    )
    assert "error" not in result, where
    assert result["filetype"] == "c", where
    attached = [c for c in result["clients"] if c["name"] == "kptr_lsp" and c["attached"]]
    assert len(attached) == 1, where
    assert attached[0]["init_options"]["diagnosticsOnChange"] is False, where
    if nvim == "nvim" or "0.7" in result["nvim"]:
        assert result["started_with"] == "vim.lsp.start_client", where

    # 1. the verifier's Error, on the EXPECT line, with the kernel's words
    assert result["got_errors"], "no Error diagnostic arrived" + where
    hits = [
        d for d in result["before"] if d["line"] == example.line and example.text in d["message"]
    ]
    assert hits, f"no Error on line {example.line} containing {example.text!r}" + where
    # its related information (the exit still holding the reference, the causal path) is in
    # the message Neovim shows: the config appends it, as Neovim itself shows none
    text = REJECTED.read_text().splitlines()  # the copy is fixed and saved by now
    related = [n for n, line in enumerate(text, 1) if "RELATED:" in line]
    assert related and all(f"{example.path.name}:{n}: " in hits[0]["message"] for n in related), (
        where
    )
    assert "fix here: " in hits[0]["message"], where
    # 2. unsaved fix: on-change analysis is off, so the Error is still there
    assert any(d["line"] == example.line for d in result["after_edit_unsaved"]), where
    # 3. saved fix: the Error is gone
    assert result["cleared"] and result["after_save"] == [], where
