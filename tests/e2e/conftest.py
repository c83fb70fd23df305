"""Run the CLI as a user does: the installed console script, in a project directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

STACKWRIGHT = str(Path(sys.executable).with_name("stackwright"))


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Project:
    """A project directory with helpers to write spec files and run commands in it."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = env

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    def run(self, *args: str, input: str | None = None, timeout: float = 120) -> Result:
        proc = subprocess.run(
            [STACKWRIGHT, "-C", str(self.root), *args], capture_output=True, text=True,
            env=self.env, input=input, timeout=timeout,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [STACKWRIGHT, "-C", str(self.root), *args], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=self.env,
        )


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return _make_project(tmp_path, None)


@pytest.fixture
def project_any_state(tmp_path: Path, state_url: str) -> Project:
    """A project whose state is on each backend: SQLite in the project, or PostgreSQL."""
    return _make_project(tmp_path, None if state_url.startswith("sqlite") else state_url)


def _make_project(tmp_path: Path, state: str | None) -> Project:
    env = {**os.environ, "STACKWRIGHT_KEY_DIR": str(tmp_path / "keys"), "NO_COLOR": "1"}
    env.pop("STACKWRIGHT_STATE", None)
    env.pop("STACKWRIGHT_STATE_KEY", None)
    if state is not None:
        env["STACKWRIGHT_STATE"] = state
    root = tmp_path / "proj"
    root.mkdir()
    proj = Project(root, env)
    proj.write("stackwright.yaml", """
        project: demo
        variables:
          greeting: world
        environments:
          dev: {variables: {greeting: dev}}
          prod: {variables: {greeting: prod}}
    """)
    return proj


ProjectFactory = Callable[[], Project]
