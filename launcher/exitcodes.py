"""Exit codes of the user-facing contract, in one place (scripts and CI depend on them)."""

FRESH = 0
REFRESHED = 0
EXPIRING = 1
# `doctor` found something that needs the user; `keepalive install` installed nothing.
NEEDS_USER = 1
USAGE = 2
EXPIRED = 3
NO_CREDENTIALS = 4
REFRESH_FAILED = 5
FLEET_UNAVAILABLE = 6
FLEET_CONFLICT = 7
CANNOT_EXECUTE = 126
NOT_FOUND = 127
INTERRUPTED = 130  # the shell's code for SIGINT: Ctrl-C before the program was launched
