"""Secrets given to a service's replicas: resolved at deploy time, never recorded.

The record keeps each reference (``secret/app/db@3``), not the value. Values are read from
the secrets store through its Vault API when replicas start; a ``file`` is written to a
tmpfs directory (``settings.secrets.tmpfsDir``, default ``/dev/shm/stackwright``) with
mode 0700 and bind-mounted read-only into the container, so the value is never on disk and
``podman inspect`` shows only the path. An ``env`` value is visible to ``podman inspect``,
as any environment variable is; prefer files.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from stackwright.core.kinds import DriverContext
from stackwright.errors import PermanentError, SecretsError
from stackwright.services.identity import Identity
from stackwright.services.spec import SecretRef
from stackwright.tools.podman import VolumeMount

if TYPE_CHECKING:
    from stackwright.secure.vault import VaultClient

DEFAULT_TMPFS = "/dev/shm/stackwright"


@dataclass(frozen=True)
class Delivery:
    """What the replicas of one revision get: env values and read-only file mounts."""

    env: dict[str, str] = field(default_factory=dict)
    mounts: tuple[VolumeMount, ...] = ()

    def __repr__(self) -> str:  # never print values
        return f"Delivery(env={sorted(self.env)}, mounts={len(self.mounts)})"


def tmpfs_root(ctx: DriverContext) -> Path:
    conf = ctx.settings.get("secrets") or {}
    return Path(str(conf.get("tmpfsDir", DEFAULT_TMPFS)))


def revision_dir(ctx: DriverContext, ident: Identity, revision: str) -> Path:
    return tmpfs_root(ctx) / ident.id / revision


def deliver(ctx: DriverContext, ident: Identity, revision: str,
            refs: Sequence[SecretRef]) -> Delivery:
    """Read every referenced key and lay out the files of ``revision``."""
    if not refs:
        return Delivery()
    values = _values(ctx, refs)
    directory = revision_dir(ctx, ident, revision)
    env: dict[str, str] = {}
    mounts: list[VolumeMount] = []
    for i, (ref, value) in enumerate(zip(refs, values, strict=True)):
        if ref.env is not None:
            env[ref.env] = value
        else:
            assert ref.file is not None
            mounts.append(VolumeMount(str(_write(directory, i, value, ref.fileMode)),
                                      ref.file, read_only=True))
    return Delivery(env, tuple(mounts))


def _values(ctx: DriverContext, refs: Sequence[SecretRef]) -> list[str]:
    """Each entry's value: given inline, or read from the store (one client for all)."""
    if all(r.value is not None for r in refs):
        return [str(r.value) for r in refs]
    from stackwright.secure.vault import client_for

    try:
        client = client_for(ctx.project_dir, ctx.environment, ctx.settings)
    except SecretsError as exc:
        raise PermanentError(f"the service uses secrets: {exc.message}", hint=exc.hint) from exc
    try:
        return [r.value if r.value is not None else _read(client, r) for r in refs]
    finally:
        client.close()


def _read(client: VaultClient, ref: SecretRef) -> str:
    mount, path, version = ref.parts()
    params = {"version": str(version)} if version is not None else None
    try:
        doc = client.call("GET", f"{mount}/data/{path}", params=params)
    except SecretsError as exc:
        raise PermanentError(f"cannot read secret {ref.ref}: {exc.message}",
                             hint=exc.hint) from exc
    data = ((doc.get("data") or {}).get("data")) or {}
    if ref.key not in data:
        raise PermanentError(f"secret {ref.ref} has no key {ref.key!r}",
                             hint=f"its keys: {', '.join(sorted(data)) or '(none)'}")
    return str(data[ref.key])


def _write(directory: Path, index: int, value: str, mode: str) -> Path:
    if not directory.parent.parent.exists():
        directory.parent.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    directory.mkdir(parents=True, mode=0o700, exist_ok=True)
    path = directory / f"secret-{index}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, int(mode, 8))
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    os.chmod(path, int(mode, 8))
    return path


def forget(ctx: DriverContext, ident: Identity, keep: Sequence[str] = ()) -> None:
    """Remove the files of every revision of the service but ``keep``."""
    root = tmpfs_root(ctx) / ident.id
    if not root.is_dir():
        return
    for child in root.iterdir():
        if child.name not in keep:
            shutil.rmtree(child, ignore_errors=True)
    if not any(root.iterdir()):
        root.rmdir()
