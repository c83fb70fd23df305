"""Tokens: issued once, stored only as an HMAC of the token plus an encrypted record.

A token carries policies, a TTL (enforced on every use), optional use count, display name
and metadata. Revoking a token revokes the tokens it created, as in Vault.

Looked-up tokens are kept in memory (not limited-use ones, whose every use is a write): a
revoke, renew or update replaces or drops the entry before it returns, and a lookup that
raced with a revoke does not put back what it read (a generation counter), so a revoked
token is refused on the very next request. The cache assumes one store process per
database, as the daemon is (the audit file's lock enforces one per audit file).
"""

from __future__ import annotations

import json
import secrets as _random
import string
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from stackwright.secrets import crypto
from stackwright.secrets.barrier import Barrier
from stackwright.secrets.errors import InvalidRequestError, PermissionDeniedError
from stackwright.secrets.schema import tokens
from stackwright.secrets.timeutil import now_us

DEFAULT_TTL = 768 * 3600
MAX_TTL = 768 * 3600
_ALPHABET = string.ascii_letters + string.digits


def _random_id(length: int = 24) -> str:
    return "".join(_random.choice(_ALPHABET) for _ in range(length))


@dataclass(frozen=True)
class TokenRecord:
    accessor: str
    policies: tuple[str, ...]
    display_name: str
    meta: dict[str, str]
    num_uses: int
    creation_us: int
    creation_ttl: int
    expire_us: int
    renewable: bool
    explicit_max_ttl: int
    path: str

    @property
    def root(self) -> bool:
        return "root" in self.policies

    def ttl(self, at_us: int) -> int:
        return max(0, (self.expire_us - at_us) // 1_000_000) if self.expire_us else 0


@dataclass(frozen=True)
class TokenEntry:
    """A token presented with a request, resolved to its record."""

    token: str = field(repr=False)
    token_hash: str
    parent_hash: str | None
    record: TokenRecord


@dataclass(frozen=True)
class TokenRequest:
    policies: tuple[str, ...] = ()
    ttl: int = 0
    explicit_max_ttl: int = 0
    renewable: bool = True
    num_uses: int = 0
    display_name: str = "token"
    meta: dict[str, str] = field(default_factory=dict)
    no_default_policy: bool = False
    no_parent: bool = False


class TokenStore:
    """Issues and resolves tokens; ``on_revoke`` listeners get the hashes of revoked tokens
    (the lease manager revokes the leases they created)."""

    def __init__(self, engine: Engine, barrier: Barrier) -> None:
        self._engine = engine
        self._barrier = barrier
        self.on_revoke: list[Callable[[list[str]], None]] = []
        self._cache: dict[str, TokenEntry] = {}  # token hash -> live entry
        self._cache_lock = threading.Lock()
        self._generation = 0  # bumped by every change, so a racing lookup does not cache

    def forget(self) -> None:
        """Drop every cached entry (on seal)."""
        with self._cache_lock:
            self._generation += 1
            self._cache.clear()

    def _cache_put(self, entry: TokenEntry, generation: int) -> None:
        with self._cache_lock:
            if self._generation == generation and entry.record.num_uses == 0:
                self._cache[entry.token_hash] = entry

    def _cache_drop(self, hashes: list[str]) -> None:
        with self._cache_lock:
            self._generation += 1
            for token_hash in hashes:
                self._cache.pop(token_hash, None)

    def _hash(self, value: str) -> str:
        return crypto.hmac_hex(self._barrier.keys().token_hmac_key, value)

    def create(self, parent: TokenEntry | None, request: TokenRequest) -> TokenEntry:
        """Issue a token; ``parent`` None only for the root token made at init."""
        policies = _child_policies(parent, request)
        ttl = _child_ttl(parent, request, policies)
        now = now_us()
        record = TokenRecord(
            accessor=_random_id(),
            policies=policies,
            display_name=_display_name(request.display_name),
            meta=dict(request.meta),
            num_uses=request.num_uses,
            creation_us=now,
            creation_ttl=ttl,
            expire_us=now + ttl * 1_000_000 if ttl else 0,
            renewable=request.renewable and ttl > 0,
            explicit_max_ttl=request.explicit_max_ttl,
            path="auth/token/create" if parent else "auth/token/root",
        )
        token = "hvs." + _random_id()
        parent_hash = None if parent is None or request.no_parent else parent.token_hash
        entry = TokenEntry(token, self._hash(token), parent_hash, record)
        self._insert(entry)
        return entry

    def _insert(self, entry: TokenEntry) -> None:
        with self._engine.begin() as conn:
            conn.execute(sa.insert(tokens).values(**self._row(entry)))

    def _row(self, entry: TokenEntry) -> dict[str, Any]:
        plain = json.dumps(asdict(entry.record)).encode()
        return {
            "token_hash": entry.token_hash,
            "accessor_hash": self._hash("accessor:" + entry.record.accessor),
            "parent_hash": entry.parent_hash,
            "expire_us": entry.record.expire_us,
            "record_ct": self._barrier.encrypt(plain, "token/" + entry.token_hash),
        }

    def _load(self, where: sa.ColumnElement[bool], token: str = "") -> TokenEntry | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(tokens).where(where)).first()
        if row is None:
            return None
        raw = json.loads(self._barrier.decrypt(row.record_ct, "token/" + row.token_hash))
        raw["policies"] = tuple(raw["policies"])
        return TokenEntry(token, row.token_hash, row.parent_hash, TokenRecord(**raw))

    def cached(self, token: str) -> bool:
        """Whether ``token`` is live in the cache, so that looking it up needs no I/O."""
        if not token or self._barrier.sealed:
            return False
        entry = self._cache.get(self._hash(token))
        return entry is not None and not (entry.record.expire_us and
                                          entry.record.expire_us <= now_us())

    def lookup(self, token: str) -> TokenEntry:
        """The live entry of ``token``; expired tokens are removed and refused."""
        if not token:
            raise PermissionDeniedError()
        token_hash = self._hash(token)
        entry = self._cache.get(token_hash)
        if entry is None:
            generation = self._generation
            entry = self._load(tokens.c.token_hash == token_hash, token)
            if entry is None:
                raise PermissionDeniedError("permission denied", hint="invalid token")
            self._cache_put(entry, generation)
        expire = entry.record.expire_us
        if expire and expire <= now_us():
            self.revoke(entry)
            raise PermissionDeniedError("permission denied", hint="token expired")
        return entry

    def use(self, entry: TokenEntry) -> None:
        """Count one use of a limited-use token; its last use revokes it."""
        uses = entry.record.num_uses
        if uses <= 0:
            return
        if uses == 1:
            self.revoke(entry)
            return
        updated = replace(entry, record=replace(entry.record, num_uses=uses - 1))
        self._update(updated)

    def _update(self, entry: TokenEntry) -> None:
        row = self._row(entry)
        with self._engine.begin() as conn:
            conn.execute(
                sa.update(tokens).where(tokens.c.token_hash == entry.token_hash).values(**row)
            )
        self._cache_drop([entry.token_hash])

    def renew(self, entry: TokenEntry, increment: int) -> TokenEntry:
        record = entry.record
        if not record.renewable or not record.expire_us:
            raise InvalidRequestError("lease is not renewable")
        now = now_us()
        max_ttl = record.explicit_max_ttl or MAX_TTL
        ceiling = record.creation_us + max_ttl * 1_000_000
        wanted = now + (increment or record.creation_ttl) * 1_000_000
        updated = replace(entry, record=replace(record, expire_us=min(wanted, ceiling)))
        self._update(updated)
        return updated

    def revoke(self, entry: TokenEntry) -> None:
        self._revoke_tree(entry.token_hash)

    def _revoke_tree(self, token_hash: str) -> None:
        revoked = []
        with self._engine.begin() as conn:
            pending = [token_hash]
            while pending:
                current = pending.pop()
                children = conn.execute(
                    sa.select(tokens.c.token_hash).where(tokens.c.parent_hash == current)
                )
                pending.extend(row.token_hash for row in children)
                conn.execute(sa.delete(tokens).where(tokens.c.token_hash == current))
                revoked.append(current)
        self._cache_drop(revoked)  # after the commit: a lookup from now on reads no row
        for listener in self.on_revoke:
            listener(revoked)

    def by_accessor(self, accessor: str) -> TokenEntry:
        entry = self._load(tokens.c.accessor_hash == self._hash("accessor:" + accessor))
        if entry is None:
            raise InvalidRequestError("invalid accessor")
        return entry

    def revoke_token(self, token: str) -> None:
        """Revoke by the token itself; unknown tokens are a no-op, as in Vault."""
        if token:
            self._revoke_tree(self._hash(token))

    def purge_expired(self) -> int:
        now = now_us()
        with self._engine.connect() as conn:
            expired = [
                row.token_hash
                for row in conn.execute(
                    sa.select(tokens.c.token_hash).where(
                        tokens.c.expire_us > 0, tokens.c.expire_us <= now
                    )
                )
            ]
        for token_hash in expired:
            self._revoke_tree(token_hash)
        return len(expired)


