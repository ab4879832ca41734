"""One hierarchy for every failure wrap reports; messages never carry a token value."""

from __future__ import annotations

from launcher import exitcodes


class WrapError(Exception):
    """A failure with a one-line, user-facing message and the exit code it maps to."""

    exit_code = exitcodes.USAGE


class UsageError(WrapError):
    """A bad flag, environment variable or config value."""

    exit_code = exitcodes.USAGE


class CredentialsError(WrapError):
    """The credentials file is missing, unreadable or not in the profile's shape."""

    exit_code = exitcodes.NO_CREDENTIALS

    def __init__(self, message: str, state: str) -> None:
        super().__init__(message)
        self.state = state


class RefreshError(WrapError):
    """The refresh failed.

    `retryable`: the request cannot have rotated the refresh token, so sending it again is safe.
    `rejected`: the server refused the refresh token itself (invalid_grant and friends).
    `sent`: the request may have reached the server, so the token may have rotated.
    `status`: the HTTP status of the answer, None when there was none.
    `firewall`: the answer was not an OAuth one (a CDN or firewall refused the request before
    the token endpoint saw it), so the token cannot have rotated.
    `blocked`: nothing was sent, because such refusals put the account in a cooldown.
    `held_back`: the next launch will not send this refresh token either (it may have rotated
    without an answer), so no message may promise a retry.
    """

    exit_code = exitcodes.REFRESH_FAILED

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        rejected: bool = False,
        sent: bool = True,
        retry_after: float | None = None,
        status: int | None = None,
        firewall: bool = False,
        blocked: bool = False,
        held_back: bool = False,
    ) -> None:
        super().__init__(message)
        self.held_back = held_back
        self.status = status
        self.firewall = firewall
        self.blocked = blocked
        self.retryable = retryable
        self.rejected = rejected
        self.sent = sent
        self.retry_after = retry_after


class WriteError(WrapError):
    """Writing the credentials file failed; the original is intact."""

    exit_code = exitcodes.REFRESH_FAILED


class LoginError(WrapError):
    """Interactive re-authentication failed or was cancelled."""

    exit_code = exitcodes.REFRESH_FAILED


class Interrupted(WrapError):
    """Ctrl-C (or a login command killed by a signal) before anything was changed."""

    exit_code = exitcodes.INTERRUPTED


class ExecError(WrapError):
    """The program could not be found or executed."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Terminated(BaseException):
    """A signal asked this process to stop while it held a vendor's lock (or once the refresh
    request it had out was answered and saved): the lock directories are removed on the way
    out, and the launcher exits without launching."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by signal {signum}")
        self.signum = signum
