"""Stand-in for `claude setup-token`: realistic prompts, reads a pasted code, prints a token.

FAKE_SETUP: ok (default) | fail (exit 1) | no-token | hang. FAKE_SETUP_TOKEN: the token to
print. FAKE_SETUP_SHAPE, how the token reaches the terminal: plain (default) | pause-mid |
pause-prefix (a pause in the middle of the token, or of its prefix) | bytes (one write per
byte) | wrap (hard-wrapped at the terminal's width, or
$FAKE_SETUP_WRAP_AT) | ansi (colour codes inside it) | charset (ESC ( B, the character set
reset that follows an SGR reset in terminfo's sgr0, inside it).
Each run appends a line to $FAKE_SETUP_RUNS when set. SIGWINCH prints the new size.
"""

import os
import select
import signal
import sys
import time


def size() -> str:
    s = os.get_terminal_size(sys.stdout.fileno())
    return f"size {s.lines}x{s.columns}"


def read_line(prompt: str) -> str:
    """input(), without its race: a signal that lands after the prompt is written but before
    the read blocks would wait, unhandled, for the next keystroke (Ctrl-C and SIGWINCH would be
    lost). The wakeup pipe makes select return for it, so its handler runs at once."""
    sys.stdout.write(prompt)
    sys.stdout.flush()
    r, w = os.pipe()
    os.set_blocking(w, False)
    signal.set_wakeup_fd(w)
    while True:
        ready, _, _ = select.select([sys.stdin, r], [], [])
        if sys.stdin in ready:
            return sys.stdin.readline()
        os.read(r, 512)


def show_token(token: str, shape: str) -> None:
    out = sys.stdout
    if shape == "pause-mid":
        out.write(token[:30])
        out.flush()
        time.sleep(0.3)
        out.write(token[30:] + "\n")
    elif shape == "pause-prefix":
        out.write(token[:8])  # sk-ant-o
        out.flush()
        time.sleep(0.3)
        out.write(token[8:] + "\n")
    elif shape == "bytes":
        out.flush()
        for ch in (token + "\n").encode():
            os.write(1, bytes([ch]))
            time.sleep(0.002)
    elif shape == "wrap":
        cols = int(os.environ.get("FAKE_SETUP_WRAP_AT") or os.get_terminal_size(1).columns)
        out.write("\n".join(token[i : i + cols] for i in range(0, len(token), cols)) + "\n")
    elif shape == "ansi":
        cut = [0, 5, 16, 40, len(token)]
        codes = ["\x1b[1m", "\x1b[0m\x1b[32m", "\x1b[39m", "\x1b[38;5;208m"]
        out.write("".join(c + token[a:b] for c, a, b in zip(codes, cut[:-1], cut[1:], strict=True)))
        out.write("\x1b[0m\n")
    elif shape == "charset":
        out.write(token[:40] + "\x1b(B\x1b[m" + token[40:] + "\n")
    else:
        out.write(token + "\n")
    out.flush()


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
    code = read_line("Paste code here if prompted > ")
    if mode == "fail" or code.strip() != "good-code":
        print("OAuth error: Invalid code")
        return 1
    print("\n✓ Long-lived authentication token created successfully!\n")
    if mode != "no-token":
        print("Your OAuth token (valid for 1 year):\n")
        token = os.environ.get("FAKE_SETUP_TOKEN", "sk-ant-oat01-FAKEfakeFAKEfake_token-0123456789")
        show_token(token, os.environ.get("FAKE_SETUP_SHAPE", "plain"))
        print("\nStore this token securely. You won't be able to see it again.")
    print("\nUse this token by setting: export CLAUDE_CODE_OAUTH_TOKEN=<token>")
    return 0


if __name__ == "__main__":
    sys.exit(main())
