"""Logs as the daemon collects them when the state is in PostgreSQL (a real server from the
session fixture): the lines of two real podman replicas go to the state database (no
``logs.db``), ``logs --grep`` and ``--level`` answer from it, and a daemon restart loses and
duplicates nothing."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.observe.test_observe_logs_daemon import SECRET, SPEC, _logs, _ticks
from tests.integration.services.helpers import cli, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture(scope="module")
def pg_project(project_root: Path, app_ref: str, postgres_url: str) -> Iterator[Path]:
    import psycopg

    name = f"obs_logs_{uuid.uuid4().hex[:10]}"
    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = postgres_url.rsplit("/", 1)[0] + f"/{name}"
    config = project_root / "stackwright.yaml"
    config.write_text(config.read_text() + f"state: {{url: '{url}'}}\n"
                      "settings:\n  observe: {scrapeInterval: 2s}\n")
    (project_root / "main.yaml").write_text(SPEC.replace("{image}", app_ref))
    done = cli(project_root, "--env", "dev", "up")
    assert done.returncode == 0, done.stdout + done.stderr
    try:
        yield project_root
    finally:
        cli(project_root, "--env", "dev", "down")
        cli(project_root, "--env", "dev", "destroy", "--yes", "--lock-timeout", "120")
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_lines_of_both_replicas_are_in_postgres(pg_project: Path) -> None:
    wait_for("both replicas' lines", lambda: len(_ticks(_logs(pg_project))) == 2, 120)
    assert not (pg_project / ".stackwright/observe/dev/logs.db").exists()
    rows = _logs(pg_project, "--grep", "TICK 1")
    assert rows and all("tick 1" in r["message"] for r in rows)
    assert {r["replica"] for r in rows} == {"1", "2"}
    errors = _logs(pg_project, "--level", "error", "--limit", "5")
    assert len(errors) == 5 and all(r["level"] == "error" for r in errors)
    assert all(SECRET not in r["message"] for r in _logs(pg_project, "--grep", "token is"))


def test_daemon_restart_loses_and_duplicates_nothing(pg_project: Path) -> None:
    done = cli(pg_project, "--env", "dev", "down", "--daemon-only")
    assert done.returncode == 0, done.stdout + done.stderr
    time.sleep(3)  # the replicas keep writing while no daemon collects
    done = cli(pg_project, "--env", "dev", "up")
    assert done.returncode == 0, done.stdout + done.stderr

    def caught_up() -> bool:
        return all(len(t) > 300 for t in _ticks(_logs(pg_project)).values())

    wait_for("collection after the restart", caught_up, 90)
    for replica, ticks in _ticks(_logs(pg_project)).items():
        assert ticks == list(range(ticks[0], ticks[0] + len(ticks))), replica
        assert ticks[0] == 0, replica
