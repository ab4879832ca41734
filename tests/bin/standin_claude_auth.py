"""Stand-in for Claude Code 2.1.330's `claude auth login` and `claude auth status --json`, as
measured offline (../shared/notes/vendor-clis.md): not the real program, which needs its
token endpoint answered through a TLS-intercepting proxy.

`auth login [--claudeai|--console|--sso|--email E]` calls $BROWSER with the full authorize URL
(client_id, S256 code_challenge, redirect_uri, scope, state), prints the link and "Paste code
here if prompted >", accepts CODE#STATE, then writes the credentials file as 2.1.330 does
(compact JSON, 0600, temp file + rename, other top-level keys kept; refreshTokenExpiresAt from
refresh_token_expires_in) and prints "Login successful.". `auth status --json` reads the file
and never refreshes. Anything else runs the launch stand-in (fake_claude.py).

FAKE_LOGIN: ok (default) | fail (the token endpoint refuses) | elsewhere (writes nothing) |
blank (writes a blanked file). FAKE_CODE: the accepted code (good-code). FAKE_RTEI: the
refresh_token_expires_in it got (30 days). Every run appends its argv (and whether it saw
CLAUDE_CODE_OAUTH_TOKEN) as a JSON line to $FAKE_CLAUDE_RUNS when set.
"""

import base64
import hashlib
import json
import os
import runpy
import secrets
import subprocess
import sys
import time
from urllib.parse import urlencode

HERE = os.path.dirname(os.path.realpath(__file__))
CLIENT_ID = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
SCOPES = (
    "org:create_api_key user:profile user:inference user:sessions:claude_code "
    "user:mcp_servers user:file_upload"
)


def config_dir() -> str:
    for var in ("CLAUDE_SECURESTORAGE_CONFIG_DIR", "CLAUDE_CONFIG_DIR"):
        if os.environ.get(var):
            return os.environ[var]
    return os.path.join(os.environ["HOME"], ".claude")


def creds_path() -> str:
    return os.path.join(config_dir(), ".credentials.json")


def record(argv: list[str]) -> None:
    runs = os.environ.get("FAKE_CLAUDE_RUNS")
    if runs:
        seen = bool(os.environ.get("CLAUDE_CODE_OAUTH_TOKEN"))
        with open(runs, "a", encoding="utf-8") as f:
            f.write(json.dumps({"argv": argv, "env_token": seen}) + "\n")


def write(oauth: dict[str, object]) -> None:
    path = creds_path()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read())
    except (OSError, ValueError):
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    doc["claudeAiOauth"] = oauth
    tmp = f"{path}.tmp.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(doc, separators=(",", ":")))
    os.replace(tmp, path)


def auth_login(args: list[str]) -> int:
    mode = os.environ.get("FAKE_LOGIN", "ok")
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    state = secrets.token_urlsafe(32)
    url = "https://claude.com/cai/oauth/authorize?" + urlencode(
        {
            "code": "true",
            "client_id": CLIENT_ID,
            "response_type": "code",
            "redirect_uri": "https://platform.claude.com/oauth/code/callback",
            "scope": SCOPES,
            "code_challenge": challenge.rstrip(b"=").decode(),
            "code_challenge_method": "S256",
            "state": state,
        }
    )
    browser = os.environ.get("BROWSER")
    if browser:
        subprocess.run([browser, url], check=False)
    print("Opening browser to sign in…")
    # 2.1.330 prints a short opaque link as an OSC 8 hyperlink; the state is only in $BROWSER's.
    short = "https://claude.ai/l/" + secrets.token_hex(4)
    print(f"\x1b]8;;{short}\x1b\\{short}\x1b]8;;\x1b\\\n")
    answer = input("Paste code here if prompted > ").strip()
    code, _, got_state = answer.partition("#")
    if got_state != state:
        print("OAuth error: Invalid state parameter")
        return 1
    if mode == "fail" or code != os.environ.get("FAKE_CODE", "good-code"):
        print("OAuth error: Request failed with status code 400")
        return 1
    now_ms = int(time.time() * 1000)
    if mode == "blank":
        write({"accessToken": "", "refreshToken": "", "expiresAt": 0})
    elif mode != "elsewhere":
        rtei = int(os.environ.get("FAKE_RTEI", str(30 * 86400)))
        write(
            {
                "accessToken": "sk-ant-oat01-standin-" + secrets.token_hex(8),
                "refreshToken": "sk-ant-ort01-standin-" + secrets.token_hex(8),
                "expiresAt": now_ms + 28800 * 1000,
                "scopes": SCOPES.split()[1:],
                "subscriptionType": "max",
                "rateLimitTier": "default_claude_max_20x",
                "refreshTokenExpiresAt": now_ms + rtei * 1000,
                "accountUuid": "00000000-0000-4000-8000-000000000001",
                "organizationUuid": "00000000-0000-4000-8000-000000000002",
            }
        )
    print("Login successful.")
    return 0


def auth_status() -> int:
    if os.environ.get("CLAUDE_CODE_OAUTH_TOKEN"):
        print(json.dumps({"loggedIn": True, "authMethod": "oauth_token"}))
        return 0
    try:
        with open(creds_path(), "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        print(json.dumps({"loggedIn": False, "authMethod": "none"}))
        return 1
    try:
        oauth = json.loads(raw)["claudeAiOauth"]
        ok = bool(oauth["accessToken"])
    except (ValueError, KeyError, TypeError):
        ok = False
    answer = {"loggedIn": ok, "authMethod": "claude.ai" if ok else "none"}
    # Keys a newer claude adds (2.1.337: analyticsPending), as the test names them.
    answer.update(json.loads(os.environ.get("FAKE_STATUS_EXTRA", "{}")))
    print(json.dumps(answer))
    return 0


def main() -> int:
    args = sys.argv[1:]
    record(args)
    if args[:2] == ["auth", "login"]:
        return auth_login(args[2:])
    if args[:2] == ["auth", "status"]:
        return auth_status()
    runpy.run_path(os.path.join(HERE, "fake_claude.py"), run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
