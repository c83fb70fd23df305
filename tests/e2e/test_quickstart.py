"""The bundled example (what `make up` applies) applies, plans clean and destroys."""

from __future__ import annotations

import random
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.fixtures.cli import Project
from tests.fixtures.podman_cleanup import remove_images

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "quickstart"


def test_quickstart_example_applies_and_converges(project: Project) -> None:
    shutil.rmtree(project.root)
    shutil.copytree(EXAMPLE, project.root, ignore=shutil.ignore_patterns(
        ".stackwright", "out", "app"))
    name = f"qs{uuid.uuid4().hex[:8]}"
    config = project.root / "stackwright.yaml"
    config.write_text(config.read_text().replace("project: quickstart", f"project: {name}"))
    subnet = f"10.215.{random.randint(1, 250)}.0/24"
    try:
        applied = project.run("--var", f"subnet={subnet}", "apply", "--yes")
        assert applied.code == 0, applied.out + applied.err
        log = project.run("output", "Job/greet", "-o", "json").json()["Job/greet"]["log"]
        assert Path(log).read_text().startswith("hello from developers at ")
        assert project.run("--var", f"subnet={subnet}", "plan", "--detailed-exitcode").code == 0
        destroyed = project.run("--var", f"subnet={subnet}", "destroy", "--yes")
        assert destroyed.code == 0, destroyed.err
    finally:
        subprocess.run(["podman", "volume", "rm", "--force", f"sw-{name}-dev-data"],
                       capture_output=True, check=False)
        remove_images(f"localhost/{name}/*")
        remove_images(f"localhost/stackwright/{name}-*")
