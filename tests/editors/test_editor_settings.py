"""Every server setting reaches the server from both editors, with the server's own default.

A setting missing from the VS Code extension cannot be set there at all (the extension sends only
the keys it lists), and an editor default that differs from the server's silently changes
behaviour (an editor that sends `verifierLogLevel: 1` loses the lens's time and stack depth).
No editor is started: these read the files the editors read.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from kptr_lsp.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_JSON = ROOT / "editors" / "vscode" / "package.json"
EXTENSION_TS = ROOT / "editors" / "vscode" / "src" / "extension.ts"
NVIM_CONFIG = ROOT / "editors" / "nvim" / "lsp" / "kptr_lsp.lua"
README = ROOT / "README.md"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _server_default(field: dataclasses.Field[Any]) -> Any:
    if field.default_factory is not dataclasses.MISSING:
        # guestVerify: its default follows $KPTR_LSP_GUEST_VERIFY (the suite turns it off)
        saved = os.environ.pop("KPTR_LSP_GUEST_VERIFY", None)
        try:
            return field.default_factory()
        finally:
            if saved is not None:
                os.environ["KPTR_LSP_GUEST_VERIFY"] = saved
    return field.default


def _json_default(field: dataclasses.Field[Any]) -> Any:
    """A Settings default as the JSON value an editor would send."""
    default = _server_default(field)
    if str(field.type).startswith("tuple[tuple[str, int]"):
        return dict(default)
    if isinstance(default, tuple):
        return list(default)
    return default


SETTINGS = {_camel(f.name): _json_default(f) for f in dataclasses.fields(Settings)}


def _vscode_properties() -> dict[str, Any]:
    properties = json.loads(PACKAGE_JSON.read_text())["contributes"]["configuration"]["properties"]
    return {key.removeprefix("kptrLsp."): spec for key, spec in properties.items()}


def _vscode_sent() -> set[str]:
    text = EXTENSION_TS.read_text()
    block = re.search(r"const SERVER_SETTINGS = \[(.*?)\] as const", text, re.S)
    assert block, "extension.ts has no SERVER_SETTINGS list"
    return set(re.findall(r'"([A-Za-z.]+)"', block.group(1)))


def _lua_value(text: str) -> Any:
    text = text.strip()
    if text == "vim.NIL":
        return None
    if text in ("true", "false"):
        return text == "true"
    if text == "{}":
        return []  # Neovim sends an empty Lua table as a JSON list
    if text == "vim.empty_dict()":
        return {}
    if text[0] in "'\"":
        return text[1:-1]
    return float(text) if "." in text else int(text)


def _nvim_defaults() -> dict[str, Any]:
    text = NVIM_CONFIG.read_text()
    block = re.search(r"init_options = \{\n(.*?)\n  \},", text, re.S)
    assert block, "the Neovim config has no init_options table"
    values: dict[str, Any] = {}
    for line in block.group(1).splitlines():
        line = line.split("--")[0].strip()
        if line:
            key, _, value = line.partition("=")
            values[key.strip()] = _lua_value(value.rstrip(","))
    return values


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(editor: Any, server: Any) -> bool:
    if _number(editor) and _number(server):
        return bool(editor == server)
    return type(editor) is type(server) and bool(editor == server)


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_vscode_declares_and_sends_every_setting_with_the_servers_default(name: str) -> None:
    properties = _vscode_properties()
    assert name in properties, f"package.json does not declare kptrLsp.{name}"
    assert _same(properties[name].get("default"), SETTINGS[name]), (
        f"kptrLsp.{name}: VS Code's default {properties[name].get('default')!r}, "
        f"the server's {SETTINGS[name]!r}"
    )
    assert name in _vscode_sent(), f"extension.ts does not send {name} to the server"


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_neovim_lists_every_setting_with_the_servers_default(name: str) -> None:
    defaults = _nvim_defaults()
    assert name in defaults, f"the Neovim config's init_options lack {name}"
    assert _same(defaults[name], SETTINGS[name]), (
        f"{name}: Neovim's default {defaults[name]!r}, the server's {SETTINGS[name]!r}"
    )


def test_the_extension_sends_only_settings_the_server_knows() -> None:
    unknown = _vscode_sent() - set(SETTINGS)
    assert not unknown, f"extension.ts sends settings the server rejects: {sorted(unknown)}"


def test_the_readme_documents_every_setting() -> None:
    table = set(re.findall(r"^\| `([A-Za-z]+)` \|", README.read_text(), re.M))
    missing = sorted(set(SETTINGS) - table)
    assert not missing, f"README's settings table lacks {missing}"
