"""Stand-in for codex 0.169.0's `codex login [--device-auth]` and `codex login status`: not the
real program (its login needs auth.openai.com). The login writes $CODEX_HOME/auth.json (else
~/.codex/auth.json) with a JWT-shaped access token (three non-empty segments, as codex's reader
needs) and last_refresh; `login status` says "Logged in using ChatGPT" (rc 0) or "Not logged
in" (rc 1). Every run appends its argv as a JSON line to $FAKE_CODEX_RUNS when set.
"""

import base64
import json
import os
import sys
import time


def _jwt(claims: dict[str, object]) -> str:
    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2ln"


def path() -> str:
    home = os.environ.get("CODEX_HOME") or os.path.join(os.environ["HOME"], ".codex")
    return os.path.join(home, "auth.json")


def main() -> int:
    args = sys.argv[1:]
    runs = os.environ.get("FAKE_CODEX_RUNS")
    if runs:
        with open(runs, "a", encoding="utf-8") as f:
            f.write(json.dumps(args) + "\n")
    if args == ["login", "status"]:
        if os.path.exists(path()):
            print("Logged in using ChatGPT")
            return 0
        print("Not logged in")
        return 1
    if args[:1] != ["login"]:
        print(f"stand-in codex: unexpected {args}")
        return 2
    if "--device-auth" in args:
        print("Follow these steps to sign in with ChatGPT using device code authorization:")
        print("1. Open this link in your browser: https://auth.openai.com/codex/device")
        print("2. Enter this one-time code: ABCD-1234")
    else:
        print("Starting local login server on http://localhost:1455.")
    now = int(time.time())
    doc = {
        "OPENAI_API_KEY": None,
        "tokens": {
            "id_token": _jwt({"email": "codex@example.com", "exp": now + 3600}),
            "access_token": _jwt({"exp": now + 10 * 86400}),
            "refresh_token": "rt-standin",
            "account_id": "acct-standin",
        },
        "last_refresh": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(now)),
    }
    os.makedirs(os.path.dirname(path()), exist_ok=True)
    with open(path(), "w", encoding="utf-8") as f:  # codex rewrites in place
        f.write(json.dumps(doc, indent=2))
    os.chmod(path(), 0o600)
    print("Successfully logged in")
    return 0


if __name__ == "__main__":
    sys.exit(main())
