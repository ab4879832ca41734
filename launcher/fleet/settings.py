"""The [fleet] table of config.toml, and the store's secrets from the environment or files.

[fleet]
url = "etcd://127.0.0.1:2379"   # WRAP_FLEET_URL overrides it
mount = "secret"                # OpenBao/Vault: the KV v2 mount
prefix = "wrap"                 # records live under <prefix>/<name>
machine = "laptop"              # how this machine is named in the records (default: host name)
token_file = "~/.config/wrap/bao-token"   # or WRAP_FLEET_TOKEN (OpenBao/Vault)
password_file = "..."           # or WRAP_FLEET_PASSWORD (etcd, Redis); user: WRAP_FLEET_USER / user
ca_file = "/etc/ssl/private-ca.pem"
"""

from __future__ import annotations

import os
import re
import socket
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from launcher.errors import UsageError
from launcher.urls import is_loopback

if TYPE_CHECKING:
    from collections.abc import Mapping

# scheme -> (backend, TLS)
SCHEMES = {
    "etcd": ("etcd", False),
    "etcd+http": ("etcd", False),
    "etcd+https": ("etcd", True),
    "redis": ("redis", False),
    "rediss": ("redis", True),
    "openbao": ("openbao", False),
    "openbao+http": ("openbao", False),
    "openbao+https": ("openbao", True),
    "vault": ("openbao", False),
    "vault+http": ("openbao", False),
    "vault+https": ("openbao", True),
}
_KEYS = frozenset(
    {
        "url",
        "mount",
        "prefix",
        "machine",
        "user",
        "token_file",
        "password_file",
        "ca_file",
        "clock_skew",
    }
)
# A record name is one path segment in every store.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$")
DEFAULT_CLOCK_SKEW = 5.0


