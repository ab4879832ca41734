"""Exit codes of the user-facing contract, in one place (scripts and CI depend on them)."""

FRESH = 0
REFRESHED = 0
EXPIRING = 1
USAGE = 2
EXPIRED = 3
NO_CREDENTIALS = 4
REFRESH_FAILED = 5
FLEET_UNAVAILABLE = 6
FLEET_CONFLICT = 7
CANNOT_EXECUTE = 126
NOT_FOUND = 127
