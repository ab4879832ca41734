"""wrap: gate AI coding CLIs on a fresh OAuth token, then exec the real program."""

__version__ = "0.1.0"
