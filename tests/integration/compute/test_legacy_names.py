"""Migration from the names an older Stackwright gave (issue 15): a project applied with
``sw-<project>-<env>-<name>`` objects and no owner labels (the older naming, simulated by
patching :class:`stackwright.local.names.Scope`) is adopted by its own recorded state after
the upgrade: nothing is planned, a change keeps the database's volume and data and the
service's name, a second checkout of the same project comes up beside it under its own
names, and each destroy removes only its own objects."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.fixtures.podman_cleanup import (
    free_subnet,
    owned_objects,
    remove_images,
    remove_project_objects,
)

from stackwright.core.engine import Engine
from stackwright.local.names import Scope
from stackwright.tools.podman import LABEL_ENV, LABEL_PROJECT, LABEL_RESOURCE

pytestmark = pytest.mark.slow

CACHE_DIR = "/var/tmp/stackwright-test-cache"
CONTAINERFILE = """\
ARG BASE
FROM ${BASE}
RUN mkdir -p /www && echo hello > /www/index.html && echo ok > /www/healthz
CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]
"""
SPEC = """
apiVersion: stackwright.dev/v1
kind: BaseImage
metadata: {name: base}
spec: {busybox: {}}
---
apiVersion: stackwright.dev/v1
kind: Image
metadata: {name: web}
spec: {context: web, buildArgs: {BASE: "${{ BaseImage.base.image }}"}}
---
apiVersion: stackwright.dev/v1
kind: Network
metadata: {name: backend}
spec: {subnet: "${{ var.subnet }}"}
---
apiVersion: stackwright.dev/v1
kind: Service
metadata: {name: web}
spec:
  image: "${{ Image.web.image }}"
  ports: [8080]
  replicas: ${{ var.replicas }}
  networks: ["${{ Network.backend.name }}"]
  healthCheck: {http: /healthz, interval: 300ms}
---
apiVersion: stackwright.dev/v1
kind: Database
metadata: {name: db}
spec:
  database: shop
  network: "${{ Network.backend.name }}"
  resources: {memory: "${{ var.dbMemory }}"}
