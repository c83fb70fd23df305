"""Images per environment through the CLI on real podman: each environment gets its own tags
on the same image (tagged, not rebuilt), builds carry the project/env/resource labels,
destroying one environment leaves the other's images, and an update untags the build it
replaces, keeping it only while a container still uses it."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from tests.fixtures.cli import Project, Result
from tests.fixtures.podman_cleanup import remove_images

pytestmark = pytest.mark.slow

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
CONTAINERFILE = 'ARG BASE\nFROM ${BASE}\nCOPY page.txt /page.txt\nCMD ["cat", "/page.txt"]\n'


def podman(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", "--runtime", "runc", *args], capture_output=True,
                          text=True, check=False)


def image_id(ref: str) -> str:
    done = podman("image", "inspect", "--format", "{{.Id}}", ref)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def labelled(project: str, **labels: str) -> set[str]:
    """Tags of the images carrying all these labels (podman ORs repeated label filters)."""
    listed = json.loads(podman("images", "--format", "json", "--filter",
                               f"label=dev.stackwright.project={project}").stdout or "[]")
    want = {f"dev.stackwright.{k}": v for k, v in labels.items()}
    return {n for image in listed for n in image.get("Names") or []
            if want.items() <= (image.get("Labels") or {}).items()}


def ok(result: Result) -> Result:
    assert result.code == 0, result.out + result.err
    return result


@pytest.fixture
def named(project: Project) -> Iterator[tuple[Project, str]]:
    name = f"ie{uuid.uuid4().hex[:8]}"
    project.write("stackwright.yaml", f"project: {name}\nenvironments:\n  dev: {{}}\n"
                  "  prod: {}\n")
    project.write("main.yaml", SPEC)
    project.write("app/Containerfile", CONTAINERFILE)
    project.write("app/page.txt", "version one\n")
    try:
        yield project, name
    finally:
        podman("rm", "--force", f"sw-{name}-user")
        remove_images(f"localhost/{name}/*")
        remove_images(f"localhost/stackwright/{name}-*")


def refs(project: Project, env: str) -> tuple[str, str]:
    out = ok(project.run("--env", env, "output", "-o", "json")).json()
    return str(out["BaseImage/base"]["image"]), str(out["Image/app"]["image"])


def test_environments_share_images_but_not_tags(named: tuple[Project, str]) -> None:
    project, name = named
    dev = ok(project.run("--env", "dev", "apply", "--yes"))
    dev_base, dev_app = refs(project, "dev")
    assert dev_base.startswith(f"localhost/stackwright/{name}-base:dev-")
    assert dev_app.startswith(f"localhost/{name}/app:dev-")
    assert f"built {dev_app}" in dev.out + dev.err
    assert labelled(name, env="dev", resource="BaseImage/base") == {dev_base}
    assert labelled(name, env="dev", resource="Image/app") == {dev_app}

    prod = ok(project.run("--env", "prod", "apply", "--yes"))
    prod_base, prod_app = refs(project, "prod")
    assert prod_base.startswith(f"localhost/stackwright/{name}-base:prod-")
    assert prod_app.startswith(f"localhost/{name}/app:prod-")
    assert image_id(prod_base) == image_id(dev_base) and image_id(prod_app) == image_id(dev_app)
    assert "built" not in prod.out + prod.err, "same inputs: tagged, not rebuilt"
    assert f"tagged {prod_app} from {dev_app}" in prod.out + prod.err

    ok(project.run("--env", "prod", "destroy", "--yes"))
    assert podman("image", "exists", prod_app).returncode != 0
    assert podman("image", "exists", prod_base).returncode != 0
    assert ok(project.run("--env", "dev", "drift")).code == 0
    assert ok(project.run("--env", "dev", "plan", "--detailed-exitcode")).code == 0

    ok(project.run("--env", "dev", "destroy", "--yes"))
    assert labelled(name) == set()


def test_an_update_untags_the_earlier_build_once_no_container_uses_it(
    named: tuple[Project, str],
) -> None:
    project, name = named
    ok(project.run("apply", "--yes"))
    _, first = refs(project, "dev")
    user = podman("create", "--name", f"sw-{name}-user", first)
    assert user.returncode == 0, user.stderr

    project.write("app/page.txt", "version two\n")
    kept = ok(project.run("apply", "--yes"))
    _, second = refs(project, "dev")
    assert second != first
    assert f"kept the earlier build {first}" in kept.out + kept.err
    assert podman("image", "exists", first).returncode == 0, "a container still uses it"

    assert podman("rm", f"sw-{name}-user").returncode == 0
    project.write("app/page.txt", "version three\n")
    untagged = ok(project.run("apply", "--yes"))
    _, third = refs(project, "dev")
    out = untagged.out + untagged.err
    assert f"untagged the earlier build {first}" in out
    assert f"untagged the earlier build {second}" in out
    assert labelled(name, resource="Image/app") == {third}

    ok(project.run("destroy", "--yes"))
    assert labelled(name) == set()
