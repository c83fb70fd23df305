"""Fixtures of the recover tests: the secrets API on a free port (the repository password
lives there), and a project with a unique name whose podman objects are removed after."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.fixtures.cli import Project
from tests.fixtures.vault import Vault, running_vault

from stackwright.tools.podman import Podman, PodmanSettings, StackwrightLabels

CACHE_DIR = os.environ.get("STACKWRIGHT_TEST_CACHE", "/var/tmp/stackwright-test-cache")
needs_restic = pytest.mark.skipif(shutil.which("restic") is None, reason="needs restic")
needs_podman = pytest.mark.skipif(shutil.which("podman") is None, reason="needs podman")


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[Vault]:
    with running_vault(tmp_path, lease_sweep_interval=0) as running:
        yield running


class RecoverProject:
    """A project whose commands reach the secrets API; every output kept for the grep."""

    def __init__(self, project: Project, vault: Vault, name: str) -> None:
        self.p, self.vault, self.name = project, vault, name
        self.p.env["VAULT_ADDR"] = vault.url  # a secrets server, not a platform daemon
        self.p.env["VAULT_TOKEN"] = vault.root_token
        self.seen: list[str] = []

    @property
    def root(self) -> Path:
        return self.p.root

    def write(self, name: str, text: str) -> Path:
        return self.p.write(name, text)

    def run(self, *args: str, ok: bool = True, timeout: float = 600) -> Any:
        done = self.p.run(*args, timeout=timeout)
        self.seen.append(done.out + done.err)
        if ok:
            assert done.code == 0, done.out + done.err
        return done

    def json(self, *args: str, ok: bool = True, timeout: float = 600) -> Any:
        done = self.run("--output", "json", *args, ok=ok, timeout=timeout)
        return json.loads(done.out)

    def password(self, repository: str = "main") -> str:
        doc = self.vault.client().secrets.kv.v2.read_secret_version(
            path=f"stackwright/backup/{self.name}/dev/{repository}", mount_point="secret",
            raise_on_deleted_version=True)
        return str(doc["data"]["data"]["password"])

    def assert_password_nowhere(self, repository: str = "main") -> None:
        """The password is in no output, state or log file of the project (nor the
        recover tables), nor in the repository's own files."""
        secret = self.password(repository)
        assert len(secret) >= 32
        for text in self.seen:
            assert secret not in text, "the repository password was printed"
        checked = 0
        for path in self.root.rglob("*"):
            if path.is_file() and "restic-cache" not in path.parts:
                assert secret.encode() not in path.read_bytes(), f"password in {path}"
                checked += 1
        assert checked > 3


@pytest.fixture
def recover_project(project: Project, vault: Vault) -> Iterator[RecoverProject]:
    name = f"rec{uuid.uuid4().hex[:8]}"
    project.write("stackwright.yaml", f"""
        project: {name}
        environments: {{dev: {{}}}}
        settings:
          images: {{cacheDir: {CACHE_DIR}}}
    """)
    yield RecoverProject(project, vault, name)
    Podman(PodmanSettings()).remove_labelled(StackwrightLabels(project=name).as_dict())
