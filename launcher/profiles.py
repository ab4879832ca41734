"""Built-in profiles as data: where each CLI keeps its token, in which shape, and how to refresh it.

Imported on the hot path: standard library only, plain classes. Custom profiles from
config.toml are built in launcher/custom.py from the same fields.
"""

from __future__ import annotations

import os

from launcher.vendors import gemini

TYPE_CHECKING = False  # typing itself costs ~4 ms of import on the launch path
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

EXPIRY_UNITS = ("ms", "s", "iso", "jwt", "last_refresh")

# The standard refresh_token grant body; "$name" is filled from the request's values.
STANDARD_REQUEST = {
    "grant_type": "refresh_token",
    "refresh_token": "$refresh_token",
    "client_id": "$client_id",
}
STANDARD_RESPONSE = {
    "access_token": "access_token",
    "refresh_token": "refresh_token",
    "expires_in": "expires_in",
    "id_token": "id_token",
}


class Profile:
    """Everything wrap needs to know about one CLI's credentials file."""

    __slots__ = (
        "access_field",
        "account_fields",
        "account_file",
        "authorize_params",
        "authorize_url",
        "body",
        "cli_refresh",
        "client_auth",
        "client_file",
        "client_id",
        "client_id_field",
        "client_secret",
        "config_dir_env",
        "copy_fields",
        "default_paths",
        "expiry_field",
        "expiry_interval",
        "expiry_unit",
        "extra_body",
        "headers",
        "id_token_field",
        "login_args_headless",
        "login_check",
        "login_command",
        "login_expiry_field",
        "login_expiry_unit",
        "login_hint",
        "login_method",
        "name",
        "programs",
        "redirect_path",
        "redirect_ports",
        "refresh_field",
        "refreshed_field",
        "request",
        "required_scope",
        "response",
        "rewrites_in_place",
        "scope_field",
        "scopes",
        "secure_store",
        "setup_command",
        "token_url",
        "variant_field",
        "variants",
        "vendor_lock",
    )

    def __init__(
        self,
        name: str,
        *,
        programs: tuple[str, ...] = (),
        default_paths: tuple[str, ...] = (),
        config_dir_env: str | None = None,
        access_field: str,
        refresh_field: str,
        expiry_field: str,
        expiry_unit: str,
        expiry_interval: float | None = None,
        refreshed_field: str | None = None,
        id_token_field: str | None = None,
        account_fields: tuple[str, ...] = ("alias", "email", "name", "account_id"),
        account_file: tuple[tuple[str, ...], str] | None = None,
        token_url: str = "",
        client_id: str | None = None,
        client_secret: str | None = None,
        client_auth: str = "body",
        client_file: str | None = None,
        body: str = "json",
        request: Mapping[str, str] | None = None,
        response: Mapping[str, str] | None = None,
        extra_body: Mapping[str, str] | None = None,
        copy_fields: Mapping[str, str] | None = None,
        variant_field: str | None = None,
        variants: Mapping[str, Mapping[str, Any]] | None = None,
        setup_command: tuple[str, ...] | None = None,
        login_method: str | None = None,
        authorize_url: str = "",
        authorize_params: Mapping[str, str] | None = None,
        scopes: str = "",
        redirect_ports: tuple[int, ...] = (),
        redirect_path: str = "/callback",
        login_hint: str = "",
        vendor_lock: str | None = None,
        client_id_field: str | None = None,
        scope_field: str | None = None,
        required_scope: str | None = None,
        rewrites_in_place: bool = False,
        headers: Mapping[str, str] | None = None,
        cli_refresh: tuple[tuple[str, ...], float] | None = None,
        secure_store: str | None = None,
        login_expiry_field: str | None = None,
        login_expiry_unit: str = "ms",
        login_command: tuple[str, ...] | None = None,
        login_check: tuple[str, ...] | None = None,
        login_args_headless: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.programs = programs or (name,)
        # Candidate files, first existing wins for the gate; "~" is HOME; globs allowed.
        # "${VAR}/rest" uses VAR when set (the CLI's own config-dir variable).
        self.default_paths = default_paths
        # The variable that points the CLI at another directory (a named account's).
        self.config_dir_env = config_dir_env
        self.access_field = access_field
        self.refresh_field = refresh_field
        self.expiry_field = expiry_field
        self.expiry_unit = expiry_unit
        self.expiry_interval = expiry_interval
        self.refreshed_field = refreshed_field
        self.id_token_field = id_token_field
        # Fields that name the account, in order (an email may also come from the id_token).
        self.account_fields = account_fields
        # Another file that names the account: (candidate paths, dotted field).
        self.account_file = account_file
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        # "body": client_id (and secret) in the body; "basic": HTTP basic auth.
        self.client_auth = client_auth
        # File beside the credentials holding clientId/clientSecret, named by a field
        # ("{clientIdHash}.json"), as AWS SSO's cache does for Kiro's IdC logins.
        self.client_file = client_file
        self.body = body
        self.request = dict(request or STANDARD_REQUEST)
        self.response = {**STANDARD_RESPONSE, **(response or {})}
        self.extra_body = dict(extra_body or {})
        # Response field -> file field, written only when the response has it.
        self.copy_fields = dict(copy_fields or {})
        self.variant_field = variant_field
        self.variants = {k: dict(v) for k, v in (variants or {}).items()}
        # Interactive re-authentication: "setup" runs setup_command under a pty and captures the
        # token it prints; "browser" is the authorization code flow with PKCE and a loopback
        # redirect (tried on redirect_ports first, then any free port); None: no login here.
        self.setup_command = setup_command
        self.login_method = login_method
        self.authorize_url = authorize_url
        self.authorize_params = dict(authorize_params or {})
        self.scopes = scopes
        self.redirect_ports = redirect_ports
        self.redirect_path = redirect_path
        self.login_hint = login_hint or f"log in again with '{self.programs[0]}'"
        # Whose locks to take while refreshing (launcher/vendors/: "claude", "qwen"), if any.
        self.vendor_lock = vendor_lock
        # A client id kept in the file, which wins over the profile's default.
        self.client_id_field = client_id_field
        # Where the answer's space-separated `scope` goes, as a list (Claude's `scopes`).
        self.scope_field = scope_field
        # A scope the answer must grant for the CLI to use the token (Claude discards others).
        self.required_scope = required_scope
        # The CLI rewrites the file in place (truncate + write, not rename): a read that fails
        # to parse may have caught it halfway, so read again after a pause first (codex).
        self.rewrites_in_place = rewrites_in_place
        # Headers of the refresh request, as the vendor's CLI sends them ({os}, {os_version},
        # {arch} and {terminal} are filled in at send time; see launcher/vendors/request.py).
        self.headers = dict(headers or {})
        # A command of the vendor's CLI that refreshes the token without a model call, and the
        # time before expiry from which it does (refresh_via = "cli", and "auto" in a cooldown).
        self.cli_refresh = cli_refresh
        # Whose convention for a store other than the file applies (launcher/stores/: "claude"
        # for the macOS Keychain, "codex" and "gemini" for the OS keyring), if any.
        self.secure_store = secure_store
        # Where the file says when the login itself ends (no refresh extends it), and in which
        # unit (ms, s, iso); None: the CLI does not record it.
        self.login_expiry_field = login_expiry_field
        self.login_expiry_unit = login_expiry_unit
        # login_method "cli": the vendor's own login command, run under a pty (it writes the
        # file itself, under its own locks), then login_check, which must exit 0 offline.
        # LOGIN_ARGS_HEADLESS are added when no browser can open here (codex's --device-auth).
        self.login_command = login_command
        self.login_check = login_check
        self.login_args_headless = login_args_headless

    def replace(self, **changes: Any) -> Profile:
        values = {name: getattr(self, name) for name in self.__slots__}
        values.update(changes)
        name = values.pop("name")
        return Profile(name, **values)

    def for_doc(self, doc: Mapping[str, Any]) -> Profile:
        """The variant that fits this document (Kiro keeps social and IdC logins apart)."""
        if self.variant_field is None:
            return self
        variant = self.variants.get(str(doc.get(self.variant_field)))
        return self.replace(variants={}, variant_field=None, **variant) if variant else self

    def path_candidates(
        self, env: Mapping[str, str], patterns: tuple[str, ...] | None = None
    ) -> list[str]:
        home = home_dir(env)
        out = []
        for pattern in self.default_paths if patterns is None else patterns:
            if pattern.startswith("${"):
                var, _, rest = pattern[2:].partition("}")
                if not env.get(var):
                    continue
                pattern = env[var] + rest
            elif pattern.startswith("~"):
                pattern = home + pattern[1:]
            out.append(pattern)
        return out

    def default_path(self, env: Mapping[str, str]) -> str:
        """The credentials file this profile uses when nothing overrides it."""
        candidates = [c for c in self.path_candidates(env) if not _is_glob(c)]
        for candidate in candidates:
            if os.path.exists(candidate):
                return candidate
        return candidates[0] if candidates else ""


def _is_glob(path: str) -> bool:
    return any(ch in path for ch in "*?[")


def home_dir(env: Mapping[str, str]) -> str:
    # HOME from the given environment first, so tests and sudo-less setups can point it anywhere.
    return env.get("HOME") or os.path.expanduser("~")


# What Claude Code 2.1.330 and 2.1.337 ask for when they refresh (2.1.197: the same without
# user:plugins); the vendor's notes are in launcher/vendors/claude.py.
CLAUDE_SCOPES = (
    "user:profile user:inference user:sessions:claude_code user:mcp_servers user:file_upload "
    "user:plugins"
)

CLAUDE = Profile(
    "claude",
    config_dir_env="CLAUDE_CONFIG_DIR",
    default_paths=(
        "${CLAUDE_SECURESTORAGE_CONFIG_DIR}/.credentials.json",
        "${CLAUDE_CONFIG_DIR}/.credentials.json",
        "~/.claude/.credentials.json",
    ),
    access_field="claudeAiOauth.accessToken",
    refresh_field="claudeAiOauth.refreshToken",
    expiry_field="claudeAiOauth.expiresAt",
    expiry_unit="ms",
    token_url="https://platform.claude.com/v1/oauth/token",
    client_id="9d1c250a-e61b-44d9-88ed-5944d1962f5e",
    client_id_field="claudeAiOauth.clientId",
    body="json",
    # As Claude Code sends it (launcher/vendors/claude.py names the versions).
    request={
        "grant_type": "refresh_token",
        "refresh_token": "$refresh_token",
        "client_id": "$client_id",
        "scope": CLAUDE_SCOPES,
    },
    # Claude Code 2.1.197, 2.1.330 and 2.1.337 (axios) as seen through a loopback proxy.
    headers={"Accept": "application/json, text/plain, */*", "User-Agent": "axios/1.15.2"},
    scope_field="claudeAiOauth.scopes",
    # 2.1.330 refreshes a token that expires within 5 minutes on `auth status` (2.1.197 does not).
    cli_refresh=(("claude", "auth", "status", "--json"), 300.0),
    required_scope="user:inference",
    # Claude Code 2.1.330 writes it at login from refresh_token_expires_in (2.1.197 does not).
    login_expiry_field="claudeAiOauth.refreshTokenExpiresAt",
    # The full login (a new refresh chain, every scope), written by claude itself; the
    # year-long inference-only setup token stays a choice (login = "setup-token").
    login_method="cli",
    login_command=("claude", "auth", "login"),
    login_check=("claude", "auth", "status", "--json"),
    setup_command=("claude", "setup-token"),
    login_hint="log in again with 'wrap login claude' (or run 'claude auth login')",
    vendor_lock="claude",
    secure_store="claude",
    account_file=(
        ("${CLAUDE_CONFIG_DIR}/.claude.json", "~/.claude.json"),
        "oauthAccount.emailAddress",
    ),
)

GEMINI = Profile(
    "gemini",
    config_dir_env="GEMINI_CLI_HOME",
    # Gemini CLI's own home override (0.61.0): $GEMINI_CLI_HOME/.gemini/.
    default_paths=("${GEMINI_CLI_HOME}/.gemini/oauth_creds.json", "~/.gemini/oauth_creds.json"),
    access_field="access_token",
    refresh_field="refresh_token",
    expiry_field="expiry_date",
    expiry_unit="ms",
    id_token_field="id_token",
    token_url="https://oauth2.googleapis.com/token",
    # Gemini CLI's installed-app client: public by design (RFC 8252), published in its source.
    client_id="681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com",
    client_secret="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",
    body="form",
    # As gemini-cli 0.61.0 sends it (launcher/vendors/gemini.py).
    request=gemini.REFRESH_REQUEST,
    headers=gemini.REFRESH_HEADERS,
    login_method="browser",
    authorize_url="https://accounts.google.com/o/oauth2/v2/auth",
    authorize_params={"access_type": "offline", "prompt": "consent"},
    scopes="https://www.googleapis.com/auth/cloud-platform "
    "https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile",
    redirect_path="/oauth2callback",
    login_hint="log in again: run 'gemini' and choose Login with Google",
    secure_store="gemini",
    # What gemini-cli 0.61.0 keeps in the OS keyring (launcher/stores/keyring.py) instead of
    # oauth_creds.json: the same token in another shape, without the id token.
    variant_field="serverName",
    variants={
        "main-account": {
            "access_field": "token.accessToken",
            "refresh_field": "token.refreshToken",
            "expiry_field": "token.expiresAt",
            "id_token_field": None,
        }
    },
)

# Qwen OAuth's free tier ended on 2026-04-15 and qwen-code 0.15+ no longer reads this file:
# the profile serves older installs and the routers that still use such files.
QWEN = Profile(
    "qwen",
    config_dir_env="QWEN_HOME",
    default_paths=("${QWEN_HOME}/oauth_creds.json", "~/.qwen/oauth_creds.json"),
    access_field="access_token",
    refresh_field="refresh_token",
    expiry_field="expiry_date",
    expiry_unit="ms",
    token_url="https://chat.qwen.ai/api/v1/oauth2/token",
    client_id="f0304373b74a44d2b584a3fb70ca9e56",
    body="form",
    copy_fields={"resource_url": "resource_url"},
    login_hint="log in again: run 'qwen' and choose Qwen OAuth",
    vendor_lock="qwen",
)

CODEX = Profile(
    "codex",
    config_dir_env="CODEX_HOME",
    default_paths=("${CODEX_HOME}/auth.json", "~/.codex/auth.json"),
    access_field="tokens.access_token",
    refresh_field="tokens.refresh_token",
    expiry_field="tokens.access_token",
    expiry_unit="jwt",
    refreshed_field="last_refresh",
    id_token_field="tokens.id_token",
    account_fields=("alias", "email", "name", "tokens.account_id"),
    # codex 0.169.0 replaces auth.json by a rename under its flocks (launcher/vendors/codex.py);
    # older builds and other tools rewrite it in place, so a read that does not parse is retried.
    rewrites_in_place=True,
    vendor_lock="codex",
    secure_store="codex",
    token_url="https://auth.openai.com/oauth/token",
    client_id="app_EMoamEEZ73f0CkXaXp7hrann",
    body="json",
    # codex 0.169.0 and 0.171.0 (`codex exec`) as seen through a loopback proxy, fields in its
    # order; the User-Agent names the installed codex's version, as codex's own does.
    request={
        "client_id": "$client_id",
        "grant_type": "refresh_token",
        "refresh_reason": "proactive_expiry",
        "refresh_token": "$refresh_token",
    },
    headers={
        "Accept": "*/*",
        "originator": "codex_exec",
        "User-Agent": "codex_exec/{codex_version} ({os} {os_version}; {arch}) {terminal}",
    },
    authorize_url="https://auth.openai.com/oauth/authorize",
    scopes="openid profile email offline_access",
    # The Codex client only accepts its registered redirect.
    redirect_ports=(1455,),
    redirect_path="/auth/callback",
    # codex's own login by default (login = "browser" for wrap's PKCE flow); never its logout,
    # which revokes the login on every machine.
    login_method="cli",
    login_command=("codex", "login"),
    login_check=("codex", "login", "status"),
    login_args_headless=("--device-auth",),
    login_hint="log in again with 'wrap login codex' (or run 'codex login')",
)

KIRO = Profile(
    "kiro",
    programs=("kiro", "kiro-cli", "q"),
    default_paths=("~/.aws/sso/cache/kiro-auth-token.json",),
    access_field="accessToken",
    refresh_field="refreshToken",
    expiry_field="expiresAt",
    expiry_unit="iso",
    token_url="https://prod.{region}.auth.desktop.kiro.dev/refreshToken",
    client_id=None,
    body="json",
    request={"refreshToken": "$refresh_token"},
    response={
        "access_token": "accessToken",
        "refresh_token": "refreshToken",
        "expires_in": "expiresIn",
    },
    copy_fields={"profileArn": "profileArn"},
    variant_field="authMethod",
    variants={
        "IdC": {
            "token_url": "https://oidc.{region}.amazonaws.com/token",
            "client_file": "{clientIdHash}.json",
            "request": {
                "clientId": "$client_id",
                "clientSecret": "$client_secret",
                "grantType": "refresh_token",
                "refreshToken": "$refresh_token",
            },
            "copy_fields": {},
        }
    },
    login_hint="log in again: run 'kiro-cli login' (or sign in from the Kiro app)",
)

IFLOW = Profile(
    "iflow",
    default_paths=("~/.iflow/oauth_creds.json",),
    access_field="access_token",
    refresh_field="refresh_token",
    expiry_field="expiry_date",
    expiry_unit="ms",
    token_url="https://iflow.cn/oauth/token",
    client_id=None,  # set client_id and client_secret in config.toml ([profiles.iflow])
    client_auth="basic",
    body="form",
    login_hint="log in again: run 'iflow' and choose Login with iFlow",
)

BUILTIN: dict[str, Profile] = {p.name: p for p in (CLAUDE, GEMINI, QWEN, CODEX, KIRO, IFLOW)}


def by_program(program: str, known: Mapping[str, Profile] | None = None) -> Profile | None:
    """The profile whose program matches PROGRAM's basename, if any."""
    base = os.path.basename(program)
    for profile in (known or BUILTIN).values():
        if base in profile.programs:
            return profile
    return None
