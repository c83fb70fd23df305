"""The ``Secret`` kind: a generated value kept in the secrets store, rotated on schedule.

The value is written to the store (KV version 2) through the daemon's Vault API and never
enters the state: the record keeps the path and the version, and the ``ref`` output
(``secret/app/db@3``) is what services reference, so a rotation (a new version) changes
their inputs and rolls them. A certificate is signed by the platform's CA, which lives in
the same store (:mod:`stackwright.secure.ca`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, field_validator

from stackwright.core.kinds import Driver, DriverContext, Kind, SpecModel
from stackwright.core.model import Applied, Observed, Recorded
from stackwright.durations import period
from stackwright.errors import PermanentError, SecretsError
from stackwright.secure.generate import Generate, generate, keys_of
from stackwright.secure.vault import VaultClient, client_for, status_of

if TYPE_CHECKING:
    from stackwright.secure.ca import Authority

__all__ = ["SECRET_KIND", "SecretKind", "SecretSpec", "StoreSecretDriver", "period"]


class SecretSpec(SpecModel):
    path: str = Field(pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$",
                      description="Path within the mount, e.g. app/db.")
    mount: str = Field("secret", pattern=r"^[A-Za-z0-9_.-]+$",
                       description="The KV version 2 mount.")
    generate: Generate = Field(
        description="How the value is made: password, bytes, keypair or certificate.")
    rotateEvery: str | None = Field(  # noqa: N815
        None, description="Make a new version this often (the daemon does it): 30d, 12h.")

    @field_validator("rotateEvery")
    @classmethod
    def _period(cls, value: str | None) -> str | None:
        if value is not None:
            period(value)
        return value

    def due(self, rotated_at: str | None, now: datetime, expires_at: str | None = None
            ) -> bool:
        """Whether a new version is due: ``rotateEvery`` has passed since ``rotated_at``, or
        a certificate has less than a third of its ttl left. Without ``expires_at`` (the
        daemon's controller may not pass it) a certificate's end is ``rotated_at`` + ttl."""
        if self.rotateEvery is not None and rotated_at and (
                now >= datetime.fromisoformat(rotated_at) + period(self.rotateEvery)):
            return True
        cert = self.generate.certificate
        if cert is None or not (expires_at or rotated_at):
            return False
        ttl = period(cert.ttl)
        end = (datetime.fromisoformat(expires_at) if expires_at
               else datetime.fromisoformat(str(rotated_at)) + ttl)
        return end - now < ttl / 3


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

    A TLS certificate signed by the platform's CA (one per project and environment, kept in
    the store at ``<mount>/stackwright/ca/<env>``), renewed when a third of its ttl is left:

    ```yaml
    kind: Secret
    metadata: {name: web-tls}
    spec:
      path: web/tls
      generate:
        certificate:
          commonName: web.internal
          dnsNames: [web, web.internal]
          ipAddresses: [127.0.0.1]
          ttl: 30d
          keyType: ecdsa-p256      # or ed25519, or rsa (with bits)
    ```

    A service gets it as a file (or env) by reference:

    ```yaml
    secrets:
      - {ref: "${{ Secret.api-key.ref }}", key: value, file: /run/secrets/api-key}
    ```

    ``generate`` is one of ``password`` (length, uppercase, digits, symbols, minEach),
    ``bytes`` (length, encoding base64|hex) or ``keypair`` (ed25519 or rsa with bits; keys
    ``private_key`` in PEM and ``public_key`` in OpenSSH form) or ``certificate`` (keys
    ``certificate``, ``private_key`` (PKCS8), ``ca_chain`` (PEM), ``serial``,
    ``expires_at``). Apply needs the daemon running and a token (STACKWRIGHT_TOKEN).
    Outputs: ``ref`` (mount/path@version), ``version``, ``keys``, ``rotated_at``, and for a
    certificate ``expires_at`` and ``serial``; never the value.
    """

    name: ClassVar[str] = "Secret"
    spec_model = SecretSpec
    outputs = ("ref", "version", "keys", "rotated_at", "path", "mount", "expires_at",
               "serial")
    immutable = frozenset({"path", "mount"})
    drivers = {"local": lambda: StoreSecretDriver()}


class StoreSecretDriver(Driver):
    """Reads and writes the value through the daemon's Vault API (KV version 2)."""

    def read(self, ctx: DriverContext, recorded: Recorded) -> Observed | None:
        spec = _recorded_spec(recorded)
        if spec is None:
            return None
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
            return _write(ctx, client, spec, cas=0)

    def update(self, ctx: DriverContext, recorded: Recorded, inputs: Mapping[str, Any]
               ) -> Applied:
        spec = SecretSpec.model_validate(dict(inputs))
        before = SecretSpec.model_validate(dict(recorded.inputs))
        rotated_at = str(recorded.outputs.get("rotated_at") or "")
        expires_at = str(recorded.outputs.get("expires_at") or "") or None
        with _client(ctx) as client:
            current = _current_version(client, spec)
            if current is None:
                return _write(ctx, client, spec, cas=0)
            if before.generate != spec.generate or spec.due(rotated_at, datetime.now(UTC),
                                                            expires_at):
                ctx.log(f"rotating {spec.mount}/{spec.path} (version {current + 1})")
                return _write(ctx, client, spec, cas=current)
        return Applied(id=_id(spec), outputs={**recorded.outputs, "version": current,
                                              "ref": _ref(spec, current)})

    def delete(self, ctx: DriverContext, recorded: Recorded) -> None:
        spec = _recorded_spec(recorded)
        if spec is None:
            return
        with _client(ctx) as client:
            try:
                client.call("DELETE", f"{spec.mount}/metadata/{spec.path}")
            except SecretsError as exc:
                if status_of(exc) != 404:
                    raise PermanentError(f"cannot delete {spec.mount}/{spec.path}: "
                                         f"{exc.message}", hint=exc.hint) from exc


def _recorded_spec(recorded: Recorded) -> SecretSpec | None:
    """The recorded spec; None for a create that failed before anything was recorded (its
    inputs are empty, and it wrote nothing)."""
    if not recorded.inputs:
        return None
    return SecretSpec.model_validate(dict(recorded.inputs))


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


def _write(ctx: DriverContext, client: VaultClient, spec: SecretSpec, cas: int) -> Applied:
    now = datetime.now(UTC)
    ca = _authority(ctx, client, spec, now) if spec.generate.certificate else None
    values = generate(spec.generate, ca, now)
    body = {"data": values, "options": {"cas": cas}}
    try:
        doc = client.call("POST", f"{spec.mount}/data/{spec.path}", body)
    except SecretsError as exc:
        raise PermanentError(f"cannot write {spec.mount}/{spec.path}: {exc.message}",
                             hint=exc.hint) from exc
    version = int((doc.get("data") or {})["version"])
    public = {k: values[k] for k in ("expires_at", "serial") if spec.generate.certificate}
    return Applied(id=_id(spec), outputs={
        "ref": _ref(spec, version), "version": version, "keys": keys_of(spec.generate),
        "rotated_at": datetime.now(UTC).isoformat(timespec="seconds"), "path": spec.path,
        "mount": spec.mount, **public})


def _authority(ctx: DriverContext, client: VaultClient, spec: SecretSpec, now: datetime
               ) -> Authority:
    """The platform CA, made on first use; it must outlive the certificate it signs."""
    from stackwright.secure.ca import DEFAULT_CA_TTL, ca_location, ca_subject, platform_ca

    assert spec.generate.certificate is not None
    conf = ctx.settings.get("secrets") or {}
    text = str(conf.get("caTtl") or DEFAULT_CA_TTL)
    try:
        ca_ttl = period(text)
    except ValueError as exc:
        raise PermanentError(f"settings.secrets.caTtl: {exc}", hint="for example 3650d") from exc
    where = ca_location(ctx.settings, spec.mount, ctx.environment)
    ca = platform_ca(client, where, ca_subject(ctx.project, ctx.environment), ca_ttl, now)
    end = now + period(spec.generate.certificate.ttl)
    if ca.certificate.not_valid_after_utc < end:
        raise PermanentError(
            f"the platform CA at {'/'.join(where)} expires "
            f"{ca.certificate.not_valid_after_utc.isoformat()}, before a certificate for "
            f"{spec.path} would", hint="shorten generate.certificate.ttl; the CA is not "
            "rotated: delete it from the store to have a new one made, then re-issue")
    return ca


def _id(spec: SecretSpec) -> str:
    return f"{spec.mount}/{spec.path}"


def _ref(spec: SecretSpec, version: int) -> str:
    return f"{spec.mount}/{spec.path}@{version}"


SECRET_KIND = SecretKind()