"""


def podman(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=False)


class Checkout:
    def __init__(self, root: Path, name: str) -> None:
        self.root, self.name = root, name
        root.mkdir(parents=True)
        (root / "stackwright.yaml").write_text(
            f"project: {name}\ndefaultEnvironment: dev\nenvironments: {{dev: {{}}}}\n"
            f"settings: {{images: {{cacheDir: {CACHE_DIR}}}}}\n"
            "variables: {subnet: {default: x}, replicas: {default: '1'}, dbMemory: {default: x}}\n")
        (root / "main.yaml").write_text(SPEC)
        (root / "web").mkdir()
        (root / "web" / "Containerfile").write_text(CONTAINERFILE)
        self.vars = {"subnet": free_subnet("10.220"), "replicas": "1", "dbMemory": "256m"}

    def engine(self) -> Engine:
        return Engine(self.root, variables=self.vars)

    def apply(self, *, destroy: bool = False) -> Any:
        engine = self.engine()
        try:
            outcome = engine.apply(destroy=destroy)
            assert outcome is not None and outcome.result.ok, outcome and outcome.result.failed
            return outcome
        finally:
            engine.close()

    def plan_changes(self) -> list[str]:
        engine = self.engine()
        try:
            return [f"{c.address} {c.action}" for c in engine.plan().changes
                    if c.action.value != "no-op"]
        finally:
            engine.close()

    def outputs(self) -> dict[str, Any]:
        engine = self.engine()
        try:
            return {str(a): {"id": r.id, **r.outputs}
                    for a, r in engine.snapshot().resources.items()}
        finally:
            engine.close()


def older_stackwright(monkeypatch: pytest.MonkeyPatch) -> None:
    """Name, label and find objects as Stackwright did before owners existed."""
    monkeypatch.setattr(Scope, "prefix", property(lambda self: self.legacy_prefix))
    monkeypatch.setattr(Scope, "tag_env", property(lambda self: self.env))
    monkeypatch.setattr(Scope, "owns", lambda self, labels: True)
    labels, kept = Scope.labels, (LABEL_PROJECT, LABEL_ENV, LABEL_RESOURCE)
    monkeypatch.setattr(Scope, "labels", lambda self, resource=None: {
        k: v for k, v in labels(self, resource).items() if k in kept})


@pytest.fixture
def checkouts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
              ) -> Iterator[tuple[Checkout, Checkout]]:
    monkeypatch.setenv("STACKWRIGHT_KEY_DIR", str(tmp_path / "keys"))
    monkeypatch.setenv("STACKWRIGHT_NO_DAEMON", "1")
    base = Path(tempfile.mkdtemp(prefix="swlg", dir="/tmp"))
    name = f"lg{uuid.uuid4().hex[:6]}"
    a, b = Checkout(base / "a", name), Checkout(base / "b", name)
    try:
        yield a, b
    finally:
        for legacy in podman("ps", "-aq", "--filter", f"label=dev.stackwright.project={name}",
                             "--filter", "label=dev.stackwright.env=dev").stdout.split():
            inspect = podman("inspect", "--format", "{{.Name}}", legacy).stdout.strip()
            if inspect.startswith(f"sw-{name}-dev-"):  # the simulated older objects
                podman("rm", "--force", "--time", "0", legacy)
        podman("network", "rm", "--force", f"sw-{name}-dev-backend")
        podman("volume", "rm", "--force", f"sw-{name}-dev-db-data")
        for c in (a, b):
            remove_project_objects(name, c.root)
        remove_images(f"localhost/{name}/*")  # a random name: only this test's tags
        remove_images(f"localhost/stackwright/{name}-*")
        shutil.rmtree(base, ignore_errors=True)


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, connect_timeout=10) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []


def test_older_names_are_adopted_by_the_recording_checkout_only(
        checkouts: tuple[Checkout, Checkout], monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = checkouts
    with monkeypatch.context() as patch:
        older_stackwright(patch)
        a.apply()
    old = a.outputs()
    legacy = f"sw-{a.name}-dev"
    assert old["Network/backend"]["id"] == f"{legacy}-backend"
    assert old["Service/web"]["id"] == f"{legacy}-web"
    assert (old["Database/db"]["container"], old["Database/db"]["volume"]) == (
        f"{legacy}-db", f"{legacy}-db-data")
    assert owned_objects("container", a.name, a.root) == []  # no owner labels back then
    query(old["Database/db"]["url"], "CREATE TABLE t (v text); INSERT INTO t VALUES ('kept')")

    # upgraded: the recorded objects are this checkout's; nothing to do
    assert a.plan_changes() == []
    # a second checkout of the same project comes up beside it, under its own names
    b.apply()
    other = b.outputs()
    assert other["Network/backend"]["id"] != f"{legacy}-backend"
    assert other["Service/web"]["id"] != old["Service/web"]["id"]
    b_containers = owned_objects("container", b.name, b.root)
    assert len(b_containers) == 2

    # a change: the service keeps its name, the database its volume, data and password
    a.vars.update(replicas="2", dbMemory="320m")
    a.apply()
    new = a.outputs()
    assert new["Service/web"]["id"] == f"{legacy}-web"
    assert new["Service/web"]["replicas"] == 2
    db = new["Database/db"]
    assert db["volume"] == f"{legacy}-db-data" and db["password"] == old["Database/db"]["password"]
    assert db["container"] != f"{legacy}-db"  # a new container takes the new name
    assert podman("container", "exists", f"{legacy}-db").returncode == 1
    assert query(db["url"], "SELECT v FROM t") == [("kept",)]
    assert owned_objects("container", b.name, b.root) == b_containers

    a.apply(destroy=True)
    assert podman("network", "exists", f"{legacy}-backend").returncode == 1
    assert podman("ps", "-aq", "--filter", f"label=dev.stackwright.service={legacy}-web"
                  ).stdout.split() == []
    assert owned_objects("container", b.name, b.root) == b_containers
    b.apply(destroy=True)
    assert owned_objects("container", b.name, b.root) == []
