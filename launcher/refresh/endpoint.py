"""The token endpoint a file is refreshed at: the profile's URL and client, filled from it."""

from __future__ import annotations

import json
import os

from launcher import credentials, validate
from launcher.errors import RefreshError

TYPE_CHECKING = False  # typing itself costs ~2 ms of import, paid by every launch that waits
if TYPE_CHECKING:
    from launcher.config import Settings
    from launcher.profiles import Profile
    from launcher.refresh import grant


def endpoint_for(settings: Settings, profile: Profile, doc: dict[str, object]) -> grant.Endpoint:
    """The profile's endpoint for this file: a variant's URL unless one was set explicitly,
    {field} placeholders filled from the file, and the client registration file if any."""
    from launcher.refresh import grant
    from launcher.vendors import request  # platform and string: only once sending is decided

    base = settings.profile
    url = profile.token_url if settings.token_url == base.token_url else settings.token_url
    client_id = profile.client_id if settings.client_id == base.client_id else settings.client_id
    if profile.client_id_field and settings.client_id == base.client_id:
        # A client id the CLI keeps in the file wins over the profile's default.
        kept = credentials.peek(doc, profile.client_id_field)
        if isinstance(kept, str) and kept:
            client_id = kept
    client_secret = profile.client_secret
    path = settings.credentials
    url = _fill(url, doc, path, "token URL")
    if profile.client_file:
        client_id, client_secret = _client_registration(profile, doc, path)
    grant.check_url(url)
    return grant.Endpoint(
        url,
        client_id,
        client_secret=client_secret,
        body=profile.body,
        client_auth=profile.client_auth,
        request=profile.request,
        response=profile.response,
        extra_body=profile.extra_body,
        headers=request.headers(profile.headers),
    )


def _fill(template: str, doc: dict[str, object], path: str, what: str) -> str:
    import string

    out = []
    for literal, field, _, _ in string.Formatter().parse(template):
        out.append(literal)
        if field is None:
            continue
        value = doc.get(field)
        if not isinstance(value, str) or not value:
            raise RefreshError(
                f"the {what} needs '{field}' from {path}, which has none", sent=False
            )
        validate.template_value(field, value, path, what)
        out.append(value)
    return "".join(out)


def _client_registration(
    profile: Profile, doc: dict[str, object], path: str
) -> tuple[str | None, str | None]:
    assert profile.client_file is not None
    name = _fill(profile.client_file, doc, path, "client registration file")
    reg_path = os.path.join(os.path.dirname(os.path.realpath(path)), name)
    try:
        with open(reg_path, "rb") as f:
            reg = json.loads(f.read())
    except (OSError, ValueError) as e:
        raise RefreshError(
            f"cannot read the client registration {reg_path}: {profile.login_hint}", sent=False
        ) from e
    cid, secret = (
        (reg.get("clientId"), reg.get("clientSecret")) if isinstance(reg, dict) else (None, None)
    )
    if not isinstance(cid, str) or not isinstance(secret, str):
        raise RefreshError(
            f"{reg_path} has no clientId/clientSecret: {profile.login_hint}", sent=False
        )
    return cid, secret
