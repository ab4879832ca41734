"""A BROWSER for tests: follows the login's redirects with a cookie jar, as a person's browser
would after clicking "approve", until wrap's loopback listener answers.

FAKE_BROWSER_MODE: follow (default) | wrong-state (tamper with the state on the way back) |
idle (open nothing). The last page's title goes to $FAKE_BROWSER_LOG.
"""

import os
import sys
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import httpx


def main() -> int:
    url = sys.argv[1]
    mode = os.environ.get("FAKE_BROWSER_MODE", "follow")
    if mode == "idle":
        return 0
    with httpx.Client(follow_redirects=False, timeout=10) as client:
        for _ in range(20):
            parts = urlsplit(url)
            if mode == "wrong-state" and "state=" in parts.query and "code=" in parts.query:
                query = dict(parse_qsl(parts.query))
                query["state"] = "tampered"
                url = urlunsplit(parts._replace(query=urlencode(query)))
            response = client.get(url)
            if response.is_redirect:
                url = urljoin(url, response.headers["location"])
                continue
            log = os.environ.get("FAKE_BROWSER_LOG")
            if log:
                title = response.text.split("<h1>")[-1].split("</h1>")[0]
                with open(log, "a", encoding="utf-8") as f:
                    f.write(f"{response.status_code} {title}\n")
            return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
