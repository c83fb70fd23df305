"""The usual flows while an unrelated project's look-alikes run (issue 15): another checkout
of a project with the same name has containers, networks and volumes named as an older
Stackwright named them and as this one names them for another directory, labelled with the
same project and environment. `up` (daemon, controllers) of a project with a network, a
volume, a service behind HAProxy, a cron job and a database, then `destroy`, must leave
every look-alike as it was; the project's own objects carry its owner and go."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.fixtures.cli import Project
from tests.fixtures.lookalikes import Lookalikes, start_lookalikes
from tests.fixtures.podman_cleanup import (
    free_subnet,
    owned_objects,
    project_scope,
    remove_images,
    remove_project_objects,
)

from stackwright.ports import free_port
from stackwright.tools.images import busybox_rootfs_image
from stackwright.tools.podman import Podman, PodmanSettings

pytestmark = pytest.mark.slow

CACHE_DIR = os.environ.get("STACKWRIGHT_TEST_CACHE", "/var/tmp/stackwright-test-cache")
CONTAINERFILE = """\
ARG BASE
FROM ${BASE}
RUN mkdir -p /www && echo hello > /www/index.html && echo ok > /www/healthz
CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]
"""


def spec(subnet: str, port: int) -> str:
    return f"""
apiVersion: stackwright.dev/v1
kind: BaseImage
metadata: {{name: base}}
spec: {{busybox: {{}}}}
---
apiVersion: stackwright.dev/v1
kind: Image
metadata: {{name: web}}
spec: {{context: web, buildArgs: {{BASE: "${{{{ BaseImage.base.image }}}}"}}}}
---
apiVersion: stackwright.dev/v1
kind: Network
metadata: {{name: backend}}
spec: {{subnet: {subnet}}}
---
apiVersion: stackwright.dev/v1
kind: Volume
metadata: {{name: data}}
spec: {{deletionPolicy: Delete}}
---
apiVersion: stackwright.dev/v1
kind: Service
metadata: {{name: web}}
spec:
  image: "${{{{ Image.web.image }}}}"
  ports: [8080]
  replicas: 2
  networks: ["${{{{ Network.backend.name }}}}"]
  healthCheck: {{http: /healthz, interval: 500ms}}
---
apiVersion: stackwright.dev/v1
kind: LoadBalancer
metadata: {{name: edge}}
spec:
  http:
    port: {port}
    routes: [{{service: "${{{{ Service.web.id }}}}", port: 8080}}]
---
apiVersion: stackwright.dev/v1
kind: CronJob
metadata: {{name: tick}}
spec:
  schedule: "* * * * * */2"
  image: "${{{{ BaseImage.base.image }}}}"
  command: [sh, -c, "sleep 4"]
  volumes: [{{name: "${{{{ Volume.data.name }}}}", path: /data}}]
---
apiVersion: stackwright.dev/v1
kind: Database
metadata: {{name: db}}
spec:
  database: shop
  network: "${{{{ Network.backend.name }}}}"
"""


@pytest.fixture
def crowded(project: Project) -> Iterator[tuple[Project, str, Lookalikes]]:
    """A project (short path, for HAProxy's sockets) and look-alikes of its name."""
    root = Path(tempfile.mkdtemp(prefix="swla", dir="/tmp"))
    p = Project(root, project.env)
    name = f"la{uuid.uuid4().hex[:6]}"
    p.write("stackwright.yaml", f"""
        project: {name}
        defaultEnvironment: dev
        environments: {{dev: {{}}}}
        settings:
          images: {{cacheDir: {CACHE_DIR}}}
          controllers: {{cronjobs: {{interval: 0.5}}}}
    """)
    (root / "web").mkdir()
    (root / "web" / "Containerfile").write_text(CONTAINERFILE)
    image = busybox_rootfs_image(Podman(PodmanSettings()), cache_dir=Path(CACHE_DIR)).ref
    lookalikes = start_lookalikes(name, "dev", image, (free_subnet("10.217"),
                                                       free_subnet("10.218")))
    try:
        yield p, name, lookalikes
    finally:
        p.run("down", timeout=120)
        lookalikes.remove()
        remove_project_objects(name, root)
        remove_images(f"localhost/{name}/*", root)
        remove_images(f"localhost/stackwright/{name}-*", root)
        shutil.rmtree(root, ignore_errors=True)


def wait_for(what: str, check: object, timeout: float = 60.0) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_up_and_destroy_leave_lookalikes_alone(crowded: tuple[Project, str, Lookalikes]
                                               ) -> None:
    p, name, lookalikes = crowded
    before = {"running": lookalikes.running(), "network": lookalikes.existing("network"),
              "volume": lookalikes.existing("volume")}
    assert len(before["running"]) == len(lookalikes.containers) == 8
    port = free_port()
    p.write("main.yaml", spec(free_subnet("10.219"), port))
    up = p.run("up", "-o", "json", timeout=900)
    assert up.code == 0, up.out + up.err

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=15) as resp:
        assert resp.read().decode().strip() == "hello"
    key = project_scope(name, p.root, "dev").key
    mine = owned_objects("container", name, p.root)
    assert all(n.startswith(f"sw-{name}-{key}-dev-") for n in mine), mine
    assert len([n for n in mine if "-dev-web-" in n]) == 2 and f"sw-{name}-{key}-dev-db" in mine
    wait_for("a cron run in flight", lambda: any(
        "-dev-tick-" in n for n in owned_objects("container", name, p.root)))
    time.sleep(2)  # the controllers tick with the look-alikes beside them
    assert lookalikes.running() == before["running"], "a look-alike was stopped or replaced"

    destroyed = p.run("destroy", "--yes", "-o", "json", timeout=600)
    assert destroyed.code == 0, destroyed.out + destroyed.err
    time.sleep(1.5)  # the daemon ticks with nothing recorded any more
    assert owned_objects("container", name, p.root) == []
    assert owned_objects("network", name, p.root) == []
    assert [v for v in owned_objects("volume", name, p.root) if "db-data" not in v] == []
    assert lookalikes.running() == before["running"]
    assert lookalikes.existing("network") == before["network"]
    assert lookalikes.existing("volume") == before["volume"]
    status = json.loads(p.run("status", "-o", "json").out)
    assert status["resources"] == []
