"""A BROWSER for tests that opens nothing: it appends the URL it was given to $FAKE_BROWSER_URLS,
where a test reads the login's state the way a person's browser would get it."""

import os
import sys

with open(os.environ["FAKE_BROWSER_URLS"], "a", encoding="utf-8") as f:
    f.write(sys.argv[1] + "\n")
