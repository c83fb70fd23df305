"""TLS certificates as a generated ``Secret``, end to end on the daemon's secrets store: the
platform CA is made once per environment in the store, leaves verify with ``openssl verify``
and in a real TLS handshake, the daemon renews a certificate with a third of its life left,
and no private key appears in ``.stackwright/`` files or CLI output.

The tests of this module run in order on one project (the daemon runs across them).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import hvac
import pytest
from cryptography import x509

from stackwright.secure.ca import platform_ca
from stackwright.secure.vault import VaultClient

pytestmark = pytest.mark.slow

STACKWRIGHT = str(Path(sys.executable).with_name("stackwright"))

SPEC = """\
apiVersion: stackwright.dev/v1
kind: Secret
metadata: {name: web-tls}
spec:
  path: web/tls
  generate:
    certificate:
      commonName: web.internal
      dnsNames: [web.internal, api.internal]
      ipAddresses: [127.0.0.1]
      ttl: 30d
---
apiVersion: stackwright.dev/v1
kind: Secret
metadata: {name: db-tls}
spec:
  path: db/tls
  generate:
    certificate: {commonName: db.internal, ttl: 12h, keyType: ed25519}
"""

SHORT = """\
---
apiVersion: stackwright.dev/v1
kind: Secret
metadata: {name: short-tls}
spec:
  path: short/tls
  generate:
    certificate: {commonName: short.internal, ttl: 15s, keyType: rsa, bits: 2048}
