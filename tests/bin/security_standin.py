"""A STAND-IN for macOS's `security`, over a JSON file: not the real Keychain.

It implements only what wrap (and Claude Code 2.1.197) use, with the real exit codes:
- `security find-generic-password -a ACCOUNT -w -s SERVICE`: the password and a newline;
  exit 44 when there is no such item, 36 when the keychain is locked;
- `security add-generic-password -U -a ACCOUNT -s SERVICE -X HEX` (argv form), and the same
  line on the stdin of `security -i` (each line split as a shell would);
- the keychain is locked while $FAKE_KEYCHAIN has "locked": true.

$FAKE_KEYCHAIN is the file ({"locked": bool, "items": {"SERVICE": {"ACCOUNT": password}}});
every call's argv is appended to $FAKE_KEYCHAIN_LOG (one JSON list a line).
"""

import json
import os
import shlex
import sys

NOT_FOUND = 44
LOCKED = 36


def load() -> dict:
    try:
        with open(os.environ["FAKE_KEYCHAIN"], encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return {"locked": False, "items": {}}


def save(kc: dict) -> None:
    path = os.environ["FAKE_KEYCHAIN"]
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(kc, f)
    os.replace(path + ".tmp", path)


def options(args: list[str]) -> dict[str, str | bool]:
    out: dict[str, str | bool] = {}
    i = 0
    while i < len(args):
        flag = args[i]
        if flag in ("-w", "-U"):
            out[flag] = True
            i += 1
        elif flag in ("-a", "-s", "-X") and i + 1 < len(args):
            out[flag] = args[i + 1]
            i += 2
        else:
            raise SystemExit(f"security (stand-in): unsupported option {flag!r}")
    return out


def command(args: list[str]) -> int:
    kc = load()
    name, opts = args[0], options(args[1:])
    if kc.get("locked"):
        print("security: User interaction is not allowed.", file=sys.stderr)
        return LOCKED
    service, account = str(opts.get("-s")), str(opts.get("-a"))
    if name == "find-generic-password" and opts.get("-w"):
        password = kc["items"].get(service, {}).get(account)
        if password is None:
            print(
                "security: SecKeychainSearchCopyNext: The specified item could not be found "
                "in the keychain.",
                file=sys.stderr,
            )
            return NOT_FOUND
        sys.stdout.write(password + "\n")
        return 0
    if name == "add-generic-password" and opts.get("-U") and "-X" in opts:
        kc["items"].setdefault(service, {})[account] = bytes.fromhex(str(opts["-X"])).decode()
        save(kc)
        return 0
    print(f"security (stand-in): unsupported command {name!r}", file=sys.stderr)
    return 2


def main() -> int:
    args = sys.argv[1:]
    with open(os.environ["FAKE_KEYCHAIN_LOG"], "a", encoding="utf-8") as f:
        f.write(json.dumps(args) + "\n")
    if args == ["-i"]:
        code = 0
        for line in sys.stdin:
            if line.strip():
                code = command(shlex.split(line)) or code
        return code
    if not args:
        return 2
    return command(args)


if __name__ == "__main__":
    sys.exit(main())
