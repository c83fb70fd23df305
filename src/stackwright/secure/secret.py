"""The ``Secret`` kind: a generated value kept in the secrets store, rotated on schedule.

The value is written to the store (KV version 2) through the daemon's Vault API and never
enters the state: the record keeps the path and the version, and the ``ref`` output
(``secret/app/db@3``) is what services reference, so a rotation (a new version) changes
their inputs and rolls them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from pydantic import Field, field_validator

from stackwright.core.kinds import Driver, DriverContext, Kind, SpecModel
from stackwright.core.model import Applied, Observed, Recorded
from stackwright.errors import PermanentError, SecretsError
from stackwright.secure.generate import Generate, generate, keys_of
from stackwright.secure.vault import VaultClient, client_for, status_of

_PERIOD = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def period(text: str) -> timedelta:
    match = _PERIOD.match(text.strip())
    if match is None:
        raise ValueError(f"not a period: {text!r} (write 90s, 15m, 12h or 30d)")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


class SecretSpec(SpecModel):
    path: str = Field(pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$",
                      description="Path within the mount, e.g. app/db.")
    mount: str = Field("secret", pattern=r"^[A-Za-z0-9_.-]+$",
                       description="The KV version 2 mount.")
    generate: Generate = Field(description="How the value is made: password, bytes or keypair.")
    rotateEvery: str | None = Field(  # noqa: N815
        None, description="Make a new version this often (the daemon does it): 30d, 12h.")

    @field_validator("rotateEvery")
    @classmethod
    def _period(cls, value: str | None) -> str | None:
        if value is not None:
            period(value)
        return value

    def due(self, rotated_at: str | None, now: datetime) -> bool:
        if self.rotateEvery is None or not rotated_at:
            return False
        return now >= datetime.fromisoformat(rotated_at) + period(self.rotateEvery)


class SecretKind(Kind):
    """A generated secret in the secrets store, referenced by services, rotated on schedule.

    ```yaml
    apiVersion: stackwright.dev/v1
    kind: Secret
    metadata: {name: api-key}
    spec:
      path: app/api-key
      generate: {password: {length: 40, symbols: true}}
      rotateEvery: 30d
    ```

    A service gets it as a file (or env) by reference:

    ```yaml
    secrets:
      - {ref: "${{ Secret.api-key.ref }}", key: value, file: /run/secrets/api-key}
    ```

    ``generate`` is one of ``password`` (length, uppercase, digits, symbols, minEach),
    ``bytes`` (length, encoding base64|hex) or ``keypair`` (ed25519 or rsa with bits; keys
    ``private_key`` in PEM and ``public_key`` in OpenSSH form). Apply needs the daemon
    running and a token (STACKWRIGHT_TOKEN). Outputs: ``ref`` (mount/path@version),
    ``version``, ``keys``, ``rotated_at``; never the value.
    """

    name: ClassVar[str] = "Secret"
    spec_model = SecretSpec
    outputs = ("ref", "version", "keys", "rotated_at", "path", "mount")
    immutable = frozenset({"path", "mount"})
    drivers = {"local": lambda: StoreSecretDriver()}


class StoreSecretDriver(Driver):
    """Reads and writes the value through the daemon's Vault API (KV version 2)."""

    def read(self, ctx: DriverContext, recorded: Recorded) -> Observed | None:
        spec = SecretSpec.model_validate(dict(recorded.inputs))
        with _client(ctx) as client:
            current = _current_version(client, spec)
        if current is None:
            return None
        return Observed(outputs={"version": current, "ref": _ref(spec, current)})

    def create(self, ctx: DriverContext, inputs: Mapping[str, Any]) -> Applied:
        spec = SecretSpec.model_validate(dict(inputs))
        with _client(ctx) as client:
            if _current_version(client, spec) is not None:
                raise PermanentError(
                    f"a secret already exists at {spec.mount}/{spec.path}",
                    hint=f"adopt it with `stackwright import Secret/<name> {spec.mount}/"
                         f"{spec.path}`, or choose another path")
            return _write(client, spec, cas=0)

    def update(self, ctx: DriverContext, recorded: Recorded, inputs: Mapping[str, Any]
               ) -> Applied:
        spec = SecretSpec.model_validate(dict(inputs))
        before = SecretSpec.model_validate(dict(recorded.inputs))
        rotated_at = str(recorded.outputs.get("rotated_at") or "")
        with _client(ctx) as client:
            current = _current_version(client, spec)
            if current is None:
                return _write(client, spec, cas=0)
            if before.generate != spec.generate or spec.due(rotated_at, datetime.now(UTC)):
                ctx.log(f"rotating {spec.mount}/{spec.path} (version {current + 1})")
                return _write(client, spec, cas=current)
        return Applied(id=_id(spec), outputs={**recorded.outputs, "version": current,
                                              "ref": _ref(spec, current)})

    def delete(self, ctx: DriverContext, recorded: Recorded) -> None:
        spec = SecretSpec.model_validate(dict(recorded.inputs))
        with _client(ctx) as client:
            try:
                client.call("DELETE", f"{spec.mount}/metadata/{spec.path}")
            except SecretsError as exc:
                if status_of(exc) != 404:
                    raise PermanentError(f"cannot delete {spec.mount}/{spec.path}: "
                                         f"{exc.message}", hint=exc.hint) from exc


class _client:  # noqa: N801 - a context manager used like a function
    def __init__(self, ctx: DriverContext) -> None:
        try:
            self.client = client_for(ctx.project_dir, ctx.environment, ctx.settings)
        except SecretsError as exc:
            raise PermanentError(exc.message, hint=exc.hint) from exc

    def __enter__(self) -> VaultClient:
        return self.client

    def __exit__(self, *exc: object) -> None:
        self.client.close()


def _current_version(client: VaultClient, spec: SecretSpec) -> int | None:
    try:
        doc = client.call("GET", f"{spec.mount}/metadata/{spec.path}")
    except SecretsError as exc:
        if status_of(exc) == 404:
            return None
        raise PermanentError(f"cannot read {spec.mount}/{spec.path}: {exc.message}",
                             hint=exc.hint) from exc
    meta = doc.get("data") or {}
    versions = meta.get("versions") or {}
    current = int(meta.get("current_version") or 0)
    alive = versions.get(str(current)) or {}
    if not current or alive.get("destroyed") or alive.get("deletion_time"):
        return None
    return current


def _write(client: VaultClient, spec: SecretSpec, cas: int) -> Applied:
    body = {"data": generate(spec.generate), "options": {"cas": cas}}
    try:
        doc = client.call("POST", f"{spec.mount}/data/{spec.path}", body)
    except SecretsError as exc:
        raise PermanentError(f"cannot write {spec.mount}/{spec.path}: {exc.message}",
                             hint=exc.hint) from exc
    version = int((doc.get("data") or {})["version"])
    return Applied(id=_id(spec), outputs={
        "ref": _ref(spec, version), "version": version, "keys": keys_of(spec.generate),
        "rotated_at": datetime.now(UTC).isoformat(timespec="seconds"), "path": spec.path,
        "mount": spec.mount})


def _id(spec: SecretSpec) -> str:
    return f"{spec.mount}/{spec.path}"


def _ref(spec: SecretSpec, version: int) -> str:
    return f"{spec.mount}/{spec.path}@{version}"


SECRET_KIND = SecretKind()
