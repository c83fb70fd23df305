"""A BackupRepository on S3-compatible storage (moto's server on a free 127.0.0.1 port), its
credentials and password in the secrets store; an unreachable endpoint is a clear error
that leaves the earlier snapshots as they were."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.recover.conftest import RecoverProject, needs_restic

from stackwright.ports import free_port

pytestmark = [pytest.mark.slow, needs_restic]
MOTO = Path(sys.executable).with_name("moto_server")

SPEC = """
apiVersion: stackwright.dev/v1
kind: BackupRepository
metadata: {{name: main}}
spec:
  s3: {{endpoint: "{endpoint}", bucket: backups, prefix: shop, credentials: backup/s3}}
---
apiVersion: stackwright.dev/v1
kind: BackupPolicy
metadata: {{name: conf}}
spec:
  repository: main
  sources: {{files: [conf]}}
  timeout: 60
  retries: 0
"""


class Moto:
    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        import httpx

        self.proc = subprocess.Popen([str(MOTO), "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(self.endpoint, timeout=2)
                return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("moto_server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


@pytest.fixture
def moto() -> Iterator[Moto]:
    if not MOTO.exists():
        pytest.skip("needs moto[server] (moto_server)")
    server = Moto()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_s3_repository_round_trip_and_unreachable(recover_project: RecoverProject,
                                                  moto: Moto) -> None:
    import boto3

    rp = recover_project
    s3 = boto3.client("s3", endpoint_url=moto.endpoint, region_name="us-east-1",
                      aws_access_key_id="AKIDRECOVERTEST", aws_secret_access_key="s3-test-key")
    s3.create_bucket(Bucket="backups")
    rp.vault.client().secrets.kv.v2.create_or_update_secret(
        path="backup/s3", secret={"accessKeyId": "AKIDRECOVERTEST",
                                  "secretAccessKey": "s3-test-key"}, mount_point="secret")
    (rp.root / "conf").mkdir()
    (rp.root / "conf" / "app.ini").write_text("v=1\n")
    rp.write("main.yaml", SPEC.format(endpoint=moto.endpoint))
    rp.run("apply", "--yes")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="backups")["Contents"]]
    assert "shop/config" in keys and any(k.startswith("shop/keys/") for k in keys)
    first = rp.json("backup", "run", "conf")
    assert first["ok"]
    restored = rp.json("backup", "restore", "conf")
    folder = Path(restored["restored"][0]["path"])
    assert (folder / str(rp.root).lstrip("/") / "conf" / "app.ini").read_text() == "v=1\n"
    rp.run("backup", "discard", restored["id"])
    assert rp.json("backup", "check", "main")["ok"]
    objects = len(s3.list_objects_v2(Bucket="backups")["Contents"])

    moto.stop()  # the endpoint goes away
    started = time.monotonic()
    failed = rp.json("backup", "run", "conf", ok=False, timeout=300)
    assert not failed["ok"]
    assert "cannot be reached" in failed["reason"] or "timed out" in failed["reason"]
    assert time.monotonic() - started < 290
    moto.start()  # a new, empty server: nothing was written
    assert shutil.which("restic")
    rp.assert_password_nowhere()
    assert objects > 3
