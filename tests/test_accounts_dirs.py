"""Named accounts bound to working directories ([profiles.NAME.accounts], [profiles.NAME.dirs]):
a launch through the console scripts picks the account of the longest bound directory holding
the real working directory, gates on that account's file and hands the program its directory
variable; --credentials, WRAP_ACCOUNT and a variable already set win; status lists every named
account and marks the bound one; a bad binding is exit 2 for status and one line for the gate."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import BIN, ROOT, Home, claude_doc, digest, one_line
from token_server import TokenServer

from launcher import accounts_dirs, config, stores
from launcher.fleet import account as fleet_account
from launcher.stores import keychain

DAY = 86400
CONFIG = """
[profiles.claude.accounts]
work = "~/.claude-work"
personal = "~/.claude"

[profiles.claude.dirs]
"~/work" = "work"
"~/clients/acme" = "work"
"~" = "personal"
"""


class Machine:
    """HOME with two Claude accounts (personal in ~/.claude, work in ~/.claude-work), the
    bound directories, and `claude`/`codex`/`gemini` stand-ins that record their environment."""

    def __init__(self, home: Home, config_text: str = CONFIG) -> None:
        self.home = home
        self.root = home.root
        self.work_dir = self.root / ".claude-work"
        self.work_dir.mkdir(mode=0o700)
        self.work_creds = self.work_dir / ".credentials.json"
        for d in ("work/deep/er", "work2", "clients/acme", "elsewhere"):
            (self.root / d).mkdir(parents=True)
        recorder = f"#!{sys.executable}\n" + (ROOT / "tests" / "bin" / "record_env.py").read_text()
        for name in ("claude", "codex", "gemini"):
            (home.bin / name).write_text(recorder)
            (home.bin / name).chmod(0o755)
        self.config = self.root / "config" / "wrap" / "config.toml"
        self.config.parent.mkdir(parents=True)
        self.config.write_text(config_text)
        self.write(self.work_creds, time.time() + 30 * DAY, access="work-access")
        self.write(home.creds, time.time() + 30 * DAY, access="personal-access")

    @staticmethod
    def write(path: Path, expires_at: float, **kw: Any) -> bytes:
        data = json.dumps(claude_doc(expires_at, **kw)).encode()
        path.write_bytes(data)
        path.chmod(0o600)
        return data

    def run(
        self, script: str, *args: str, cwd: Path | str, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / script), *args],
            env=self.home.env(**extra),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )

    def launched(self) -> dict[str, Any]:
        (record,) = self.home.reports()
        self.home.report.unlink()
        return record


@pytest.fixture
def machine(home: Home) -> Machine:
    return Machine(home)


LAUNCHES = [("wrap-claude", ()), ("wrap", ("claude",))]


@pytest.mark.parametrize(("script", "args"), LAUNCHES)
@pytest.mark.parametrize(
    ("where", "account"),
    [
        ("work", "work"),
        ("work/deep/er", "work"),  # below a bound directory
        ("clients/acme", "work"),
        ("work2", "personal"),  # beside ~/work, not under it: the "~" binding
        ("elsewhere", "personal"),
        (".", "personal"),
    ],
)
def test_a_launch_uses_the_account_of_the_longest_bound_directory(
    machine: Machine, script: str, args: tuple[str, ...], where: str, account: str
) -> None:
    r = machine.run(script, *args, "--x", cwd=machine.root / where)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    record = machine.launched()
    # personal is Claude's own ~/.claude: no variable, so its Keychain item stays Claude's.
    expected = {"CLAUDE_CONFIG_DIR": str(machine.work_dir)} if account == "work" else {}
    assert record["env"] == expected
    assert record["token_digest"] == digest(f"{account}-access")
    assert record["argv"] == ["--x"]


def test_beside_a_bound_directory_without_a_catch_all_is_the_default(home: Home) -> None:
    m = Machine(home, CONFIG.replace('"~" = "personal"\n', ""))
    r = m.run("wrap-claude", cwd=m.root / "work2")
    assert r.returncode == 0, r.stderr
    # Nothing bound here: the program gets no variable and uses its own default.
    assert m.launched()["env"] == {}


def test_a_launch_through_a_symlinked_directory_uses_the_real_ones_binding(
    machine: Machine,
) -> None:
    link = machine.root / "elsewhere" / "shortcut"
    link.symlink_to(machine.root / "work" / "deep")
    r = machine.run("wrap-claude", cwd=link)
    assert r.returncode == 0, r.stderr
    assert machine.launched()["env"] == {"CLAUDE_CONFIG_DIR": str(machine.work_dir)}


def test_a_bound_directory_that_is_a_symlink_binds_what_it_points_to(home: Home) -> None:
    (home.root / "real-project").mkdir()
    (home.root / "project").symlink_to(home.root / "real-project")
    m = Machine(home, CONFIG + '"~/project" = "work"\n')
    r = m.run("wrap-claude", cwd=m.root / "real-project")
    assert r.returncode == 0, r.stderr
    assert m.launched()["env"] == {"CLAUDE_CONFIG_DIR": str(m.work_dir)}


def test_a_directory_variable_already_set_wins_over_the_binding(machine: Machine) -> None:
    r = machine.run(
        "wrap",
        "-v",
        "claude",
        cwd=machine.root / "work",
        CLAUDE_CONFIG_DIR=str(machine.root / ".claude"),
    )
    assert r.returncode == 0, r.stderr
    assert "CLAUDE_CONFIG_DIR is set" in one_line(r.stderr)
    record = machine.launched()
    assert record["env"] == {"CLAUDE_CONFIG_DIR": str(machine.root / ".claude")}
    assert record["token_digest"] == digest("personal-access")


def test_wrap_account_wins_over_the_variable_and_the_binding(machine: Machine) -> None:
    r = machine.run(
        "wrap-claude",
        cwd=machine.root / "elsewhere",
        WRAP_ACCOUNT="work",
        WRAP_LOG="debug",
    )
    assert r.returncode == 0, r.stderr
    assert one_line(r.stderr) == "wrap: WRAP_ACCOUNT=work chooses the account"
    assert machine.launched()["env"] == {"CLAUDE_CONFIG_DIR": str(machine.work_dir)}


def test_credentials_win_over_everything(machine: Machine) -> None:
    r = machine.run(
        "wrap",
        "-v",
        "--credentials",
        str(machine.home.creds),
        "claude",
        cwd=machine.root / "work",
        WRAP_ACCOUNT="work",
    )
    assert r.returncode == 0, r.stderr
    assert "--credentials" in one_line(r.stderr)
    assert machine.launched()["env"] == {}


def test_minus_v_says_which_binding_chose_the_account(machine: Machine) -> None:
    r = machine.run("wrap", "-v", "claude", cwd=machine.root / "work" / "deep")
    assert r.returncode == 0, r.stderr
    line = one_line(r.stderr)
    assert '"~/work"' in line
    assert "account work" in line


def test_the_refresh_happens_on_the_bound_accounts_file_and_no_other(
    machine: Machine, server: TokenServer
) -> None:
    server.seed("work-refresh")
    machine.write(machine.work_creds, time.time() + 60, access="work-old", refresh="work-refresh")
    personal = machine.write(
        machine.home.creds, time.time() + 60, access="personal-old", refresh="old-refresh"
    )
    r = machine.run("wrap-claude", cwd=machine.root / "work", WRAP_TOKEN_URL=server.url)
    assert r.returncode == 0, r.stderr
    assert server.received == ["work-refresh"]
    work = json.loads(machine.work_creds.read_bytes())["claudeAiOauth"]
    assert work["refreshToken"] == server.newest_refresh
    assert machine.home.creds.read_bytes() == personal
    record = machine.launched()
    assert record["token_digest"] == digest(work["accessToken"])


def test_check_only_reports_the_bound_account(machine: Machine) -> None:
    r = machine.run("wrap", "--check-only", "--json", cwd=machine.root / "work")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["path"] == str(machine.work_creds)


def test_status_lists_every_named_account_and_marks_the_bound_one(machine: Machine) -> None:
    (machine.root / ".claude-client").mkdir(mode=0o700)
    machine.config.write_text(
        CONFIG.replace(
            'personal = "~/.claude"', 'personal = "~/.claude"\nclient = "~/.claude-client"'
        )
    )
    r = machine.run("wrap", "status", "--json", cwd=machine.root / "work")
    assert r.returncode == 0, r.stderr
    rows = {o["account"]: o for o in json.loads(r.stdout)}
    assert set(rows) == {"work", "personal", "client"}
    assert rows["client"]["state"] == "missing"  # listed before it has a file
    assert [a for a, o in rows.items() if o.get("bound")] == ["work"]
    assert rows["work"]["bound"] is True
    table = machine.run("wrap", "status", cwd=machine.root / "work2").stdout
    lines = {line.split()[0]: line for line in table.splitlines()[1:]}
    assert "(here)" in lines["personal"]
    assert "(here)" not in lines["work"]


def test_refresh_by_account_name_refreshes_that_account_only(
    machine: Machine, server: TokenServer
) -> None:
    server.seed("work-refresh")
    machine.write(machine.work_creds, time.time() + 30 * DAY, access="w", refresh="work-refresh")
    personal = machine.home.creds.read_bytes()
    machine.config.write_text(
        CONFIG.replace(
            "[profiles.claude.accounts]",
            f'[profiles.claude]\ntoken_url = "{server.url}"\n[profiles.claude.accounts]',
        )
    )
    r = machine.run("wrap", "refresh", "work", cwd=machine.root / "elsewhere")
    assert r.returncode == 0, r.stdout + r.stderr
    assert server.received == ["work-refresh"]
    assert machine.home.creds.read_bytes() == personal


BAD = [
    (
        CONFIG.replace('"~/work" = "work"', '"~/work" = "wrok"'),
        'profiles.claude.dirs."~/work"',
        "is not an account",
    ),
    (
        CONFIG.replace('"~/work" = "work"', '"~/no-such-dir" = "work"'),
        'profiles.claude.dirs."~/no-such-dir"',
        "no such directory",
    ),
    (
        CONFIG.replace('personal = "~/.claude"', 'personal = "~/.claude-work/"'),
        "profiles.claude.accounts.work and profiles.claude.accounts.personal",
        "share the directory",
    ),
    (
        CONFIG + '"~/work/../work" = "personal"\n',
        'profiles.claude.dirs."~/work" and profiles.claude.dirs."~/work/../work"',
        "bound to two accounts",
    ),
]


@pytest.mark.parametrize(("text", "key", "what"), BAD)
def test_a_bad_binding_is_a_usage_error_for_status_naming_the_key(
    home: Home, text: str, key: str, what: str
) -> None:
    m = Machine(home, text)
    r = m.run("wrap", "status", cwd=m.root / "work")
    assert r.returncode == 2
    line = one_line(r.stderr)
    assert key in line
    assert what in line
    assert str(m.config) in line


@pytest.mark.parametrize(("text", "key", "what"), BAD)
@pytest.mark.parametrize(("script", "args"), LAUNCHES)
def test_the_gate_says_a_bad_binding_in_one_line_and_launches_with_the_default(
    home: Home, text: str, key: str, what: str, script: str, args: tuple[str, ...]
) -> None:
    m = Machine(home, text)
    r = m.run(script, *args, cwd=m.root / "work")
    assert r.returncode == 0, r.stderr
    line = one_line(r.stderr)
    assert key in line
    assert what in line
    assert line.endswith(f"using the default account ({m.home.creds})")
    record = m.launched()
    assert record["env"] == {}
    assert record["token_digest"] == digest("personal-access")


def test_an_unknown_wrap_account_is_one_line_and_the_default(machine: Machine) -> None:
    r = machine.run("wrap-claude", cwd=machine.root / "work", WRAP_ACCOUNT="nope")
    assert "WRAP_ACCOUNT=nope is not an account" in one_line(r.stderr)
    assert machine.launched()["env"] == {}
    status = machine.run("wrap", "status", cwd=machine.root / "work", WRAP_ACCOUNT="nope")
    assert status.returncode == 2


def _codex_token(expires_at: float) -> str:
    def part(obj: dict[str, Any]) -> str:
        import base64

        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part({'exp': int(expires_at)})}.sig"


def test_other_profiles_get_their_own_directory_variable(home: Home) -> None:
    m = Machine(
        home,
        """
