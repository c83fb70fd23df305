"""KV version 2: versioned secrets with check-and-set, soft delete, undelete and destroy.

Each version's value is sealed with its own data key (see crypto.py); destroying a version
removes its ciphertext. Semantics follow Vault's kv-v2 engine.

Every change goes through one group commit (groupcommit.py): concurrent writes share one
transaction and one commit, each in its own savepoint, and none returns before its commit.

Reads keep the rows they fetched (still encrypted: values are decrypted on every read) in
memory; every change to a path drops its rows after its transaction commits, and a read that
raced with a change does not put back what it fetched (a generation counter). As for tokens,
this assumes one store process per database (the daemon).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.exc import IntegrityError

from stackwright.secrets import rawsql
from stackwright.secrets.barrier import Barrier
from stackwright.secrets.errors import InvalidRequestError, NotFoundError
from stackwright.secrets.groupcommit import GroupCommit
from stackwright.secrets.schema import kv_config, kv_metadata, kv_versions
from stackwright.secrets.timeutil import format_duration, now_us, rfc3339

DEFAULT_MAX_VERSIONS = 10
CAS_MISMATCH = "check-and-set parameter did not match the current version"


@dataclass(frozen=True)
class KvConfig:
    max_versions: int = 0
    cas_required: bool = False
    delete_version_after: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "max_versions": self.max_versions,
            "cas_required": self.cas_required,
            "delete_version_after": format_duration(self.delete_version_after),
        }


@dataclass(frozen=True)
class VersionMeta:
    version: int
    created_us: int
    deletion_us: int | None
    destroyed: bool

    def deleted(self, at_us: int) -> bool:
        return self.destroyed or (self.deletion_us is not None and self.deletion_us <= at_us)

    def to_json(self) -> dict[str, Any]:
        return {
            "created_time": rfc3339(self.created_us),
            "deletion_time": rfc3339(self.deletion_us),
            "destroyed": self.destroyed,
        }


@dataclass(frozen=True)
class KeyMetadata:
    path: str
    current_version: int
    max_versions: int
    cas_required: bool
    delete_version_after: int
    created_us: int
    updated_us: int
    custom_metadata: Mapping[str, str] | None
    versions: tuple[VersionMeta, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "cas_required": self.cas_required,
            "created_time": rfc3339(self.created_us),
            "current_version": self.current_version,
            "custom_metadata": dict(self.custom_metadata) if self.custom_metadata else None,
            "delete_version_after": format_duration(self.delete_version_after),
            "max_versions": self.max_versions,
            "oldest_version": min((v.version for v in self.versions), default=0),
            "updated_time": rfc3339(self.updated_us),
            "versions": {str(v.version): v.to_json() for v in self.versions},
        }


@dataclass(frozen=True)
class SecretVersion:
    """A version as read: ``data`` is None when the version is deleted or destroyed."""

    data: Mapping[str, Any] | None
    meta: VersionMeta
    custom_metadata: Mapping[str, str] | None

    def metadata_json(self) -> dict[str, Any]:
        custom = dict(self.custom_metadata) if self.custom_metadata else None
        return {**self.meta.to_json(), "custom_metadata": custom, "version": self.meta.version}


@dataclass(frozen=True)
class MetadataUpdate:
    max_versions: int | None = None
    cas_required: bool | None = None
    delete_version_after: int | None = None
    custom_metadata: Mapping[str, str] | None = None


@dataclass(frozen=True)
class _Rows:
    meta: Row[Any]
    versions: Mapping[int, Row[Any]]


_ROWS_CACHED = 10_000  # paths; the cache starts over when it is full


class KvStore:
    def __init__(
        self,
        engine: Engine,
        barrier: Barrier,
        audit_sync: Callable[[int], None] | None = None,
    ) -> None:
        self._engine = engine
        self._barrier = barrier
        # every change goes through one group commit; ``audit_sync`` makes the audit lines of
        # changes made in ``groupcommit.audit_first`` durable before they commit
        self._commits = GroupCommit(engine, on_rollback=self.forget, before_commit=audit_sync)
        self._rows: dict[tuple[str, str], _Rows] = {}
        self._rows_lock = threading.Lock()
        self._generation = 0
        self._configs: dict[str, KvConfig] = {}

    # -- the row cache ----------------------------------------------------------------------
    def forget(self, mount: str | None = None, path: str | None = None) -> None:
        """Drop cached rows of one path (or all); called after every change commits."""
        with self._rows_lock:
            self._generation += 1
            if mount is None or path is None:
                self._rows = {}
                self._configs = {}
            else:
                self._rows.pop((mount, path), None)

    def _fetch(
        self, mount: str, path: str, version: int | None
    ) -> tuple[Row[Any], Row[Any] | None]:
        """The metadata row and the asked version's row (NotFoundError if no version)."""
        cached = self._rows.get((mount, path))
        if cached is not None:
            number = version or cached.meta.current_version
            if number in cached.versions:
                return cached.meta, cached.versions[number]
        generation = self._generation
        with self._engine.connect() as conn:
            meta = _meta_row(conn, mount, path)
            if meta is None or meta.current_version == 0:
                raise NotFoundError()
            number = version or meta.current_version
            row = _version_row(conn, mount, path, number)
        if row is not None:
            self._keep(mount, path, meta, row, generation)
        return meta, row

    def _keep(self, mount: str, path: str, meta: Row[Any], row: Row[Any], generation: int) -> None:
        with self._rows_lock:
            if generation != self._generation:
                return  # a change committed meanwhile: what was fetched may be stale
            if len(self._rows) >= _ROWS_CACHED:
                self._rows = {}
            old = self._rows.get((mount, path))
            versions = dict(old.versions) if old is not None and old.meta == meta else {}
            versions[row.version] = row
            self._rows[(mount, path)] = _Rows(meta, versions)

    # -- config ---------------------------------------------------------------------------
    def read_config(self, mount: str) -> KvConfig:
        with self._engine.connect() as conn:
            return _config(conn, mount)

    def write_config(self, mount: str, update: MetadataUpdate) -> KvConfig:

        def apply(conn: Connection) -> KvConfig:
            old = _config(conn, mount)
            new = KvConfig(
                max_versions=_pick(update.max_versions, old.max_versions),
                cas_required=_pick(update.cas_required, old.cas_required),
                delete_version_after=_pick(update.delete_version_after, old.delete_version_after),
            )
            conn.execute(sa.delete(kv_config).where(kv_config.c.mount == mount))
            conn.execute(sa.insert(kv_config).values(mount=mount, **new.__dict__))
            self._configs.pop(mount, None)  # later changes of this transaction read the new one
            return new

        return self._commits.run(apply, self.forget)

    # -- data -----------------------------------------------------------------------------
    def write(
        self, mount: str, path: str, data: Mapping[str, Any], cas: int | None = None
    ) -> SecretVersion:
        path = _clean(path)
        try:
            return self._commits.run(
                lambda conn: self._write(conn, mount, path, data, cas),
                lambda: self.forget(mount, path),
            )
        except IntegrityError as exc:  # a concurrent writer took this version number
            raise InvalidRequestError(CAS_MISMATCH) from exc

    def _config(self, conn: Connection, mount: str) -> KvConfig:
        config = self._configs.get(mount)
        if config is None:  # only write_config changes it, in a group commit like this one
            config = self._configs[mount] = _config(conn, mount)
        return config

    def _write(
        self, conn: Connection, mount: str, path: str, data: Mapping[str, Any], cas: int | None
    ) -> SecretVersion:
        config = self._config(conn, mount)
        meta = _meta_for_change(conn, mount, path)
        current = meta.current_version if meta else 0
        _check_cas(cas, current, config.cas_required or bool(meta and meta.cas_required))
        now = now_us()
        version = current + 1
        dva = (meta.delete_version_after if meta else 0) or config.delete_version_after
        deletion = now + dva * 1_000_000 if dva else None
        aad = f"kv/{mount}/{path}/{version}"
        sealed = self._barrier.encrypt(json.dumps(dict(data)).encode(), aad)
        row = {"mount": mount, "path": path, "version": version, "created_us": now}
        row |= {"deletion_us": deletion, "destroyed": False, "value_ct": sealed}
        rawsql.execute(conn, _INSERT_VERSION, row)
        oldest = _prune(conn, mount, path, meta, version, _max_versions(meta, config))
        _upsert_meta(conn, mount, path, meta, version=version, now=now, oldest=oldest)
        custom = self._custom(meta, mount, path)
        return SecretVersion(None, VersionMeta(version, now, deletion, False), custom)

    def read(self, mount: str, path: str, version: int | None = None) -> SecretVersion:
        path = _clean(path)
        meta, row = self._fetch(mount, path, version)
        if row is None:
            raise NotFoundError()
        vmeta = _vmeta(row)
        custom = self._custom(meta, mount, path)
        if vmeta.deleted(now_us()) or row.value_ct is None:
            return SecretVersion(None, vmeta, custom)
        plain = self._barrier.decrypt(row.value_ct, f"kv/{mount}/{path}/{row.version}")
        return SecretVersion(json.loads(plain), vmeta, custom)

    def exists(self, mount: str, path: str) -> bool:
        with self._engine.connect() as conn:
            return _meta_row(conn, mount, _clean(path)) is not None

    # -- delete, undelete, destroy --------------------------------------------------------
    def delete_latest(self, mount: str, path: str) -> None:
        path = _clean(path)
        with self._engine.connect() as conn:
            meta = _meta_row(conn, mount, path)
        if meta is not None and meta.current_version:
            self.delete_versions(mount, path, [meta.current_version])

    def delete_versions(self, mount: str, path: str, versions: Iterable[int]) -> None:
        now = now_us()
        live = sa.or_(kv_versions.c.deletion_us.is_(None), kv_versions.c.deletion_us > now)
        self._set_versions(mount, path, versions, {"deletion_us": now}, live)

    def undelete(self, mount: str, path: str, versions: Iterable[int]) -> None:
        self._set_versions(mount, path, versions, {"deletion_us": None}, sa.true())

    def destroy(self, mount: str, path: str, versions: Iterable[int]) -> None:
        self._set_versions(mount, path, versions, {"destroyed": True, "value_ct": None}, sa.true())

    def _set_versions(
        self,
        mount: str,
        path: str,
        versions: Iterable[int],
        values: dict[str, Any],
        extra: sa.ColumnElement[bool],
    ) -> None:
        numbers = _versions(versions)
        where = sa.and_(
            _key(kv_versions, mount, _clean(path)),
            kv_versions.c.version.in_(numbers),
            kv_versions.c.destroyed.is_(False),
            extra,
        )
        self._commits.run(
            lambda conn: conn.execute(sa.update(kv_versions).where(where).values(**values)),
            lambda: self.forget(mount, _clean(path)),
        )

    def delete_metadata(self, mount: str, path: str) -> None:
        path = _clean(path)

        def apply(conn: Connection) -> None:
            conn.execute(sa.delete(kv_versions).where(_key(kv_versions, mount, path)))
            conn.execute(sa.delete(kv_metadata).where(_key(kv_metadata, mount, path)))

        self._commits.run(apply, lambda: self.forget(mount, path))

    # -- metadata -------------------------------------------------------------------------
    def read_metadata(self, mount: str, path: str) -> KeyMetadata:
        path = _clean(path)
        with self._engine.connect() as conn:
            meta = _meta_row(conn, mount, path)
            if meta is None:
                raise NotFoundError()
            rows = conn.execute(
                sa.select(kv_versions)
                .where(_key(kv_versions, mount, path))
                .order_by(kv_versions.c.version)
            ).all()
        return KeyMetadata(
            path=path,
            current_version=meta.current_version,
            max_versions=meta.max_versions,
            cas_required=meta.cas_required,
            delete_version_after=meta.delete_version_after,
            created_us=meta.created_us,
            updated_us=meta.updated_us,
            custom_metadata=self._custom(meta, mount, path),
            versions=tuple(_vmeta(r) for r in rows),
        )

    def write_metadata(self, mount: str, path: str, update: MetadataUpdate) -> None:
        path = _clean(path)
        custom = None
        if update.custom_metadata is not None:
            custom = self._seal_custom(_check_custom(update.custom_metadata), mount, path)

        def apply(conn: Connection) -> None:
            meta = _meta_for_change(conn, mount, path)
            _upsert_meta(conn, mount, path, meta, update=update, custom_ct=custom, now=now_us())

        self._commits.run(apply, lambda: self.forget(mount, path))

    def list(self, mount: str, prefix: str) -> list[str]:
        prefix = _clean(prefix)
        prefix = prefix + "/" if prefix else ""
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        with self._engine.connect() as conn:
            paths = conn.execute(
                sa.select(kv_metadata.c.path).where(
                    kv_metadata.c.mount == mount,
                    kv_metadata.c.path.like(escaped + "%", escape="\\"),
                )
            ).scalars()
            children = {_child(p[len(prefix) :]) for p in paths}
        if not children:
            raise NotFoundError()
        return sorted(children)

    # -- custom metadata, encrypted -------------------------------------------------------
    def _custom(self, meta: Row[Any] | None, mount: str, path: str) -> dict[str, str] | None:
        if meta is None or meta.custom_metadata_ct is None:
            return None
        plain = self._barrier.decrypt(meta.custom_metadata_ct, f"kv-meta/{mount}/{path}")
        loaded: dict[str, str] = json.loads(plain)
        return loaded or None

    def _seal_custom(self, custom: Mapping[str, str], mount: str, path: str) -> bytes:
        return self._barrier.encrypt(json.dumps(dict(custom)).encode(), f"kv-meta/{mount}/{path}")


