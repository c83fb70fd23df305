"""Real git repositories, a busybox image and platform projects for pipeline tests.

Every project is named ``pl-i10-<random>`` so its containers, images and state never meet
another test's; images a test builds are untagged by name when it ends."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.fixtures.cli import Project
from tests.fixtures.podman_cleanup import remove_images, remove_project_objects

from stackwright.tools.images import busybox_rootfs_image
from stackwright.tools.podman import Podman, PodmanSettings

GIT_ENV = {"GIT_AUTHOR_NAME": "dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
           "GIT_COMMITTER_NAME": "dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}


@pytest.fixture(scope="session")
def busybox(tmp_path_factory: pytest.TempPathFactory) -> str:
    if shutil.which("podman") is None or shutil.which("git") is None:
        pytest.skip("podman and git are needed")
    podman = Podman(PodmanSettings(state_dir=tmp_path_factory.mktemp("podman")))
    cache = Path(os.environ.get("STACKWRIGHT_TEST_CACHE", "/var/tmp/stackwright-test-cache"))
    return busybox_rootfs_image(podman, cache_dir=cache).ref


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV}, check=True)
    return done.stdout.strip()


@dataclass
class AppRepo:
    """A bare repository (what is pushed to) and a working clone (where a developer
    commits)."""

    bare: Path
    work: Path

    def write(self, rel: str, text: str) -> None:
        path = self.work / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())

    def push(self, message: str) -> str:
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", message)
        git(self.work, "push", "-q", "origin", "main")
        return git(self.work, "rev-parse", "HEAD")


@pytest.fixture
def app_repo(tmp_path: Path) -> AppRepo:
    bare = tmp_path / "app.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    work = tmp_path / "app"
    subprocess.run(["git", "clone", "-q", str(bare), str(work)], check=True,
                   capture_output=True)
    git(work, "checkout", "-q", "-b", "main")
    return AppRepo(bare, work)


@pytest.fixture
def pl_project(project: Project) -> Iterator[Project]:
    """A platform project named uniquely, with dev, staging and prod environments."""
    name = f"pl-i10-{uuid.uuid4().hex[:8]}"
    project.write("stackwright.yaml", f"""
        project: {name}
        defaultEnvironment: dev
        environments: {{dev: {{}}, staging: {{}}, prod: {{}}}}
    """)
    (project.root / "main.yaml").unlink(missing_ok=True)
    project.name = name  # type: ignore[attr-defined]
    yield project
    remove_project_objects(name, project.root)
    listed = subprocess.run(["podman", "ps", "-aq", "--filter",
                             f"label=dev.stackwright.project={name}"], capture_output=True,
                            text=True, check=False)
    assert not listed.stdout.split(), "pipeline containers were left behind"
    remove_images(f"localhost/{name}/*")


def run_doc(project: Project, run: str) -> dict[str, Any]:
    shown = project.run("pipeline", "show", run, "-o", "json")
    assert shown.code == 0, shown.out + shown.err
    doc: dict[str, Any] = shown.json()
    return doc


def wait_for(what: str, check: Callable[[], Any], timeout: float = 150) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what} (last: {json.dumps(last)[:2000]})")


def job_of(doc: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(j for j in doc["jobs"] if j["name"] == name)
    return found


def declare_pipeline(project: Project, name: str, text: str) -> None:
    """The project's own pipeline file ``name`` and the Pipeline naming it (the only spec)."""
    project.write(f".stackwright/pipelines/{name}.yaml", text)
    project.write("main.yaml", f"""
        apiVersion: stackwright.dev/v1
        kind: Pipeline
        metadata: {{name: {name}}}
        spec: {{}}
    """)
