"""Leases: what a dynamic secret is issued with, and what revokes it.

A lease has an id (``database/creds/<role>/<random>``), an expiry, a ceiling (the role's
``max_ttl`` from issue, and never past the issuing token's expiry) and the backend's internal
data needed to undo the secret (the database user name), sealed through the barrier. Renewing
moves the expiry up to the ceiling; revoking asks the backend to undo the secret, then forgets
the lease. A revocation that fails (the database is down) keeps the lease listed, makes it due
at once and is retried by the sweeper with a growing delay, as Vault's expiration manager
does. Revoking a token makes the leases it created due.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from stackwright.secrets.barrier import Barrier
from stackwright.secrets.errors import BackendError, InvalidRequestError, VaultError
from stackwright.secrets.schema import leases
from stackwright.secrets.timeutil import format_duration, now_us, rfc3339

log = logging.getLogger(__name__)

SYSTEM_DEFAULT_TTL = 768 * 3600
SYSTEM_MAX_TTL = 768 * 3600
MAX_RETRY_DELAY_S = 300.0
_SWEEP_BATCH = 100
_US = 1_000_000


class LeaseBackend(Protocol):
    """What a secrets engine does when one of its leases is renewed or revoked."""

    def renew_lease(self, internal: Mapping[str, Any], expire_us: int) -> None: ...

    def revoke_lease(self, internal: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class Lease:
    lease_id: str
    issue_us: int
    expire_us: int
    max_expire_us: int
    last_renewal_us: int | None
    renewable: bool
    revoke_attempts: int = 0
    last_error: str | None = None

    def ttl(self, at_us: int) -> int:
        return max(0, (self.expire_us - at_us) // _US)

    def to_lookup_json(self, at_us: int) -> dict[str, Any]:
        """``sys/leases/lookup``'s data."""
        return {
            "id": self.lease_id,
            "issue_time": rfc3339(self.issue_us),
            "expire_time": rfc3339(self.expire_us),
            "last_renewal_time": rfc3339(self.last_renewal_us) or None,
            "renewable": self.renewable,
            "ttl": self.ttl(at_us),
        }


@dataclass(frozen=True)
class LeaseRequest:
    """A lease to register: ``ttl``/``max_ttl`` 0 take the system's 768h; ``cap_us`` (the
    issuing token's expiry, 0 for none) is a ceiling the lease never passes."""

    lease_id: str
    backend: str
    internal: Mapping[str, Any] = field(repr=False)
    ttl: int = 0
    max_ttl: int = 0
    renewable: bool = True
    token_hash: str | None = None
    cap_us: int = 0


def lease_expiry(issue_us: int, ttl: int, max_ttl: int, cap_us: int = 0) -> tuple[int, int]:
    """(expiry, ceiling) of a new lease."""
    max_ttl = max_ttl or SYSTEM_MAX_TTL
    ceiling = issue_us + max_ttl * _US
    if cap_us:
        ceiling = min(ceiling, cap_us)
    return min(issue_us + min(ttl or SYSTEM_DEFAULT_TTL, max_ttl) * _US, ceiling), ceiling


def renewed_expiry(at_us: int, increment: int, default: int, ceiling_us: int) -> tuple[int, bool]:
    """The expiry after a renewal asking for ``increment`` seconds (0: ``default``), and
    whether the ceiling cut it short."""
    wanted = at_us + (increment or default or SYSTEM_DEFAULT_TTL) * _US
    return min(wanted, ceiling_us), wanted > ceiling_us


def retry_delay(attempts: int, base_s: float) -> float:
    """Seconds before retrying a revocation that failed ``attempts`` times."""
    return float(min(base_s * 2 ** max(0, attempts - 1), MAX_RETRY_DELAY_S))


def list_children(lease_ids: list[str], prefix: str) -> list[str]:
    """Lease ids under ``prefix`` shown as one level of folders, as Vault lists them."""
    base = prefix.strip("/") + "/" if prefix.strip("/") else ""
    children = set()
    for lease_id in lease_ids:
        if lease_id.startswith(base):
            rest = lease_id[len(base) :]
            head, slash, _ = rest.partition("/")
            children.add(head + slash)
    return sorted(children)


@dataclass(frozen=True)
class _Sealed:
    backend: str
    internal: Mapping[str, Any] = field(repr=False)
    default_increment: int = 0


