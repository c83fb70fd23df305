"""``apply``/``destroy`` handed to the running daemon (stackwright.cli.remote/served): the same
output, exit codes and results as when the CLI runs them itself, and the CLI runs them itself
whenever the daemon would not run them exactly as asked."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.fixtures.cli import Project

pytestmark = pytest.mark.slow

SPEC = """
apiVersion: stackwright.dev/v1
kind: File
metadata: {name: motd}
spec: {path: out/motd.txt, content: "hello ${{ var.greeting }}"}
"""

BROKEN = """
apiVersion: stackwright.dev/v1
kind: Command
metadata: {name: fails}
spec: {create: "echo no >&2; exit 3"}
"""


def _events(project: Project, env: str = "dev") -> list[dict[str, object]]:
    log = project.root / ".stackwright" / "run" / env / "daemon.log"
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def _handed(project: Project) -> int:
    return sum(1 for e in _events(project) if e["event"] == "cli.done")


@pytest.fixture
def daemon(project: Project) -> Iterator[Project]:
    project.write("main.yaml", SPEC)
    proc = subprocess.Popen([*_cli(project), "server", "--no-secrets"], env=project.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    info = project.root / ".stackwright" / "run" / "dev" / "daemon.json"
    deadline = time.monotonic() + 30
    while not info.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert info.exists(), "the daemon never started"
    try:
        yield project
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _cli(project: Project) -> list[str]:
    from tests.fixtures.cli import STACKWRIGHT

    return [STACKWRIGHT, "-C", str(project.root)]


def test_apply_and_destroy_run_in_the_daemon(daemon: Project) -> None:
    sock = Path(json.loads((daemon.root / ".stackwright/run/dev/daemon.json").read_text())
                ["cli_socket"])
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    applied = daemon.run("apply", "--yes", "--var", "greeting=handed")
    assert applied.code == 0, applied.err
    assert "File/motd: Creation complete" in applied.out
    assert "Apply complete! Resources: 1 created" in applied.out
    assert (daemon.root / "out/motd.txt").read_text() == "hello handed"
    assert _handed(daemon) == 1
    again = daemon.run("apply", "-y", "-o", "json", "--var", "greeting=handed")
    assert again.code == 0 and again.json()["ok"] is True and again.json()["plan"]
    history = daemon.run("state", "history", "-o", "json")  # not handed off: runs here
    assert history.code == 0
    destroyed = daemon.run("destroy", "--yes")
    assert destroyed.code == 0 and "Destroy complete!" in destroyed.out
    assert not (daemon.root / "out/motd.txt").exists()
    assert _handed(daemon) == 3


def test_failure_output_and_exit_code_match_the_cli(daemon: Project) -> None:
    daemon.write("broken.yaml", BROKEN)
    handed = daemon.run("apply", "--yes")
    daemon.env["STACKWRIGHT_NO_DAEMON"] = "1"
    itself = daemon.run("apply", "--yes")  # the same failure, the CLI running it itself
    del daemon.env["STACKWRIGHT_NO_DAEMON"]
    assert _handed(daemon) == 1
    for result in (handed, itself):
        assert result.code == 1
        assert "Command/fails" in result.out and "exit 3" in result.out + result.err
        assert "Error: apply failed" in result.err
    assert handed.err == itself.err


def test_the_cli_runs_it_itself_when_the_daemon_would_differ(daemon: Project) -> None:
    daemon.env["STACKWRIGHT_VAR_greeting"] = "from-env"  # the daemon does not have it
    applied = daemon.run("apply", "--yes")
    assert applied.code == 0, applied.err
    assert (daemon.root / "out/motd.txt").read_text() == "hello from-env"
    refused = [e for e in _events(daemon) if e["event"] == "cli.refused"]
    assert refused and "variables differ" in str(refused[0]["reason"])
    del daemon.env["STACKWRIGHT_VAR_greeting"]
    other_env = daemon.run("--env", "prod", "apply", "--yes")  # no daemon for prod
    assert other_env.code == 0
    assert _handed(daemon) == 0
    prompt = daemon.run("apply", input="no\n")  # a confirmation prompt is never handed off
    assert prompt.code == 1 and _handed(daemon) == 0
    assert daemon.run("apply", "--help").code == 0 and _handed(daemon) == 0


def test_colors_follow_the_callers_choice(daemon: Project) -> None:
    colored = daemon.run("apply", "--yes", "--color", "always")
    assert colored.code == 0 and "\x1b[" in colored.out
    plain = daemon.run("destroy", "--yes")  # NO_COLOR and no terminal
    assert plain.code == 0 and "\x1b[" not in plain.out
    assert _handed(daemon) == 2


def test_a_dead_daemons_socket_is_not_used(daemon: Project) -> None:
    info = json.loads((daemon.root / ".stackwright/run/dev/daemon.json").read_text())
    os.kill(int(info["pid"]), 15)
    deadline = time.monotonic() + 30
    while (daemon.root / ".stackwright/run/dev/daemon.json").exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert not Path(info["cli_socket"]).exists()
    applied = daemon.run("apply", "--yes")
    assert applied.code == 0 and "Apply complete!" in applied.out


SLOW = """
apiVersion: stackwright.dev/v1
kind: Command
metadata: {name: first}
spec: {create: "sleep 2; echo first > out/first"}
---
apiVersion: stackwright.dev/v1
kind: Command
metadata: {name: second}
spec: {create: "echo second > out/second"}
dependsOn: [Command/first]
"""


def test_interrupting_the_cli_stops_the_run_as_the_cli_would(daemon: Project) -> None:
    (daemon.root / "out").mkdir()
    daemon.write("slow.yaml", SLOW)
    proc = daemon.popen("apply", "--yes")
    assert proc.stdout is not None
    for line in proc.stdout:
        if "Command/first: Creating" in line:
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "Interrupted" in err
    assert (daemon.root / "out/first").exists(), "the action in flight finished"
    assert not (daemon.root / "out/second").exists(), "nothing started after the interrupt"
    done = [e for e in _events(daemon) if e["event"] == "cli.done"]
    assert done[-1]["cancelled"] is True
    runs = daemon.run("state", "history", "-o", "json").json()
    assert runs[-1]["operation"] == "apply" and runs[-1]["status"] == "interrupted"
    again = daemon.run("apply", "--yes")  # converges, as after an interrupted CLI apply
    assert again.code == 0 and (daemon.root / "out/second").exists()
