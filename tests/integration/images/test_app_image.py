"""Image FROM a BaseImage through the CLI on real podman: built once, a context edit plans
an update that builds a new tag, a missing Containerfile is a located error, destroy."""

from __future__ import annotations

import subprocess
import uuid

import pytest
from tests.fixtures.cli import Project
from tests.fixtures.podman_cleanup import remove_images

pytestmark = pytest.mark.slow

RUN = ("run", "--rm", "--ulimit", "nofile=16384:16384", "--ulimit", "nproc=16384:16384")

SPEC = """
apiVersion: stackwright.dev/v1
kind: BaseImage
metadata: {name: base}
spec: {busybox: {}}
---
apiVersion: stackwright.dev/v1
kind: Image
metadata: {name: app}
spec:
  context: app
  buildArgs: {BASE: "${{ BaseImage.base.image }}"}
"""


def podman(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", "--runtime", "runc", *args], capture_output=True,
                          text=True, check=False)


def test_image_builds_from_base_and_rebuilds_on_change(project: Project) -> None:
    name = f"im{uuid.uuid4().hex[:8]}"
    project.write("stackwright.yaml", f"project: {name}\n")
    project.write("main.yaml", SPEC)
    project.write("app/Containerfile", "ARG BASE\nFROM ${BASE}\nCOPY page.txt /page.txt\n"
                  'CMD ["cat", "/page.txt"]\n')
    project.write("app/page.txt", "version one\n")
    try:
        first = project.run("apply", "--yes")
        assert first.code == 0, first.out + first.err
        ref = project.run("output", "-o", "json").json()["Image/app"]["image"]
        assert podman(*RUN, ref).stdout == "version one\n"
        assert project.run("plan", "--detailed-exitcode").code == 0, "nothing rebuilt"

        project.write("app/page.txt", "version two\n")
        plan = project.run("plan")
        assert "~ Image/app will be updated in place" in plan.out
        assert "$sources" in plan.out
        assert project.run("apply", "--yes").code == 0
        new_ref = project.run("output", "-o", "json").json()["Image/app"]["image"]
        assert new_ref != ref
        assert podman(*RUN, new_ref).stdout == "version two\n"
        assert project.run("plan", "--detailed-exitcode").code == 0

        (project.root / "app/Containerfile").unlink()
        missing = project.run("plan")
        assert missing.code == 1
        assert "main.yaml:7:1: spec.containerfile: no Containerfile at app/Containerfile" in (
            missing.err)
        project.write("app/Containerfile", "ARG BASE\nFROM ${BASE}\n")
        assert project.run("destroy", "--yes").code == 0
        assert podman("image", "exists", new_ref).returncode != 0
    finally:
        remove_images(f"localhost/{name}/*")
        remove_images(f"localhost/stackwright/{name}-*")
