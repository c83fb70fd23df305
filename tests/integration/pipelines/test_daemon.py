"""Pipelines run by the platform daemon: a secret from the secrets store injected as env
and file and masked in every log line; a GitHub push webhook on the daemon's API; a daemon
restart marks the running job interrupted, removes its container and starts the queued
run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest
from tests.fixtures.cli import Project

from stackwright.pipelines.cli_support import ENDED

from .conftest import job_of, run_doc, wait_for

pytestmark = pytest.mark.slow

PLANTED = "pl-planted-secret-9931"

LEAK = """
on: {{webhook: true}}
jobs:
  leak:
    image: {busybox}
    secrets: {{TOKEN: "app/ci#token"}}
    secretFiles: {{creds/token.txt: "app/ci#token"}}
    steps:
      - run: |
          echo "token is $TOKEN"
          cat creds/token.txt
          echo "again: ${{TOKEN}}!"
"""
SLOW = """
concurrency: {{group: serial}}
jobs:
  long:
    image: {busybox}
    steps: [{{run: "echo started; sleep 300"}}]
"""
QUICK = """
concurrency: {{group: serial}}
jobs:
  short:
    host: true
    steps: [{{run: "echo quick ran"}}]
"""


def _spec(p: Project, busybox: str, token_file: Path) -> None:
    p.write("stackwright.yaml", f"""
        project: {p.name}
        defaultEnvironment: dev
        environments: {{dev: {{}}}}
        settings: {{secrets: {{tokenFile: {token_file}}}}}
    """)
    docs = []
    for name, text in (("leak", LEAK), ("slow", SLOW), ("quick", QUICK)):
        p.write(f".stackwright/pipelines/{name}.yaml", text.format(busybox=busybox))
        docs.append(f"apiVersion: stackwright.dev/v1\nkind: Pipeline\n"
                    f"metadata: {{name: {name}}}\nspec: {{}}\n")
    p.write("main.yaml", "---\n".join(docs))


def _secrets(p: Project, token_file: Path) -> None:
    init = p.run("secrets", "init", "--shares", "1", "--threshold", "1", "-o", "json")
    assert init.code == 0, init.err
    doc = init.json()
    assert p.run("secrets", "unseal", doc["unseal_keys_b64"][0]).code == 0
    token_file.write_text(doc["root_token"])
    p.env["STACKWRIGHT_TOKEN"] = doc["root_token"]
    assert p.run("secrets", "put", "app/ci", f"token={PLANTED}").code == 0


def test_daemon_runs_masks_secrets_takes_webhooks_and_recovers(
        pl_project: Project, busybox: str, tmp_path: Path) -> None:
    p = pl_project
    token_file = tmp_path / "token"
    _spec(p, busybox, token_file)
    up = p.run("up", timeout=300)
    assert up.code == 0, up.out + up.err
    try:
        _secrets(p, token_file)
        ran = p.run("pipeline", "run", "leak", timeout=300)
        assert ran.code == 0, ran.out + ran.err
        assert "token is ***" in ran.out and "again: ***!" in ran.out, ran.out
        assert PLANTED not in ran.out + ran.err
        folder = p.root / ".stackwright" / "pipelines"
        for path in folder.rglob("*"):
            if path.is_file():
                assert PLANTED.encode() not in path.read_bytes(), path

        api = p.run("status", "-o", "json").json()["api"]
        body = json.dumps({"ref": "refs/heads/main", "after": "0" * 40}).encode()
        hook = httpx.post(f"{api}/api/v1/pipelines/leak/webhook", content=body,
                          headers={"X-GitHub-Event": "push"}, timeout=30)
        assert hook.status_code == 200, hook.text
        started = hook.json()["started"]
        webhook_run = wait_for("the webhook's run to end", lambda: (
            d := run_doc(p, started)) and d["status"] in ENDED and d, timeout=240)
        assert webhook_run["status"] == "success", webhook_run  # the whole run if it did not
        assert webhook_run["trigger"] == "webhook"
        api_doc = httpx.get(f"{api}/api/v1/pipelines/runs/{started}", timeout=30).json()
        assert api_doc["jobs"][0]["status"] == "success"
        assert PLANTED not in httpx.get(f"{api}/api/v1/pipelines/runs/{started}/logs/leak",
                                        timeout=30).text

        slow = p.run("pipeline", "run", "slow", "--detach", "-o", "json").json()
        wait_for("the slow job to start", lambda: "started" in p.run(
            "pipeline", "logs", slow["id"], "--job", "long").out)
        container = job_of(run_doc(p, slow["id"]), "long")["container"]
        quick = p.run("pipeline", "run", "quick", "--detach", "-o", "json").json()
        assert run_doc(p, quick["id"])["status"] == "queued", "its group is busy"
        assert p.run("down", "--daemon-only").code == 0
        assert p.run("up", timeout=300).code == 0
        interrupted = wait_for("the slow run to be interrupted", lambda: (
            d := run_doc(p, slow["id"])) and d["status"] == "interrupted" and d)
        assert job_of(interrupted, "long")["status"] == "interrupted"
        gone = subprocess.run(["podman", "container", "exists", container], check=False)
        assert gone.returncode != 0, "the interrupted job's container was removed"
        wait_for("the queued run to run", lambda: run_doc(p, quick["id"])["status"] ==
                 "success")
        rerun = p.run("pipeline", "rerun", slow["id"], "--failed", "--detach", "-o", "json")
        assert rerun.code == 0 and rerun.json()["status"] == "queued", rerun.out + rerun.err
        assert p.run("pipeline", "cancel", rerun.json()["id"]).code == 0
    finally:
        p.run("down")
