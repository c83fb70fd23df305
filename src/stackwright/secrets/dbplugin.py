"""The pure parts of the PostgreSQL database plugin: names, passwords, templates, URLs.

Generated names follow Vault's default template
(``v-<display name:8>-<role:8>-<random 20>-<unix time>``, at most 63 characters, PostgreSQL's
limit) and passwords Vault's default policy (20 characters of letters, digits and ``-``, with
at least one of each kind). Statements are templates with ``{{name}}`` (also
``{{username}}``), ``{{password}}`` and ``{{expiration}}``; the connection URL with
``{{username}}`` and ``{{password}}``.
"""

from __future__ import annotations

import re
import secrets as _random
import string
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit, urlunsplit

from stackwright.secrets.errors import InvalidRequestError

PLUGIN_NAME = "postgresql-database-plugin"
MAX_IDENTIFIER = 63
PASSWORD_LENGTH = 20
_ALNUM = string.ascii_letters + string.digits
_PASSWORD_CHARS = _ALNUM + "-"
_TEMPLATE = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_SCHEMES = {
    "postgres": "postgresql",
    "postgresql": "postgresql",
    "postgresql+psycopg": "postgresql",
}

DEFAULT_RENEW = ('ALTER ROLE "{{name}}" VALID UNTIL \'{{expiration}}\'',)
DEFAULT_ROTATE_ROOT = ('ALTER ROLE "{{username}}" WITH PASSWORD \'{{password}}\'',)


def validate_name(name: str, what: str) -> str:
    if not _NAME.match(name):
        raise InvalidRequestError(
            f"invalid {what} name {name!r}",
            hint="letters, digits, '_', '.' and '-', starting with a letter or digit",
        )
    return name


def generate_password() -> str:
    """20 characters with a lower-case letter, an upper-case letter, a digit and a '-'."""
    while True:
        candidate = "".join(_random.choice(_PASSWORD_CHARS) for _ in range(PASSWORD_LENGTH))
        if _password_ok(candidate):
            return candidate


def _password_ok(password: str) -> bool:
    return (
        any(c.islower() for c in password)
        and any(c.isupper() for c in password)
        and any(c.isdigit() for c in password)
        and "-" in password
    )


def generate_username(display_name: str, role: str, at: datetime | None = None) -> str:
    """``v-<display:8>-<role:8>-<random 20>-<unix time>``, cut to 63 characters."""
    moment = at or datetime.now(UTC)
    random_part = "".join(_random.choice(_ALNUM) for _ in range(20))
    unix = str(int(moment.timestamp()))
    parts = ("v", _clean(display_name)[:8], _clean(role)[:8], random_part, unix)
    return "-".join(parts)[:MAX_IDENTIFIER]


def _clean(text: str) -> str:
    return "".join(c if c.isalnum() or c in "_-" else "-" for c in text) or "x"


def expiration_text(expire_us: int) -> str:
    """A lease's expiry as Vault's plugin fills ``{{expiration}}``: ``2006-01-02 15:04:05+0000``."""
    moment = datetime.fromtimestamp(expire_us / 1_000_000, tz=UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S+0000")


def render(template: str, values: Mapping[str, str]) -> str:
    """Replace ``{{key}}`` for the known keys; other ``{{...}}`` are left as written."""

    def replace(match: re.Match[str]) -> str:
        return values.get(match[1], match[0])

    return _TEMPLATE.sub(replace, template)


def uses(template: str, key: str) -> bool:
    return any(m[1] == key for m in _TEMPLATE.finditer(template))


def statement_values(username: str, password: str = "", expire_us: int = 0) -> dict[str, str]:
    values = {"name": username, "username": username, "password": password}
    if expire_us:
        values["expiration"] = expiration_text(expire_us)
    return values


def statement_list(value: object, field: str) -> tuple[str, ...]:
    """Statements given as one string or a list of strings, empty ones dropped."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
        raise InvalidRequestError(f"{field}: expected a string or a list of strings")
    return tuple(s.strip() for s in items if s.strip())


def normalize_url(url: str) -> str:
    """A PostgreSQL URL with the scheme libpq accepts; others are refused."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep or scheme.lower() not in _SCHEMES:
        raise InvalidRequestError(
            "connection_url: expected a postgresql:// URL",
            hint="e.g. postgresql://{{username}}:{{password}}@127.0.0.1:5432/postgres",
        )
    return f"{_SCHEMES[scheme.lower()]}://{rest}"


def connection_target(url: str, username: str, password: str) -> tuple[str, dict[str, str]]:
    """The URL to connect with and libpq keyword overrides: ``{{username}}``/``{{password}}``
    are filled in (URL-quoted); credentials the URL does not template are passed as keywords."""
    values = {"username": quote(username, safe=""), "password": quote(password, safe="")}
    extra = {}
    if username and not uses(url, "username"):
        extra["user"] = username
    if password and not uses(url, "password"):
        extra["password"] = password
    return render(normalize_url(url), values), extra


def masked_url(url: str) -> str:
    """The URL as ``read`` shows it: a literal password in it is replaced by ``*****``."""
    parts = urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    user, colon, secret = userinfo.partition(":")
    if not at or not colon or uses(secret, "password"):
        return url
    return urlunsplit(parts._replace(netloc=f"{user}:*****@{host}"))


def role_allowed(role: str, allowed: Iterable[str]) -> bool:
    """Whether ``allowed_roles`` (names or globs with ``*``) lets ``role`` use a connection."""
    for pattern in allowed:
        regex = ".*".join(re.escape(part) for part in pattern.split("*"))
        if re.fullmatch(regex, role):
            return True
    return False


def scrub(message: str, secrets: Iterable[str]) -> str:
    """``message`` with every secret (and its URL-quoted form) replaced by ``[redacted]``."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        for form in {secret, quote(secret, safe="")}:
            message = message.replace(form, "[redacted]")
    return message