[profiles.codex.accounts]
client = "~/.codex-client"
[profiles.codex.dirs]
"~/clients/acme" = "client"
[profiles.gemini.accounts]
client = "~/gemini-client"
[profiles.gemini.dirs]
"~/clients/acme" = "client"
""",
    )
    (m.root / ".codex-client").mkdir()
    token = _codex_token(time.time() + 30 * DAY)
    auth = {"tokens": {"access_token": token, "refresh_token": "r", "id_token": token}}
    (m.root / ".codex-client" / "auth.json").write_text(json.dumps(auth))
    gemini = m.root / "gemini-client" / ".gemini"
    gemini.mkdir(parents=True)
    creds = {
        "access_token": "a",
        "refresh_token": "r",
        "expiry_date": int((time.time() + 30 * DAY) * 1000),
    }
    (gemini / "oauth_creds.json").write_text(json.dumps(creds))
    for program, variable, directory in [
        ("codex", "CODEX_HOME", ".codex-client"),
        ("gemini", "GEMINI_CLI_HOME", "gemini-client"),
    ]:
        r = m.run("wrap", program, cwd=m.root / "clients" / "acme")
        assert r.returncode == 0, r.stderr
        assert r.stderr == ""
        assert m.launched()["env"] == {variable: str(m.root / directory)}


def test_the_keychain_item_follows_the_accounts_directory_as_claudes_does(
    machine: Machine,
) -> None:
    env = machine.home.env()
    settings = config.resolve({}, env, cwd=str(machine.root / "work"))
    store = stores.for_settings(settings, env, platform="darwin")
    sha8 = hashlib.sha256(str(machine.work_dir).encode()).hexdigest()[:8]
    assert keychain.service_name({"CLAUDE_CONFIG_DIR": str(machine.work_dir)}).endswith(sha8)
    assert f"Claude Code-credentials-{sha8}" in store.where
    # The default account keeps Claude's plain service name.
    default = config.resolve({}, env, cwd=str(machine.root / "elsewhere"))
    assert "credentials-" not in stores.for_settings(default, env, platform="darwin").where


def test_which_says_the_account_and_why(machine: Machine) -> None:
    env = machine.home.env()
    here = accounts_dirs.which({}, env, cwd=str(machine.root / "work" / "deep"))
    assert (here.name, here.credentials) == ("work", str(machine.work_creds))
    assert '"~/work"' in here.why
    assert here.problem is None
    env["CLAUDE_CONFIG_DIR"] = str(machine.work_dir)
    by_variable = accounts_dirs.which({}, env, cwd=str(machine.root / "elsewhere"))
    assert by_variable.name == "work"
    assert "CLAUDE_CONFIG_DIR is set" in by_variable.why
    assert by_variable.as_dict()["account"] == "work"


def test_a_named_account_can_have_its_own_fleet_record(machine: Machine) -> None:
    machine.config.write_text(
        CONFIG.replace(
            'work = "~/.claude-work"', 'work = { dir = "~/.claude-work", fleet = "claude-work" }'
        )
    )
    env = machine.home.env()
    (chosen,) = fleet_account.resolve_accounts({}, env, "work", False)
    assert (chosen.fleet, chosen.credentials) == ("claude-work", str(machine.work_creds))
    (by_record,) = fleet_account.resolve_accounts({}, env, None, True)
    assert by_record.credentials == str(machine.work_creds)


def test_a_custom_profile_names_its_directory_variable(home: Home) -> None:
    m = Machine(
        home,
        """
