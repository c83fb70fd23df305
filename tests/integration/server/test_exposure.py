"""Binding beyond loopback: refused without TLS, refused without an admin, served over HTTPS
with a certificate from the platform CA's helpers once both are there."""

from __future__ import annotations

import ssl
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from tests.fixtures.cli import STACKWRIGHT, Project
from tests.integration.server.daemon_fixture import stop_daemon

from stackwright.ports import free_port
from stackwright.secure.ca import build_leaf, new_authority, private_pem

pytestmark = pytest.mark.slow


def _certificate(tmp_path: Path) -> tuple[Path, Path, Path]:
    now = datetime.now(UTC)
    ca = new_authority("CN=exposure test CA", now, timedelta(days=1))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = build_leaf(ca, key.public_key(), "localhost", ["localhost"], ["127.0.0.1"], now,
                      timedelta(days=1), 2)
    from cryptography.hazmat.primitives.serialization import Encoding

    paths = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    paths[0].write_text(ca.certificate_pem())
    paths[1].write_bytes(leaf.public_bytes(Encoding.PEM))
    paths[2].write_text(private_pem(key))
    return paths


def test_beyond_loopback_needs_tls_and_an_admin(project: Project, tmp_path: Path) -> None:
    project.write("main.yaml", "")
    plain = project.run("server", "--no-secrets", "--host", "0.0.0.0")
    assert plain.code == 1 and "needs TLS" in plain.err and "--tls-cert" in plain.err
    ca, cert, key = _certificate(tmp_path)
    args = ["server", "--no-secrets", "--no-controllers", "--host", "0.0.0.0",
            "--tls-cert", str(cert), "--tls-key", str(key)]
    no_admin = project.run(*args)
    assert no_admin.code == 1 and "needs an admin" in no_admin.err
    added = project.run("user", "add", "root-admin", "--role", "admin", "--no-password")
    assert added.code == 0, added.err
    port = free_port()
    proc = subprocess.Popen([STACKWRIGHT, "-C", str(project.root), *args, "--port", str(port)],
                            env=project.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        deadline, answer = time.monotonic() + 90, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                trust = ssl.create_default_context(cafile=str(ca))
                answer = httpx.get(f"https://localhost:{port}/api/v1/health", verify=trust,
                                   timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.3)
        assert answer is not None and answer.json()["ok"] is True
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=5)
    finally:
        stop_daemon(proc)
