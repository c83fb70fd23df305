"""The four roles, ordered: each may do everything the one before it may.

- ``viewer``: read everything (status, plans, drift, history, audit, the console);
- ``developer``: apply and destroy in environments that are not protected, run pipelines;
- ``operator``: apply to protected environments, approve, promote, abort;
- ``admin``: users, tokens of others, policies, secrets administration.

A user holds grants per environment (``*`` for every one); a token may be capped at a lower
role than its user's. Which environments are protected: ``settings.server.protected`` in
``stackwright.yaml`` (a list of names; default ``[prod, production]``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

ROLES = ("viewer", "developer", "operator", "admin")
RANK = {name: i for i, name in enumerate(ROLES)}
DEFAULT_PROTECTED = ("prod", "production")


def check_role(name: str) -> str:
    if name not in RANK:
        raise ValueError(f"unknown role {name!r}: one of {', '.join(ROLES)}")
    return name


def role_in(grants: Iterable[tuple[str, str]], environment: str) -> str | None:
    """The highest role ``grants`` (environment, role) give in ``environment``."""
    best: str | None = None
    for env, role in grants:
        if env in ("*", environment) and (best is None or RANK[role] > RANK[best]):
            best = role
    return best


def cap(role: str | None, limit: str | None) -> str | None:
    """``role``, lowered to ``limit`` when one is set."""
    if role is None or limit is None:
        return role
    return role if RANK[role] <= RANK[limit] else limit


def at_least(role: str | None, needed: str) -> bool:
    return role is not None and RANK[role] >= RANK[needed]


def protected_environments(settings: Mapping[str, Any]) -> tuple[str, ...]:
    value = (settings.get("server") or {}).get("protected", DEFAULT_PROTECTED)
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        return DEFAULT_PROTECTED
    return tuple(value)


def deploy_role(environment: str, protected: Iterable[str]) -> str:
    """The role an apply or destroy needs in ``environment``."""
    return "operator" if environment in set(protected) else "developer"
