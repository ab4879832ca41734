"""The refresh, once for every refresher (the gate, `wrap refresh`, keepalive, the fleet holder,
refresh_via = "cli", the login's write-back).

route.py      which path an account takes (its fleet, the vendor's CLI, wrap's own flight)
flight.py     the single flight: locks, the read under them, decide, send, write back, remember
locks.py      wrap's lock on the file and the vendor CLI's refresh lock
writeback.py  the document back through the account's store, the newest refresh token first
answer.py     a token answer as the file's fields, and the new token's lifetime
endpoint.py   the profile's token endpoint for a file
outcome.py    what is remembered of a refresh (state: failures, suspension, cooldown, recovery)
grant.py      the OAuth refresh grant (and the login's code exchange)
http.py       the only HTTP client factory (proxies, CA store, loopback), one bounded POST
via_cli.py    letting the vendor's CLI refresh its own token

Importing this package imports nothing: the launch path stays the standard library.
"""
