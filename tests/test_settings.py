from __future__ import annotations

from kptr_lsp.settings import Settings


def test_camel_case_keys_from_an_editor_are_understood() -> None:
    settings, problems = Settings.from_mapping(
        {"kptrLsp": {"extraFlags": ["-DX=1"], "changeDelayMs": 250, "verify": False}}
    )
    assert problems == []
    assert settings.extra_flags == ("-DX=1",)
    assert settings.change_delay_ms == 250
    assert settings.verify is False


def test_bad_values_are_reported_and_defaults_kept() -> None:
    settings, problems = Settings.from_mapping({"jobs": "many", "nosuch": 1, "verify": "yes"})
    assert settings == Settings()
    assert len(problems) == 3
    assert any("nosuch" in p for p in problems)


def test_no_options_gives_defaults() -> None:
    assert Settings.from_mapping(None) == (Settings(), [])
    assert Settings.from_mapping([1, 2])[1]


def test_a_kernel_release_that_is_not_one_is_refused() -> None:
    settings, problems = Settings.from_mapping({"kernelRelease": "latest"})
    assert settings.kernel_release is None
    assert problems == ["setting 'kernelRelease': 'latest' is not a kernel release"]
    assert Settings.from_mapping({"kernelRelease": "6.1.0-56-amd64"})[0].kernel_release


def test_rodata_overrides_from_a_lua_table() -> None:
    # Neovim sends an empty Lua table as `[]`: no overrides, not a complaint.
    assert Settings.from_mapping({"rodataOverrides": []}) == (Settings(), [])
    settings, problems = Settings.from_mapping({"rodataOverrides": {"targ_pid": 7}})
    assert (settings.rodata_overrides, problems) == ((("targ_pid", 7),), [])
    assert Settings.from_mapping({"rodataOverrides": [1]})[1]