class FleetSettings:
    __slots__ = (
        "backend",
        "ca_file",
        "clock_skew",
        "host",
        "machine",
        "mount",
        "password",
        "port",
        "prefix",
        "tls",
        "token",
        "url",
        "user",
        "where",
    )

    def __init__(
        self,
        *,
        backend: str,
        tls: bool,
        url: str,
        where: str,
        host: str,
        port: int,
        mount: str,
        prefix: str,
        machine: str,
        user: str | None,
        token: str | None,
        password: str | None,
        ca_file: str | None,
        clock_skew: float,
    ) -> None:
        self.backend = backend  # "etcd", "redis" or "openbao"
        self.tls = tls
        self.url = url
        self.where = where  # the URL without user info, for messages
        self.host = host
        self.port = port
        self.mount = mount
        self.prefix = prefix
        self.machine = machine
        self.user = user
        self.token = token
        self.password = password
        self.ca_file = ca_file
        # OpenBao's claims end by their holder's clock: others wait this much longer.
        self.clock_skew = clock_skew

    def __repr__(self) -> str:
        return f"FleetSettings({self.where})"  # never the secrets

    def authority(self) -> str:
        """host:port for a URL, an IPv6 host in its brackets (urlsplit's hostname has none)."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse(table: Mapping[str, Any], env: Mapping[str, str], config_path: str) -> FleetSettings:
    """FleetSettings from the config's [fleet] table and the environment; UsageError (exit 2)
    for anything wrong, including a plain URL to a host that is not loopback."""
    where = f"config file {config_path}, [fleet]"
    section = table.get("fleet", {})
    if not isinstance(section, dict):
        raise UsageError(f"config file {config_path}: 'fleet' must be a table ([fleet])")
    unknown = sorted(set(section) - _KEYS)
    if unknown:
        raise UsageError(
            f"{where}: unknown key {unknown[0]!r}; accepted: {', '.join(sorted(_KEYS))}"
        )

    def text(key: str, default: str | None = None) -> str | None:
        value = section.get(key, default)
        if value is not None and (not isinstance(value, str) or not value):
            raise UsageError(f"{where}: {key} must be a non-empty string")
        return value

    url = env.get("WRAP_FLEET_URL") or text("url")
    source = "WRAP_FLEET_URL" if env.get("WRAP_FLEET_URL") else f"url in {where}"
    if not url:
        raise UsageError(
            f"no fleet store configured: set url in the [fleet] table of {config_path} "
            "or WRAP_FLEET_URL"
        )
    if ":" in _userinfo(url):
        # Before anything is parsed: a password holding / ? or # ends urlsplit's netloc early.
        raise UsageError(
            f"fleet URL ({source}) carries a password: use WRAP_FLEET_PASSWORD or password_file"
        )
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        accepted = ", ".join(f"{s}://" for s in SCHEMES)
        raise UsageError(f"invalid fleet URL {_safe(url)!r} ({source}): use one of {accepted}")
    backend, tls = SCHEMES[scheme]
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError as e:
        raise UsageError(f"invalid port in fleet URL {_safe(url)!r} ({source})") from e
    if not host:
        raise UsageError(f"fleet URL {_safe(url)!r} ({source}) has no host")
    if not tls and not is_loopback(host):
        secure = {"etcd": "etcd+https", "redis": "rediss", "openbao": "openbao+https"}[backend]
        raise UsageError(
            f"refusing fleet URL {_safe(url)!r} ({source}): the store holds refresh tokens, so "
            f"a host that is not loopback needs TLS ({secure}://)"
        )
    default_port = {"etcd": 2379, "redis": 6379, "openbao": 8200}[backend]
    skew = section.get("clock_skew", DEFAULT_CLOCK_SKEW)
    if isinstance(skew, bool) or not isinstance(skew, int | float) or skew < 0:
        raise UsageError(f"{where}: clock_skew must be a number of seconds")
    ca_file = text("ca_file")
    user = env.get("WRAP_FLEET_USER") or text("user") or (unquote(parts.username or "") or None)
    if user is not None:
        user = _one_line(user, "the fleet store's user name", secret=False)
    mount = (text("mount", "secret") or "secret").strip("/")
    prefix = (text("prefix", "wrap") or "wrap").strip("/")
    return FleetSettings(
        backend=backend,
        tls=tls,
        url=url,
        where=_safe(url),
        host=host,
        port=port or default_port,
        mount=mount,
        prefix=prefix,
        machine=text("machine") or socket.gethostname() or "unknown",
        user=user,
        token=_secret(env, "WRAP_FLEET_TOKEN", "token_file", text("token_file"), where),
        password=_secret(env, "WRAP_FLEET_PASSWORD", "password_file", text("password_file"), where),
        ca_file=os.path.expanduser(ca_file) if ca_file else None,
        clock_skew=float(skew),
    )


def check_name(name: str, source: str) -> str:
    if not NAME.match(name):
        raise UsageError(
            f"invalid fleet record name {name!r} ({source}): letters, digits and . _ @ - only"
        )
    return name


def _secret(env: Mapping[str, str], var: str, key: str, path: str | None, where: str) -> str | None:
    """A secret from VAR, else from the file at PATH (config KEY); never from the config itself.
    The file is read as credentials files are: a FIFO or a device would hang or flood a launch."""
    from launcher import store
    from launcher.errors import CredentialsError

    if env.get(var):
        return _one_line(env[var].strip(), var)
    if path is None:
        return None
    full = os.path.expanduser(path)
    fix = f"point {key} at the file that holds it"
    try:
        value = store.read_bytes(full, fix, what=f"a {key}").decode("utf-8").strip()
    except CredentialsError as e:
        raise UsageError(f"{where}: {e}") from e
    except UnicodeDecodeError:
        raise UsageError(f"{where}: {full} ({key}) is not UTF-8 text") from None
    if not value:
        raise UsageError(f"{where}: {full} is empty")
    return _one_line(value, f"{full} ({key})")


def _one_line(value: str, source: str, *, secret: bool = True) -> str:
    """VALUE, a store secret that goes into a header or a command: one line of printable
    characters. Anything else (a comment line, a control character) is refused without being
    quoted, before an HTTP library quotes it whole in its error; a SECRET joins the redacted
    values."""
    from launcher import redact

    if not value.isprintable():
        raise UsageError(
            f"{source} must hold one line of printable characters (no comment, no second "
            "line, no control character); its value is not shown"
        )
    if secret:
        redact.add(value)
    return value


def _userinfo(url: str) -> str:
    """What comes between :// and the last @ (user:password), whatever characters it holds."""
    rest = url.partition("://")[2]
    return rest.rpartition("@")[0]


def _safe(url: str) -> str:
    """URL without its user info, for messages: cut from the raw text, so that a password with
    / ? or # (which ends urlsplit's netloc before it) is never quoted."""
    info = _userinfo(url)
    if not info:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest[len(info) + 1 :]}"
