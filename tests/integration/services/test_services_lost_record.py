"""A service created while containers of it survive a lost record (state removed, no route
entry, as after a crash between ``podman run`` and the record): replicas holding the names
apply wants are adopted, not removed; containers of another revision are removed once the new
replicas serve. On real podman; the tests of this module run in order on one project."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from tests.integration.services.helpers import cli

pytestmark = pytest.mark.slow

SPEC = """\
apiVersion: stackwright.dev/v1
kind: Service
metadata: {{name: web}}
spec:
  image: {image}
  ports: [8080]
  replicas: 2
  env: {{GENERATION: "{generation}"}}
  healthCheck: {{http: /, interval: 100ms}}
  rollout: {{healthTimeout: 15s}}
"""


def replicas(project: str) -> dict[str, str]:
    """The service's containers, any state: name -> revision."""
    done = subprocess.run(["podman", "ps", "--all", "--format", "json", "--filter",
                           f"label=dev.stackwright.project={project}"],
                          capture_output=True, text=True, check=True)
    return {c["Names"][0]: c["Labels"]["dev.stackwright.revision"]
            for c in json.loads(done.stdout or "[]")}


def lose_the_record(root: Path) -> None:
    done = cli(root, "state", "rm", "Service/web")
    assert done.returncode == 0, done.stdout + done.stderr
    for entry in (root / ".stackwright" / "run" / "dev" / "routes").glob("svc-*.json"):
        entry.unlink()


def apply(root: Path) -> str:
    done = cli(root, "apply", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_surviving_replicas_of_the_same_revision_are_adopted(
        project_root: Path, images: dict[str, str]) -> None:
    root = project_root
    project = (root / "stackwright.yaml").read_text().split()[1]
    (root / "main.yaml").write_text(SPEC.format(image=images["v1"], generation=1))
    apply(root)
    before = replicas(project)
    assert len(before) == 2
    lose_the_record(root)
    out = apply(root)
    assert "Service/web: Creation complete" in out
    assert "converging with them" in out
    assert replicas(project) == before, "the same containers serve: adopted, not replaced"
    assert cli(root, "plan", "--detailed-exitcode").returncode == 0


def test_surviving_replicas_of_another_revision_are_removed(
        project_root: Path, images: dict[str, str]) -> None:
    root = project_root
    project = (root / "stackwright.yaml").read_text().split()[1]
    old = replicas(project)
    lose_the_record(root)
    (root / "main.yaml").write_text(SPEC.format(image=images["v1"], generation=2))
    out = apply(root)
    assert "removing containers left by a lost record" in out
    now = replicas(project)
    assert len(now) == 2 and not set(now) & set(old)
    assert len(set(now.values())) == 1 and set(now.values()) != set(old.values())
    assert cli(root, "plan", "--detailed-exitcode").returncode == 0
    done = cli(root, "destroy", "--yes")
    assert done.returncode == 0 and replicas(project) == {}
