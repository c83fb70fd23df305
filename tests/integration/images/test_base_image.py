"""BaseImage through the CLI on real podman: build once, reuse, rebuild when removed,
destroy; a recipe must be exactly one of busybox or debian."""

from __future__ import annotations

import subprocess
import uuid

import pytest
from tests.fixtures.cli import Project
from tests.fixtures.podman_cleanup import remove_images

pytestmark = pytest.mark.slow


def podman(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", "--runtime", "runc", *args], capture_output=True,
                          text=True, check=False)


def test_busybox_base_image_lifecycle(project: Project) -> None:
    name = f"bi{uuid.uuid4().hex[:8]}"
    project.write("stackwright.yaml", f"project: {name}\n")
    project.write("main.yaml", """
        apiVersion: stackwright.dev/v1
        kind: BaseImage
        metadata: {name: tiny}
        spec: {busybox: {}}
    """)
    try:
        applied = project.run("apply", "--yes")
        assert applied.code == 0, applied.out + applied.err
        ref = project.run("output", "BaseImage/tiny", "-o", "json").json()["BaseImage/tiny"][
            "image"]
        assert ref.startswith(f"localhost/stackwright/{name}-tiny:")
        ran = podman("run", "--rm", "--ulimit", "nofile=16384:16384", "--ulimit",
                 "nproc=16384:16384", ref, "echo", "hello from busybox")
        assert ran.stdout == "hello from busybox\n", ran.stderr
        assert project.run("plan", "--detailed-exitcode").code == 0

        assert podman("image", "rm", ref).returncode == 0
        assert project.run("drift").code == 2
        assert project.run("apply", "--yes").code == 0
        assert podman("image", "exists", ref).returncode == 0, "rebuilt under the same tag"

        assert project.run("destroy", "--yes").code == 0
        assert podman("image", "exists", ref).returncode != 0
    finally:
        remove_images(f"localhost/stackwright/{name}-*")


def test_recipe_must_be_exactly_one(project: Project) -> None:
    project.write("main.yaml", """
        apiVersion: stackwright.dev/v1
        kind: BaseImage
        metadata: {name: both}
        spec:
          busybox: {}
          debian: {release: bookworm}
    """)
    result = project.run("validate")
    assert result.code == 1
    assert "main.yaml:5:3: spec: give exactly one recipe" in result.err
