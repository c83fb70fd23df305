"""Crash safety, locking and secrets: kill -9 mid-apply, concurrent applies, no clear text."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

from .conftest import Project


def _slow_commands(count: int, seconds: float) -> str:
    docs = []
    for i in range(count):
        docs.append(f"""
apiVersion: stackwright.dev/v1
kind: Command
metadata: {{name: slow{i}}}
spec:
  create: "sleep {seconds}; echo created {i} >> log.txt"
""")
    return "---".join(docs)


def test_sigkill_mid_apply_then_apply_converges(project_any_state: Project) -> None:
    project_any_state.write("main.yaml", _slow_commands(12, 0.6))
    proc = project_any_state.popen("apply", "--yes", "--parallelism", "3")
    log = project_any_state.root / "log.txt"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not log.exists():
        time.sleep(0.05)
    time.sleep(0.9)  # a moment unrelated to any command's end: some done, some in flight
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(1.0)  # a command still running would write now; pdeathsig killed them
    ran = Counter(log.read_text().splitlines())
    assert 1 <= sum(ran.values()) < 12
    state = {r["address"]: r["status"] for r in
             project_any_state.run("state", "list", "-o", "json").json()["resources"]}
    assert "creating" in state.values(), "the in-flight actions were recorded as started"
    # A command that finished in the instant between its end and its record may run again;
    # nothing recorded as done may, and nothing else may run twice.
    unrecorded = {f"created {a.removeprefix('Command/slow')}" for a, s in state.items()
                  if s != "ready"}
    resumed = project_any_state.run("apply", "--yes")
    assert resumed.code == 0, resumed.out + resumed.err
    after = Counter(log.read_text().splitlines())
    assert sorted(after) == sorted(f"created {i}" for i in range(12))
    for line, count in after.items():
        limit = 2 if line in unrecorded and ran[line] else 1
        assert count <= limit, f"{line} ran {count} times"
    recorded_done = {f"created {a.removeprefix('Command/slow')}" for a, s in state.items()
                     if s == "ready"}
    assert all(after[line] == 1 for line in recorded_done)
    assert project_any_state.run("plan", "--detailed-exitcode").code == 0


def test_second_apply_waits_then_names_the_holder(project_any_state: Project) -> None:
    # 10 s: long enough that the second apply (a new process on a loaded machine) starts
    # while the first still holds the lock
    project_any_state.write("main.yaml", _slow_commands(1, 10))
    first = project_any_state.popen("apply", "--yes")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        listing = project_any_state.run("state", "list")
        if "slow0" in listing.out:
            break
        time.sleep(0.1)
    started = time.monotonic()
    second = project_any_state.run("apply", "--yes", "--lock-timeout", "1")
    waited = time.monotonic() - started
    assert second.code == 1
    assert "locked" in second.err.lower() and f"pid {first.pid}" in second.err
    assert waited >= 1.0
    assert first.wait(timeout=30) == 0


def test_sensitive_values_never_in_clear(project_any_state: Project) -> None:
    secret = "s3cr3t-planted-value-8842"
    project_any_state.write("stackwright.yaml", """
        project: demo
        variables:
          token: {sensitive: true}
    """)
    project_any_state.write("main.yaml", """
        apiVersion: stackwright.dev/v1
        kind: File
        metadata: {name: creds}
        spec: {path: out/creds.txt, content: "token=${{ var.token }}"}
        ---
        apiVersion: stackwright.dev/v1
        kind: File
        metadata: {name: hidden}
        spec: {path: out/hidden.txt, content: "also-secret-77", sensitive: true}
    """)
    env_var = {"STACKWRIGHT_VAR_token": secret}
    project_any_state.env.update(env_var)
    plan = project_any_state.run("plan", "--out", "plan.bin")
    assert plan.code == 0, plan.err
    assert secret not in plan.out and "also-secret-77" not in plan.out
    assert "(sensitive)" in plan.out
    applied = project_any_state.run("apply", "plan.bin")
    assert applied.code == 0, applied.err
    assert (project_any_state.root / "out/creds.txt").read_text() == f"token={secret}"
    shown = project_any_state.run("state", "show", "File/creds", "-o", "json")
    outputs = project_any_state.run("output", "-o", "json")
    plan_file = (project_any_state.root / "plan.bin").read_text()
    for text in (applied.out, shown.out, outputs.out, plan_file):
        assert secret not in text and "also-secret-77" not in text
    for path in (project_any_state.root / ".stackwright").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert secret.encode() not in data, path
            assert b"also-secret-77" not in data, path