"""


class Env:
    """A project, its daemon, an unsealed store and the root token in a token file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.project = f"c{uuid.uuid4().hex[:6]}"
        self.token_file = root.parent / f"{root.name}-token"
        self.env = {**os.environ, "STACKWRIGHT_KEY_DIR": str(root.parent / f"{root.name}-keys"),
                    "NO_COLOR": "1"}
        for name in ("STACKWRIGHT_TOKEN", "VAULT_TOKEN", "STACKWRIGHT_ADDR", "VAULT_ADDR"):
            self.env.pop(name, None)
        self.daemon: subprocess.Popen[bytes] | None = None
        self.vault = hvac.Client()
        self.outputs: list[str] = []  # every CLI output, checked for private keys

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([STACKWRIGHT, "-C", str(self.root), *args], capture_output=True,
                              text=True, timeout=120, env=self.env)
        self.outputs.append(done.stdout + done.stderr)
        return done

    def start(self) -> None:
        info = self.root / ".stackwright" / "run" / "dev" / "daemon.json"
        self.daemon = subprocess.Popen([STACKWRIGHT, "-C", str(self.root), "server"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       env=self.env)
        wait_for("the daemon", info.exists, 30)
        self.api = str(json.loads(info.read_text())["api"])
        self.vault = hvac.Client(url=self.api)

    def stop(self) -> None:
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            self.daemon.wait(timeout=30)

    def read(self, path: str) -> dict[str, str]:
        doc = self.vault.secrets.kv.v2.read_secret_version(path, raise_on_deleted_version=True)
        return dict(doc["data"]["data"])

    def files(self) -> Iterator[Path]:
        yield from (p for p in (self.root / ".stackwright").rglob("*") if p.is_file())


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl CLI is needed")
    root = Path(tempfile.mkdtemp(prefix="swc", dir="/tmp"))
    e = Env(root)
    (root / "stackwright.yaml").write_text(
        f"project: {e.project}\nenvironments: {{dev: {{}}}}\n"
        f"settings:\n  secrets: {{tokenFile: {e.token_file}}}\n"
        "  controllers: {secrets: {interval: 0.5}}\n")
    e.start()
    try:
        init = e.vault.sys.initialize(secret_shares=1, secret_threshold=1)
        e.vault.sys.submit_unseal_key(init["keys_base64"][0])
        e.vault.token = init["root_token"]
        e.token_file.write_text(init["root_token"])
        (root / "certs.yaml").write_text(SPEC)
        yield e
    finally:
        e.cli("destroy", "--yes", "--lock-timeout", "60")
        e.stop()
        e.token_file.unlink(missing_ok=True)
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(root.parent / f"{root.name}-keys", ignore_errors=True)


def _cert(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def _openssl_verify(tmp: Path, ca_pem: str, leaf_pem: str, *extra: str
                    ) -> subprocess.CompletedProcess[str]:
    (tmp / "ca.pem").write_text(ca_pem)
    (tmp / "leaf.pem").write_text(leaf_pem)
    return subprocess.run(["openssl", "verify", "-CAfile", str(tmp / "ca.pem"), *extra,
                           str(tmp / "leaf.pem")], capture_output=True, text=True, timeout=30)


def test_apply_issues_certificates_from_one_platform_ca(env: Env, tmp_path: Path) -> None:
    plan = env.cli("plan")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    applied = env.cli("apply", "--yes")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    web, db = env.read("web/tls"), env.read("db/tls")
    assert sorted(web) == sorted(["certificate", "private_key", "ca_chain", "serial",
                                  "expires_at"])
    ca = env.read("stackwright/ca/dev")
    assert web["ca_chain"] == db["ca_chain"] == ca["certificate"]
    root = _cert(ca["certificate"])
    assert root.subject.rfc4514_string() == f"CN=Stackwright {env.project}/dev CA"
    meta = env.vault.secrets.kv.v2.read_secret_metadata("stackwright/ca/dev")["data"]
    assert meta["current_version"] == 1  # two Secrets applied in parallel made one CA
    for values, name in ((web, "api.internal"), (db, "db.internal")):
        done = _openssl_verify(tmp_path, values["ca_chain"], values["certificate"],
                               "-purpose", "sslserver", "-verify_hostname", name)
        assert done.returncode == 0 and ": OK" in done.stdout, done.stdout + done.stderr
        _cert(values["certificate"]).verify_directly_issued_by(root)
    wrong = _openssl_verify(tmp_path, web["ca_chain"], web["certificate"],
                            "-verify_hostname", "evil.internal")
    assert wrong.returncode != 0
    leaf = _cert(web["certificate"])
    left = leaf.not_valid_after_utc - datetime.now(UTC)
    assert timedelta(days=29, hours=23) < left <= timedelta(days=30)
    outputs = json.loads(env.cli("output", "Secret/web-tls", "-o", "json").stdout)
    shown = outputs["Secret/web-tls"]
    assert shown["expires_at"] == web["expires_at"] and shown["serial"] == web["serial"]
    assert shown["ref"] == "secret/web/tls@1"
    assert env.cli("plan", "--detailed-exitcode").returncode == 0


def test_a_second_secret_later_reuses_the_ca(env: Env, tmp_path: Path) -> None:
    ca_before = env.read("stackwright/ca/dev")
    (env.root / "certs.yaml").write_text(SPEC + SHORT.replace("ttl: 15s", "ttl: 1h"))
    applied = env.cli("apply", "--yes")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    short = env.read("short/tls")
    assert env.read("stackwright/ca/dev") == ca_before
    assert short["ca_chain"] == ca_before["certificate"]
    done = _openssl_verify(tmp_path, short["ca_chain"], short["certificate"])
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_certificate_may_not_outlive_the_ca(env: Env) -> None:
    (env.root / "long.yaml").write_text(SHORT.replace("ttl: 15s", "ttl: 4000d").replace(
        "short", "long"))
    try:
        done = env.cli("apply", "--yes")
        assert done.returncode != 0
        assert "the platform CA at secret/stackwright/ca/dev expires" in (
            done.stdout + done.stderr), done.stdout + done.stderr
        assert "shorten generate.certificate.ttl" in done.stdout + done.stderr
    finally:
        (env.root / "long.yaml").unlink()
    done = env.cli("apply", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr


def test_concurrent_first_uses_agree_on_one_ca(env: Env) -> None:
    client = VaultClient(env.api, env.vault.token)
    where = ("secret", "stackwright/ca/race")
    try:
        with ThreadPoolExecutor(8) as pool:
            made = list(pool.map(lambda _: platform_ca(
                client, where, "Stackwright race CA", timedelta(days=1), datetime.now(UTC)),
                range(8)))
    finally:
        client.close()
    assert len({m.certificate_pem() for m in made}) == 1
    assert env.read("stackwright/ca/race")["certificate"] == made[0].certificate_pem()
    meta = env.vault.secrets.kv.v2.read_secret_metadata("stackwright/ca/race")["data"]
    assert meta["current_version"] == 1


def _serve_once(values: dict[str, str], tmp: Path) -> tuple[int, threading.Thread,
                                                             list[str]]:
    """A TLS server on 127.0.0.1 with the leaf; it answers handshakes until closed."""
    (tmp / "cert.pem").write_text(values["certificate"])
    (tmp / "key.pem").write_text(values["private_key"])
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    port = int(listener.getsockname()[1])
    seen: list[str] = []

    def serve() -> None:
        with listener:
            for _ in range(3):
                try:
                    conn, _addr = listener.accept()
                except OSError:
                    return
                try:
                    with server_ctx.wrap_socket(conn, server_side=True) as tls:
                        seen.append(tls.recv(16).decode())
                        tls.sendall(b"pong")
                except (ssl.SSLError, OSError) as exc:
                    seen.append(f"refused: {type(exc).__name__}")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return port, thread, seen


def _connect(port: int, ca_pem: str, name: str) -> str:
    client_ctx = ssl.create_default_context(cadata=ca_pem)  # trusts only the platform CA
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with client_ctx.wrap_socket(raw, server_hostname=name) as tls:
            tls.sendall(b"ping")
            return tls.recv(16).decode()


def test_a_real_tls_handshake_trusts_only_the_ca_chain(env: Env, tmp_path: Path) -> None:
    web = env.read("web/tls")
    port, thread, seen = _serve_once(web, tmp_path)
    assert _connect(port, web["ca_chain"], "api.internal") == "pong"
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch|match"):
        _connect(port, web["ca_chain"], "other.internal")
    other_ca = env.read("stackwright/ca/race")["certificate"]
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        _connect(port, other_ca, "api.internal")
    thread.join(timeout=10)
    assert seen[0] == "ping" and all(s.startswith("refused") for s in seen[1:])


def test_the_daemon_renews_a_certificate_with_a_third_left(env: Env, tmp_path: Path) -> None:
    (env.root / "certs.yaml").write_text(SPEC + SHORT)  # ttl 15s: due 5s before its end
    applied = env.cli("apply", "--yes")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    first = env.read("short/tls")
    started = time.monotonic()
    wait_for("a renewed certificate", lambda: env.read("short/tls")["serial"]
             != first["serial"], 40)
    renewed_after = time.monotonic() - started
    second = env.read("short/tls")
    assert renewed_after < 15, renewed_after  # renewed before the first one expired
    assert second["ca_chain"] == first["ca_chain"]
    assert second["expires_at"] > first["expires_at"]
    done = _openssl_verify(tmp_path, second["ca_chain"], second["certificate"])
    assert done.returncode == 0, done.stdout + done.stderr

    def recorded() -> dict[str, Any]:
        shown = env.cli("output", "Secret/short-tls", "-o", "json")
        doc: dict[str, Any] = json.loads(shown.stdout)["Secret/short-tls"]
        return doc

    wait_for("the renewal in state", lambda: recorded()["serial"] != first["serial"], 20)
    assert int(recorded()["version"]) >= 2
    log = (env.root / ".stackwright" / "run" / "dev" / "daemon.log").read_text()
    assert "secret.rotated" in log


def test_private_keys_never_appear_in_clear(env: Env) -> None:
    keys = {path: env.read(path)["private_key"]
            for path in ("web/tls", "db/tls", "short/tls", "stackwright/ca/dev")}
    for args in (("plan",), ("state", "show", "Secret/web-tls"),
                 ("state", "show", "Secret/web-tls", "-o", "json"), ("output", "-o", "json")):
        done = env.cli(*args)
        assert done.returncode == 0, done.stdout + done.stderr
    files = list(env.files())
    assert any(p.name == "state.db" for p in files) and any(p.name == "daemon.log"
                                                            for p in files)
    blobs = [p.read_bytes() for p in files]
    for path, pem in keys.items():
        body = [line for line in pem.splitlines()
                if len(line) >= 32 and not line.startswith("-----")]
        assert body, path
        for out in env.outputs:
            assert all(line not in out for line in body), path
        for blob in blobs:
            assert all(line.encode() not in blob for line in body), path
