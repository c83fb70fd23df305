"""The ``backups`` controller, run by the daemon's controller host in this process: backups
and drills on their schedules, a failed drill shown in status and alerted, and a backup due
while the daemon was down run once when it is back."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.integration.recover.conftest import RecoverProject, needs_podman, needs_restic

from stackwright.core.engine import Engine
from stackwright.recover import alerts
from stackwright.recover.records import Records, Run
from stackwright.server.controllers import ControllerHost

pytestmark = [pytest.mark.slow, needs_restic, needs_podman]

SPEC = """
apiVersion: stackwright.dev/v1
kind: BackupRepository
metadata: {{name: main}}
spec: {{path: repo}}
---
apiVersion: stackwright.dev/v1
kind: BackupPolicy
metadata: {{name: conf}}
spec:
  repository: main
  sources: {{files: [conf]}}
  schedule: "{schedule}"
  retention: {{keepLast: 50}}
---
apiVersion: stackwright.dev/v1
kind: RestoreDrill
metadata: {{name: conf-drill}}
spec:
  policy: conf
  schedule: "{drill}"
  checks:
    command: [sh, -c, 'grep -q "^v=1$" "$SCRATCH_{dirvar}_DIR{root}/conf/app.ini"']
"""


def wait_for(what: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if what():
            return True
        time.sleep(0.3)
    return what()


def host(rp: RecoverProject, monkeypatch: pytest.MonkeyPatch) -> tuple[ControllerHost, Engine,
                                                                        list[dict[str, Any]]]:
    for key in ("STACKWRIGHT_KEY_DIR", "VAULT_ADDR", "VAULT_TOKEN"):
        monkeypatch.setenv(key, rp.p.env[key])
    events: list[dict[str, Any]] = []
    engine = Engine(rp.root)
    ctl = ControllerHost(engine, lambda name, **f: events.append({"event": name, **f}))
    ctl.start()
    return ctl, engine, events


def setup(rp: RecoverProject, schedule: str, drill: str, content: str = "v=1") -> None:
    rp.write("stackwright.yaml", f"""
        project: {rp.name}
        environments: {{dev: {{}}}}
        settings:
          controllers:
            backups: {{interval: 0.3}}
            services: {{enabled: false}}
            loadbalancers: {{enabled: false}}
            cronjobs: {{enabled: false}}
            secrets: {{enabled: false}}
            databases: {{enabled: false}}
    """)
    (rp.root / "conf").mkdir(exist_ok=True)
    (rp.root / "conf" / "app.ini").write_text(content + "\n")
    dirvar = "CONF"
    rp.write("main.yaml", SPEC.format(schedule=schedule, drill=drill, dirvar=dirvar,
                                      root=str(rp.root)))
    rp.run("apply", "--yes")


def records(rp: RecoverProject) -> Records:
    return Records.open(f"sqlite:///{rp.root / '.stackwright' / 'state.db'}", rp.name, "dev")


def test_schedules_run_and_a_failing_drill_shows_in_status(
        recover_project: RecoverProject, monkeypatch: pytest.MonkeyPatch) -> None:
    rp = recover_project
    setup(rp, "* * * * * */2", "* * * * * */3", content="v=2")  # the drill's check fails
    sent: list[alerts.Alert] = []
    monkeypatch.setattr(alerts, "sinks", lambda: [sent.append])
    ctl, engine, events = host(rp, monkeypatch)
    recs = records(rp)
    try:
        assert wait_for(lambda: len([r for r in recs.list("backup", "conf")
                                     if r.status == "succeeded"]) >= 2, 120)
        # a drill due before the first backup fails too ("no snapshot …"): wait for one that
        # restored and ran its check
        def check_failed() -> list[Any]:
            return [r for r in recs.list("drill")
                    if r.status == "failed" and "checks.command exited 1" in str(r.reason)]

        assert wait_for(lambda: bool(check_failed()), 120), [
            (r.status, r.reason) for r in recs.list("drill")]
        state = next(s for s in ctl.status() if s["name"] == "backups")
        assert wait_for(lambda: "drill conf-drill failed" in str(
            next(s for s in ctl.status() if s["name"] == "backups")["last_error"]), 30), state
        assert sent and sent[0].name == "RestoreDrillFailed"
        assert sent[0].resource == "RestoreDrill/conf-drill"
        assert any(e["event"] == "backup.finished" for e in events)
        assert any(e["event"] == "drill.failed" for e in events)
    finally:
        ctl.shutdown(60)
        recs.close()
        engine.close()
    listed = rp.json("backup", "list", "conf")["snapshots"]
    assert len(listed) >= 2
    history = rp.json("drill", "history", "conf-drill")["runs"]
    assert history and history[0]["status"] == "failed" and history[0]["reason"]


def test_a_backup_due_while_down_runs_once(recover_project: RecoverProject,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    rp = recover_project
    setup(rp, "0 * * * *", "0 0 1 1 *")
    recs = records(rp)
    # the daemon last looked three hours and a bit ago: three hourly backups were missed
    then = datetime.now(UTC) - timedelta(hours=3, minutes=5)
    for kind, name in (("backup", "conf"), ("drill", "conf-drill")):
        recs.save(Run(kind=kind, name=name, scheduled_for=then.isoformat(), status="scheduled",
                      finished_at=then.isoformat()))
    ctl, engine, events = host(rp, monkeypatch)
    try:
        assert wait_for(lambda: any(r.status == "succeeded"
                                    for r in recs.list("backup", "conf")), 120)
        time.sleep(3)  # ten more ticks: nothing else is due
        runs = [r for r in recs.list("backup", "conf") if r.status != "scheduled"]
        assert len(runs) == 1
        due = datetime.fromisoformat(str(runs[0].scheduled_for))
        assert due.minute == 0 and datetime.now(UTC) - due < timedelta(hours=1)
        assert recs.list("drill", "conf-drill")[0].status == "scheduled"  # none due
    finally:
        ctl.shutdown(60)
        recs.close()
        engine.close()
