"""The chooser: which store each account gets, from the profile's setting and detection."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Home

from launcher import config, profiles, stores
from launcher.errors import UsageError


def _kind(profile: profiles.Profile, path: Path, env: dict[str, str], **kw: str) -> str:
    return stores.for_account(profile, str(path), env, "linux", **kw).kind


@pytest.mark.parametrize(
    ("config_toml", "kind"),
    [
        (None, "file"),
        ('model = "o3"\n', "file"),
        ('cli_auth_credentials_store = "file"\n', "file"),
        ('cli_auth_credentials_store = "keyring"\n', "keyring"),
        ('cli_auth_credentials_store = "auto"\n', "keyring"),
        ("cli_auth_credentials_store = [not toml\n", "file"),
    ],
)
def test_codex_follows_its_config(tmp_path: Path, config_toml: str | None, kind: str) -> None:
    if config_toml is not None:
        (tmp_path / "config.toml").write_text(config_toml)
    assert _kind(profiles.CODEX, tmp_path / "auth.json", {}) == kind


def test_codex_keyring_mode_has_no_file_fallback_but_auto_has(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('cli_auth_credentials_store = "keyring"\n')
    only = stores.for_account(profiles.CODEX, str(tmp_path / "auth.json"), {}, "linux")
    assert not isinstance(only, stores.Fallback)
    (tmp_path / "config.toml").write_text('cli_auth_credentials_store = "auto"\n')
    auto = stores.for_account(profiles.CODEX, str(tmp_path / "auth.json"), {}, "linux")
    assert isinstance(auto, stores.Fallback)
    assert auto.path == str(tmp_path / "auth.json")


@pytest.mark.parametrize(("value", "kind"), [("true", "keyring"), ("1", "file"), ("", "file")])
def test_gemini_only_on_the_exact_true(tmp_path: Path, value: str, kind: str) -> None:
    env = {"GEMINI_FORCE_ENCRYPTED_FILE_STORAGE": value}
    assert _kind(profiles.GEMINI, tmp_path / "oauth_creds.json", env) == kind


def test_explicit_choices(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    assert (
        _kind(profiles.GEMINI, path, {"GEMINI_FORCE_ENCRYPTED_FILE_STORAGE": "true"}, choice="file")
        == "file"
    )
    assert _kind(profiles.CODEX, path, {}, choice="keyring") == "keyring"
    assert _kind(profiles.CLAUDE, path, {}, choice="keychain") == "keychain"
    for profile, choice in [
        (profiles.CLAUDE, "keyring"),
        (profiles.CODEX, "keychain"),
        (profiles.QWEN, "keyring"),
    ]:
        with pytest.raises(UsageError):
            stores.for_account(profile, str(path), {}, "linux", choice=choice)


def test_keyring_is_refused_where_wrap_does_not_know_the_item(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="win32"):
        stores.for_account(profiles.CODEX, str(tmp_path / "a.json"), {}, "win32", choice="keyring")


def test_store_setting_is_per_profile_and_validated(home: Home) -> None:
    cfg = home.root / "wrap.toml"
    cfg.write_text('[profiles.codex]\nstore = "keyring"\n')
    env = home.env(WRAP_CONFIG=str(cfg))
    assert config.resolve({"profile": "codex"}, env).store == "keyring"
    assert config.resolve({"profile": "claude"}, env).store == "auto"
    cfg.write_text('[profiles.codex]\nstore = "vault"\n')
    with pytest.raises(UsageError, match="invalid store 'vault'"):
        config.resolve({"profile": "codex"}, env)