def _pick(new: Any, old: Any) -> Any:
    return old if new is None else new


def _clean(path: str) -> str:
    cleaned = path.strip("/")
    if any(part in ("", ".", "..") for part in cleaned.split("/")) and cleaned:
        raise InvalidRequestError(f"invalid path {path!r}")
    return cleaned


def _child(rest: str) -> str:
    head, sep, _ = rest.partition("/")
    return head + sep


def _key(table: sa.Table, mount: str, path: str) -> sa.ColumnElement[bool]:
    return sa.and_(table.c.mount == mount, table.c.path == path)


# Statements of the hot paths, built once (building them costs more than running them).
def _bound_key(table: sa.Table) -> sa.ColumnElement[bool]:
    return sa.and_(table.c.mount == sa.bindparam("k_mount"), table.c.path == sa.bindparam("k_path"))


_CONFIG = sa.select(kv_config).where(kv_config.c.mount == sa.bindparam("k_mount"))
_META = sa.select(kv_metadata).where(_bound_key(kv_metadata))
_VERSION = sa.select(kv_versions).where(
    _bound_key(kv_versions), kv_versions.c.version == sa.bindparam("k_version")
)
_INSERT_VERSION = sa.insert(kv_versions)
_UPDATE_META = sa.update(kv_metadata).where(_bound_key(kv_metadata))  # SET from parameters
_PRUNE = sa.delete(kv_versions).where(
    _bound_key(kv_versions), kv_versions.c.version <= sa.bindparam("k_cut")
)


