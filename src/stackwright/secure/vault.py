"""A client of the platform's Vault-compatible API, for the CLI and for drivers.

The address is STACKWRIGHT_ADDR, else VAULT_ADDR, else the daemon of the project and
environment (``.stackwright/run/<env>/daemon.json``). The token is STACKWRIGHT_TOKEN, else
VAULT_TOKEN, else the file named by ``settings.secrets.tokenFile``. Errors become
:class:`~stackwright.errors.SecretsError` with Vault's messages and a hint.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stackwright.errors import SecretsError

HINTS = {403: "the token lacks a policy for this path (or is missing)",
         404: "no such secret or version", 503: "the store is sealed: secrets unseal",
         400: "check the request"}


class VaultClient:
    """A few calls of Vault's HTTP API, with its errors turned into SecretsError."""

    def __init__(self, addr: str, token: str | None) -> None:
        import httpx

        self.http = httpx.Client(base_url=addr.rstrip("/") + "/v1/", timeout=30)
        self.token = token

    def call(self, method: str, path: str, body: dict[str, Any] | None = None,
             params: dict[str, str] | None = None) -> dict[str, Any]:
        import httpx

        headers = {"X-Vault-Token": self.token} if self.token else {}
        try:
            response = self.http.request(method, path, json=body, params=params,
                                         headers=headers)
        except httpx.HTTPError as exc:
            raise SecretsError(f"cannot reach the secrets API: {exc}",
                               hint="is the daemon running? `stackwright up`") from exc
        if response.status_code == 204:
            return {}
        doc: dict[str, Any] = response.json() if response.content else {}
        if response.status_code >= 400:
            errors = "; ".join(doc.get("errors") or []) or response.reason_phrase
            err = SecretsError(f"{method} {path}: {response.status_code} {errors}",
                               hint=HINTS.get(response.status_code))
            err.status = response.status_code  # type: ignore[attr-defined]
            raise err
        return doc

    def close(self) -> None:
        self.http.close()


def status_of(exc: SecretsError) -> int | None:
    return getattr(exc, "status", None)


def find_addr(project_dir: Path, environment: str) -> str | None:
    found = os.environ.get("STACKWRIGHT_ADDR") or os.environ.get("VAULT_ADDR")
    if found:
        return found
    from stackwright.server.rundir import RunDir

    info = RunDir.of(project_dir, environment).read_info()
    return str(info["api"]) if info else None


def find_token(settings: Mapping[str, Any] | None = None) -> str | None:
    token = os.environ.get("STACKWRIGHT_TOKEN") or os.environ.get("VAULT_TOKEN")
    if token:
        return token
    path = ((settings or {}).get("secrets") or {}).get("tokenFile")
    if path:
        try:
            return Path(os.path.expanduser(str(path))).read_text().strip() or None
        except OSError as exc:
            raise SecretsError(f"cannot read the token file {path}: {exc.strerror}",
                               hint="settings.secrets.tokenFile names it") from exc
    return None


def client_for(project_dir: Path, environment: str,
               settings: Mapping[str, Any] | None = None) -> VaultClient:
    """The client a driver uses, or SecretsError saying what is missing."""
    addr = find_addr(project_dir, environment)
    if addr is None:
        raise SecretsError("the secrets store is not reachable: no daemon runs for this "
                           "project and environment", hint="start it with `stackwright up`")
    token = find_token(settings)
    if token is None:
        raise SecretsError("no token for the secrets store",
                           hint="set STACKWRIGHT_TOKEN (or settings.secrets.tokenFile)")
    return VaultClient(addr, token)