class LeaseManager:
    """Persists leases and runs renewals and revocations through the registered backends."""

    def __init__(self, engine: Engine, barrier: Barrier, *, retry_base_s: float = 5.0) -> None:
        self._engine = engine
        self._barrier = barrier
        self._backends: dict[str, LeaseBackend] = {}
        self._retry_base_s = retry_base_s
        self._cond = threading.Condition()
        self._busy: set[str] = set()
        self.on_due: Callable[[], None] = lambda: None

    def register(self, name: str, backend: LeaseBackend) -> None:
        self._backends[name] = backend

    # -- create and read ------------------------------------------------------------------
    def create(self, request: LeaseRequest) -> Lease:
        issue = now_us()
        expire, ceiling = lease_expiry(issue, request.ttl, request.max_ttl, request.cap_us)
        default = max(1, (expire - issue) // _US)
        sealed = _Sealed(request.backend, dict(request.internal), default)
        row = {
            "lease_id": request.lease_id,
            "issue_us": issue,
            "expire_us": expire,
            "max_expire_us": ceiling,
            "last_renewal_us": None,
            "renewable": request.renewable,
            "token_hash": request.token_hash,
            "revoke_attempts": 0,
            "next_attempt_us": 0,
            "last_error": None,
            "record_ct": self._seal(request.lease_id, sealed),
        }
        with self._engine.begin() as conn:
            conn.execute(sa.insert(leases).values(**row))
        self.on_due()
        return _lease(row)

    def get(self, lease_id: str) -> Lease:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(leases).where(leases.c.lease_id == lease_id)).first()
        if row is None:
            raise InvalidRequestError("invalid lease")
        return _lease(row._mapping)

    def children(self, prefix: str) -> list[str]:
        """One level of lease ids under ``prefix`` (``sys/leases/lookup/<prefix>``)."""
        return list_children(self._ids_under(prefix.strip("/")), prefix)

    def _ids_under(self, prefix: str) -> list[str]:
        query = sa.select(leases.c.lease_id)
        if prefix:
            query = query.where(sa.func.substr(leases.c.lease_id, 1, len(prefix)) == prefix)
        with self._engine.connect() as conn:
            return [str(v) for v in conn.execute(query).scalars()]

    def discard(self, lease_id: str) -> None:
        """Forget a lease whose secret was never made (its creation failed)."""
        with self._engine.begin() as conn:
            conn.execute(sa.delete(leases).where(leases.c.lease_id == lease_id))

    # -- renew ----------------------------------------------------------------------------
    def renew(self, lease_id: str, increment: int) -> tuple[Lease, list[str]]:
        """Extend a live lease by ``increment`` seconds from now, never past its ceiling."""
        with self._claimed(lease_id):
            lease, sealed = self._load(lease_id)
            now = now_us()
            if lease is None or sealed is None or lease.expire_us <= now:
                raise InvalidRequestError("lease not found or lease is not renewable")
            if not lease.renewable:
                raise InvalidRequestError("lease is not renewable")
            expire, capped = renewed_expiry(
                now, increment, sealed.default_increment, lease.max_expire_us
            )
            self._backend(sealed).renew_lease(sealed.internal, expire)
            with self._engine.begin() as conn:
                conn.execute(
                    sa.update(leases)
                    .where(leases.c.lease_id == lease_id)
                    .values(expire_us=expire, last_renewal_us=now)
                )
        warnings = [_capped_warning(increment or sealed.default_increment, expire, now)]
        return self.get(lease_id), warnings if capped else []

    # -- revoke ---------------------------------------------------------------------------
    def revoke(self, lease_id: str) -> None:
        """Undo the secret and forget the lease; unknown ids are a no-op, as in Vault."""
        with self._claimed(lease_id):
            self._revoke_claimed(lease_id)

    def revoke_prefix(self, prefix: str, *, force: bool = False) -> int:
        """Revoke every lease under ``prefix``; ``force`` forgets leases whose backend fails."""
        base = prefix.strip("/") + "/"
        failures = []
        done = 0
        for lease_id in self._ids_under(base):
            try:
                self.revoke(lease_id)
                done += 1
            except VaultError as exc:
                if not force:
                    failures.append(f"{lease_id}: {exc.message}")
                    continue
                log.warning("forced revocation of %s ignores: %s", lease_id, exc.message)
                self.discard(lease_id)
                done += 1
        if failures:
            raise BackendError(
                f"failed to revoke {len(failures)} lease(s): " + "; ".join(failures[:5]),
                hint="they stay listed and are retried; revoke-force forgets them",
            )
        return done

    def revoke_for_tokens(self, token_hashes: list[str]) -> None:
        """Make the leases of revoked tokens due, for the sweeper to revoke."""
        if not token_hashes:
            return
        now = now_us()
        with self._engine.begin() as conn:
            changed = conn.execute(
                sa.update(leases)
                .where(leases.c.token_hash.in_(token_hashes), leases.c.expire_us > now)
                .values(expire_us=now)
            ).rowcount
        if changed:
            self.on_due()

    def revoke_due(self) -> int:
        """Revoke leases that expired (or whose retry is due); returns how many went."""
        now = now_us()
        query = (
            sa.select(leases.c.lease_id)
            .where(leases.c.expire_us <= now, leases.c.next_attempt_us <= now)
            .order_by(leases.c.expire_us)
            .limit(_SWEEP_BATCH)
        )
        with self._engine.connect() as conn:
            due = [str(v) for v in conn.execute(query).scalars()]
        revoked = 0
        for lease_id in due:
            revoked += self._try_revoke(lease_id)
        return revoked

    def _try_revoke(self, lease_id: str) -> int:
        if not self._claim(lease_id, wait=False):
            return 0
        try:
            self._revoke_claimed(lease_id)
            return 1
        except VaultError as exc:
            log.warning("revoking lease %s failed, will retry: %s", lease_id, exc.message)
            return 0
        finally:
            self._release(lease_id)

    def seconds_until_due(self) -> float | None:
        """When the next lease is due (expired and its retry delay passed), or None."""
        due_at = sa.case(
            (leases.c.next_attempt_us > leases.c.expire_us, leases.c.next_attempt_us),
            else_=leases.c.expire_us,
        )
        with self._engine.connect() as conn:
            first = conn.execute(sa.select(sa.func.min(due_at))).scalar()
        return None if first is None else max(0.0, (int(first) - now_us()) / _US)

    def _revoke_claimed(self, lease_id: str) -> None:
        lease, sealed = self._load(lease_id)
        if lease is None or sealed is None:
            return
        try:
            self._backend(sealed).revoke_lease(sealed.internal)
        except Exception as exc:
            message = exc.message if isinstance(exc, VaultError) else type(exc).__name__
            self._record_failure(lease, message)
            raise BackendError(
                f"failed to revoke lease {lease_id}: {message}",
                hint="the lease stays listed and the revocation is retried",
            ) from exc
        self.discard(lease_id)

    def _record_failure(self, lease: Lease, message: str) -> None:
        now = now_us()
        attempts = lease.revoke_attempts + 1
        delay_us = int(retry_delay(attempts, self._retry_base_s) * _US)
        with self._engine.begin() as conn:
            conn.execute(
                sa.update(leases)
                .where(leases.c.lease_id == lease.lease_id)
                .values(
                    revoke_attempts=attempts,
                    next_attempt_us=now + delay_us,
                    expire_us=min(lease.expire_us, now),
                    last_error=message[:2000],
                )
            )
        self.on_due()

    # -- storage and claims ---------------------------------------------------------------
    def _seal(self, lease_id: str, sealed: _Sealed) -> bytes:
        plain = {
            "backend": sealed.backend,
            "internal": dict(sealed.internal),
            "default_increment": sealed.default_increment,
        }
        return self._barrier.encrypt(json.dumps(plain).encode(), "lease/" + lease_id)

    def _load(self, lease_id: str) -> tuple[Lease | None, _Sealed | None]:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(leases).where(leases.c.lease_id == lease_id)).first()
        if row is None:
            return None, None
        raw = json.loads(self._barrier.decrypt(row.record_ct, "lease/" + lease_id))
        sealed = _Sealed(raw["backend"], raw["internal"], int(raw.get("default_increment", 0)))
        return _lease(row._mapping), sealed

    def _backend(self, sealed: _Sealed) -> LeaseBackend:
        backend = self._backends.get(sealed.backend)
        if backend is None:
            raise BackendError(f"no secrets engine {sealed.backend!r} to handle this lease")
        return backend

    @contextmanager
    def _claimed(self, lease_id: str) -> Iterator[None]:
        self._claim(lease_id, wait=True)
        try:
            yield
        finally:
            self._release(lease_id)

    def _claim(self, lease_id: str, *, wait: bool) -> bool:
        with self._cond:
            while lease_id in self._busy:
                if not wait:
                    return False
                self._cond.wait()
            self._busy.add(lease_id)
            return True

    def _release(self, lease_id: str) -> None:
        with self._cond:
            self._busy.discard(lease_id)
            self._cond.notify_all()


def _lease(row: Mapping[Any, Any]) -> Lease:
    return Lease(
        lease_id=row["lease_id"],
        issue_us=row["issue_us"],
        expire_us=row["expire_us"],
        max_expire_us=row["max_expire_us"],
        last_renewal_us=row["last_renewal_us"],
        renewable=bool(row["renewable"]),
        revoke_attempts=row["revoke_attempts"],
        last_error=row["last_error"],
    )


def _capped_warning(wanted: int, expire_us: int, at_us: int) -> str:
    granted = max(0, (expire_us - at_us) // _US)
    return (
        f'TTL of "{format_duration(wanted)}" exceeded the effective max_ttl of '
        f'"{format_duration(granted)}"; TTL value is capped accordingly'
    )
