"""Settings resolution: flag > environment > config file > profile default."""

from __future__ import annotations

import sys
from pathlib import Path

import platformdirs
import pytest

from launcher import config
from launcher.errors import UsageError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("7d", 604800),
        ("36h", 129600),
        ("90m", 5400),
        ("45s", 45),
        ("45S", 45),
        ("7D", 604800),
        ("3600", 3600),
        ("0", 0),
        (" 2h ", 7200),
        # The compound forms of systemd and Go.
        ("1h30m", 5400),
        ("1h 30min", 5400),
        ("15min", 900),
        ("2 days", 172800),
        ("1w", 604800),
        ("1.5h", 5400),
        ("1m30s", 90),
        ("500ms", 0.5),
    ],
)
def test_duration_forms(text: str, seconds: int) -> None:
    assert config.parse_duration(text, "test") == seconds


@pytest.mark.parametrize(
    "text", ["", "abc", "7x", "-1d", "d", "1.5.2h", "nan", "inf", "1h30", "h1", "1h-30m", ".h"]
)
def test_bad_duration_names_source_and_lists_forms(text: str) -> None:
    with pytest.raises(UsageError) as e:
        config.parse_duration(text, "WRAP_THRESHOLD")
    assert "WRAP_THRESHOLD" in str(e.value)
    assert "7d, 36h, 90m, 45s" in str(e.value)
    assert e.value.exit_code == 2


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    env.update(extra)
    return env


def _write_config(tmp_path: Path, text: str) -> None:
    (tmp_path / "cfg" / "wrap").mkdir(parents=True, exist_ok=True)
    (tmp_path / "cfg" / "wrap" / "config.toml").write_text(text)


def test_defaults(tmp_path: Path) -> None:
    s = config.resolve({}, _env(tmp_path))
    assert s.profile.name == "claude"
    assert s.threshold == 7 * 86400
    assert s.refresh_timeout == 15
    assert s.credentials == str(tmp_path / ".claude" / ".credentials.json")
    assert s.token_url == "https://platform.claude.com/v1/oauth/token"
    assert s.client_id == "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
    assert s.strict is False


def test_claude_config_dir_moves_the_file(tmp_path: Path) -> None:
    s = config.resolve({}, _env(tmp_path, CLAUDE_CONFIG_DIR=str(tmp_path / "alt")))
    assert s.credentials == str(tmp_path / "alt" / ".credentials.json")


def test_precedence_flag_env_config(tmp_path: Path) -> None:
    _write_config(tmp_path, 'threshold = "1d"\nstrict = true\n')
    assert config.resolve({}, _env(tmp_path)).threshold == 86400
    assert config.resolve({}, _env(tmp_path)).strict is True
    env = _env(tmp_path, WRAP_THRESHOLD="2h", WRAP_STRICT="0")
    assert config.resolve({}, env).threshold == 7200
    assert config.resolve({}, env).strict is False
    assert config.resolve({"threshold": "30m"}, env).threshold == 1800


def test_profile_section_overrides_top_level(tmp_path: Path) -> None:
    _write_config(
        tmp_path, 'threshold = "1d"\n[profiles.claude]\ntoken_url = "https://example.test/t"\n'
    )
    s = config.resolve({}, _env(tmp_path))
    assert s.token_url == "https://example.test/t"
    assert s.threshold == 86400


def test_wrap_config_points_elsewhere(tmp_path: Path) -> None:
    other = tmp_path / "other.toml"
    other.write_text("threshold = 60\n")
    assert config.resolve({}, _env(tmp_path, WRAP_CONFIG=str(other))).threshold == 60


def test_missing_explicit_config_is_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="WRAP_CONFIG"):
        config.resolve({}, _env(tmp_path, WRAP_CONFIG=str(tmp_path / "nope.toml")))


def test_bad_toml_names_file(tmp_path: Path) -> None:
    _write_config(tmp_path, "threshold = = 3\n")
    with pytest.raises(UsageError, match=r"config\.toml is not valid TOML"):
        config.resolve({}, _env(tmp_path))


def test_bad_config_value_names_key_and_file(tmp_path: Path) -> None:
    _write_config(tmp_path, 'threshold = "soon"\n')
    with pytest.raises(UsageError) as e:
        config.resolve({}, _env(tmp_path))
    assert "config.toml" in str(e.value)
    assert "threshold" in str(e.value)


def test_bad_strict_env_is_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="WRAP_STRICT"):
        config.resolve({}, _env(tmp_path, WRAP_STRICT="maybe"))


def test_unknown_profile_lists_known(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="claude"):
        config.resolve({"profile": "nope"}, _env(tmp_path))


def _xdg_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, xdg: str | None) -> dict[str, str]:
    """HOME and the XDG variables, in os.environ (what platformdirs reads) and returned."""
    import os

    monkeypatch.setenv("HOME", str(tmp_path))
    for var in ("XDG_CONFIG_HOME", "XDG_STATE_HOME"):
        if xdg is None:
            monkeypatch.delenv(var, raising=False)
        else:
            monkeypatch.setenv(var, f"{xdg}/{var}")
    return dict(os.environ)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the XDG fast path is Linux-only")
@pytest.mark.parametrize("xdg", [None, "/tmp/xdg-elsewhere"])
def test_xdg_dirs_agree_with_platformdirs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, xdg: str | None
) -> None:
    env = _xdg_env(tmp_path, monkeypatch, xdg)
    assert config.config_dir(env) == platformdirs.user_config_dir("wrap", appauthor=False)
    assert config.state_dir(env) == platformdirs.user_state_dir("wrap", appauthor=False)


@pytest.mark.parametrize("xdg", [None, "/tmp/xdg-elsewhere", "relative/ignored"])
def test_macos_dirs_follow_platformdirs_macos_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, xdg: str | None
) -> None:
    # platformdirs' own macOS class, run here with the same HOME and XDG variables: where the
    # README says a Mac keeps config.toml and wrap's state.
    from platformdirs.macos import MacOS

    env = _xdg_env(tmp_path, monkeypatch, xdg)
    mac = MacOS("wrap", appauthor=False)
    assert config.config_dir(env, "darwin") == mac.user_config_dir
    assert config.state_dir(env, "darwin") == mac.user_state_dir
    if xdg is None:
        assert mac.user_config_dir == f"{tmp_path}/Library/Application Support/wrap"


def test_refresh_command_default_wait_yields_to_explicit_settings(tmp_path: Path) -> None:
    env = _env(tmp_path)
    assert config.resolve({}, env, refresh_timeout=60).refresh_timeout == 60
    assert config.resolve({"refresh_timeout": "5s"}, env, refresh_timeout=60).refresh_timeout == 5
    _write_config(tmp_path, 'refresh_timeout = "20s"\n')
    assert config.resolve({}, env, refresh_timeout=60).refresh_timeout == 20
