"""The ``BackupRepository`` driver and how every command opens a repository: the location
from the record, the password (and S3 credentials) from the secrets store."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from stackwright.core.kinds import Driver, DriverContext
from stackwright.core.model import Address, Applied, Observed, Recorded
from stackwright.errors import PermanentError, SecretsError
from stackwright.recover.kinds import RepositorySpec
from stackwright.secure.vault import VaultClient, client_for, status_of
from stackwright.tools import restic
from stackwright.tools.restic import Repo

PASSWORD_BYTES = 32


def password_path(ctx: DriverContext, name: str) -> str:
    return f"stackwright/backup/{ctx.project}/{ctx.environment}/{name}"


def location(ctx: DriverContext, spec: RepositorySpec) -> str:
    if spec.s3 is not None:
        prefix = f"/{spec.s3.prefix.strip('/')}" if spec.s3.prefix.strip("/") else ""
        return f"s3:{spec.s3.endpoint.rstrip('/')}/{spec.s3.bucket}{prefix}"
    assert spec.path is not None
    return str(ctx.resolve_path(spec.path))


def _client(ctx: DriverContext) -> VaultClient:
    try:
        return client_for(ctx.project_dir, ctx.environment, ctx.settings)
    except SecretsError as exc:
        raise PermanentError(f"the repository password lives in the secrets store: "
                             f"{exc.message}", hint=exc.hint) from exc


def read_secret(client: VaultClient, mount: str, path: str) -> dict[str, Any] | None:
    try:
        doc = client.call("GET", f"{mount}/data/{path}")
    except SecretsError as exc:
        if status_of(exc) == 404:
            return None
        raise PermanentError(f"cannot read {mount}/{path} from the secrets store: "
                             f"{exc.message}", hint=exc.hint) from exc
    data: dict[str, Any] = (doc.get("data") or {}).get("data") or {}
    return data


def _storage_env(client: VaultClient, spec: RepositorySpec) -> dict[str, str]:
    if spec.s3 is None:
        return {}
    creds = read_secret(client, spec.mount, spec.s3.credentials)
    if not creds or not creds.get("accessKeyId") or not creds.get("secretAccessKey"):
        raise PermanentError(f"spec.s3.credentials: no secret with accessKeyId and "
                             f"secretAccessKey at {spec.mount}/{spec.s3.credentials}",
                             hint=f"vault kv put {spec.mount}/{spec.s3.credentials} "
                                  "accessKeyId=… secretAccessKey=…")
    return {"AWS_ACCESS_KEY_ID": str(creds["accessKeyId"]),
            "AWS_SECRET_ACCESS_KEY": str(creds["secretAccessKey"]),
            "AWS_DEFAULT_REGION": spec.s3.region}


def repo_for(ctx: DriverContext, name: str, spec: RepositorySpec, *,
             create_password: bool = False) -> Repo:
    """The repository of ``name``, opened with its password from the store."""
    path = password_path(ctx, name)
    client = _client(ctx)
    try:
        found = read_secret(client, spec.mount, path)
        if found is None or not found.get("password"):
            if not create_password:
                raise PermanentError(f"BackupRepository/{name}: no password at "
                                     f"{spec.mount}/{path} in the secrets store",
                                     hint="apply the BackupRepository first (it makes one)")
            found = {"password": secrets.token_urlsafe(PASSWORD_BYTES)}
            try:
                client.call("POST", f"{spec.mount}/data/{path}",
                            {"data": found, "options": {"cas": 0}})
            except SecretsError as exc:
                raise PermanentError(f"cannot keep the repository password at "
                                     f"{spec.mount}/{path}: {exc.message}",
                                     hint=exc.hint) from exc
        env = {"RESTIC_PASSWORD": str(found["password"]), **_storage_env(client, spec)}
    finally:
        client.close()
    cache = ctx.project_dir / ".stackwright" / "restic-cache"
    return Repo(location(ctx, spec), env, cache_dir=cache)


def recorded_repo(ctx: DriverContext, recorded: Recorded) -> Repo:
    spec = RepositorySpec.model_validate(dict(recorded.inputs))
    return repo_for(ctx, recorded.address.name, spec)


class ResticRepositoryDriver(Driver):
    """``restic init`` on create; the repository and its password are kept on destroy."""

    def read(self, ctx: DriverContext, recorded: Recorded) -> Observed | None:
        if not recorded.inputs:
            return None
        spec = RepositorySpec.model_validate(dict(recorded.inputs))
        if spec.path is not None and not (ctx.resolve_path(spec.path) / "config").is_file():
            return None
        return Observed(outputs=dict(recorded.outputs))

    def create(self, ctx: DriverContext, inputs: Mapping[str, Any]) -> Applied:
        spec = RepositorySpec.model_validate(dict(inputs))
        name = (ctx.address or Address("BackupRepository", "unnamed")).name
        repo = repo_for(ctx, name, spec, create_password=True)
        if spec.path is not None:
            ctx.resolve_path(spec.path).parent.mkdir(parents=True, exist_ok=True)
        if restic.exists(repo):
            ctx.log(f"adopting the existing repository at {repo.location}")
        else:
            ctx.log(f"restic init {repo.location}")
            restic.init(repo)
        return Applied(id=repo.location, outputs={
            "location": repo.location, "passwordPath": f"{spec.mount}/{password_path(ctx, name)}",
            "repositoryId": restic.config_id(repo)})

    def update(self, ctx: DriverContext, recorded: Recorded, inputs: Mapping[str, Any]
               ) -> Applied:
        return Applied(id=recorded.id or str(recorded.outputs.get("location", "")),
                       outputs=dict(recorded.outputs))

    def delete(self, ctx: DriverContext, recorded: Recorded) -> None:
        ctx.log(f"keeping the repository {recorded.outputs.get('location')} and its password "
                f"{recorded.outputs.get('passwordPath')} (backups are never deleted by "
                "destroy)")
