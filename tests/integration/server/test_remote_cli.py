"""The remote CLI for every command (STACKWRIGHT_ADDR + a token) against a real daemon on a
free port: the same output and exit code as on the daemon's machine, each command's role
enforced there, the actor in the audit log, and ``--follow`` streaming."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.fixtures.cli import STACKWRIGHT
from tests.integration.server.daemon_fixture import Daemon, start_daemon, stop_daemon

from stackwright.observe.logstore import LogLine, LogStore
from stackwright.observe.logview import log_db

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    d = start_daemon(tmp_path_factory.mktemp("remote-cli"))
    try:
        applied = d.project.run("apply", "--yes")
        assert applied.code == 0, applied.err
        yield d
    finally:
        stop_daemon(d.proc)


def _env(d: Daemon, user: str) -> dict[str, str]:
    return {**d.project.env, "STACKWRIGHT_ADDR": d.api, "STACKWRIGHT_TOKEN": d.tokens[user]}


def _remote(d: Daemon, user: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([STACKWRIGHT, *args], cwd=cwd, env=_env(d, user),
                          capture_output=True, text=True, timeout=300)


SAME = [("state", "list"), ("state", "list", "-o", "json"), ("state", "show", "File/motd"),
        ("state", "history"), ("drift",), ("output", "-o", "json"), ("graph",),
        ("policy", "library"), ("pipeline", "list"), ("rollout", "status", "web"),
        ("slo", "status"), ("alerts",), ("backup", "list"), ("drill", "history"),
        ("scan", "."), ("audit", "verify", "-o", "json")]


@pytest.mark.parametrize("args", SAME, ids=" ".join)
def test_same_output_and_exit_code_as_on_the_daemons_machine(daemon: Daemon, tmp_path: Path,
                                                             args: tuple[str, ...]) -> None:
    local = daemon.project.run(*args)
    remote = _remote(daemon, "vic", *args, cwd=tmp_path)
    if args[:2] == ("audit", "verify"):  # the remote run itself appends to the audit log
        assert remote.returncode == local.code == 0 and '"ok": true' in remote.stdout
        return
    assert (remote.returncode, remote.stdout, remote.stderr) == (local.code, local.out,
                                                                 local.err)
    assert not (tmp_path / ".stackwright").exists(), "nothing ran in the caller's directory"


def test_status_runs_there(daemon: Daemon, tmp_path: Path) -> None:
    remote = _remote(daemon, "vic", "status", cwd=tmp_path)
    assert remote.returncode == 0, remote.stderr
    assert "Daemon: running" in remote.stdout and "File/motd" in remote.stdout


def test_drift_exit_code_two_when_something_changed(daemon: Daemon, tmp_path: Path) -> None:
    motd = daemon.project.root / "out" / "motd.txt"
    motd.write_text("changed")
    try:
        local = daemon.project.run("drift")
        remote = _remote(daemon, "vic", "drift", cwd=tmp_path)
        assert (remote.returncode, remote.stdout) == (local.code, local.out)
        assert remote.returncode == 2 and "File/motd" in remote.stdout
    finally:
        motd.write_text("hello console")


def test_each_command_needs_its_role_on_the_daemon(daemon: Daemon, tmp_path: Path) -> None:
    denied = _remote(daemon, "vic", "state", "rm", "File/motd", cwd=tmp_path)
    assert denied.returncode == 1
    assert "refused (403)" in denied.stderr and "`state rm` needs operator" in denied.stderr
    dev = _remote(daemon, "dev", "rollout", "promote", "web", cwd=tmp_path)
    assert dev.returncode == 1 and "`rollout promote` needs operator" in dev.stderr
    elsewhere = _remote(daemon, "ada", "-C", "/etc", "state", "list", cwd=tmp_path)
    assert elsewhere.returncode == 1 and "-C is not allowed remotely" in elsewhere.stderr
    outside = _remote(daemon, "ada", "scan", "../..", cwd=tmp_path)
    assert outside.returncode == 1 and "outside the project" in outside.stderr
    other_env = _remote(daemon, "ada", "--env", "prod", "state", "list", cwd=tmp_path)
    assert other_env.returncode == 1 and "serves environment 'dev'" in other_env.stderr
    unknown = _remote(daemon, "ada", "secrets", "list", cwd=tmp_path)
    assert unknown.returncode == 1 and "unset STACKWRIGHT_ADDR" in unknown.stderr
    prompt = _remote(daemon, "dev", "destroy", cwd=tmp_path)
    assert prompt.returncode == 1 and "add --yes" in prompt.stderr


def test_a_change_is_made_and_audited_as_the_tokens_user(daemon: Daemon, tmp_path: Path
                                                         ) -> None:
    daemon.project.write("extra.yaml", """
        apiVersion: stackwright.dev/v1
        kind: File
        metadata: {name: extra}
        spec: {path: out/extra.txt, content: "x"}
    """)
    try:
        applied = _remote(daemon, "dev", "apply", "--yes", "--parallelism", "2",
                          "--lock-timeout", "30", "--no-refresh", cwd=tmp_path)
        assert applied.returncode == 0, applied.stderr
        removed = _remote(daemon, "ops", "state", "rm", "File/extra", cwd=tmp_path)
        assert removed.returncode == 0, removed.stderr
        listed = _remote(daemon, "vic", "state", "list", cwd=tmp_path)
        assert "File/extra" not in listed.stdout and "File/motd" in listed.stdout
        log = _remote(daemon, "vic", "audit", "log", "-o", "json", cwd=tmp_path)
        assert log.returncode == 0, log.stderr
    finally:
        (daemon.project.root / "extra.yaml").unlink()
    doc = json.loads(log.stdout)
    entries = doc if isinstance(doc, list) else doc.get("entries", [])
    seen = {(e["actor"], e["action"]) for e in entries}
    assert ("ops (token)", "state.rm") in seen, seen
    assert ("dev (token)", "resource.create") in seen, seen
    assert ("vic (token)", "cli.remote") in seen, seen


def _line(message: str) -> LogLine:
    return LogLine(time=time.time(), service="web", environment="dev", revision="r1",
                   replica="1", container="c1", stream="stdout", message=message)


def test_follow_streams_and_stops_on_the_daemon_when_the_client_goes(
        daemon: Daemon, tmp_path: Path) -> None:
    path = log_db(daemon.project.root, "dev")
    path.parent.mkdir(parents=True, exist_ok=True)
    store = LogStore(path)
    store.append([_line("first line")], "test", "c1", 1, 1)
    proc = subprocess.Popen([STACKWRIGHT, "logs", "--follow"], cwd=tmp_path,
                            env=_env(daemon, "vic"), stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        assert proc.stdout is not None
        assert "first line" in proc.stdout.readline()
        store.append([_line("second line")], "test", "c1", 2, 1)
        assert "second line" in proc.stdout.readline()
        assert proc.poll() is None, "still following"
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
        store.close()

    def children() -> list[str]:
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        return [line for line in ps.splitlines()
                if str(daemon.project.root) in line and "logs --follow" in line]

    deadline = time.monotonic() + 60
    while children() and time.monotonic() < deadline:
        time.sleep(0.3)
    assert children() == []
