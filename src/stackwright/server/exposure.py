"""What the daemon needs before it listens anywhere but loopback: TLS (a certificate and key,
for instance issued by the platform CA, ``stackwright.secure.ca``) and at least one admin
user, so that nobody on the network meets an API without owners or in clear text."""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path
from typing import TYPE_CHECKING

from stackwright.errors import StackwrightError

if TYPE_CHECKING:
    from stackwright.core.engine import Engine


class ExposureError(StackwrightError):
    """The daemon would be reachable from the network without TLS or an admin."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(engine: Engine, host: str, cert: Path | None, key: Path | None) -> None:
    if (cert is None) != (key is None):
        raise ExposureError("--tls-cert and --tls-key go together",
                            hint="pass both PEM files, or neither")
    if cert is not None and key is not None:
        _check_pair(cert, key)
    if is_loopback(host):
        return
    if cert is None:
        raise ExposureError(f"server --host {host}: listening beyond loopback needs TLS",
                            hint="pass --tls-cert and --tls-key (a certificate for the "
                                 "host's name, e.g. from the platform CA)")
    from stackwright.server.access.store import AccessStore

    store = AccessStore.open(engine.state_url)
    try:
        if not store.has_admin():
            raise ExposureError(f"server --host {host}: listening beyond loopback needs an "
                                "admin user", hint="stackwright user add NAME --role admin")
    finally:
        store.close()


def _check_pair(cert: Path, key: Path) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise ExposureError(f"{cert}, {key}: cannot load the certificate and key: {exc}",
                            hint="both must be PEM files, the key matching the "
                                 "certificate") from exc
