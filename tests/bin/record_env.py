"""Stand-in for a vendor CLI that records where it was started and which account it was
pointed at: one JSON line in $FAKE_REPORT with its name, working directory, the directory
variables it found, and a digest of the access token in the credentials file it would read
(never the token itself)."""

import hashlib
import json
import os
import sys

VARIABLES = ("CLAUDE_CONFIG_DIR", "CODEX_HOME", "GEMINI_CLI_HOME", "QWEN_HOME")


def main() -> int:
    directory = os.environ.get("CLAUDE_CONFIG_DIR") or os.path.join(os.environ["HOME"], ".claude")
    try:
        with open(os.path.join(directory, ".credentials.json"), "rb") as f:
            access = json.loads(f.read())["claudeAiOauth"]["accessToken"]
        digest = hashlib.sha256(access.encode()).hexdigest()[:16]
    except (OSError, ValueError, KeyError, TypeError):
        digest = None
    record = {
        "program": os.path.basename(sys.argv[0]),
        "argv": sys.argv[1:],
        "cwd": os.getcwd(),
        "env": {v: os.environ[v] for v in VARIABLES if v in os.environ},
        "token_digest": digest,
    }
    with open(os.environ["FAKE_REPORT"], "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