[profiles.mycli]
dir_env = "MYCLI_HOME"
paths = ["${MYCLI_HOME}/creds.json", "~/.mycli/creds.json"]
access_token = "access_token"
expiry = "expiry"
expiry_unit = "s"
[profiles.mycli.accounts]
work = "~/.mycli-work"
[profiles.mycli.dirs]
"~/work" = "work"
""",
    )
    settings = config.resolve({"profile": "mycli"}, m.home.env(), cwd=str(m.root / "work"))
    assert settings.credentials == str(m.root / ".mycli-work" / "creds.json")
    assert settings.program_env({}) == {"MYCLI_HOME": str(m.root / ".mycli-work")}


@pytest.mark.realcli
@pytest.mark.parametrize("version", ["2.1.197", "2.1.330"])
def test_the_real_claude_started_through_a_binding_sees_the_bound_account(
    machine: Machine, version: str
) -> None:
    from test_real_clis import claude_binary

    binary = claude_binary(version)
    if binary is None:
        pytest.skip(
            f"claude {version} is not installed in tests/realcli (scripts/test runs npm ci)"
        )
    # Where each account's claude keeps its login's profile: $CLAUDE_CONFIG_DIR/.claude.json,
    # and ~/.claude.json for the default directory.
    for where, email in [
        (machine.work_dir / ".claude.json", "work@example.com"),
        (machine.root / ".claude.json", "personal@example.com"),
    ]:
        where.write_text(json.dumps({"oauthAccount": {"emailAddress": email}}))
    quiet = {"DISABLE_AUTOUPDATER": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}
    for cwd, email in [("work/deep", "work@example.com"), ("elsewhere", "personal@example.com")]:
        r = machine.run(
            "wrap-claude",
            "auth",
            "status",
            "--json",
            cwd=machine.root / cwd,
            WRAP_CLAUDE_BIN=str(binary),
            **quiet,
        )
        assert r.returncode == 0, r.stderr
        answer = json.loads(r.stdout)
        assert answer["loggedIn"] is True
        assert answer["email"] == email


def test_login_by_account_name_points_the_cli_at_the_accounts_directory(
    machine: Machine,
) -> None:
    from launcher.login import vendor_cli

    env = machine.home.env()
    loaded = config.load_config(env)
    found = accounts_dirs.find("work", loaded, config.known_profiles(loaded), env)
    assert found is not None
    settings = config.resolve({"profile": "claude"}, env, credentials_path=found.file)
    assert settings.credentials == str(machine.work_creds)
    assert vendor_cli._child_env(settings, env)["CLAUDE_CONFIG_DIR"] == str(machine.work_dir)


def test_a_named_gemini_accounts_login_gets_its_home_not_the_files_folder(home: Home) -> None:
    from launcher.login import vendor_cli

    m = Machine(home, '[profiles.gemini.accounts]\nclient = "~/gemini-client"\n')
    env = m.home.env()
    loaded = config.load_config(env)
    found = accounts_dirs.find("client", loaded, config.known_profiles(loaded), env)
    assert found is not None
    assert found.file == str(m.root / "gemini-client" / ".gemini" / "oauth_creds.json")
    settings = config.resolve({"profile": "gemini"}, env, credentials_path=found.file)
    assert vendor_cli._child_env(settings, env)["GEMINI_CLI_HOME"] == str(m.root / "gemini-client")


def test_a_keepalive_pass_refreshes_each_named_account_that_is_due(
    machine: Machine, server: TokenServer
) -> None:
    server.seed("work-refresh")
    machine.write(machine.work_creds, time.time() + 3600, access="w", refresh="work-refresh")
    personal = machine.home.creds.read_bytes()  # 30 days left: not due
    machine.config.write_text(
        f'[profiles.claude]\ntoken_url = "{server.url}"\n' + CONFIG.lstrip("\n")
    )
    r = machine.run("wrap", "keepalive", cwd=machine.root / "elsewhere")
    assert r.returncode == 0, r.stdout + r.stderr
    (line,) = r.stdout.splitlines()
    assert line.startswith("✓ work (claude): refreshed")
    assert server.received == ["work-refresh"]
    assert machine.home.creds.read_bytes() == personal


def test_claudes_securestorage_variable_also_wins_over_the_binding(machine: Machine) -> None:
    r = machine.run(
        "wrap-claude",
        cwd=machine.root / "work",
        CLAUDE_SECURESTORAGE_CONFIG_DIR=str(machine.root / ".claude"),
        WRAP_LOG="debug",
    )
    assert r.returncode == 0, r.stderr
    assert "CLAUDE_SECURESTORAGE_CONFIG_DIR is set" in one_line(r.stderr)
    assert machine.launched()["env"] == {}  # nothing handed over: claude reads what is set
