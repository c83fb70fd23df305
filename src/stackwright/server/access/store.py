"""Users, grants, API tokens and sessions, kept in the state database's ``access_*`` tables.

Tokens are ``swt_<id>_<secret>``: the id is stored in clear (to list and revoke them), the
whole token only as a SHA-256 digest, shown once when it is made. Session ids likewise.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from stackwright.errors import StackwrightError
from stackwright.server.access import schema
from stackwright.server.access.passwords import MIN_LENGTH, hash_password, verify_password
from stackwright.server.access.roles import ROLES, cap, check_role, role_in

MIGRATIONS = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
SESSION_TTL = 8 * 3600.0


class AccessError(StackwrightError):
    """A user, token or grant request that cannot be done."""


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: a user (through a token, a session or, for the daemon's own
    user on this machine, the loopback), and the role it holds in the daemon's environment."""

    name: str
    role: str | None
    via: str  # "token", "session" or "local"
    token_id: str | None = None
    csrf: str | None = None

    @property
    def actor(self) -> str:
        return f"{self.name} ({self.via})"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class AccessStore:
    """The access tables of one state database."""

    def __init__(self, engine: sa.engine.Engine, clock: Callable[[], float] = time.time
                 ) -> None:
        self.engine = engine
        self.clock = clock  # what "now" is for expiry (tests move it)

    @classmethod
    def open(cls, state_url: str) -> AccessStore:
        from stackwright.core.state.domains import migrate, open_domain_engine

        engine = open_domain_engine(state_url)
        migrate(engine, MIGRATIONS, schema.PREFIX)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    # -- users ------------------------------------------------------------------------------
    def add_user(self, name: str, password: str | None, grants: dict[str, str]) -> None:
        if not _NAME.match(name):
            raise AccessError(f"user name {name!r} is not valid",
                              hint="lower-case letters, digits, . _ -; starting with a letter")
        if password is not None and len(password) < MIN_LENGTH:
            raise AccessError(f"the password is shorter than {MIN_LENGTH} characters",
                              hint="choose a longer one")
        for role in grants.values():
            _role(role)
        with self.engine.begin() as conn:
            if conn.execute(sa.select(schema.users.c.name).where(
                    schema.users.c.name == name)).first():
                raise AccessError(f"user {name!r} exists already",
                                  hint="`stackwright user grant` changes its roles")
            conn.execute(schema.users.insert().values(
                name=name, password_hash=hash_password(password) if password else None,
                created_at=self.clock(), disabled=False))
            for env, role in grants.items():
                conn.execute(schema.grants.insert().values(user=name, environment=env,
                                                           role=role))

    def set_password(self, name: str, password: str) -> None:
        if len(password) < MIN_LENGTH:
            raise AccessError(f"the password is shorter than {MIN_LENGTH} characters",
                              hint="choose a longer one")
        with self.engine.begin() as conn:
            done = conn.execute(schema.users.update().where(schema.users.c.name == name)
                                .values(password_hash=hash_password(password)))
            if not done.rowcount:
                raise _no_user(name)

    def grant(self, name: str, environment: str, role: str | None) -> None:
        """Give ``name`` ``role`` in ``environment`` (``*``: all); None takes it away."""
        with self.engine.begin() as conn:
            self._require_user(conn, name)
            conn.execute(schema.grants.delete().where(schema.grants.c.user == name,
                                                      schema.grants.c.environment == environment))
            if role is not None:
                conn.execute(schema.grants.insert().values(user=name, environment=environment,
                                                           role=_role(role)))

    def remove_user(self, name: str) -> None:
        with self.engine.begin() as conn:
            self._require_user(conn, name)
            for table in (schema.sessions, schema.tokens, schema.grants):
                conn.execute(table.delete().where(table.c.user == name))
            conn.execute(schema.users.delete().where(schema.users.c.name == name))

    def users(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(schema.users).order_by(schema.users.c.name)).all()
            grants = conn.execute(sa.select(schema.grants)).all()
        return [{"name": r.name, "disabled": bool(r.disabled), "has_password":
                 r.password_hash is not None, "created_at": r.created_at,
                 "roles": {g.environment: g.role for g in grants if g.user == r.name}}
                for r in rows]

    def role_of(self, name: str, environment: str) -> str | None:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(schema.grants.c.environment, schema.grants.c.role)
                                .where(schema.grants.c.user == name)).all()
        return role_in([(r.environment, r.role) for r in rows], environment)

    def has_admin(self) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(schema.grants.c.user).where(
                schema.grants.c.role == "admin")).first() is not None

    def check_password(self, name: str, password: str) -> bool:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(schema.users).where(schema.users.c.name == name)
                               ).first()
        ok = verify_password(password, row.password_hash if row else None)
        return ok and row is not None and not row.disabled

    # -- tokens -----------------------------------------------------------------------------
    def create_token(self, user: str, name: str, *, ttl: float | None,
                     role: str | None = None) -> tuple[str, dict[str, Any]]:
        """A new token for ``user`` (the secret, returned once, and its record)."""
        token_id = secrets.token_hex(6)
        secret = f"swt_{token_id}_{secrets.token_urlsafe(24)}"
        now = self.clock()
        record = {"id": token_id, "user": user, "name": name,
                  "role": _role(role) if role else None, "created_at": now,
                  "expires_at": now + ttl if ttl else None, "revoked": False}
        with self.engine.begin() as conn:
            self._require_user(conn, user)
            conn.execute(schema.tokens.insert().values(digest=_digest(secret), **record))
        return secret, record

    def tokens(self, user: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(schema.tokens).order_by(schema.tokens.c.created_at)
        if user is not None:
            query = query.where(schema.tokens.c.user == user)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [{k: v for k, v in r._mapping.items() if k != "digest"} for r in rows]

    def revoke_token(self, token_id: str, *, user: str | None = None) -> None:
        cond = [schema.tokens.c.id == token_id]
        if user is not None:
            cond.append(schema.tokens.c.user == user)
        with self.engine.begin() as conn:
            done = conn.execute(schema.tokens.update().where(*cond).values(revoked=True))
        if not done.rowcount:
            raise AccessError(f"no token {token_id!r}",
                              hint="`stackwright token list` shows the ids")

    def authenticate_token(self, secret: str, environment: str) -> Principal | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(schema.tokens).where(
                schema.tokens.c.digest == _digest(secret))).first()
        if row is None or row.revoked or (row.expires_at and row.expires_at <= self.clock()):
            return None
        if not self._enabled(row.user):
            return None
        role = cap(self.role_of(row.user, environment), row.role)
        return Principal(row.user, role, "token", token_id=row.id)

    # -- sessions ---------------------------------------------------------------------------
    def create_session(self, user: str) -> tuple[str, str]:
        """A new session id and its CSRF token."""
        session, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(schema.sessions.delete().where(
                schema.sessions.c.expires_at <= self.clock()))
            conn.execute(schema.sessions.insert().values(
                digest=_digest(session), user=user, csrf=csrf,
                expires_at=self.clock() + SESSION_TTL))
        return session, csrf

    def authenticate_session(self, session: str, environment: str) -> Principal | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(schema.sessions).where(
                schema.sessions.c.digest == _digest(session))).first()
        if row is None or row.expires_at <= self.clock() or not self._enabled(row.user):
            return None
        return Principal(row.user, self.role_of(row.user, environment), "session",
                         csrf=row.csrf)

    def end_session(self, session: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(schema.sessions.delete().where(
                schema.sessions.c.digest == _digest(session)))

    # -- helpers ----------------------------------------------------------------------------
    def _enabled(self, name: str) -> bool:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(schema.users.c.disabled).where(
                schema.users.c.name == name)).first()
        return row is not None and not row.disabled

    def _require_user(self, conn: sa.Connection, name: str) -> None:
        if not conn.execute(sa.select(schema.users.c.name).where(
                schema.users.c.name == name)).first():
            raise _no_user(name)


def _no_user(name: str) -> AccessError:
    return AccessError(f"no user {name!r}", hint="`stackwright user list` shows them")


def _role(name: str) -> str:
    try:
        return check_role(name)
    except ValueError as exc:
        raise AccessError(str(exc), hint=f"roles: {', '.join(ROLES)}") from exc