def _config(conn: Connection, mount: str) -> KvConfig:
    row = conn.execute(_CONFIG, {"k_mount": mount}).first()
    if row is None:
        return KvConfig()
    return KvConfig(row.max_versions, row.cas_required, row.delete_version_after)


def _meta_row(conn: Connection, mount: str, path: str) -> Row[Any] | None:
    return conn.execute(_META, {"k_mount": mount, "k_path": path}).first()


def _meta_for_change(conn: Connection, mount: str, path: str) -> Any:
    """``_meta_row`` inside a group commit's transaction, through the driver (rawsql.py):
    its columns as attributes, booleans as 0 or 1."""
    return rawsql.first(conn, _META, {"k_mount": mount, "k_path": path})


def _version_row(conn: Connection, mount: str, path: str, version: int) -> Row[Any] | None:
    params = {"k_mount": mount, "k_path": path, "k_version": version}
    return conn.execute(_VERSION, params).first()


def _vmeta(row: Row[Any]) -> VersionMeta:
    return VersionMeta(row.version, row.created_us, row.deletion_us, row.destroyed)


def _check_cas(cas: int | None, current: int, required: bool) -> None:
    if cas is None:
        if required:
            raise InvalidRequestError("check-and-set parameter required for this call")
        return
    if cas != current:
        raise InvalidRequestError(CAS_MISMATCH)


