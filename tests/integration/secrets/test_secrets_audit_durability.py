"""Audit durability and the caches under concurrency, against real servers: a revoked token
under 16 clients, kill -9 of the daemon mid-burst, a full disk and a removed audit file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import hvac
import pytest
import requests
from secrets_vault_server import VaultServer
from tests.fixtures.cli import Project

from stackwright.secrets.api import serve
from stackwright.secrets.audit import verify_audit_file
from stackwright.secrets.store import SecretsSettings, SecretsStore

pytestmark = pytest.mark.slow

CLIENTS = 16
AUDIT_FAILED = {"errors": ["internal error: the audit log could not be written"]}
READER_POLICY = 'path "secret/data/app/*" { capabilities = ["read"] }'


@dataclass(frozen=True)
class Sample:
    started: float
    status: int


def _reader(url: str, token: str, stop: threading.Event, out: list[Sample]) -> None:
    session = requests.Session()
    headers = {"X-Vault-Token": token}
    while not stop.is_set():
        started = time.monotonic()
        status = session.get(f"{url}/v1/secret/data/app/db", headers=headers, timeout=30)
        out.append(Sample(started, status.status_code))


def test_revoked_token_is_refused_on_the_next_request_under_16_clients(
    root_client: hvac.Client, vault_server: VaultServer
) -> None:
    root_client.sys.create_or_update_acl_policy("reader", READER_POLICY)
    root_client.secrets.kv.v2.create_or_update_secret(path="app/db", secret={"pw": "s3"})
    token = root_client.auth.token.create(policies=["reader"])["auth"]["client_token"]
    stop = threading.Event()
    samples: list[list[Sample]] = [[] for _ in range(CLIENTS)]
    threads = [
        threading.Thread(target=_reader, args=(vault_server.url, token, stop, samples[n]))
        for n in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()
    try:
        _wait_for(lambda: all(len(s) >= 3 for s in samples), 60)  # every client was served
        root_client.auth.token.revoke(token)
        revoked = time.monotonic()
        _wait_for(lambda: all(any(x.started > revoked for x in s) for s in samples), 60)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    flat = [x for per in samples for x in per]
    before = [x.status for x in flat if x.started < revoked]
    after = [x.status for x in flat if x.started > revoked]
    assert before.count(200) >= CLIENTS * 3  # the cache served the token while it lived
    assert after and set(after) == {403}, f"served after revoke: {after.count(200)}"


def _wait_for(condition: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


# -- kill -9 of the daemon during a burst of writes -------------------------------------------
SPEC = """
apiVersion: stackwright.dev/v1
kind: File
metadata: {name: audit-durability-marker}
spec: {path: out/marker.txt, content: "secrets-audit"}
"""


def _daemon(project: Project) -> tuple[str, int]:
    result = project.run("status", "-o", "json")
    assert result.code == 0, result.err
    doc = result.json()
    return str(doc["api"]), int(doc["daemon"]["pid"])


def _writer(url: str, token: str, worker: int, acked: list[str], stop: threading.Event) -> None:
    session = requests.Session()
    for n in range(100_000):
        if stop.is_set():
            return
        path = f"burst/w{worker}/n{n}"
        try:
            answer = session.post(
                f"{url}/v1/secret/data/{path}",
                headers={"X-Vault-Token": token},
                json={"data": {"n": n, "worker": worker}},
                timeout=30,
            )
        except requests.RequestException:
            return  # the daemon died under us: this write has no answer
        if 200 <= answer.status_code < 300:
            acked.append(path)


def test_kill_9_during_16_client_writes_loses_no_acknowledged_write(project: Project) -> None:
    project.write("main.yaml", SPEC)
    assert project.run("up").code == 0
    url, pid = _daemon(project)
    client = hvac.Client(url=url, timeout=30)
    init = client.sys.initialize(1, 1)
    client.sys.submit_unseal_keys(init["keys"])
    acked: list[list[str]] = [[] for _ in range(CLIENTS)]
    stop = threading.Event()
    threads = [
        threading.Thread(target=_writer, args=(url, init["root_token"], n, acked[n], stop))
        for n in range(CLIENTS)
    ]
    try:
        for thread in threads:
            thread.start()
        _wait_for(lambda: sum(map(len, acked)) >= 200, 120)
        os.kill(pid, signal.SIGKILL)
        for thread in threads:
            thread.join(timeout=60)
    finally:
        stop.set()
    written = [path for per in acked for path in per]
    _wait_for(lambda: project.run("status", "-o", "json").json()["daemon"] is None, 30)
    up = project.run("up")
    assert up.code == 0, up.err
    url, _ = _daemon(project)
    try:
        client = hvac.Client(url=url, token=init["root_token"], timeout=30)
        client.sys.submit_unseal_keys(init["keys"])
        _assert_all_stored(client, written)
        _assert_all_audited(project.root / ".stackwright/run/dev/vault-audit.log", written)
    finally:
        assert project.run("down").code == 0


def _assert_all_stored(client: hvac.Client, paths: list[str]) -> None:
    for path in paths:
        read = client.secrets.kv.v2.read_secret_version(path=path, raise_on_deleted_version=True)
        worker, n = path.split("/")[1:]
        assert read["data"]["data"] == {"n": int(n[1:]), "worker": int(worker[1:])}


def _assert_all_audited(audit: Path, paths: list[str]) -> None:
    verdict = verify_audit_file(audit)
    assert verdict.ok, f"line {verdict.line}: {verdict.reason}"
    answered = set()
    for line in audit.read_text().splitlines():
        entry = json.loads(line)
        if entry["type"] == "response" and entry["response"]["status"] == 200:
            answered.add(entry["request"]["path"])
    missing = [p for p in paths if f"secret/data/{p}" not in answered]
    assert not missing, f"{len(missing)} acknowledged writes without a response line"


# -- a full disk, a removed audit file ---------------------------------------------------------
@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    where = tmp_path / "audit-fs"
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def _fill(directory: Path) -> Path:
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass  # full
    finally:
        os.close(fd)
    return filler


def _open_store(tmp_path: Path, audit: Path) -> SecretsStore:
    settings = SecretsSettings(database_url=f"sqlite:///{tmp_path / 'state.db'}", audit_path=audit)
    return SecretsStore.open(settings)


def _ready_client(url: str) -> hvac.Client:
    client = hvac.Client(url=url, timeout=30)
    init = client.sys.initialize(1, 1)
    client.sys.submit_unseal_keys(init["keys"])
    client.token = init["root_token"]
    client.secrets.kv.v2.create_or_update_secret(path="app/db", secret={"pw": "full-disk-41"})
    return client


def _get(url: str, token: str, path: str) -> requests.Response:
    return requests.get(f"{url}/v1/secret/data/{path}", headers={"X-Vault-Token": token},
                        timeout=30)


def test_full_disk_fails_requests_with_vaults_error_shape(
    tmp_path: Path, small_tmpfs: Path
) -> None:
    audit = small_tmpfs / "audit.jsonl"
    store = _open_store(tmp_path, audit)
    try:
        with serve(store) as running:
            client = _ready_client(running.url)
            filler = _fill(small_tmpfs)
            # the audit file's last page may still hold a line or two
            answers = [_get(running.url, client.token, "app/db") for _ in range(8)]
            served = sum(a.status_code == 200 for a in answers)
            assert served <= 3
            assert [a.status_code for a in answers] == [200] * served + [500] * (8 - served)
            refused = answers[-1]
            assert refused.json() == AUDIT_FAILED
            assert "full-disk-41" not in refused.text
            write = requests.post(f"{running.url}/v1/secret/data/app/db",
                                  headers={"X-Vault-Token": client.token},
                                  json={"data": {"pw": "never-stored"}}, timeout=30)
            assert write.status_code == 500 and write.json() == AUDIT_FAILED
            assert store.kv.read("secret", "app/db").meta.version == 1, "refused, not applied"
            filler.unlink()
            again = _get(running.url, client.token, "app/db")
            assert again.status_code == 200 and again.json()["data"]["data"]["pw"] == "full-disk-41"
    finally:
        store.close()
    verdict = verify_audit_file(audit)
    assert verdict.ok, f"line {verdict.line}: {verdict.reason}"


def test_removed_audit_file_fails_requests_with_vaults_error_shape(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    store = _open_store(tmp_path, audit)
    try:
        with serve(store) as running:
            client = _ready_client(running.url)
            audit.unlink()
            refused = _get(running.url, client.token, "app/db")
            assert refused.status_code == 500 and refused.json() == AUDIT_FAILED
            assert "full-disk-41" not in refused.text
    finally:
        store.close()
