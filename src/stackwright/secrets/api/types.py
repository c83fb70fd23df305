"""Values passed between the HTTP layer and the route handlers."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stackwright.secrets.errors import InvalidRequestError
from stackwright.secrets.store import Caller, SecretsStore


@dataclass(frozen=True)
class ApiRequest:
    method: str
    operation: str
    path: str
    params: Mapping[str, str]
    body: Mapping[str, Any]
    token: str = field(repr=False)
    remote: str
    request_id: str

    def field(self, name: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        """A body field of the expected type, or a 400 naming it."""
        value = self.body.get(name, default)
        if value is None or value is default:
            return value
        if isinstance(value, bool) and bool not in _kinds(kind):
            raise InvalidRequestError(f"{name}: expected {_kind_name(kind)}, got a boolean")
        if not isinstance(value, kind):
            raise InvalidRequestError(f"{name}: expected {_kind_name(kind)}")
        return value


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in _kinds(kind))


@dataclass(frozen=True)
class LeaseInfo:
    """The lease fields of Vault's response envelope."""

    lease_id: str
    lease_duration: int
    renewable: bool


@dataclass(frozen=True)
class ApiResponse:
    """``raw`` bodies are sent as they are (sys/health...); others go in Vault's envelope."""

    status: int = 200
    data: Any = None
    auth: Mapping[str, Any] | None = None
    raw: Mapping[str, Any] | None = None
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    lease: LeaseInfo | None = None


NO_CONTENT = ApiResponse(status=204)

Handler = Callable[[SecretsStore, ApiRequest, "Caller | None", "re.Match[str]"], ApiResponse]
Existence = Callable[[SecretsStore, "re.Match[str]"], bool]


@dataclass(frozen=True)
class Route:
    """Handlers of one path pattern by operation (read, list, create, update, delete, patch)."""

    pattern: re.Pattern[str]
    handlers: Mapping[str, Handler]
    unauthenticated: bool = False
    sealed_ok: bool = False
    sudo: bool = False
    audited: bool = True
    existence: Existence | None = None
    inline: bool = False  # reads may run on the event loop: no blocking beyond a local query
    # every change it makes goes through the KV group commit, which makes the request's audit
    # line durable before committing it: that line need not be durable before the handler runs
    audit_at_commit: bool = False

    def handler(self, operation: str) -> Handler | None:
        if operation == "create" and "create" not in self.handlers:
            return self.handlers.get("update")
        return self.handlers.get(operation)