def _child_policies(parent: TokenEntry | None, request: TokenRequest) -> tuple[str, ...]:
    if parent is None:
        return ("root",)
    wanted = set(request.policies) or set(parent.record.policies) - {"root"}
    if not request.no_default_policy and "root" not in wanted:
        wanted.add("default")
    if not parent.record.root and not wanted <= set(parent.record.policies) | {"default"}:
        raise InvalidRequestError("child policies must be subset of parent")
    return tuple(sorted(wanted))


def _child_ttl(parent: TokenEntry | None, request: TokenRequest, policies: tuple[str, ...]) -> int:
    if parent is None:
        return 0
    if request.num_uses < 0:
        raise InvalidRequestError("number of uses cannot be negative")
    never_expires = "root" in policies and not request.ttl and not parent.record.expire_us
    ttl = 0 if never_expires else request.ttl or DEFAULT_TTL
    if request.explicit_max_ttl:
        ttl = min(ttl or request.explicit_max_ttl, request.explicit_max_ttl)
    parent_expire = parent.record.expire_us
    if parent_expire:
        ttl = min(ttl, max(1, (parent_expire - now_us()) // 1_000_000))
    return ttl


def _display_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "-" for c in name.strip())
    if not cleaned:
        return "token"
    return cleaned if cleaned.startswith("token") else f"token-{cleaned}"
