"""The bundled example (what `make up` applies): the web app answers through HAProxy with
its counter in Redis and its guestbook in PostgreSQL, everything reads healthy, a second
plan is empty, and destroy removes it."""

from __future__ import annotations

import json
import shutil
import urllib.request
import uuid
from pathlib import Path

import pytest

from stackwright.ports import free_port
from tests.fixtures.cli import Project
from tests.fixtures.podman_cleanup import free_subnet, remove_images, remove_project_objects

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "quickstart"


def fetch(url: str, method: str = "GET") -> str:
    request = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(request, timeout=10) as resp:
        return str(resp.read().decode())


def test_quickstart_example_applies_serves_and_converges(project: Project) -> None:
    shutil.rmtree(project.root)
    shutil.copytree(EXAMPLE, project.root, ignore=shutil.ignore_patterns(
        ".stackwright", "out", "__pycache__"))
    name = f"qs{uuid.uuid4().hex[:8]}"
    config = project.root / "stackwright.yaml"
    config.write_text(config.read_text().replace("project: quickstart", f"project: {name}"))
    port = free_port()
    variables = ["--var", f"subnet={free_subnet()}",
                 "--var", f"port={port}", "--var", f"metricsPort={free_port()}"]
    try:
        applied = project.run(*variables, "apply", "--yes", timeout=1200)
        assert applied.code == 0, applied.out + applied.err
        log = project.run("output", "Job/greet", "-o", "json").json()["Job/greet"]["log"]
        assert Path(log).read_text().startswith("hello from developers at ")

        url = f"http://127.0.0.1:{port}"
        first, second = (json.loads(fetch(f"{url}/")) for _ in range(2))
        assert second["visits"] == first["visits"] + 1, "the counter lives in Redis"
        assert fetch(f"{url}/guestbook?name=ada", "POST").strip() == "signed"
        assert json.loads(fetch(f"{url}/guestbook")) == ["ada"], "rows live in PostgreSQL"
        assert "quickstart_requests_total" in fetch(f"{url}/metrics")

        status = project.run(*variables, "status", "-o", "json").json()
        health = {r["address"]: r["health"] for r in status["resources"]}
        assert set(health.values()) == {"healthy"}, health
        web = next(r for r in status["resources"] if r["address"] == "Service/web")
        assert web["outputs"]["replicas"] == "2/2"

        assert project.run(*variables, "plan", "--detailed-exitcode").code == 0
        destroyed = project.run(*variables, "destroy", "--yes", timeout=600)
        assert destroyed.code == 0, destroyed.out + destroyed.err
    finally:
        remove_project_objects(name, project.root)
        remove_images(f"localhost/{name}/*", project.root)
        remove_images(f"localhost/stackwright/{name}-*", project.root)