def _max_versions(meta: Row[Any] | None, config: KvConfig) -> int:
    return (meta.max_versions if meta else 0) or config.max_versions or DEFAULT_MAX_VERSIONS


def _prune(
    conn: Connection, mount: str, path: str, meta: Row[Any] | None, version: int, keep: int
) -> int | None:
    """Delete versions beyond the newest ``keep``; returns the new oldest version, if any
    were deleted. A key's versions are always oldest_version..current_version (only this
    and delete_metadata remove rows), so the cut is a number, not a query."""
    cut = version - keep
    if meta is None or cut < meta.oldest_version:
        return None
    rawsql.execute(conn, _PRUNE, {"k_mount": mount, "k_path": path, "k_cut": cut})
    return cut + 1


def _upsert_meta(
    conn: Connection,
    mount: str,
    path: str,
    meta: Row[Any] | None,
    *,
    now: int,
    version: int | None = None,
    update: MetadataUpdate = MetadataUpdate(),  # noqa: B008 - frozen, never mutated
    custom_ct: bytes | None = None,
    oldest: int | None = None,
) -> None:
    values: dict[str, Any] = {"updated_us": now}
    if version is not None:
        values["current_version"] = version
    if oldest is not None:
        values["oldest_version"] = oldest
    for name in ("max_versions", "cas_required", "delete_version_after"):
        if getattr(update, name) is not None:
            values[name] = getattr(update, name)
    if custom_ct is not None:
        values["custom_metadata_ct"] = custom_ct
    if meta is not None:
        rawsql.execute(conn, _UPDATE_META, {"k_mount": mount, "k_path": path, **values})
        return
    defaults = {"current_version": 0, "oldest_version": version or 0, "max_versions": 0}
    defaults |= {"cas_required": False, "delete_version_after": 0, "created_us": now}
    conn.execute(sa.insert(kv_metadata).values(mount=mount, path=path, **(defaults | values)))


def _versions(versions: Iterable[int]) -> list[int]:
    numbers = list(versions)
    if not numbers:
        raise InvalidRequestError("no version number provided")
    if not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in numbers):
        raise InvalidRequestError("versions must be positive integers")
    return numbers


def _check_custom(custom: Mapping[str, str]) -> Mapping[str, str]:
    if len(custom) > 64:
        raise InvalidRequestError("custom_metadata: at most 64 keys")
    for key, value in custom.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidRequestError("custom_metadata: keys and values must be strings")
        if len(key.encode()) > 128 or len(value.encode()) > 512:
            raise InvalidRequestError("custom_metadata: key at most 128, value 512 bytes")
    return custom
