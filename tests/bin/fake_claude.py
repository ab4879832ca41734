"""Stand-in for the real CLI: reports what it was launched with, then exits.

It appends one JSON line to $FAKE_REPORT: its PID, its argv, whether stdin is a terminal, and a
digest of the access token it finds in its credentials file (never the token itself).
"""

import hashlib
import json
import os
import sys


def main() -> int:
    path = os.environ.get("FAKE_CREDENTIALS") or os.path.join(
        os.environ["HOME"], ".claude", ".credentials.json"
    )
    try:
        with open(path, "rb") as f:
            access = json.loads(f.read())["claudeAiOauth"]["accessToken"]
        digest = hashlib.sha256(access.encode()).hexdigest()[:16]
    except (OSError, ValueError, KeyError, TypeError):
        digest = None
    env_token = os.environ.get("CLAUDE_CODE_OAUTH_TOKEN")
    record = {
        "pid": os.getpid(),
        "argv": sys.argv[1:],
        "argv0": sys.argv[0],
        "token_digest": digest,
        "env_token_digest": hashlib.sha256(env_token.encode()).hexdigest()[:16]
        if env_token
        else None,
    }
    with open(os.environ["FAKE_REPORT"], "a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")
    sys.stdout.write("fake claude ran\n")
    return int(os.environ.get("FAKE_EXIT", "0"))


if __name__ == "__main__":
    sys.exit(main())
