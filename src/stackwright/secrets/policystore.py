"""Named ACL policies, stored encrypted; ``root`` is built in and ``default`` is seeded.

Parsed policies and the ACLs compiled from a token's set of policies are kept in memory;
writing or deleting a policy drops every compiled ACL before it returns.
"""

from __future__ import annotations

import threading

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from stackwright.secrets.barrier import Barrier
from stackwright.secrets.errors import InvalidRequestError, NotFoundError
from stackwright.secrets.policy import DEFAULT_POLICY, Acl, Policy, parse_policy, validate_name
from stackwright.secrets.schema import policies
from stackwright.secrets.timeutil import now_us


class PolicyStore:
    def __init__(self, engine: Engine, barrier: Barrier) -> None:
        self._engine = engine
        self._barrier = barrier
        self._cache: dict[str, Policy] = {}
        self._acls: dict[tuple[str, ...], Acl] = {}
        self._lock = threading.Lock()

    def seed(self) -> None:
        self.put("default", DEFAULT_POLICY)

    def put(self, name: str, text: str) -> Policy:
        name = validate_name(name)
        if name == "root":
            raise InvalidRequestError("cannot update root policy")
        policy = parse_policy(name, text)
        sealed = self._barrier.encrypt(text.encode(), "policy/" + name)
        with self._lock, self._engine.begin() as conn:
            conn.execute(sa.delete(policies).where(policies.c.name == name))
            conn.execute(sa.insert(policies).values(name=name, body_ct=sealed, updated_us=now_us()))
            self._cache[name] = policy
            self._acls = {}
        return policy

    def get(self, name: str) -> Policy:
        name = name.lower()
        with self._lock:
            cached = self._cache.get(name)
        if cached is not None:
            return cached
        if name == "root":
            return Policy("root", "", ())
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(policies).where(policies.c.name == name)).first()
        if row is None:
            raise NotFoundError()
        policy = parse_policy(name, self._barrier.decrypt(row.body_ct, "policy/" + name).decode())
        with self._lock:
            self._cache[name] = policy
        return policy

    def names(self) -> list[str]:
        with self._engine.connect() as conn:
            found = conn.execute(sa.select(policies.c.name)).scalars().all()
        return sorted({*found, "root"})

    def delete(self, name: str) -> None:
        name = name.lower()
        if name in ("root", "default"):
            raise InvalidRequestError(f"cannot delete {name} policy")
        with self._lock, self._engine.begin() as conn:
            conn.execute(sa.delete(policies).where(policies.c.name == name))
            self._cache.pop(name, None)
            self._acls = {}

    def acl(self, names: tuple[str, ...]) -> Acl:
        """The ACL of a token's policies; policies deleted since are skipped, as in Vault."""
        cached = self._acls.get(names)
        if cached is not None:
            return cached
        acls = self._acls
        found = []
        for name in names:
            try:
                found.append(self.get(name))
            except NotFoundError:
                continue
        acl = Acl.from_policies(found, root="root" in names)
        with self._lock:
            if acls is self._acls:  # no policy changed while it was compiled
                acls[names] = acl
        return acl

    def forget(self) -> None:
        """Drop decrypted policies from memory (on seal)."""
        with self._lock:
            self._cache.clear()
            self._acls = {}
