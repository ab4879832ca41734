"""A token answer, as the file's fields: what a refresh sets besides the tokens, and how long
the new access token lives."""

from __future__ import annotations

from launcher import credentials
from launcher.errors import RefreshError

TYPE_CHECKING = False  # typing itself costs ~2 ms of import, paid by every launch that waits
if TYPE_CHECKING:
    from launcher.profiles import Profile
    from launcher.refresh import grant

# RFC 6749 leaves expires_in optional; without it, assume an hour rather than "never expires".
DEFAULT_EXPIRES_IN = 3600.0


def answer_fields(profile: Profile, response: grant.TokenResponse) -> dict[str, object]:
    """The file fields a refresh answer sets besides the tokens and the expiry (also used by
    the fleet, which applies them to its record's document)."""
    extra: dict[str, object] = {}
    if response.id_token and profile.id_token_field:
        extra[profile.id_token_field] = response.id_token
    for answer_field, file_field in profile.copy_fields.items():
        # Only what the answer carries: an omitted value keeps the file's (Qwen's resource_url).
        if response.body.get(answer_field) is not None:
            extra[file_field] = response.body[answer_field]
    scope = response.body.get("scope")
    if profile.scope_field and isinstance(scope, str) and scope.strip():
        granted = scope.split()
        if profile.required_scope and profile.required_scope not in granted:
            # The CLI would throw this token away (Claude does): not a refresh at all.
            raise RefreshError(
                f"the server's answer does not grant {profile.required_scope}, so "
                f"{profile.programs[0]} would not use it; {profile.login_hint}"
            )
        extra[profile.scope_field] = granted
    return extra


def lifetime_of(response: grant.TokenResponse, now: float) -> float:
    if response.expires_in:
        return response.expires_in
    claims = credentials.jwt_claims(response.access_token)
    exp = claims.get("exp") if claims else None
    if isinstance(exp, int | float) and not isinstance(exp, bool) and exp > now:
        return float(exp) - now
    return DEFAULT_EXPIRES_IN
