"""Stand-in for `claude setup-token`: realistic prompts, reads a pasted code, prints a token.

FAKE_SETUP: ok (default) | fail (exit 1) | no-token | hang. FAKE_SETUP_TOKEN: the token to
print. Each run appends a line to $FAKE_SETUP_RUNS when set. SIGWINCH prints the new size.
"""

import os
import signal
import sys
import time


def size() -> str:
    s = os.get_terminal_size(sys.stdout.fileno())
    return f"size {s.lines}x{s.columns}"


def main() -> int:
    runs = os.environ.get("FAKE_SETUP_RUNS")
    if runs:
        with open(runs, "a") as f:
            f.write("run\n")
    signal.signal(signal.SIGWINCH, lambda *_: print(f"\n[{size()}]", flush=True))
    mode = os.environ.get("FAKE_SETUP", "ok")
    print(f"[{size()}]")
    print("Opening browser to sign in…")
    print("Browser didn't open? Use the url below to sign in:\n")
    print("https://claude.ai/oauth/authorize?code=true&client_id=demo&response_type=code\n")
    if mode == "hang":
        while True:
            time.sleep(1)
    code = input("Paste code here if prompted > ")
    if mode == "fail" or code.strip() != "good-code":
        print("OAuth error: Invalid code")
        return 1
    print("\n✓ Long-lived authentication token created successfully!\n")
    if mode != "no-token":
        print("Your OAuth token (valid for 1 year):\n")
        print(os.environ.get("FAKE_SETUP_TOKEN", "sk-ant-oat01-FAKEfakeFAKEfake_token-0123456789"))
        print("\nStore this token securely. You won't be able to see it again.")
    print("\nUse this token by setting: export CLAUDE_CODE_OAUTH_TOKEN=<token>")
    return 0


if __name__ == "__main__":
    sys.exit(main())
