"""Gemini CLI's conventions around `oauth_creds.json` (0.61.0, measured through the proxy).

Its refresh (google-auth-library inside the bundle, before it asks tokeninfo about the cached
login): `POST https://oauth2.googleapis.com/token`, a form body `refresh_token, client_id,
client_secret, grant_type` in that order (the installed-app client's id and secret, published
in its source), with `Accept: */*`, `Content-Type: application/x-www-form-urlencoded;
charset=UTF-8`, `User-Agent: google-api-nodejs-client/10.9.0` and `x-goog-api-client:
gl-node/<the Node.js version running it>`. It takes no cross-process lock, and writes the file
as `JSON.stringify(…, null, 2)`, 0600, keeping the refresh token it had (Google does not rotate
it; given a rotated one, 0.61.0 still kept the old); the rewrite drops `id_token` and `scope`.
"""

from __future__ import annotations

# The newest release these facts were checked with (launcher/vendors/installed.py compares).
CHECKED = "0.61.0"

REFRESH_REQUEST = {
    "refresh_token": "$refresh_token",
    "client_id": "$client_id",
    "client_secret": "$client_secret",
    "grant_type": "refresh_token",
}
# x-goog-api-client names the Node.js version that runs gemini, which wrap cannot know without
# starting Node: it is left out (launcher/vendors/wire.py).
REFRESH_HEADERS = {
    "Accept": "*/*",
    "Content-Type": "application/x-www-form-urlencoded;charset=UTF-8",
    "User-Agent": "google-api-nodejs-client/10.9.0",
}
