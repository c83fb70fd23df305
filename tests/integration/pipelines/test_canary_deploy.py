"""The ``deploy`` step with a canary Service on real podman and HAProxy: a good revision is
promoted by its analysis and the pipeline passes; a bad one (the app answers 500 to
``ERROR_RATE`` of requests) is aborted by its analysis, traffic goes back to the stable
revision, and the pipeline fails with the rollout's reason, its dependent job skipped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.fixtures.projects import short_project
from tests.integration.delivery.conftest import image, podman  # noqa: F401 - fixtures
from tests.integration.delivery.helpers import WEB, Load, server_weights

from stackwright.core.engine import Engine
from stackwright.ports import free_port
from stackwright.tools.podman import Podman

pytestmark = pytest.mark.slow

STACKWRIGHT = str(Path(sys.executable).with_name("stackwright"))
SERVICES = """\
apiVersion: stackwright.dev/v1
kind: Service
metadata: {{name: web}}
spec:
  image: {image}
  env: {{ERROR_RATE: "${{{{ var.error_rate }}}}", PAGE: "${{{{ var.page }}}}"}}
  ports: [8080]
  replicas: 2
  healthCheck: {{http: /healthz, interval: 200ms}}
  rollout: {{healthTimeout: 20s, drainTimeout: 5s}}
  deploy:
    strategy: canary
    canary:
      steps: [{{setWeight: 30}}, {{pause: {{duration: 8s}}}}, {{setWeight: 100}}]
      analysis:
        metrics: [{{name: errors, metric: error_ratio, interval: 1s, minRequests: 3,
                   failureCondition: result > 0.2, inconclusiveLimit: 100}}]
---
apiVersion: stackwright.dev/v1
kind: LoadBalancer
metadata: {{name: edge}}
spec:
  http:
    port: {lb}
    routes: [{{service: "${{{{ Service.web.id }}}}", port: 8080}}]
  checkInterval: 500ms
---
apiVersion: stackwright.dev/v1
kind: Pipeline
metadata: {{name: good}}
spec: {{}}
---
apiVersion: stackwright.dev/v1
kind: Pipeline
metadata: {{name: bad}}
spec: {{}}
"""
PIPELINE = """\
jobs:
  deploy:
    host: true
    environment: dev
    steps:
      - uses: deploy
        with: {{variables: {{error_rate: "{rate}", page: {page}}}}}
  smoke:
    needs: [deploy]
    host: true
    steps: [{{run: echo smoke after the deploy}}]
"""


@pytest.fixture
def platform(podman: Podman, image: str) -> Iterator[tuple[Path, int]]:  # noqa: F811
    with short_project(podman, "plc", "swpc") as root:
        lb = free_port()
        name = (root / "stackwright.yaml").read_text().split()[1]
        (root / "stackwright.yaml").write_text(
            f"project: {name}\nenvironments: {{dev: {{}}}}\n"
            "variables: {error_rate: '0', page: v1}\n")
        (root / "services.yaml").write_text(SERVICES.format(image=image, lb=lb))
        folder = root / ".stackwright" / "pipelines"
        folder.mkdir(parents=True)
        (folder / "good.yaml").write_text(PIPELINE.format(rate="0", page="v2"))
        (folder / "bad.yaml").write_text(PIPELINE.format(rate="0.7", page="bad"))
        yield root, lb


def _cli(root: Path, *args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    return subprocess.run([STACKWRIGHT, "-C", str(root), *args], capture_output=True,
                          text=True, timeout=timeout,
                          env={**os.environ, "STACKWRIGHT_NO_DAEMON": "1"})


def _last_run(root: Path) -> dict[str, Any]:
    runs = json.loads(_cli(root, "pipeline", "list", "-o", "json").stdout)["runs"]
    shown = _cli(root, "pipeline", "show", runs[0]["id"], "-o", "json")
    doc: dict[str, Any] = json.loads(shown.stdout)
    return doc


def _job(doc: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(j for j in doc["jobs"] if j["name"] == name)
    return found


def _revision(root: Path) -> str:
    engine = Engine(root)
    try:
        return str(engine.outputs()[str(WEB)]["revision"])
    finally:
        engine.close()


def test_deploy_waits_for_the_canary_and_fails_when_it_aborts(
        platform: tuple[Path, int]) -> None:
    root, lb = platform
    first = _cli(root, "apply", "--yes")
    assert first.returncode == 0, first.stdout + first.stderr

    with Load(lb) as load:
        good = _cli(root, "pipeline", "run", "good")
    assert good.returncode == 0, good.stdout + good.stderr
    doc = _last_run(root)
    deploy = _job(doc, "deploy")
    assert deploy["outputs"]["rollout_web"] == "succeeded", deploy
    log = _cli(root, "pipeline", "logs", doc["id"], "--job", "deploy").stdout
    assert "rollout of Service/web: canary" in log and ": succeeded (step" in log, log
    assert load.bodies["v2"] > 0, "the canary served traffic while the step waited"
    stable = _revision(root)

    with Load(lb) as load:
        bad = _cli(root, "pipeline", "run", "bad")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    doc = _last_run(root)
    assert doc["status"] == "failed"
    deploy = _job(doc, "deploy")
    assert deploy["status"] == "failed" and deploy["outputs"]["rollout_web"] == "aborted"
    assert _job(doc, "smoke")["status"] == "skipped"
    log = _cli(root, "pipeline", "logs", doc["id"], "--job", "deploy").stdout
    assert "aborted: analysis failed: errors: Failed" in log, log
    assert f"back on revision {stable}" in log
    assert "deploy to dev failed: the rollout of Service/web aborted" in log
    assert load.codes["500"] > 0, "the bad canary did get traffic"
    assert all(n.startswith(stable + "-") for n in server_weights(root))
    after = Load(lb)
    for _ in range(20):
        after.one()
    assert set(after.codes) == {"200"}, after.codes
